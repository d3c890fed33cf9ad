//! Lingering on `/dev/fuse`: after an answer given in the callback, the
//! request thread polls the device for a few microseconds before it goes
//! back to its blocking `read`.
//!
//! Why: a program walking a tree through the mount (`tar`, `rsync`, a
//! backup tool) sends its next request a few microseconds after our
//! answer: the RELEASE of the file it just read, then the OPEN of the next.
//! A request thread that went to sleep in `read(2)` must be woken for each
//! of them, and on this kind of machine (a VM whose idle vCPU halts) that
//! wake-up, not our work, was most of the cost: 84.7 % of the daemon's time
//! in a warm `tar` was in the kernel, in `fuse_dev_do_read/write` and
//! scheduler wake-ups. Polling without a timeout does not sleep and puts
//! nothing on the device's wait queue, so a request that arrives meanwhile
//! is read at once and the sender's wake-up of a sleeping reader is skipped.
//! Measured with `scripts/bench.sh local` (docs/benchmarks.md, row 6b):
//! a warm `tar` of 10,000 small files went from 35 % to 63 % of `tar` on the
//! source with a 20 µs linger; 10, 30, 100 and 300 µs gave the same gain
//! on a held mount.
//!
//! Between polls the thread yields its CPU (`sched_yield`): when the
//! walking program runs on the same CPU, a bare spin kept it from running
//! until the linger ran out. Measured on a held quick bench mount with the
//! walker and the request thread pinned to one CPU: a warm `tar` of 10,000
//! small files took 0.197 s with a bare 20 µs spin, 0.123 s without
//! lingering and 0.115 s with the yielding linger; on different CPUs
//! 0.113 s, 0.143 s and 0.112 s (`tar` on the source: 0.074 s).
//!
//! Cost: at most one linger of CPU per answer given in the callback, and
//! none while no request comes that way (an idle mount, or reads that go to
//! the runtime). Zero turns it off.

use super::OpCounts;
use rustix::event::{PollFd, PollFlags, Timespec, poll};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::OnceLock;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// The request thread's linger: a duplicate of the session's `/dev/fuse`
/// descriptor (the same open file) and how long to poll it.
pub(super) struct Linger {
    dev: OnceLock<OwnedFd>,
    budget: Duration,
}

impl Linger {
    pub(super) fn new(budget: Duration) -> Linger {
        Linger {
            dev: OnceLock::new(),
            budget,
        }
    }

    /// Gives the linger the session's device once the mount is up. Until
    /// then (and when the budget is zero) [`Linger::wait_for_next`] returns
    /// at once.
    pub(super) fn attach(&self, session_dev: impl AsFd) -> std::io::Result<()> {
        if !self.budget.is_zero() {
            let _ = self.dev.set(session_dev.as_fd().try_clone_to_owned()?);
        }
        Ok(())
    }

    /// Polls the device until a request is readable (or the connection is
    /// gone: poll reports that too), for at most the budget. Call it after
    /// an answer given in the callback, just before returning to fuser's
    /// loop.
    pub(super) fn wait_for_next(&self, counts: &OpCounts) {
        let Some(dev) = self.dev.get() else { return };
        counts.lingers.fetch_add(1, Ordering::Relaxed);
        let start = Instant::now();
        let zero = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        let mut fds = [PollFd::new(dev, PollFlags::IN)];
        loop {
            match poll(&mut fds, Some(&zero)) {
                Ok(0) => {}
                Ok(_) => {
                    counts.linger_hits.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                // EINTR: poll again; anything else: let the blocking read
                // see it.
                Err(rustix::io::Errno::INTR) => {}
                Err(_) => return,
            }
            if start.elapsed() >= self.budget {
                return;
            }
            // Not a bare spin: the program we wait for may be queued on
            // this very CPU (see the module doc).
            std::thread::yield_now();
        }
    }
}
