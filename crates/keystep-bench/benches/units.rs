//! Microbenchmarks of the units under the hot paths, to tell what bounds a case of the load
//! benchmark: signing and verifying tokens with each algorithm, argon2id verification at the
//! default cost, a TOTP code check, opening a sealed secret, and finding a client in SQLite
//! and checking its secret. `cargo bench -p keystep-bench --bench units`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmark set-up

use criterion::{criterion_group, criterion_main, Criterion};
use jsonwebtoken::Algorithm;
use keystep_core::clients::{self, NewClient};
use keystep_core::clock::Clock;
use keystep_core::config::PasswordConfig;
use keystep_core::password::PasswordHasher;
use keystep_core::secret_box::SecretBox;
use keystep_core::testing;
use keystep_oidc::keys::KeyStore;
use serde_json::{json, Value};

fn tokens(c: &mut Criterion) {
    let t = testing::services();
    let keys = KeyStore::new();
    let mut conn = t.services.db.conn().unwrap();
    keys.ensure(&t.services, &mut conn).unwrap();
    let now = t.clock.now();
    let claims = json!({
        "iss": t.services.config.issuer(),
        "sub": "0b1e4c3a-5d6f-4a1b-9c8d-7e6f5a4b3c2d",
        "aud": "app",
        "iat": now,
        "exp": now + 600,
        "scope": "openid",
        "sid": "3f2e1d0c-b9a8-4765-8432-10fedcba9876",
    });
    for (name, alg) in [("RS256", Algorithm::RS256), ("ES256", Algorithm::ES256)] {
        c.bench_function(&format!("sign {name}"), |b| {
            b.iter(|| {
                keys.sign(&t.services, &mut conn, alg, "at+jwt", &claims)
                    .unwrap()
            })
        });
        let token = keys
            .sign(&t.services, &mut conn, alg, "at+jwt", &claims)
            .unwrap();
        c.bench_function(&format!("verify {name}"), |b| {
            b.iter(|| {
                keys.verify::<Value>(&t.services, &mut conn, &token, Some("at+jwt"), true)
                    .unwrap()
            })
        });
    }
}

fn argon2(c: &mut Criterion) {
    // The configured default: argon2id, 19 MiB, two passes, one lane.
    let hasher = PasswordHasher::new(&PasswordConfig::default()).unwrap();
    let stored = hasher.hash("correct horse battery staple").unwrap();
    let mut group = c.benchmark_group("argon2id default cost");
    group.sample_size(20);
    group.bench_function("verify", |b| {
        b.iter(|| {
            hasher
                .verify("correct horse battery staple", &stored)
                .unwrap()
        })
    });
    group.finish();
}

fn second_factor(c: &mut Criterion) {
    let t = testing::services();
    let secret = keystep_mfa::totp::new_secret();
    let totp = keystep_mfa::totp::generator(&t.services, &secret, "ada").unwrap();
    let now = t.clock.now();
    let code = totp.generate(u64::try_from(now).unwrap()).to_string();
    c.bench_function("TOTP check (window of 3 steps)", |b| {
        b.iter(|| keystep_mfa::totp::matching_step(&totp, &code, now).unwrap())
    });
    let secret_box = SecretBox::new(&[7; 32]);
    let sealed = secret_box.seal("totp:ada", &secret).unwrap();
    c.bench_function("secret box open", |b| {
        b.iter(|| secret_box.open("totp:ada", &sealed).unwrap())
    });
}

fn clients(c: &mut Criterion) {
    let t = testing::services();
    let new = NewClient {
        id: "app".to_owned(),
        redirect_uris: vec!["https://rp.example/callback".to_owned()],
        ..NewClient::default()
    };
    let (_, secret) = t.write(|conn| clients::create_client(conn, t.clock.as_ref(), &new));
    let secret = secret.unwrap();
    let mut conn = t.services.db.conn().unwrap();
    c.bench_function("client lookup (SQLite)", |b| {
        b.iter(|| clients::find_client(&mut conn, "app").unwrap().unwrap())
    });
    let found = clients::find_client(&mut conn, "app").unwrap().unwrap();
    c.bench_function("client secret check", |b| {
        b.iter(|| found.verify_secret(secret.expose()))
    });
}

criterion_group!(units, tokens, argon2, second_factor, clients);
criterion_main!(units);
