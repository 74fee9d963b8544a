//! Exponential back-off with jitter: delivery retries, stream reconnects and
//! polls that failed.

use rand::Rng;
use std::time::Duration;

/// The first retry waits about this long.
const BASE: Duration = Duration::from_secs(1);
/// No retry waits longer than this.
const CAP: Duration = Duration::from_secs(300);

/// How long to wait before attempt `attempt + 1`, at least `hint` if the
/// platform gave one. "Equal jitter": half the exponential delay fixed, half
/// random, so retries from many conversations spread out.
pub fn delay(attempt: u32, hint: Option<Duration>) -> Duration {
    delay_within(attempt, hint, CAP)
}

/// [`delay`] with its own cap: a reconnect or a poll should not wait as long
/// as a delivery retry may.
pub fn delay_within(attempt: u32, hint: Option<Duration>, cap: Duration) -> Duration {
    let exponential = BASE
        .saturating_mul(
            1u32.checked_shl(attempt.saturating_sub(1))
                .unwrap_or(u32::MAX),
        )
        .min(cap);
    let half = exponential / 2;
    let jitter = rand::rng().random_range(0..=half.as_millis() as u64);
    let delay = half + Duration::from_millis(jitter);
    delay
        .max(hint.unwrap_or_default())
        .min(cap.max(hint.unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_stay_capped() {
        for attempt in 1..40 {
            let d = delay(attempt, None);
            let expected = BASE.saturating_mul(1 << (attempt - 1).min(20)).min(CAP);
            assert!(
                d >= expected / 2 && d <= expected,
                "attempt {attempt}: {d:?}"
            );
        }
    }

    #[test]
    fn a_lower_cap_bounds_the_delay() {
        let cap = Duration::from_secs(30);
        for attempt in 1..40 {
            assert!(delay_within(attempt, None, cap) <= cap, "attempt {attempt}");
        }
        assert!(delay_within(20, None, cap) >= cap / 2);
    }

    #[test]
    fn a_platform_hint_is_respected() {
        assert!(delay(1, Some(Duration::from_secs(60))) >= Duration::from_secs(60));
        assert_eq!(
            delay(1, Some(Duration::from_secs(900))),
            Duration::from_secs(900)
        );
    }
}
