//! Loading the configuration: built-in defaults, then `keystep.toml` (or the file named by
//! `--config` / `KEYSTEP_CONFIG`), then `KEYSTEP_*` environment variables with `__` between
//! nested keys (`KEYSTEP_MAIL__SMTP__HOST`). Every problem is reported with the key it
//! concerns and where the bad value came from.

use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use keystep_core::config::Config;

/// Whether a `KEYSTEP_…` variable (prefix stripped) is not a configuration key:
/// `KEYSTEP_CONFIG` names the file, `KEYSTEP_TEST_*` belong to the test suite.
fn is_not_config(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    key == "config" || key.starts_with("test_")
}

/// The default configuration file, read when it exists.
pub const DEFAULT_FILE: &str = "keystep.toml";

/// A configuration that could not be loaded; the message names the key.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LoadError(pub String);

/// Loads and validates the configuration. `file` is the explicit `--config`; without it
/// `KEYSTEP_CONFIG`, else `keystep.toml` in the working directory if present.
pub fn load(file: Option<&Path>) -> Result<Config, LoadError> {
    let explicit = file
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("KEYSTEP_CONFIG").map(PathBuf::from));
    let mut figment = Figment::new();
    match &explicit {
        Some(path) if !path.is_file() => {
            return Err(LoadError(format!(
                "configuration file {} does not exist",
                path.display()
            )))
        }
        Some(path) => figment = figment.merge(Toml::file_exact(path)),
        // A missing default file is simply no file.
        None if Path::new(DEFAULT_FILE).is_file() => {
            figment = figment.merge(Toml::file_exact(DEFAULT_FILE))
        }
        None => {}
    }
    figment = figment.merge(
        Env::prefixed("KEYSTEP_")
            .filter(|key| !is_not_config(key.as_str()))
            .split("__"),
    );
    from_figment(&figment)
}

/// Extracts and validates a [`Config`] from any figment (tests build their own).
pub fn from_figment(figment: &Figment) -> Result<Config, LoadError> {
    let config: Config = figment.extract().map_err(|e| LoadError(describe(e)))?;
    config.validate().map_err(|e| LoadError(e.to_string()))?;
    // The filter syntax belongs to tracing-subscriber, which only this crate knows.
    tracing_subscriber::EnvFilter::try_new(&config.log.level).map_err(|e| {
        LoadError(format!("configuration key `log.level`: not a valid filter ({e}); try info or keystep=debug,info"))
    })?;
    Ok(config)
}

/// Turns figment's errors into lines that name the key and the source of the value.
fn describe(errors: figment::Error) -> String {
    errors
        .into_iter()
        .map(|e| {
            let source = e
                .metadata
                .as_ref()
                .map(|m| match &m.source {
                    Some(source) => format!(" (from {source})"),
                    None => format!(" (from {})", m.name),
                })
                .unwrap_or_default();
            let path = e.path.join(".");
            match &e.kind {
                figment::error::Kind::UnknownField(field, _) => {
                    let key = if e.path.last() == Some(field) || path.is_empty() {
                        if path.is_empty() { field.clone() } else { path.clone() }
                    } else {
                        format!("{path}.{field}")
                    };
                    format!("configuration key `{key}`: unknown key{source}; docs/configuration.md lists every key")
                }
                kind => format!("configuration key `{path}`: {kind}{source}"),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use figment::providers::Serialized;

    fn load_toml(text: &str) -> Result<Config, LoadError> {
        from_figment(&Figment::new().merge(Toml::string(text)))
    }

    #[test]
    fn empty_configuration_is_the_defaults() {
        let config = load_toml("").unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.password.argon2.memory_kib, 19 * 1024);
    }

    #[test]
    fn nested_keys_and_overrides() {
        let figment = Figment::new()
            .merge(Toml::string(
                "listen = \"0.0.0.0:9000\"\n[mail.smtp]\nhost = \"smtp.example.com\"\n",
            ))
            .merge(Serialized::default("password.argon2.iterations", 3));
        let config = from_figment(&figment).unwrap();
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.password.argon2.iterations, 3);
        assert_eq!(
            config.mail.smtp.map(|s| s.host),
            Some("smtp.example.com".into())
        );
    }

    #[test]
    fn bad_values_name_the_key() {
        let err = load_toml("listen = \"not an address\"").unwrap_err().0;
        assert!(err.contains("`listen`"), "{err}");
        let err = load_toml("[password.argon2]\nmemory_kib = \"lots\"")
            .unwrap_err()
            .0;
        assert!(err.contains("`password.argon2.memory_kib`"), "{err}");
        let err = load_toml("[mail]\nsmtpp = 1").unwrap_err().0;
        assert!(
            err.contains("`mail.smtpp`") && err.contains("unknown key"),
            "{err}"
        );
        let err = load_toml("public_url = \"ftp://x\"").unwrap_err().0;
        assert!(err.contains("`public_url`"), "{err}");
        let err = load_toml("[log]\nlevel = \"info,=,\"").unwrap_err().0;
        assert!(err.contains("`log.level`"), "{err}");
        let err = load_toml("[log]\nformat = \"xml\"").unwrap_err().0;
        assert!(err.contains("`log.format`"), "{err}");
    }

    #[test]
    #[allow(clippy::result_large_err)] // Jail's own error type
    fn trusted_proxies_are_cidrs_from_the_file_or_the_environment() {
        let config = load_toml("[http]\ntrusted_proxies = [\"10.0.0.0/8\", \"::1/128\"]").unwrap();
        let nets: Vec<String> = config
            .http
            .trusted_proxies
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(nets, ["10.0.0.0/8", "::1/128"]);
        let err = load_toml("[http]\ntrusted_proxies = [\"10.0.0.0/33\"]")
            .unwrap_err()
            .0;
        assert!(err.contains("`http.trusted_proxies"), "{err}");
        figment::Jail::expect_with(|jail| {
            // Only this variable: CI sets other KEYSTEP_ ones for the test tools.
            jail.clear_env();
            jail.set_env("KEYSTEP_HTTP__TRUSTED_PROXIES", "[10.0.0.0/8, \"::1/128\"]");
            let config = load(None).map_err(|e| e.0)?;
            assert_eq!(config.http.trusted_proxies.len(), 2);
            Ok(())
        });
    }
}
