//! Hashing, verification, rehash, the rules for new passwords and the pool's limits.

use std::sync::{mpsc, Arc};
use std::time::Duration;

use argon2::Argon2;

use super::*;
use crate::config::HashingConfig;

fn hasher(memory_kib: u32) -> PasswordHasher {
    PasswordHasher::new(&PasswordConfig {
        min_length: 8,
        argon2: Argon2Config {
            memory_kib,
            iterations: 1,
            parallelism: 1,
        },
        hashing: HashingConfig::default(),
    })
    .unwrap()
}

#[test]
fn hash_and_verify() {
    let h = hasher(64);
    let stored = h.hash("correct horse").unwrap();
    assert!(stored.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
    let check = |password| h.verify(password, &stored).unwrap();
    assert_eq!(check("correct horse"), PasswordCheck::Match);
    assert_eq!(check("correct horsE"), PasswordCheck::Mismatch);
    assert_ne!(stored, h.hash("correct horse").unwrap(), "salted");
}

#[test]
fn an_unknown_users_hash_has_the_configured_cost_and_matches_nothing() {
    let h = hasher(64);
    let dummy = h.dummy_hash().to_owned();
    let parsed = PasswordHash::new(&dummy).unwrap();
    assert!(
        h.is_current(&parsed),
        "verifying against it costs what a real hash costs"
    );
    assert_eq!(parsed.hash.unwrap().len(), Params::DEFAULT_OUTPUT_LEN);
    assert_eq!(h.verify("", &dummy).unwrap(), PasswordCheck::Mismatch);
    assert_eq!(
        h.verify("correct horse", &dummy).unwrap(),
        PasswordCheck::Mismatch
    );
    h.verify_dummy("correct horse").unwrap();
    assert_ne!(dummy, hasher(64).dummy_hash(), "random for each process");
}

#[test]
fn changed_parameters_ask_for_rehash() {
    let old = hasher(64).hash("correct horse").unwrap();
    let new = hasher(128);
    let check = |password, stored: &str| new.verify(password, stored).unwrap();
    assert_eq!(
        check("correct horse", &old),
        PasswordCheck::MatchNeedsRehash
    );
    assert_eq!(check("wrong horse!", &old), PasswordCheck::Mismatch);
    let rehashed = new.hash("correct horse").unwrap();
    assert_eq!(check("correct horse", &rehashed), PasswordCheck::Match);
}

#[test]
fn hashes_interoperate_with_the_argon2_crate() {
    use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
    let h = hasher(64);
    let ours = h.hash("correct horse").unwrap();
    let parsed = PasswordHash::new(&ours).unwrap();
    assert!(Argon2::default()
        .verify_password(b"correct horse", &parsed)
        .is_ok());
    let salt = SaltString::encode_b64(b"sixteen byte sal").unwrap();
    let theirs = Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(64, 1, 1, None).unwrap(),
    )
    .hash_password(b"correct horse", &salt)
    .unwrap()
    .to_string();
    assert_eq!(
        h.verify("correct horse", &theirs).unwrap(),
        PasswordCheck::Match
    );
    assert_eq!(
        h.verify("correct horsf", &theirs).unwrap(),
        PasswordCheck::Mismatch
    );
}

/// A pool whose one worker is held by a job until the returned sender is dropped.
fn held_pool(
    queue: usize,
    max_wait_ms: u64,
) -> (
    Arc<HashPool>,
    std::thread::JoinHandle<Result<()>>,
    mpsc::Sender<()>,
) {
    let pool = Arc::new(
        HashPool::start(&HashingConfig {
            workers: 1,
            queue,
            max_wait_ms,
        })
        .unwrap(),
    );
    let (release, hold) = mpsc::channel::<()>();
    let (started, running) = mpsc::channel::<()>();
    let holder = {
        let pool = pool.clone();
        std::thread::spawn(move || {
            pool.run(move |_| {
                let _ = started.send(());
                let _ = hold.recv();
            })
        })
    };
    running.recv().unwrap();
    (pool, holder, release)
}

#[test]
fn a_full_queue_is_busy_at_once() {
    // One worker held, room for one waiting job: of two more, one waits and one is
    // refused at once, before the worker is released.
    let (pool, holder, release) = held_pool(1, 60_000);
    let (results, answers) = mpsc::channel();
    for n in 0..2 {
        let pool = pool.clone();
        let results = results.clone();
        std::thread::spawn(move || results.send(pool.run(move |_| n)));
    }
    assert!(matches!(answers.recv().unwrap(), Err(Error::Busy)));
    drop(release);
    holder.join().unwrap().unwrap();
    assert!(answers.recv().unwrap().is_ok());
}

#[test]
fn a_job_that_waited_too_long_is_busy_and_never_runs() {
    // The idle worker takes the holding job at once, well within its 50 ms.
    let (pool, holder, release) = held_pool(4, 50);
    let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let waiting = {
        let pool = pool.clone();
        let ran = ran.clone();
        std::thread::spawn(move || {
            pool.run(move |_| ran.store(true, std::sync::atomic::Ordering::SeqCst))
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    drop(release);
    holder.join().unwrap().unwrap();
    assert!(matches!(waiting.join().unwrap(), Err(Error::Busy)));
    assert!(!ran.load(std::sync::atomic::Ordering::SeqCst));
}

#[test]
fn rules() {
    let h = hasher(64);
    assert!(matches!(
        h.hash(""),
        Err(Error::Invalid {
            field: "password",
            ..
        })
    ));
    assert!(h.hash("short").is_err());
    assert!(h.hash(&"x".repeat(MAX_PASSWORD_LEN + 1)).is_err());
    assert!(h.hash("eight ch").is_ok());
}

#[test]
fn corrupt_hash_is_an_error() {
    assert!(hasher(64).verify("whatever", "not a PHC string").is_err());
    assert!(!hasher(64)
        .verify("whatever", "$argon2id$garbage")
        .is_ok_and(PasswordCheck::matched));
}

#[test]
fn bad_parameters_are_refused() {
    assert!(argon2_params(&Argon2Config {
        memory_kib: 1,
        iterations: 1,
        parallelism: 1
    })
    .is_err());
    assert!(argon2_params(&Argon2Config {
        memory_kib: 64,
        iterations: 0,
        parallelism: 1
    })
    .is_err());
}
