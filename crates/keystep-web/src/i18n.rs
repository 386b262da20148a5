//! The message catalogue: every string a person reads comes from here, by key, in the
//! language negotiated from `ui_locales` (OIDC Core §3.1.2.1) and then `Accept-Language`.
//! English and Simplified Chinese are built in; a catalogue is one TOML file per language in
//! `web/locales/`, named by its BCP 47 tag (`zh-CN.toml`).

use std::collections::{BTreeMap, HashMap};

/// The built-in catalogues: (language tag, TOML).
pub const EMBEDDED: &[(&str, &str)] = &[
    ("en", include_str!("../../../web/locales/en.toml")),
    ("zh-CN", include_str!("../../../web/locales/zh-CN.toml")),
];

/// The language used when nothing the person asked for is available.
pub const DEFAULT_LANG: &str = "en";

/// Messages by language and dotted key (`login.title`).
#[derive(Debug, Default)]
pub struct Messages {
    /// By tag, in order: the language switch and discovery list them so.
    catalogs: BTreeMap<String, HashMap<String, String>>,
}

impl Messages {
    /// The built-in catalogues.
    pub fn embedded() -> Result<Self, String> {
        let mut messages = Self::default();
        for (lang, text) in EMBEDDED {
            messages.add(lang, text)?;
        }
        Ok(messages)
    }

    /// Adds (or overrides, key by key) a language from TOML text. `zh-cn` overrides the
    /// built-in `zh-CN`: tags compare case-insensitively.
    pub fn add(&mut self, lang: &str, text: &str) -> Result<(), String> {
        let table: toml::Table = toml::from_str(text).map_err(|e| format!("locale {lang}: {e}"))?;
        let tag = self
            .catalogs
            .keys()
            .find(|have| have.eq_ignore_ascii_case(lang))
            .cloned()
            .unwrap_or_else(|| lang.to_owned());
        let catalog = self.catalogs.entry(tag).or_default();
        flatten("", &toml::Value::Table(table), catalog);
        Ok(())
    }

    /// Languages available, sorted by tag.
    pub fn languages(&self) -> impl Iterator<Item = &str> {
        self.catalogs.keys().map(String::as_str)
    }

    /// The message for `key` in `lang`, falling back to English.
    pub fn get(&self, lang: &str, key: &str) -> Option<&str> {
        self.catalogs
            .get(lang)
            .and_then(|c| c.get(key))
            .or_else(|| self.catalogs.get(DEFAULT_LANG).and_then(|c| c.get(key)))
            .map(String::as_str)
    }

    /// The message for `key` in `lang` itself, with no fallback to English.
    pub fn own(&self, lang: &str, key: &str) -> Option<&str> {
        self.catalogs
            .get(lang)
            .and_then(|c| c.get(key))
            .map(String::as_str)
    }

    /// The message with `{name}` placeholders replaced.
    pub fn format(&self, lang: &str, key: &str, args: &[(&str, &str)]) -> Option<String> {
        let mut text = self.get(lang, key)?.to_owned();
        for (name, value) in args {
            text = text.replace(&format!("{{{name}}}"), value);
        }
        Some(text)
    }

    /// Picks a language: the first of `ui_locales` (space-separated BCP 47 tags) that is
    /// available, else the best of `Accept-Language`, else English.
    pub fn negotiate(&self, ui_locales: Option<&str>, accept_language: Option<&str>) -> String {
        // Tags compare case-insensitively (RFC 5646 §2.1.1); `zh` alone means Simplified
        // Chinese here, the only Chinese catalogue.
        let available = |tag: &str| -> Option<String> {
            let tag = tag.trim().replace('_', "-");
            let primary = tag.split('-').next().unwrap_or_default().to_owned();
            let found = [tag.as_str(), primary.as_str()]
                .into_iter()
                .find_map(|wanted| {
                    self.catalogs
                        .keys()
                        .find(|have| {
                            have.eq_ignore_ascii_case(wanted)
                                || have
                                    .split('-')
                                    .next()
                                    .is_some_and(|p| p.eq_ignore_ascii_case(wanted))
                        })
                        .cloned()
                });
            found
        };
        if let Some(found) = ui_locales
            .into_iter()
            .flat_map(str::split_whitespace)
            .find_map(available)
        {
            return found;
        }
        let mut ranked: Vec<(f32, &str)> = accept_language
            .unwrap_or_default()
            .split(',')
            .filter_map(|part| {
                let mut pieces = part.split(';');
                let tag = pieces.next()?.trim();
                let q = pieces
                    .find_map(|p| p.trim().strip_prefix("q="))
                    .and_then(|q| q.parse().ok())
                    .unwrap_or(1.0);
                (!tag.is_empty() && tag != "*").then_some((q, tag))
            })
            .collect();
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
        ranked
            .into_iter()
            .find_map(|(_, tag)| available(tag))
            .unwrap_or_else(|| DEFAULT_LANG.to_owned())
    }
}

fn flatten(prefix: &str, value: &toml::Value, out: &mut HashMap<String, String>) {
    match value {
        toml::Value::Table(table) => {
            for (k, v) in table {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        toml::Value::String(s) => {
            out.insert(prefix.to_owned(), s.clone());
        }
        other => {
            out.insert(prefix.to_owned(), other.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_format_and_negotiation() {
        let mut m = Messages::embedded().unwrap();
        assert_eq!(m.get("en", "login.title"), Some("Sign in"));
        assert_eq!(
            m.format("en", "login.subtitle", &[("client", "Shop")])
                .unwrap(),
            "to continue to Shop"
        );
        assert_eq!(m.get("en", "no.such.key"), None);
        assert_eq!(m.negotiate(Some("fr zh-CN"), None), "zh-CN");
        assert_eq!(m.negotiate(Some("zh-cn"), None), "zh-CN");
        assert_eq!(m.negotiate(Some("zh"), None), "zh-CN");
        assert_eq!(m.negotiate(Some("zh_CN"), None), "zh-CN");
        assert_eq!(
            m.negotiate(None, Some("de;q=0.9, zh-CN;q=0.8, en;q=0.5")),
            "zh-CN"
        );
        assert_eq!(m.negotiate(None, Some("en-GB, zh;q=0.5")), "en");
        assert_eq!(m.negotiate(None, Some("de, fr;q=0.5")), "en");
        assert_eq!(m.negotiate(None, None), "en");
        // A key missing in a language falls back to English.
        m.add("fr", "[login]\ntitle = \"Connexion\"\n").unwrap();
        assert_eq!(m.get("fr", "login.password"), Some("Password"));
    }

    fn placeholders(text: &str) -> std::collections::BTreeSet<String> {
        text.split('{')
            .skip(1)
            .filter_map(|rest| rest.split_once('}').map(|(name, _)| name.to_owned()))
            .collect()
    }

    /// Every built-in catalogue has exactly English's keys, and each message the same
    /// placeholders, so no page shows a key or loses a value in another language.
    #[test]
    fn every_catalogue_has_the_same_keys_and_placeholders() {
        let m = Messages::embedded().unwrap();
        let english = &m.catalogs[DEFAULT_LANG];
        for (lang, _) in EMBEDDED {
            let catalog = &m.catalogs[*lang];
            let mut missing: Vec<_> = english
                .keys()
                .filter(|k| !catalog.contains_key(*k))
                .collect();
            let mut extra: Vec<_> = catalog
                .keys()
                .filter(|k| !english.contains_key(*k))
                .collect();
            missing.sort();
            extra.sort();
            assert!(missing.is_empty(), "{lang} lacks {missing:?}");
            assert!(extra.is_empty(), "{lang} has keys English lacks: {extra:?}");
            for (key, text) in english {
                assert_eq!(
                    placeholders(text),
                    placeholders(&catalog[key]),
                    "{lang} {key}: placeholders differ"
                );
                assert!(!catalog[key].trim().is_empty(), "{lang} {key} is empty");
            }
        }
    }
}
