//! Risk in a conversation: what the host remembers to tell sustained anger
//! from one cross message, and the alerts it raises. An alert is raised at
//! most once per conversation and kind, and a complaint threat after an
//! anger alert is raised too (it is worse); nothing else repeats one until
//! the conversation has been free of alerts for a day (a customer who
//! threatens again next week is a new risk).

use serde::{Deserialize, Serialize};

/// What an alert is about, in rising order of risk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum RiskKind {
    /// Several negative messages within a short time.
    SustainedAnger,
    /// A threat to complain: 投诉, 12315, 曝光, a 差评 threat.
    ComplaintThreat,
}

impl RiskKind {
    /// The kind's name in the API and the report.
    pub fn as_str(self) -> &'static str {
        match self {
            RiskKind::SustainedAnger => "sustained-anger",
            RiskKind::ComplaintThreat => "complaint-threat",
        }
    }

    /// The kind in Chinese, for the group and the console.
    pub fn zh(self) -> &'static str {
        match self {
            RiskKind::SustainedAnger => "客户持续不满",
            RiskKind::ComplaintThreat => "投诉风险",
        }
    }
}

/// A conversation's risk so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskState {
    /// When the customer's recent negative messages arrived, oldest first,
    /// within the anger window.
    pub negative_ms: Vec<i64>,
    /// The worst alert raised in the conversation.
    pub raised: Option<RiskKind>,
    /// When it was raised, by the message's time, Unix milliseconds.
    pub raised_ms: i64,
}

/// How long after an alert the conversation's risk starts afresh.
pub const RISK_RESET_MS: i64 = 24 * 3_600_000;

impl RiskState {
    /// Takes in one customer message: negative or not, threatening or not,
    /// at `at_ms`. Returns the alert to raise, if any: a threat, or the
    /// `anger_messages`th negative message within `window_ms`, unless an
    /// alert as bad was already raised.
    pub fn observe(
        &mut self,
        negative: bool,
        threatens: bool,
        at_ms: i64,
        anger_messages: u32,
        window_ms: i64,
    ) -> Option<RiskKind> {
        if !negative && !threatens {
            return None;
        }
        if self.raised.is_some() && at_ms - self.raised_ms >= RISK_RESET_MS {
            self.raised = None;
        }
        self.negative_ms.retain(|&t| at_ms - t < window_ms);
        self.negative_ms.push(at_ms);
        let keep = anger_messages.max(1) as usize;
        if self.negative_ms.len() > keep {
            let excess = self.negative_ms.len() - keep;
            self.negative_ms.drain(..excess);
        }
        let kind = if threatens {
            RiskKind::ComplaintThreat
        } else if self.negative_ms.len() >= keep {
            RiskKind::SustainedAnger
        } else {
            return None;
        };
        if self.raised.is_some_and(|raised| raised >= kind) {
            return None;
        }
        self.raised = Some(kind);
        self.raised_ms = at_ms;
        Some(kind)
    }
}

/// A raised alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskAlert {
    /// The shop.
    pub shop: String,
    /// The conversation.
    pub conversation: String,
    /// The customer, by platform id.
    pub customer: String,
    /// What it is about.
    pub kind: RiskKind,
    /// The message that raised it.
    pub message: String,
    /// The sentiment cues found, in words.
    pub cues: String,
    /// When the message arrived, Unix milliseconds.
    pub at_ms: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: i64 = 600_000;

    #[test]
    fn a_threat_is_raised_at_once_and_once() {
        let mut state = RiskState::default();
        assert_eq!(
            state.observe(true, true, 0, 3, WINDOW),
            Some(RiskKind::ComplaintThreat)
        );
        assert_eq!(state.observe(true, true, 1_000, 3, WINDOW), None);
        assert_eq!(state.observe(true, false, 2_000, 3, WINDOW), None);
    }

    #[test]
    fn anger_must_last_within_the_window_and_a_threat_after_it_still_counts() {
        let mut state = RiskState::default();
        assert_eq!(state.observe(true, false, 0, 3, WINDOW), None);
        assert_eq!(state.observe(false, false, 1_000, 3, WINDOW), None);
        assert_eq!(state.observe(true, false, 2_000, 3, WINDOW), None);
        // The first one is out of the window by now.
        assert_eq!(state.observe(true, false, WINDOW + 500, 3, WINDOW), None);
        assert_eq!(
            state.observe(true, false, WINDOW + 600, 3, WINDOW),
            Some(RiskKind::SustainedAnger)
        );
        assert_eq!(state.observe(true, false, WINDOW + 700, 3, WINDOW), None);
        assert_eq!(
            state.observe(true, true, WINDOW + 800, 3, WINDOW),
            Some(RiskKind::ComplaintThreat)
        );
        assert!(state.negative_ms.len() <= 3);
    }

    #[test]
    fn a_day_without_alerts_starts_the_risk_afresh() {
        let mut state = RiskState::default();
        assert!(state.observe(true, true, 0, 3, WINDOW).is_some());
        assert_eq!(
            state.observe(true, true, RISK_RESET_MS - 1, 3, WINDOW),
            None
        );
        assert_eq!(
            state.observe(true, true, RISK_RESET_MS + 5, 3, WINDOW),
            Some(RiskKind::ComplaintThreat)
        );
    }
}
