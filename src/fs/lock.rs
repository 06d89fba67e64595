//! Waiting for a lock another process holds, the one loop every lock idfed takes goes through
//! (the node lock, PVE's config locks, shadow's `.pwd.lock` and `<file>.lock`): a try every 20 ms
//! until the timeout, then the caller's error, with how long it waited.

use std::fs::File;
use std::io;
use std::time::{Duration, Instant};

use rustix::fs::{FlockOperation, fcntl_lock, flock};
use rustix::io::Errno;

/// The pause between tries.
const RETRY: Duration = Duration::from_millis(20);

/// Tries `attempt` until it takes the lock (`Ok(None)`) or fails (`Err`), pausing between tries
/// while it finds the lock held (`Ok(Some(holder))`); once `timeout` has passed, the error is
/// `held(holder, waited)` of the last try.
///
/// # Errors
/// The first error of `attempt`, or `held`'s.
pub(crate) fn wait_for<H, E>(
    timeout: Duration,
    mut attempt: impl FnMut() -> Result<Option<H>, E>,
    held: impl FnOnce(H, Duration) -> E,
) -> Result<(), E> {
    let started = Instant::now();
    loop {
        let Some(holder) = attempt()? else {
            return Ok(());
        };
        let waited = started.elapsed();
        if waited >= timeout {
            return Err(held(holder, waited));
        }
        std::thread::sleep(RETRY.min(timeout - waited));
    }
}

/// The two kinds of whole-file lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LockKind {
    /// `flock(2)`: idfed's node lock, PVE's config locks.
    Flock,
    /// A POSIX (`fcntl`) write lock on the whole file: glibc's `lckpwdf()`.
    Posix,
}

/// Why [`lock_exclusive`] did not take the lock.
#[derive(Debug)]
pub(crate) enum LockWait {
    /// Another process still held it after this long.
    Held(Duration),
    /// The lock call failed otherwise.
    Io(io::Error),
}

/// Locks `file` exclusively with a `kind` lock, waiting up to `timeout` while another holds it.
/// The lock goes with the file descriptor.
///
/// # Errors
/// [`LockWait::Held`] after `timeout`, [`LockWait::Io`] when the lock call fails otherwise.
pub(crate) fn lock_exclusive(
    file: &File,
    kind: LockKind,
    timeout: Duration,
) -> Result<(), LockWait> {
    let attempt = || {
        let tried = match kind {
            LockKind::Flock => flock(file, FlockOperation::NonBlockingLockExclusive),
            LockKind::Posix => fcntl_lock(file, FlockOperation::NonBlockingLockExclusive),
        };
        match tried {
            Ok(()) => Ok(None),
            // flock says EWOULDBLOCK; fcntl EAGAIN or EACCES (POSIX allows either).
            Err(e)
                if e == Errno::WOULDBLOCK
                    || e == Errno::AGAIN
                    || e == Errno::INTR
                    || (kind == LockKind::Posix && e == Errno::ACCESS) =>
            {
                Ok(Some(()))
            }
            Err(e) => Err(LockWait::Io(e.into())),
        }
    };
    wait_for(timeout, attempt, |(), waited| LockWait::Held(waited))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_is_waited_for_then_given_up_a_free_one_is_taken() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        for kind in [LockKind::Flock, LockKind::Posix] {
            let open = || {
                std::fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .open(&path)
                    .unwrap()
            };
            let held = open();
            lock_exclusive(&held, kind, Duration::ZERO).unwrap();
            // POSIX locks belong to the process: only a second flock conflicts within this one.
            if kind == LockKind::Flock {
                let started = Instant::now();
                let Err(LockWait::Held(waited)) =
                    lock_exclusive(&open(), kind, Duration::from_millis(60))
                else {
                    panic!("a held flock was taken twice");
                };
                assert!(waited >= Duration::from_millis(60) && started.elapsed() >= waited);
            }
            drop(held);
            lock_exclusive(&open(), kind, Duration::ZERO).unwrap();
        }
    }

    #[test]
    fn wait_for_stops_at_the_first_error_and_passes_the_last_holder() {
        let mut tries = 0;
        let err = wait_for(
            Duration::from_millis(30),
            || {
                tries += 1;
                Ok::<_, String>(Some(tries))
            },
            |holder, _| format!("held at try {holder}"),
        )
        .unwrap_err();
        assert!(tries >= 2, "{tries}");
        assert_eq!(err, format!("held at try {tries}"));
        let mut tries = 0;
        let err = wait_for(
            Duration::from_secs(60),
            || {
                tries += 1;
                if tries == 3 {
                    Err("failed")
                } else {
                    Ok(Some(()))
                }
            },
            |(), _| "held",
        )
        .unwrap_err();
        assert_eq!((err, tries), ("failed", 3));
    }
}
