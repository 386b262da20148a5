//! Storage on every configured backend: migrations, users, clients, the audit log.

use std::sync::Arc;

use diesel::connection::SimpleConnection;
use keystep_core::audit::{self, Actor, AuditKind, NewAuditEvent};
use keystep_core::clients::{self, IdTokenAlg, MfaPolicy, NewClient};
use keystep_core::clock::ManualClock;
use keystep_core::config::{Argon2Config, PasswordConfig};
use keystep_core::db::Database;
use keystep_core::password::PasswordHasher;
use keystep_core::users::{self, NewUser};
use keystep_core::{config::DatabaseTarget, Error};
use keystep_tests::{cheap_argon2, TestDatabase};

fn open(db: &TestDatabase) -> Database {
    let database = Database::connect(&DatabaseTarget::parse(&db.url).unwrap(), 4).unwrap();
    database.migrate().unwrap();
    database
}

fn hasher(argon2: Argon2Config) -> PasswordHasher {
    PasswordHasher::new(&PasswordConfig {
        min_length: 8,
        argon2,
        ..Default::default()
    })
    .unwrap()
}

fn ada<'a>() -> NewUser<'a> {
    NewUser {
        username: "Ada",
        email: "ada@example.com",
        display_name: "Ada Lovelace",
        password: "analytical engine",
    }
}

#[test]
fn migrations_apply_once_and_are_idempotent() {
    for db in TestDatabase::all() {
        let target = DatabaseTarget::parse(&db.url).unwrap();
        let database = Database::connect(&target, 2).unwrap();
        assert!(
            !database.is_migrated().unwrap(),
            "{}: fresh database has pending migrations",
            db.backend
        );
        let applied = database.migrate().unwrap();
        assert!(!applied.is_empty(), "{}", db.backend);
        assert!(database.is_migrated().unwrap(), "{}", db.backend);
        assert!(
            database.migrate().unwrap().is_empty(),
            "{}: second run applies nothing",
            db.backend
        );
        let mut conn = database.conn().unwrap();
        conn.batch_execute("SELECT id, username_normalized FROM users; SELECT id, secret_hash FROM clients; SELECT id, detail FROM audit_events;")
            .unwrap_or_else(|e| panic!("{}: tables missing: {e}", db.backend));
    }
}

#[test]
fn users_are_unique_regardless_of_case_and_nothing_is_written_twice() {
    for db in TestDatabase::all() {
        let database = open(&db);
        let clock = ManualClock::at(1_700_000_000);
        let passwords = hasher(cheap_argon2());
        let mut conn = database.conn().unwrap();
        let user = users::create_user(&mut conn, &passwords, &clock, &ada()).unwrap();
        assert_eq!(user.username, "Ada");
        assert_eq!(user.created_at, 1_700_000_000);
        assert!(user.password_hash.starts_with("$argon2id$"));
        let again = NewUser {
            username: "ADA",
            ..ada()
        };
        assert!(
            matches!(
                users::create_user(&mut conn, &passwords, &clock, &again),
                Err(Error::UsernameTaken(_))
            ),
            "{}",
            db.backend
        );
        assert_eq!(
            users::list_users(&mut conn).unwrap().len(),
            1,
            "{}",
            db.backend
        );
        assert_eq!(
            users::find_by_username(&mut conn, "aDa")
                .unwrap()
                .map(|u| u.id.clone()),
            Some(user.id.clone())
        );
        assert_eq!(
            users::find_by_id(&mut conn, &user.id)
                .unwrap()
                .map(|u| u.email),
            Some("ada@example.com".into())
        );
        assert!(users::find_by_username(&mut conn, "bob").unwrap().is_none());
        for bad in [
            NewUser {
                username: "",
                ..ada()
            },
            NewUser {
                username: "has space",
                ..ada()
            },
            NewUser {
                username: "bob",
                email: "not-mail",
                ..ada()
            },
            NewUser {
                username: "bob",
                password: "",
                ..ada()
            },
            NewUser {
                username: "bob",
                password: "short",
                ..ada()
            },
        ] {
            assert!(
                matches!(
                    users::create_user(&mut conn, &passwords, &clock, &bad),
                    Err(Error::Invalid { .. })
                ),
                "{bad:?}"
            );
        }
        assert_eq!(
            users::list_users(&mut conn).unwrap().len(),
            1,
            "{}: no partial writes",
            db.backend
        );
    }
}

#[test]
fn password_verification_disable_and_change() {
    for db in TestDatabase::all() {
        let database = open(&db);
        let clock = ManualClock::at(1_700_000_000);
        let passwords = hasher(cheap_argon2());
        let mut conn = database.conn().unwrap();
        let user = users::create_user(&mut conn, &passwords, &clock, &ada()).unwrap();

        let ok = users::verify_password(&database, &passwords, &clock, "ADA", "analytical engine")
            .unwrap();
        assert_eq!(ok.id, user.id);
        assert!(matches!(
            users::verify_password(&database, &passwords, &clock, "ada", "wrong password"),
            Err(Error::InvalidCredentials)
        ));
        assert!(matches!(
            users::verify_password(&database, &passwords, &clock, "nobody", "analytical engine"),
            Err(Error::InvalidCredentials)
        ));

        let hash = passwords.hash("difference engine").unwrap();
        users::set_password_hash(&mut conn, &clock, &user.id, &hash).unwrap();
        // What was verified before the change no longer stands in the write acting on it.
        assert!(matches!(
            users::confirm_unchanged(&mut conn, &ok),
            Err(Error::InvalidCredentials)
        ));
        assert!(
            users::verify_password(&database, &passwords, &clock, "ada", "analytical engine")
                .is_err()
        );
        assert!(
            users::verify_password(&database, &passwords, &clock, "ada", "difference engine")
                .is_ok()
        );
        assert!(matches!(passwords.hash(""), Err(Error::Invalid { .. })));

        let disabled = users::set_disabled(&mut conn, &clock, "ada", true).unwrap();
        assert!(disabled.disabled);
        assert!(matches!(
            users::verify_password(&database, &passwords, &clock, "ada", "difference engine"),
            Err(Error::UserDisabled)
        ));
        // A disabled account answers a wrong password exactly like any wrong password.
        assert!(matches!(
            users::verify_password(&database, &passwords, &clock, "ada", "wrong password"),
            Err(Error::InvalidCredentials)
        ));
        assert!(matches!(
            users::set_disabled(&mut conn, &clock, "nobody", true),
            Err(Error::UserNotFound(_))
        ));
    }
}

#[test]
fn password_is_rehashed_when_parameters_change() {
    for db in TestDatabase::all() {
        let database = open(&db);
        let clock = ManualClock::at(1_700_000_000);
        let old = hasher(cheap_argon2());
        let mut conn = database.conn().unwrap();
        let user = users::create_user(&mut conn, &old, &clock, &ada()).unwrap();
        assert!(user.password_hash.contains("m=64,t=1,p=1"));

        let new = hasher(Argon2Config {
            memory_kib: 128,
            iterations: 2,
            parallelism: 1,
        });
        users::verify_password(&database, &new, &clock, "ada", "analytical engine").unwrap();
        let stored = users::find_by_id(&mut conn, &user.id)
            .unwrap()
            .unwrap()
            .password_hash;
        assert!(stored.contains("m=128,t=2,p=1"), "{}: {stored}", db.backend);
        // A wrong password never triggers a rehash.
        let newer = hasher(Argon2Config {
            memory_kib: 256,
            iterations: 2,
            parallelism: 1,
        });
        assert!(users::verify_password(&database, &newer, &clock, "ada", "nope nope").is_err());
        assert_eq!(
            users::find_by_id(&mut conn, &user.id)
                .unwrap()
                .unwrap()
                .password_hash,
            stored
        );
    }
}

#[test]
fn clients_register_verify_and_remove() {
    for db in TestDatabase::all() {
        let database = open(&db);
        let clock = ManualClock::at(1_700_000_000);
        let mut conn = database.conn().unwrap();
        let new = NewClient {
            id: "shop".into(),
            display_name: "The Shop".into(),
            public: false,
            redirect_uris: vec![
                "https://shop.example.com/cb".into(),
                "https://shop.example.com/cb".into(),
            ],
            post_logout_redirect_uris: vec!["https://shop.example.com/".into()],
            mfa_policy: MfaPolicy::Required,
            id_token_signed_response_alg: IdTokenAlg::ES256,
            scopes: vec!["orders:read".into(), "orders:read".into()],
            offline_access: true,
            introspect: true,
            resources: vec!["https://api.shop.example.com/".into()],
        };
        let (client, secret) = clients::create_client(&mut conn, &clock, &new).unwrap();
        assert_eq!(
            client.scopes,
            vec!["orders:read".to_owned()],
            "deduplicated"
        );
        let secret = secret.expect("confidential clients get a secret");
        assert_eq!(
            client.redirect_uris,
            vec!["https://shop.example.com/cb".to_owned()],
            "deduplicated"
        );
        let stored = clients::find_client(&mut conn, "shop").unwrap().unwrap();
        assert_eq!(stored, client, "{}", db.backend);
        assert!(stored.verify_secret(secret.expose()));
        assert!(!stored.verify_secret("guess"));
        assert!(
            !stored
                .secret_hash
                .as_deref()
                .unwrap_or_default()
                .contains(secret.expose()),
            "only a hash is stored"
        );
        assert!(stored.has_redirect_uri("https://shop.example.com/cb"));
        assert!(!stored.has_redirect_uri("https://shop.example.com/cb/"));
        assert_eq!(stored.mfa_policy, MfaPolicy::Required);

        assert!(matches!(
            clients::create_client(&mut conn, &clock, &new),
            Err(Error::ClientIdTaken(_))
        ));
        let public = NewClient {
            id: "spa".into(),
            public: true,
            redirect_uris: vec!["http://127.0.0.1:5173/cb".into()],
            ..NewClient::default()
        };
        let (spa, none) = clients::create_client(&mut conn, &clock, &public).unwrap();
        assert!(none.is_none() && spa.public && spa.secret_hash.is_none());
        assert_eq!(spa.display_name, "spa");

        for bad in [
            NewClient {
                id: "x".into(),
                redirect_uris: vec![],
                ..NewClient::default()
            },
            NewClient {
                id: "x".into(),
                redirect_uris: vec!["javascript:alert(1)".into()],
                ..NewClient::default()
            },
            NewClient {
                id: "x".into(),
                redirect_uris: vec!["https://ok.example/cb".into()],
                post_logout_redirect_uris: vec!["/relative".into()],
                ..NewClient::default()
            },
            NewClient {
                id: "bad id".into(),
                redirect_uris: vec!["https://ok.example/cb".into()],
                ..NewClient::default()
            },
            NewClient {
                id: "x".into(),
                redirect_uris: vec!["https://ok.example/cb".into()],
                scopes: vec!["openid".into()],
                ..NewClient::default()
            },
            NewClient {
                id: "x".into(),
                redirect_uris: vec!["https://ok.example/cb".into()],
                scopes: vec!["two words".into()],
                ..NewClient::default()
            },
            NewClient {
                id: "x".into(),
                public: true,
                redirect_uris: vec!["https://ok.example/cb".into()],
                introspect: true,
                ..NewClient::default()
            },
            NewClient {
                id: "x".into(),
                redirect_uris: vec!["https://ok.example/cb".into()],
                resources: vec!["https://api.example/#frag".into()],
                ..NewClient::default()
            },
            // A resource names one server.
            NewClient {
                id: "x".into(),
                redirect_uris: vec!["https://ok.example/cb".into()],
                resources: vec!["https://api.shop.example.com/".into()],
                ..NewClient::default()
            },
        ] {
            assert!(
                matches!(
                    clients::create_client(&mut conn, &clock, &bad),
                    Err(Error::Invalid { .. })
                ),
                "{bad:?}"
            );
        }
        let ids: Vec<_> = clients::list_clients(&mut conn)
            .unwrap()
            .into_iter()
            .map(|c| c.id)
            .collect();
        assert_eq!(ids, vec!["shop", "spa"], "{}", db.backend);
        let api = "https://api.shop.example.com/";
        let server = clients::find_resource_server(&mut conn, api).unwrap();
        assert_eq!(server.as_deref(), Some("shop"), "{}", db.backend);

        clients::remove_client(&mut conn, "shop").unwrap();
        let server = clients::find_resource_server(&mut conn, api).unwrap();
        assert!(server.is_none(), "its resources go with it");
        assert!(clients::find_client(&mut conn, "shop").unwrap().is_none());
        assert!(matches!(
            clients::remove_client(&mut conn, "shop"),
            Err(Error::ClientNotFound(_))
        ));
    }
}

#[test]
fn audit_log_is_append_only() {
    for db in TestDatabase::all() {
        let database = open(&db);
        let clock = Arc::new(ManualClock::at(1_700_000_000));
        let mut conn = database.conn().unwrap();
        let mut event = NewAuditEvent::new(
            Actor::User("u1".into()),
            AuditKind::PasswordChanged,
            Some("u1"),
        );
        event.ip = Some("192.0.2.1");
        event.user_agent = Some("Mozilla/5.0");
        event.detail = serde_json::json!({"client": "shop"});
        audit::record(&mut conn, clock.as_ref(), &event).unwrap();
        clock.advance(std::time::Duration::from_secs(5));
        audit::record(
            &mut conn,
            clock.as_ref(),
            &NewAuditEvent::new(Actor::Cli, AuditKind::UserDisabled, Some("u1")),
        )
        .unwrap();
        audit::record(
            &mut conn,
            clock.as_ref(),
            &NewAuditEvent::new(Actor::Cli, AuditKind::UserCreated, Some("u2")),
        )
        .unwrap();

        let events = audit::list_for_user(&mut conn, "u1", 10).unwrap();
        let kinds: Vec<_> = events.iter().map(|e| e.event.as_str()).collect();
        assert_eq!(
            kinds,
            vec!["user_disabled", "password_changed"],
            "{}: newest first",
            db.backend
        );
        assert_eq!(events[1].ip.as_deref(), Some("192.0.2.1"));
        assert_eq!(events[1].actor, "user:u1");
        assert_eq!(events[0].actor, "cli");
        assert_eq!(audit::list_recent(&mut conn, 2).unwrap().len(), 2);

        for statement in [
            "UPDATE audit_events SET event = 'x'",
            "DELETE FROM audit_events",
        ] {
            assert!(
                conn.batch_execute(statement).is_err(),
                "{}: {statement} must be refused",
                db.backend
            );
        }
        assert_eq!(audit::list_recent(&mut conn, 10).unwrap().len(), 3);
    }
}

#[test]
fn expired_sessions_and_refresh_tokens_are_swept() {
    use keystep_core::refresh_tokens::{self, NewRefreshGrant};
    use keystep_core::sessions::{self, Device, SessionLifetimes};
    for db in TestDatabase::all() {
        let database = open(&db);
        let clock = ManualClock::at(1_700_000_000);
        let passwords = hasher(cheap_argon2());
        let mut conn = database.conn().unwrap();
        let user = users::create_user(&mut conn, &passwords, &clock, &ada()).unwrap();
        clients::create_client(
            &mut conn,
            &clock,
            &NewClient {
                id: "app".into(),
                redirect_uris: vec!["https://app.example/cb".into()],
                ..NewClient::default()
            },
        )
        .unwrap();
        let lifetimes = SessionLifetimes {
            idle: 3600,
            absolute: 86_400,
            aal2: 3600,
        };
        let (old, _) = sessions::sign_in_with_password(
            &mut conn,
            &clock,
            &lifetimes,
            &user.id,
            None,
            Device::default(),
        )
        .unwrap();
        let amr = vec!["pwd".to_owned()];
        let grant = |lifetime| NewRefreshGrant {
            family_id: None,
            client_id: "app",
            user_id: &user.id,
            session_id: None,
            scope: "openid",
            auth_time: 0,
            acr: "aal1",
            amr: &amr,
            lifetime,
        };
        refresh_tokens::issue(&mut conn, &clock, &grant(60)).unwrap();
        let (_, keep_token) = refresh_tokens::issue(&mut conn, &clock, &grant(86_400)).unwrap();

        clock.advance(std::time::Duration::from_secs(3601));
        let (fresh, fresh_token) = sessions::sign_in_with_password(
            &mut conn,
            &clock,
            &lifetimes,
            &user.id,
            None,
            Device::default(),
        )
        .unwrap();
        assert_eq!(
            sessions::sweep_expired(&mut conn, &clock, &lifetimes).unwrap(),
            (1, 1),
            "{}",
            db.backend
        );
        assert!(sessions::find_by_id(&mut conn, &old.id).unwrap().is_none());
        assert!(
            sessions::find_live(&mut conn, &clock, &lifetimes, &fresh_token)
                .unwrap()
                .is_some_and(|s| s.id == fresh.id)
        );
        assert!(refresh_tokens::find_by_token(&mut conn, &keep_token)
            .unwrap()
            .is_some());
        assert_eq!(
            sessions::sweep_expired(&mut conn, &clock, &lifetimes).unwrap(),
            (0, 0)
        );
    }
}
