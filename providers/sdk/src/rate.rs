//! A client-side token bucket, for providers that pace their requests below an API's rate
//! limit. Runtime-free: [`TokenBucket::try_take`] says how long to wait, and the provider sleeps
//! on its own runtime.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// `rate` tokens per second, at most `burst` saved up; starts full.
#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl TokenBucket {
    /// # Panics
    /// If `rate` is not positive.
    pub fn new(rate: f64, burst: u32) -> Self {
        assert!(rate > 0.0, "a token bucket needs a positive rate");
        let burst = f64::from(burst.max(1));
        TokenBucket { rate, burst, state: Mutex::new((burst, Instant::now())) }
    }

    /// Takes a token (`Ok`), or says how long until one is available (`Err`).
    pub fn try_take(&self) -> Result<(), Duration> {
        let mut s = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        s.0 = (s.0 + now.duration_since(s.1).as_secs_f64() * self.rate).min(self.burst);
        s.1 = now;
        if s.0 >= 1.0 {
            s.0 -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - s.0) / self.rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_bucket_serves_its_burst_then_asks_to_wait() {
        let b = TokenBucket::new(10.0, 3);
        for _ in 0..3 {
            assert_eq!(b.try_take(), Ok(()));
        }
        let wait = b.try_take().unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_millis(100), "{wait:?}");
    }
}
