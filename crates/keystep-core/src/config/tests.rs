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
    let broken = |change: fn(&mut Config)| {
        let mut config = Config::default();
        change(&mut config);
        config.validate().err().map(|e| e.key)
    };
    type Change = fn(&mut Config);
    let cases: [(Change, &str); 5] = [
        (|c| c.password.argon2.memory_kib = 1, "password.argon2"),
        (
            |c| c.public_url = Url::parse("ftp://example.com").expect("url"),
            "public_url",
        ),
        (|c| c.mail.from = "not an address".into(), "mail.from"),
        (
            |c| c.master_key = Some(SecretString::new("c2hvcnQ=")),
            "master_key",
        ),
        (
            |c| c.redis_url = Some(SecretString::new("http://x")),
            "redis_url",
        ),
    ];
    for (change, key) in cases {
        assert_eq!(broken(change).as_deref(), Some(key));
    }
}

#[test]
fn secrets_are_redacted() {
    let secret = SecretString::new("hunter2");
    assert_eq!(format!("{secret:?}"), "[redacted]");
    let json = serde_json::to_string(&secret).unwrap();
    assert!(!json.contains("hunter2"));
}
