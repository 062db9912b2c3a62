//! Retries for provider calls: exponential backoff with full jitter, bounded, honouring a
//! server's Retry-After; and a token-bucket rate limiter per provider.

use std::future::Future;
use std::time::Duration;

use rand::Rng;
use strata_sdk::ProviderError;
use tokio::sync::Mutex;
use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Total attempts, the first included.
    pub max_attempts: u32,
    pub base: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { max_attempts: 6, base: Duration::from_millis(250), max_delay: Duration::from_secs(30) }
    }
}

impl RetryPolicy {
    /// Delay before attempt `attempt + 1` (attempt counts from 1): a random point in
    /// [0, min(max, base·2^(attempt-1))] ("full jitter"), so many clients throttled together
    /// do not retry together. A Retry-After from the server wins when it is longer.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let exp = self.base.saturating_mul(1u32 << (attempt - 1).min(20));
        let cap = exp.min(self.max_delay);
        let jittered = Duration::from_secs_f64(rand::rng().random_range(0.0..=cap.as_secs_f64()));
        match retry_after {
            Some(ra) => ra.max(jittered).min(self.max_delay.max(ra)),
            None => jittered,
        }
    }
}

/// Runs `f` until it succeeds, fails with a non-retryable error, or attempts run out.
/// `on_retry` hears about each retry (attempt number, error, delay) for progress output.
pub async fn with_retries<T, F, Fut>(
    policy: &RetryPolicy,
    mut f: F,
    mut on_retry: impl FnMut(u32, &ProviderError, Duration),
) -> Result<(T, u32), (ProviderError, u32)>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ProviderError>>,
{
    let mut attempt = 1;
    loop {
        match f().await {
            Ok(v) => return Ok((v, attempt)),
            Err(e) if e.is_retryable() && attempt < policy.max_attempts => {
                let delay = policy.delay(attempt, e.retry_after);
                on_retry(attempt, &e, delay);
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
            Err(e) => return Err((e, attempt)),
        }
    }
}

/// A token bucket: `per_second` tokens refill continuously up to `burst`.
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl RateLimiter {
    pub fn new(per_second: f64, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        RateLimiter { per_second, burst, state: Mutex::new((burst, Instant::now())) }
    }

    /// Waits until a token is available and takes it.
    pub async fn acquire(&self) {
        loop {
            let wait = {
                let mut s = self.state.lock().await;
                let now = Instant::now();
                let refill = now.duration_since(s.1).as_secs_f64() * self.per_second;
                s.0 = (s.0 + refill).min(self.burst);
                s.1 = now;
                if s.0 >= 1.0 {
                    s.0 -= 1.0;
                    return;
                }
                Duration::from_secs_f64((1.0 - s.0) / self.per_second)
            };
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn delays_grow_but_stay_bounded() {
        let p = RetryPolicy { max_attempts: 10, base: Duration::from_millis(100), max_delay: Duration::from_secs(1) };
        for attempt in 1..10 {
            let d = p.delay(attempt, None);
            assert!(d <= Duration::from_secs(1));
            assert!(d <= Duration::from_millis(100) * (1 << (attempt - 1)));
        }
        assert!(p.delay(1, Some(Duration::from_secs(3))) >= Duration::from_secs(3), "Retry-After wins");
    }

    #[tokio::test]
    async fn retries_retryable_errors_only() {
        let p = RetryPolicy { max_attempts: 4, base: Duration::from_millis(1), max_delay: Duration::from_millis(2) };
        let n = AtomicU32::new(0);
        let r: Result<(u32, u32), _> = with_retries(
            &p,
            || async {
                let k = n.fetch_add(1, Ordering::SeqCst);
                if k < 2 { Err(ProviderError::retryable("busy")) } else { Ok(k) }
            },
            |_, _, _| {},
        )
        .await;
        assert_eq!(r.unwrap(), (2, 3));
        let n = AtomicU32::new(0);
        let r: Result<((), u32), _> = with_retries(
            &p,
            || async {
                n.fetch_add(1, Ordering::SeqCst);
                Err(ProviderError::invalid("bad"))
            },
            |_, _, _| {},
        )
        .await;
        assert_eq!(r.unwrap_err().1, 1);
        assert_eq!(n.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn rate_limiter_spaces_calls() {
        let l = RateLimiter::new(10.0, 1);
        let start = Instant::now();
        for _ in 0..5 {
            l.acquire().await;
        }
        let elapsed = start.elapsed();
        assert!(elapsed >= Duration::from_millis(390) && elapsed < Duration::from_millis(600), "{elapsed:?}");
    }
}
