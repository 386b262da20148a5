//! Files that must agree with the configuration: docs/configuration.md and
//! docker-compose.yml.

use std::collections::BTreeSet;
use std::path::PathBuf;

use keystep_core::config::{
    Config, SecretString, SmsHttpConfig, SmsHttpMethod, SmtpConfig, SmtpTls,
};

fn repo_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(name)
}

/// Every leaf key of the configuration tree, dotted (`mail.smtp.port`), found by serialising
/// a configuration with every optional part filled in.
fn config_keys() -> BTreeSet<String> {
    let config = Config {
        database_url: Some(SecretString::new("x")),
        redis_url: Some(SecretString::new("x")),
        master_key: Some(SecretString::new("x")),
        master_key_file: Some("x".into()),
        mail: keystep_core::config::MailConfig {
            from: "x".into(),
            smtp: Some(SmtpConfig {
                host: "x".into(),
                port: Some(1),
                tls: SmtpTls::Tls,
                username: Some("x".into()),
                password: Some(SecretString::new("x")),
                password_file: Some("x".into()),
            }),
        },
        sms: keystep_core::config::SmsConfig {
            http: Some(SmsHttpConfig {
                url: "x".into(),
                method: SmsHttpMethod::Get,
                headers: Default::default(),
                secret_file: Some("x".into()),
                body: "x".into(),
                content_type: "x".into(),
                timeout_seconds: 1,
            }),
        },
        ..Config::default()
    };
    let mut keys = BTreeSet::new();
    flatten("", &serde_json::to_value(config).unwrap(), &mut keys);
    keys
}

fn flatten(prefix: &str, value: &serde_json::Value, keys: &mut BTreeSet<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, keys);
            }
        }
        _ => {
            keys.insert(prefix.to_owned());
        }
    }
}

#[test]
fn every_configuration_key_is_documented() {
    let keys = config_keys();
    assert!(
        keys.contains("mail.smtp.password_file")
            && keys.contains("password.argon2.memory_kib")
            && keys.contains("sms.http.secret_file")
    );
    let docs = std::fs::read_to_string(repo_file("docs/configuration.md")).unwrap();
    let missing: Vec<_> = keys
        .iter()
        .filter(|k| !docs.contains(&format!("`{k}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/configuration.md lacks {missing:?}"
    );
}

#[test]
fn docker_compose_matches_the_configuration() {
    let text = std::fs::read_to_string(repo_file("docker-compose.yml")).unwrap();
    let compose: serde_norway::Value = serde_norway::from_str(&text).unwrap();
    let services = compose["services"].as_mapping().expect("services");
    for name in ["keystep", "postgres", "redis"] {
        assert!(services.contains_key(name), "service {name} missing");
    }
    let keystep = &compose["services"]["keystep"];

    // Environment as a map or as a list of NAME=value.
    let mut env: Vec<(String, String)> = Vec::new();
    match &keystep["environment"] {
        serde_norway::Value::Mapping(map) => {
            for (k, v) in map {
                let value = match v {
                    serde_norway::Value::String(s) => s.clone(),
                    other => serde_norway::to_string(other).unwrap().trim().to_owned(),
                };
                env.push((k.as_str().unwrap().to_owned(), value));
            }
        }
        serde_norway::Value::Sequence(list) => {
            for item in list {
                let (k, v) = item.as_str().unwrap().split_once('=').unwrap();
                env.push((k.to_owned(), v.to_owned()));
            }
        }
        other => panic!("keystep.environment: {other:?}"),
    }
    let keys = config_keys();
    for (name, _) in &env {
        let key = name
            .strip_prefix("KEYSTEP_")
            .unwrap_or_else(|| panic!("{name} is not a KEYSTEP_ variable"))
            .to_lowercase()
            .replace("__", ".");
        assert!(
            keys.contains(&key),
            "{name} names no configuration key ({key})"
        );
    }
    let get = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let database_url = get("KEYSTEP_DATABASE_URL").expect("KEYSTEP_DATABASE_URL");
    assert!(
        database_url.starts_with("postgres://") && database_url.contains("@postgres:5432/"),
        "{database_url}"
    );
    let redis_url = get("KEYSTEP_REDIS_URL").expect("KEYSTEP_REDIS_URL");
    assert!(redis_url.starts_with("redis://redis:6379"), "{redis_url}");

    // The published port is the one keystep listens on.
    let listen = get("KEYSTEP_LISTEN").expect("KEYSTEP_LISTEN");
    let port = listen.rsplit(':').next().unwrap();
    let ports = keystep["ports"].as_sequence().expect("keystep.ports");
    assert!(
        ports
            .iter()
            .any(|p| p.as_str().is_some_and(|p| p.ends_with(&format!(":{port}")))),
        "keystep publishes no port mapping to {port}: {ports:?}"
    );
}
