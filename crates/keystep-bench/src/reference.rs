//! The bar of the sign-in cases: libargon2 (the argon2 reference library, Debian's
//! `libargon2-1`), hashing at the server's default cost in this process, in the same run.
//! A sign-in costs one argon2id verification plus the pages and tokens around it, so its
//! rate per server CPU-second is compared with libargon2's rate per CPU-second of the
//! thread that hashes here. Without the library the comparison is left out, and said so.

// The only unsafe code in the workspace: a C library's function, called as its header says.
#![allow(unsafe_code)]

use std::ffi::{c_int, c_void};
use std::time::{Duration, Instant};

/// keystep's default argon2id cost (RFC 9106's second recommendation, OWASP's minimum).
const MEMORY_KIB: u32 = 19_456;
const ITERATIONS: u32 = 2;
const PARALLELISM: u32 = 1;

/// `argon2id_hash_raw` of argon2.h: a verification is this hash and a comparison.
type HashRaw = unsafe extern "C" fn(
    t_cost: u32,
    m_cost: u32,
    parallelism: u32,
    pwd: *const c_void,
    pwdlen: usize,
    salt: *const c_void,
    saltlen: usize,
    hash: *mut c_void,
    hashlen: usize,
) -> c_int;

/// What libargon2 did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Libargon2 {
    /// The library file loaded.
    pub library: String,
    /// Hashes per second of the hashing thread's CPU time.
    pub per_cpu_second: f64,
}

/// Hashes with libargon2 for about `duration` on one thread; `Err` says why it could not.
pub fn measure(duration: Duration) -> Result<Libargon2, String> {
    const NAMES: [&str; 2] = ["libargon2.so.1", "libargon2.so"];
    // SAFETY: loading the library runs its initialisers; libargon2 has none beyond the C
    // runtime's, and it is the reference implementation, not something untrusted.
    let (library, name) = NAMES
        .iter()
        .find_map(|&name| {
            unsafe { libloading::Library::new(name) }
                .ok()
                .map(|l| (l, name))
        })
        .ok_or("libargon2 is not installed (Debian: apt-get install libargon2-1)")?;
    // SAFETY: the symbol has this signature in every libargon2 release since 2016.
    let hash_raw: libloading::Symbol<HashRaw> =
        unsafe { library.get(b"argon2id_hash_raw\0") }.map_err(|e| format!("{name}: {e}"))?;
    let password = b"bench correct horse battery";
    let salt = [7u8; 16];
    let mut out = [0u8; 32];
    let mut hash = || {
        // SAFETY: every pointer is valid for the length passed with it.
        let status = unsafe {
            hash_raw(
                ITERATIONS,
                MEMORY_KIB,
                PARALLELISM,
                password.as_ptr().cast(),
                password.len(),
                salt.as_ptr().cast(),
                salt.len(),
                out.as_mut_ptr().cast(),
                out.len(),
            )
        };
        if status == 0 {
            Ok(())
        } else {
            Err(format!("{name}: argon2id_hash_raw returned {status}"))
        }
    };
    // One unmeasured, so a library that fails is known before the clock starts.
    hash()?;
    let cpu_before = thread_cpu()?;
    let started = Instant::now();
    let mut hashes = 0u32;
    while started.elapsed() < duration || hashes < 10 {
        hash()?;
        hashes += 1;
    }
    let cpu = thread_cpu()?.saturating_sub(cpu_before);
    if cpu.is_zero() {
        return Err("no CPU time was counted".into());
    }
    Ok(Libargon2 {
        library: name.to_owned(),
        per_cpu_second: f64::from(hashes) / cpu.as_secs_f64(),
    })
}

/// This thread's CPU time (user and system).
fn thread_cpu() -> Result<Duration, String> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").map_err(|e| e.to_string())?;
    crate::server::cpu_time_of(&stat).ok_or_else(|| "unreadable /proc/thread-self/stat".into())
}
