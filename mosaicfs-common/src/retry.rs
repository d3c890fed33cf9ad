//! The one retry policy (plan 11.1): first delay 1 s, ×2 per attempt, capped
//! at 60 s, each delay jittered by ±25 %. Contexts differ only in how many
//! attempts they allow; see `docs/architecture.md`, "Retry".

use rand::Rng;
use std::future::Future;
use std::time::Duration;

/// Backoff parameters. Use [`RetryPolicy::standard`] unless a test needs
/// shorter delays.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Delay before the second attempt.
    pub initial: Duration,
    /// Growth factor per attempt.
    pub multiplier: f64,
    /// Upper bound of a delay before jitter.
    pub max_delay: Duration,
    /// Relative jitter, 0.25 means ±25 %.
    pub jitter: f64,
    /// Total attempts (including the first); `None` retries forever.
    pub max_attempts: Option<u32>,
}

impl RetryPolicy {
    /// 1 s, ×2, 60 s cap, ±25 % jitter, with the given attempt limit.
    pub const fn standard(max_attempts: Option<u32>) -> RetryPolicy {
        RetryPolicy {
            initial: Duration::from_secs(1),
            multiplier: 2.0,
            max_delay: Duration::from_secs(60),
            jitter: 0.25,
            max_attempts,
        }
    }

    /// The same shape scaled down, for tests that exercise retries.
    pub const fn fast(max_attempts: Option<u32>) -> RetryPolicy {
        RetryPolicy {
            initial: Duration::from_millis(10),
            multiplier: 2.0,
            max_delay: Duration::from_millis(200),
            jitter: 0.25,
            max_attempts,
        }
    }

    /// The delay before retry number `retry` (0 = the first retry), without
    /// jitter.
    pub fn base_delay(&self, retry: u32) -> Duration {
        let factor = self.multiplier.powi(retry.min(64) as i32);
        let secs = (self.initial.as_secs_f64() * factor).min(self.max_delay.as_secs_f64());
        Duration::from_secs_f64(secs)
    }

    /// The jittered delay before retry number `retry`.
    pub fn delay(&self, retry: u32) -> Duration {
        let base = self.base_delay(retry).as_secs_f64();
        let j = if self.jitter > 0.0 {
            rand::rng().random_range(-self.jitter..=self.jitter)
        } else {
            0.0
        };
        Duration::from_secs_f64((base * (1.0 + j)).max(0.0))
    }

    /// Whether another attempt is allowed after `attempts` attempts.
    pub fn allows(&self, attempts: u32) -> bool {
        self.max_attempts.is_none_or(|max| attempts < max)
    }

    /// Runs `op` until it succeeds, fails permanently, or attempts run out.
    /// `is_transient` decides which errors are worth another attempt; each
    /// retry is logged at WARN with the `operation` name.
    pub async fn run<T, E, F, Fut>(
        &self,
        operation: &str,
        is_transient: impl Fn(&E) -> bool,
        mut op: F,
    ) -> Result<T, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: std::fmt::Display,
    {
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            match op().await {
                Ok(v) => return Ok(v),
                Err(e) if is_transient(&e) && self.allows(attempts) => {
                    let delay = self.delay(attempts - 1);
                    tracing::warn!(
                        operation,
                        attempt = attempts,
                        retry_in_ms = delay.as_millis() as u64,
                        error = %e,
                        "transient failure, retrying"
                    );
                    tokio::time::sleep(delay).await;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy::standard(Some(6))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn delays_double_from_one_second_up_to_the_cap() {
        let p = RetryPolicy::standard(None);
        let secs: Vec<u64> = (0..9).map(|r| p.base_delay(r).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
    }

    #[test]
    fn jitter_stays_within_a_quarter() {
        let p = RetryPolicy::standard(None);
        let mut seen_low = false;
        let mut seen_high = false;
        for _ in 0..2000 {
            let d = p.delay(2).as_secs_f64();
            assert!((3.0..=5.0).contains(&d), "{d}");
            seen_low |= d < 3.5;
            seen_high |= d > 4.5;
        }
        assert!(seen_low && seen_high, "jitter should spread both ways");
    }

    #[test]
    fn attempt_limit() {
        let p = RetryPolicy::standard(Some(3));
        assert!(p.allows(1) && p.allows(2) && !p.allows(3));
        assert!(RetryPolicy::standard(None).allows(1_000_000));
    }

    #[tokio::test(start_paused = true)]
    async fn run_retries_transient_errors_and_stops_on_permanent_ones() {
        let calls = AtomicU32::new(0);
        let r: Result<u32, String> = RetryPolicy::standard(Some(5))
            .run(
                "t",
                |e: &String| e == "transient",
                || async {
                    let n = calls.fetch_add(1, Ordering::SeqCst);
                    if n < 2 {
                        Err("transient".to_string())
                    } else {
                        Ok(n)
                    }
                },
            )
            .await;
        assert_eq!(r, Ok(2));
        assert_eq!(calls.load(Ordering::SeqCst), 3);

        let calls = AtomicU32::new(0);
        let r: Result<u32, String> = RetryPolicy::standard(Some(5))
            .run(
                "t",
                |e: &String| e == "transient",
                || async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Err("permanent".to_string())
                },
            )
            .await;
        assert_eq!(r, Err("permanent".into()));
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        let calls = AtomicU32::new(0);
        let r: Result<u32, String> = RetryPolicy::standard(Some(4))
            .run(
                "t",
                |_: &String| true,
                || async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Err("transient".to_string())
                },
            )
            .await;
        assert!(r.is_err());
        assert_eq!(
            calls.load(Ordering::SeqCst),
            4,
            "gives up after max_attempts"
        );
    }
}
