//! Exponential back-off with jitter for delivery retries.

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
    let exponential = BASE
        .saturating_mul(
            1u32.checked_shl(attempt.saturating_sub(1))
                .unwrap_or(u32::MAX),
        )
        .min(CAP);
    let half = exponential / 2;
    let jitter = rand::rng().random_range(0..=half.as_millis() as u64);
    let delay = half + Duration::from_millis(jitter);
    delay
        .max(hint.unwrap_or_default())
        .min(CAP.max(hint.unwrap_or_default()))
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
    fn a_platform_hint_is_respected() {
        assert!(delay(1, Some(Duration::from_secs(60))) >= Duration::from_secs(60));
        assert_eq!(
            delay(1, Some(Duration::from_secs(900))),
            Duration::from_secs(900)
        );
    }
}
