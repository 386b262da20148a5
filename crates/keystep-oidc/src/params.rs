//! Request parameters as OAuth wants them read: `application/x-www-form-urlencoded`, each
//! parameter at most once (RFC 6749 §3.1 and §3.2), empty values treated as absent.

use std::collections::HashMap;

/// Parsed parameters.
#[derive(Debug, Clone, Default)]
pub struct Params(HashMap<String, String>);

impl Params {
    /// Parses a query string or form body; a repeated parameter is an error naming it.
    pub fn parse(input: &[u8]) -> Result<Self, String> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(input)
            .map_err(|e| format!("malformed parameters: {e}"))?;
        let mut map = HashMap::new();
        for (key, value) in pairs {
            if value.is_empty() {
                continue;
            }
            if map.insert(key.clone(), value).is_some() {
                return Err(format!("parameter {key} is repeated"));
            }
        }
        Ok(Self(map))
    }

    /// A parameter's value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

/// A space-separated scope (RFC 6749 §3.3), order kept, duplicates dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Scopes(Vec<String>);

impl Scopes {
    /// Parses a scope string.
    pub fn parse(value: &str) -> Self {
        let mut scopes: Vec<String> = Vec::new();
        for s in value.split(' ').filter(|s| !s.is_empty()) {
            if !scopes.iter().any(|x| x == s) {
                scopes.push(s.to_owned());
            }
        }
        Self(scopes)
    }

    /// True when `scope` is included.
    pub fn contains(&self, scope: &str) -> bool {
        self.0.iter().any(|s| s == scope)
    }

    /// True when every scope here is in `other`.
    pub fn is_subset_of(&self, other: &Scopes) -> bool {
        self.0.iter().all(|s| other.contains(s))
    }

    /// Keeps only the scopes `keep` accepts.
    pub fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        self.0.retain(|s| keep(s));
    }

    /// True when there is no scope.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The scopes.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
}

impl std::fmt::Display for Scopes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameters_are_refused() {
        assert!(Params::parse(b"a=1&b=2").is_ok());
        assert!(Params::parse(b"a=1&a=2")
            .unwrap_err()
            .contains("a is repeated"));
        let p = Params::parse(b"a=&b=x%20y").unwrap();
        assert_eq!(p.get("a"), None);
        assert_eq!(p.get("b"), Some("x y"));
    }

    #[test]
    fn scopes() {
        let s = Scopes::parse("openid  email openid");
        assert_eq!(s.to_string(), "openid email");
        assert!(Scopes::parse("email").is_subset_of(&s));
        assert!(!Scopes::parse("profile").is_subset_of(&s));
    }
}
