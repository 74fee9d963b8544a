//! The day's figures, kept as they happen rather than by rescanning the
//! store: per shop and day, how the bot handled customers' messages (the
//! automation rate), and how quickly people answered and how long they
//! took. Also the bot's decision about each message, which the console
//! shows inline in the thread.

use serde::{Deserialize, Serialize};

/// Milliseconds in a day.
const DAY_MS: i64 = 86_400_000;
/// China Standard Time (UTC+8, no daylight saving), where the brands' days
/// begin and end.
const CHINA_OFFSET_MS: i64 = 8 * 3_600_000;

/// The day (days since 1970-01-01, China Standard Time) that `at_ms` falls in.
pub fn day_of(at_ms: i64) -> i64 {
    (at_ms + CHINA_OFFSET_MS).div_euclid(DAY_MS)
}

/// The calendar date of a day number (days since 1970-01-01): (year,
/// month, day), proleptic Gregorian (Howard Hinnant's `civil_from_days`).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A day number as `YYYY-MM-DD`.
pub fn date_of_day(day: i64) -> String {
    let (year, month, date) = civil_from_days(day);
    format!("{year:04}-{month:02}-{date:02}")
}

/// How the bot's handling of one customer message ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BotOutcome {
    /// It answered outright.
    Settled,
    /// It asked which question was meant, or for the order number.
    Clarified,
    /// It handed the conversation to people (or made it more urgent).
    HandedOver,
    /// It had no answer (and no one to hand over to).
    Unanswered,
    /// It said nothing: people have the conversation.
    WithPeople,
    /// The message rated the service (not a question).
    Rated,
}

/// The bot's decision about one customer message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BotDecision {
    /// The decision in words: intent and score, clarification, sentiment
    /// cues.
    pub decision: String,
    /// How it ended.
    pub outcome: BotOutcome,
}

/// One shop's figures for one day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DailyTally {
    /// Customer messages the bot decided about (not those people had).
    pub questions: u64,
    /// Of them, answered outright.
    pub settled: u64,
    /// Of them, answered with a clarifying question.
    pub clarified: u64,
    /// Of them, handed to people.
    pub handed_over: u64,
    /// Conversations people answered for the first time after a hand-over.
    pub first_responses: u64,
    /// Sum of their waits from the hand-over to that answer, milliseconds.
    pub first_response_ms: u64,
    /// Conversations people closed or handed back.
    pub handled: u64,
    /// Sum of the times they held them, milliseconds.
    pub handling_ms: u64,
}

impl DailyTally {
    /// One decision of the bot.
    pub fn of_outcome(outcome: BotOutcome) -> DailyTally {
        let mut tally = DailyTally::default();
        if matches!(outcome, BotOutcome::WithPeople | BotOutcome::Rated) {
            return tally;
        }
        tally.questions = 1;
        match outcome {
            BotOutcome::Settled => tally.settled = 1,
            BotOutcome::Clarified => tally.clarified = 1,
            BotOutcome::HandedOver => tally.handed_over = 1,
            BotOutcome::Unanswered | BotOutcome::WithPeople | BotOutcome::Rated => {}
        }
        tally
    }

    /// Adds `other` to this.
    pub fn add(&mut self, other: &DailyTally) {
        self.questions += other.questions;
        self.settled += other.settled;
        self.clarified += other.clarified;
        self.handed_over += other.handed_over;
        self.first_responses += other.first_responses;
        self.first_response_ms += other.first_response_ms;
        self.handled += other.handled;
        self.handling_ms += other.handling_ms;
    }

    /// The share of the bot's questions it answered outright.
    pub fn automation_rate(&self) -> Option<f64> {
        (self.questions > 0).then(|| self.settled as f64 / self.questions as f64)
    }

    /// The average first response, seconds.
    pub fn average_first_response_secs(&self) -> Option<f64> {
        (self.first_responses > 0)
            .then(|| self.first_response_ms as f64 / self.first_responses as f64 / 1000.0)
    }

    /// The average handling time, seconds.
    pub fn average_handling_secs(&self) -> Option<f64> {
        (self.handled > 0).then(|| self.handling_ms as f64 / self.handled as f64 / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_turn_at_midnight_in_china() {
        // 2026-11-11T15:59:59Z is 23:59:59 of Double 11 in Beijing; a
        // second later the brand's next day begins.
        let before = 1_794_412_799_000;
        assert_eq!(day_of(before) + 1, day_of(before + 1_000));
        assert_eq!(day_of(before - 3_600_000), day_of(before));
    }

    #[test]
    fn day_numbers_are_dates() {
        assert_eq!(date_of_day(0), "1970-01-01");
        // Double 11 of 2026 in Beijing.
        assert_eq!(date_of_day(day_of(1_794_412_799_000)), "2026-11-11");
        assert_eq!(date_of_day(day_of(1_794_412_800_000)), "2026-11-12");
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn figures_add_up_and_average() {
        let mut day = DailyTally::default();
        for outcome in [
            BotOutcome::Settled,
            BotOutcome::Settled,
            BotOutcome::Settled,
            BotOutcome::HandedOver,
            BotOutcome::WithPeople,
        ] {
            day.add(&DailyTally::of_outcome(outcome));
        }
        assert_eq!(day.questions, 4, "messages people had are not the bot's");
        assert_eq!(day.automation_rate(), Some(0.75));
        day.add(&DailyTally {
            first_responses: 2,
            first_response_ms: 50_000,
            handled: 1,
            handling_ms: 300_000,
            ..DailyTally::default()
        });
        assert_eq!(day.average_first_response_secs(), Some(25.0));
        assert_eq!(day.average_handling_secs(), Some(300.0));
        assert_eq!(DailyTally::default().automation_rate(), None);
    }
}
