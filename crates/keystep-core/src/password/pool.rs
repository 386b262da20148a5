//! The hashing pool: a fixed set of threads, each reusing one argon2 memory area, fed through
//! a bounded queue. Memory and threads for hashing stay the same however many sign-ins arrive;
//! a caller that cannot be served in time gets [`Error::Busy`].

use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argon2::{Algorithm, Argon2, Block, Params, Version};

use crate::config::HashingConfig;
use crate::error::{Error, Result};

use super::phc_error;

/// One argon2 computation in a worker's memory area, grown (never shrunk) to what `params`
/// needs: after the first hash at a given cost, hashing allocates nothing.
pub(super) fn compute(
    algorithm: Algorithm,
    version: Version,
    params: &Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
    memory: &mut Vec<Block>,
) -> Result<()> {
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    Argon2::new(algorithm, version, params.clone())
        .hash_password_into_with_memory(password, salt, out, &mut memory[..blocks])
        .map_err(phc_error)
}

type Work = Box<dyn FnOnce(&mut Vec<Block>) + Send>;

struct Job {
    /// Past this instant the caller has given up waiting: the job is dropped unrun.
    deadline: Instant,
    work: Work,
}

/// A fixed set of hashing threads fed through a bounded queue. The threads end when the
/// hasher is dropped (the queue's sender goes with it).
pub(super) struct HashPool {
    jobs: SyncSender<Job>,
    pub(super) workers: usize,
    max_wait: Duration,
}

impl HashPool {
    pub(super) fn start(config: &HashingConfig) -> Result<Self> {
        let workers = match config.workers {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        };
        let (jobs, receiver) = mpsc::sync_channel::<Job>(config.queue);
        let receiver = Arc::new(Mutex::new(receiver));
        for n in 0..workers {
            let receiver = receiver.clone();
            std::thread::Builder::new()
                .name(format!("keystep-hash-{n}"))
                .spawn(move || work(&receiver))
                .map_err(|e| Error::io("starting a password-hashing thread", e))?;
        }
        Ok(Self {
            jobs,
            workers,
            max_wait: Duration::from_millis(config.max_wait_ms),
        })
    }

    /// Runs `f` on a worker and waits for its result; [`Error::Busy`] when the queue is full
    /// or the job waited past `max_wait` without reaching a worker.
    pub(super) fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> Result<T> {
        let (reply, result) = mpsc::sync_channel(1);
        let job = Job {
            deadline: Instant::now() + self.max_wait,
            work: Box::new(move |memory| {
                let _ = reply.send(f(memory));
            }),
        };
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(Error::Busy),
            Err(TrySendError::Disconnected(_)) => {
                return Err(Error::PasswordHash(
                    "the hashing threads have stopped".into(),
                ))
            }
        }
        // A job dropped unrun (deadline passed) drops its reply sender: that is the refusal.
        result.recv().map_err(|_| Error::Busy)
    }
}

fn work(receiver: &Mutex<Receiver<Job>>) {
    let mut memory: Vec<Block> = Vec::new();
    loop {
        let job = {
            let Ok(receiver) = receiver.lock() else {
                return;
            };
            match receiver.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        if Instant::now() > job.deadline {
            continue;
        }
        (job.work)(&mut memory);
    }
}
