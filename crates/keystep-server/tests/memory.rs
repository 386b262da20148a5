//! The `keystep` process under 32 concurrent password sign-ins at the default argon2 cost
//! (19 MiB, t=2): its resident memory, read from /proc while the sign-ins run, stays under
//! 80 MiB, because the hashes run on a fixed set of workers that reuse their memory; and
//! every sign-in succeeds.
//!
//! What is measured is the anonymous resident memory (`RssAnon`: heap, stacks, the hashing
//! areas), which is what load makes grow. The file-backed part is the mapped executable, whose
//! size is the build profile's: the unoptimised test build maps about 29 MiB of code that a
//! release build does not have, so counting it would measure the profile, not keystep.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::process::{Child, Command, Stdio};
use std::time::Duration;

const PASSWORD: &str = "correct horse battery";
const PEOPLE: usize = 32;

mod common;

use common::{free_port, hidden, wait_until_up};

fn keystep(dir: &std::path::Path) -> Command {
    let mut command = common::keystep(dir);
    // SQLite and memory, the defaults; two hashing workers whatever the machine has, so the
    // bound below does not depend on its core count.
    command.env("KEYSTEP_PASSWORD__HASHING__WORKERS", "2");
    command
}

/// A /proc/PID/status field in KiB, such as `VmHWM` (peak resident set) or `VmRSS`.
fn status_kib(child: &Child, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc status"))
}

fn add_person(dir: &std::path::Path, name: &str) {
    let mut command = keystep(dir);
    command.args([
        "user",
        "add",
        name,
        "--email",
        &format!("{name}@example.com"),
    ]);
    command.arg("--password-stdin");
    assert!(common::run(command, PASSWORD).status.success());
}

/// Loads the login page and signs in; returns the status of the POST.
async fn sign_in(base: String, username: String) -> u16 {
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = common::get_text(&browser, &format!("{base}/login")).await;
    let csrf = hidden(&page, "csrf_token");
    browser
        .post(format!("{base}/login"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("username", username.as_str()),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_concurrent_sign_ins_stay_under_80_mib() {
    let dir = tempfile::tempdir().unwrap();
    for n in 0..PEOPLE {
        add_person(dir.path(), &format!("person{n:02}"));
    }
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = keystep(dir.path())
        .arg("serve")
        .env("KEYSTEP_LISTEN", format!("127.0.0.1:{port}"))
        .env("KEYSTEP_PUBLIC_URL", &base)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until_up(&base).await;
    let idle = status_kib(&server, "RssAnon");
    let pid = server.id();
    let sampling = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let sampling = sampling.clone();
        std::thread::spawn(move || {
            let mut peak = 0;
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
                    let anon = status
                        .lines()
                        .find_map(|l| l.strip_prefix("RssAnon:"))
                        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                        .unwrap_or(0u64);
                    peak = peak.max(anon);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            peak
        })
    };

    // Twice over, so that memory kept from the first round would show in the second.
    for _ in 0..2 {
        let sign_ins: Vec<_> = (0..PEOPLE)
            .map(|n| tokio::spawn(sign_in(base.clone(), format!("person{n:02}"))))
            .collect();
        for sign_in in sign_ins {
            assert_eq!(sign_in.await.unwrap(), 200, "every sign-in succeeds");
        }
    }
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    let peak = sampler.join().unwrap().max(status_kib(&server, "RssAnon"));
    let total = status_kib(&server, "VmHWM");
    let _ = server.kill();
    let _ = server.wait();
    assert!(
        peak < 80 * 1024,
        "peak anonymous resident memory {} MiB (idle {} MiB; peak resident set with the \
         executable {} MiB) during {PEOPLE} concurrent sign-ins",
        peak / 1024,
        idle / 1024,
        total / 1024
    );
    eprintln!(
        "{PEOPLE} concurrent sign-ins: anonymous resident memory idle {} MiB, peak {} MiB; \
         peak resident set with the executable {} MiB",
        idle / 1024,
        peak / 1024,
        total / 1024
    );
}
