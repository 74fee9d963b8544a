//! A circuit breaker per shop: after too many plugin faults in a row
//! (traps, timeouts, memory or output violations) the shop's plugin is not
//! called for a cool-down period, so one broken plugin or tenant cannot eat
//! the host's capacity. Refusals of bad input are not faults.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Consecutive-failure circuit breaker.
#[derive(Debug)]
pub struct Breaker {
    threshold: u32,
    cooldown: Duration,
    state: Mutex<BreakerState>,
}

#[derive(Debug, Default)]
struct BreakerState {
    consecutive_faults: u32,
    open_until: Option<Instant>,
}

impl Breaker {
    /// Open after `threshold` faults in a row, for `cooldown`.
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Breaker {
            threshold: threshold.max(1),
            cooldown,
            state: Mutex::new(BreakerState::default()),
        }
    }

    /// `Err(remaining)` while open. After the cool-down one trial call is let
    /// through; its result closes or re-opens the breaker.
    pub fn check(&self, now: Instant) -> Result<(), Duration> {
        let mut state = self.state.lock().expect("breaker lock");
        match state.open_until {
            Some(until) if now < until => Err(until - now),
            Some(_) => {
                // Half-open: allow this call, and keep others out until it reports.
                state.open_until = Some(now + self.cooldown);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Record a call's result.
    pub fn record(&self, faulted: bool, now: Instant) {
        let mut state = self.state.lock().expect("breaker lock");
        if faulted {
            state.consecutive_faults += 1;
            if state.consecutive_faults >= self.threshold {
                state.open_until = Some(now + self.cooldown);
            }
        } else {
            state.consecutive_faults = 0;
            state.open_until = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_and_recovers_after_cooldown() {
        let breaker = Breaker::new(3, Duration::from_secs(10));
        let t0 = Instant::now();
        for _ in 0..2 {
            breaker.record(true, t0);
            assert!(breaker.check(t0).is_ok());
        }
        breaker.record(true, t0);
        assert_eq!(
            breaker.check(t0 + Duration::from_secs(4)),
            Err(Duration::from_secs(6))
        );
        // Half-open: one trial call passes, the next waits for its result.
        let later = t0 + Duration::from_secs(11);
        assert!(breaker.check(later).is_ok());
        assert!(breaker.check(later).is_err());
        breaker.record(false, later);
        assert!(breaker.check(later).is_ok());
    }

    #[test]
    fn a_success_resets_the_count() {
        let breaker = Breaker::new(2, Duration::from_secs(10));
        let t0 = Instant::now();
        breaker.record(true, t0);
        breaker.record(false, t0);
        breaker.record(true, t0);
        assert!(breaker.check(t0).is_ok());
    }
}
