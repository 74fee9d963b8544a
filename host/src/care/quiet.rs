//! Quiet hours in Beijing time (UTC+8, no daylight saving): when a care
//! message due inside them may go out instead.

use crate::config::QuietHours;

const DAY_MS: i64 = 86_400_000;
const BEIJING_OFFSET_MS: i64 = 8 * 3_600_000;

impl QuietHours {
    /// `at_ms` if it falls outside the quiet hours, else their end.
    pub fn release(&self, at_ms: i64) -> i64 {
        let local = at_ms + BEIJING_OFFSET_MS;
        let into_day = local.rem_euclid(DAY_MS);
        let from = i64::from(self.from_secs) * 1000;
        let to = i64::from(self.to_secs) * 1000;
        let inside = if from < to {
            (from..to).contains(&into_day)
        } else {
            into_day >= from || into_day < to
        };
        if !inside {
            return at_ms;
        }
        // The end today, or tomorrow when the hours wrap past midnight
        // and it is still before midnight.
        let until_end = (to - into_day).rem_euclid(DAY_MS);
        at_ms + until_end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unix ms of a Beijing wall-clock time on 2026-11-30.
    fn beijing(h: i64, m: i64) -> i64 {
        // 2026-11-30 00:00 Beijing = 2026-11-29 16:00 UTC.
        let midnight = 1_795_996_800_000 - BEIJING_OFFSET_MS;
        midnight + (h * 60 + m) * 60_000
    }

    #[test]
    fn a_message_due_in_quiet_hours_waits_for_their_end() {
        let night = QuietHours::parse("22:00-08:00").unwrap();
        assert_eq!(night.release(beijing(12, 0)), beijing(12, 0));
        assert_eq!(night.release(beijing(21, 59)), beijing(21, 59));
        assert_eq!(night.release(beijing(23, 0)), beijing(24 + 8, 0));
        assert_eq!(night.release(beijing(3, 30)), beijing(8, 0));
        assert_eq!(night.release(beijing(8, 0)), beijing(8, 0));
        let lunch = QuietHours::parse("12:00-13:30").unwrap();
        assert_eq!(lunch.release(beijing(12, 10)), beijing(13, 30));
        assert_eq!(lunch.release(beijing(13, 30)), beijing(13, 30));
    }

    #[test]
    fn quiet_hours_are_parsed_strictly() {
        assert_eq!(
            QuietHours::parse("22:00-08:00:30").unwrap(),
            QuietHours {
                from_secs: 79_200,
                to_secs: 28_830
            }
        );
        for bad in ["22-08", "25:00-08:00", "22:00", "22:00-22:00", "a:b-c:d"] {
            assert!(QuietHours::parse(bad).is_err(), "{bad}");
        }
    }
}
