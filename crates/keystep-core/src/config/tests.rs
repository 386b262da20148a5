//! The configuration's defaults, checks and documentation.

use super::*;

#[test]
fn defaults_are_valid() {
    let config = Config::default();
    assert_eq!(config.validate(), Ok(()));
    assert_eq!(config.issuer(), "http://127.0.0.1:8080/oidc");
    assert_eq!(
        config.database_target(),
        Ok(DatabaseTarget::Sqlite(PathBuf::from("./data/keystep.db")))
    );
}

#[test]
fn database_urls_choose_the_backend() {
    assert_eq!(
        DatabaseTarget::parse("postgres://u@h/db"),
        Ok(DatabaseTarget::Postgres("postgres://u@h/db".into()))
    );
    assert_eq!(
        DatabaseTarget::parse("sqlite:///var/lib/k.db"),
        Ok(DatabaseTarget::Sqlite(PathBuf::from("/var/lib/k.db")))
    );
    assert_eq!(
        DatabaseTarget::parse("k.db"),
        Ok(DatabaseTarget::Sqlite(PathBuf::from("k.db")))
    );
    let err = DatabaseTarget::parse("mysql://x").err();
    assert_eq!(err.map(|e| e.key), Some("database_url".to_owned()));
    assert!(DatabaseTarget::parse("sqlite::memory:").is_err());
}

#[test]
fn bad_values_name_their_key() {
    let mut config = Config::default();
    config.password.argon2.memory_kib = 1;
    assert_eq!(
        config.validate().err().map(|e| e.key),
        Some("password.argon2".into())
    );

    let config = Config {
        public_url: Url::parse("ftp://example.com").expect("url"),
        ..Config::default()
    };
    assert_eq!(
        config.validate().err().map(|e| e.key),
        Some("public_url".into())
    );

    let mut config = Config::default();
    config.mail.from = "not an address".into();
    assert_eq!(
        config.validate().err().map(|e| e.key),
        Some("mail.from".into())
    );

    let config = Config {
        master_key: Some(SecretString::new("c2hvcnQ=")),
        ..Config::default()
    };
    assert_eq!(
        config.validate().err().map(|e| e.key),
        Some("master_key".into())
    );

    let config = Config {
        redis_url: Some(SecretString::new("http://x")),
        ..Config::default()
    };
    assert_eq!(
        config.validate().err().map(|e| e.key),
        Some("redis_url".into())
    );
}

#[test]
fn secrets_are_redacted() {
    let secret = SecretString::new("hunter2");
    assert_eq!(format!("{secret:?}"), "[redacted]");
    let json = serde_json::to_string(&secret).unwrap();
    assert!(!json.contains("hunter2"));
}
