//! Login rate limit: at most 5 *failed* attempts per minute per client IP (a
//! sliding window); while 5 failures are in the window, every attempt gets 429
//! with `Retry-After`. Successful logins are not counted, so a person opening
//! the web UI in several tabs (each logs in: the token lives in the page's
//! memory) is never locked out by their own successes.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed attempts allowed per window.
pub const MAX_ATTEMPTS: usize = 5;
/// Window length.
pub const WINDOW: Duration = Duration::from_secs(60);

/// Failure times per IP.
#[derive(Default)]
pub struct LoginLimiter {
    attempts: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
}

impl LoginLimiter {
    /// Whether `ip` may try now; `Err(seconds)` to wait if it has failed
    /// [`MAX_ATTEMPTS`] times within [`WINDOW`].
    pub fn check(&self, ip: IpAddr) -> Result<(), u64> {
        self.check_at(ip, Instant::now())
    }

    /// Counts a failed attempt of `ip`.
    pub fn record_failure(&self, ip: IpAddr) {
        self.record_failure_at(ip, Instant::now())
    }

    fn record_failure_at(&self, ip: IpAddr, now: Instant) {
        if let Ok(mut map) = self.attempts.lock() {
            map.entry(ip).or_default().push_back(now);
        }
    }

    fn check_at(&self, ip: IpAddr, now: Instant) -> Result<(), u64> {
        let Ok(mut map) = self.attempts.lock() else {
            return Ok(());
        };
        // Keep the map small: forget idle IPs.
        if map.len() > 10_000 {
            map.retain(|_, q| q.back().is_some_and(|t| now.duration_since(*t) < WINDOW));
        }
        let q = map.entry(ip).or_default();
        while q.front().is_some_and(|t| now.duration_since(*t) >= WINDOW) {
            q.pop_front();
        }
        if q.len() >= MAX_ATTEMPTS {
            let oldest = *q.front().expect("non-empty when at the limit");
            let wait = WINDOW.saturating_sub(now.duration_since(oldest));
            return Err(wait.as_secs().max(1));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_attempt_after_five_failures_in_a_minute_is_refused_then_allowed_later() {
        let l = LoginLimiter::default();
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let t0 = Instant::now();
        for i in 0..5 {
            assert!(l.check_at(ip, t0 + Duration::from_secs(i)).is_ok());
            l.record_failure_at(ip, t0 + Duration::from_secs(i));
        }
        let wait = l.check_at(ip, t0 + Duration::from_secs(10)).unwrap_err();
        assert_eq!(wait, 50);
        assert!(
            l.check_at("10.0.0.2".parse().unwrap(), t0).is_ok(),
            "per IP"
        );
        assert!(l.check_at(ip, t0 + Duration::from_secs(61)).is_ok());
    }

    #[test]
    fn successes_are_not_counted() {
        let l = LoginLimiter::default();
        let ip: IpAddr = "10.0.0.3".parse().unwrap();
        let t0 = Instant::now();
        for i in 0..20 {
            assert!(l.check_at(ip, t0 + Duration::from_millis(i)).is_ok());
        }
    }
}
