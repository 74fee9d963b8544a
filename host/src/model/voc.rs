//! The voice of the customer, kept as it happens: per shop and day, what
//! customers asked (by intent and scenario), how they felt, what they
//! complained about (by product and by order state) and the alerts raised;
//! per agent and day, how quickly and how long they served, how often they
//! passed a customer on, and how customers rated them. Reports sum these
//! records over days instead of rescanning the store.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The key intents are counted under when the bot had no answer.
pub const UNKNOWN_INTENT: &str = "(unknown)";
/// The key complaints are counted under when nothing names a product or
/// an order.
pub const UNKNOWN: &str = "(unknown)";

/// One shop's voice of the customer for one day.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VocTally {
    /// Customer messages with text.
    pub messages: u64,
    /// Of them, negative.
    pub negative: u64,
    /// Of them, complaint threats.
    pub threats: u64,
    /// Questions by the intent the bot matched ([`UNKNOWN_INTENT`] when it
    /// had no answer).
    pub intents: BTreeMap<String, u64>,
    /// Questions by the matched intent's scenario (售前, 售后, …).
    pub scenarios: BTreeMap<String, u64>,
    /// Negative messages by the product the conversation was about.
    pub complaints_by_product: BTreeMap<String, u64>,
    /// Negative messages by the state of the conversation's latest order.
    pub complaints_by_order_state: BTreeMap<String, u64>,
    /// Risk alerts raised, by kind.
    pub alerts: BTreeMap<String, u64>,
}

fn merge(into: &mut BTreeMap<String, u64>, from: &BTreeMap<String, u64>) {
    for (key, count) in from {
        *into.entry(key.clone()).or_default() += count;
    }
}

impl VocTally {
    /// Adds `other` to this.
    pub fn add(&mut self, other: &VocTally) {
        self.messages += other.messages;
        self.negative += other.negative;
        self.threats += other.threats;
        merge(&mut self.intents, &other.intents);
        merge(&mut self.scenarios, &other.scenarios);
        merge(
            &mut self.complaints_by_product,
            &other.complaints_by_product,
        );
        merge(
            &mut self.complaints_by_order_state,
            &other.complaints_by_order_state,
        );
        merge(&mut self.alerts, &other.alerts);
    }

    /// The share of messages that were negative.
    pub fn negative_share(&self) -> Option<f64> {
        (self.messages > 0).then(|| self.negative as f64 / self.messages as f64)
    }
}

/// One agent's figures for one day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentTally {
    /// Conversations they answered first after a hand-over.
    pub first_responses: u64,
    /// Sum of those waits, milliseconds.
    pub first_response_ms: u64,
    /// Conversations they closed or handed back.
    pub handled: u64,
    /// Sum of the times they held them, milliseconds.
    pub handling_ms: u64,
    /// Conversations they passed to a colleague.
    pub transfers: u64,
    /// Satisfaction ratings customers gave them.
    pub ratings: u64,
    /// Sum of those ratings (1–5 each).
    pub rating_sum: u64,
}

impl AgentTally {
    /// Adds `other` to this.
    pub fn add(&mut self, other: &AgentTally) {
        self.first_responses += other.first_responses;
        self.first_response_ms += other.first_response_ms;
        self.handled += other.handled;
        self.handling_ms += other.handling_ms;
        self.transfers += other.transfers;
        self.ratings += other.ratings;
        self.rating_sum += other.rating_sum;
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

    /// The average rating (CSAT, 1–5).
    pub fn average_rating(&self) -> Option<f64> {
        (self.ratings > 0).then(|| self.rating_sum as f64 / self.ratings as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tallies_add_up_per_key() {
        let mut day = VocTally::default();
        let one = VocTally {
            messages: 2,
            negative: 1,
            intents: BTreeMap::from([("ship_time".into(), 1), (UNKNOWN_INTENT.into(), 1)]),
            complaints_by_order_state: BTreeMap::from([("已发货".into(), 1)]),
            ..VocTally::default()
        };
        day.add(&one);
        day.add(&one);
        assert_eq!(day.messages, 4);
        assert_eq!(day.intents["ship_time"], 2);
        assert_eq!(day.complaints_by_order_state["已发货"], 2);
        assert_eq!(day.negative_share(), Some(0.5));
        let mut agent = AgentTally::default();
        agent.add(&AgentTally {
            ratings: 2,
            rating_sum: 9,
            first_responses: 1,
            first_response_ms: 12_000,
            ..AgentTally::default()
        });
        assert_eq!(agent.average_rating(), Some(4.5));
        assert_eq!(agent.average_first_response_secs(), Some(12.0));
        assert_eq!(agent.average_handling_secs(), None);
    }
}
