//! Proactive care's records: what a rule did about an order (kept so it
//! fires once), a shipped order watched for a stuck parcel, and the
//! decisions the pipeline hands the store to commit.

use super::NewAction;
use serde::{Deserialize, Serialize};

/// What a care rule did about an order: stored under (shop, order, rule),
/// so the rule never fires again for the order, through restarts and
/// redeliveries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CareRecord {
    /// The shop whose order it is.
    pub shop: String,
    /// The order.
    pub order: String,
    /// The rule.
    pub rule: String,
    /// When it was decided, Unix milliseconds.
    pub at_ms: i64,
    /// What came of it.
    pub outcome: CareOutcome,
}

/// What came of a care rule for an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CareOutcome {
    /// A message was queued.
    Queued {
        /// The shop whose channel carries it.
        via: String,
        /// The customer's id there.
        recipient: String,
        /// When it may go out (after quiet hours), Unix milliseconds.
        due_ms: i64,
        /// Its outbox seq.
        seq: u64,
    },
    /// Nothing was sent, and why.
    Skipped {
        /// Why, for people.
        reason: String,
    },
}

/// A shipped order watched for a stuck parcel: if no logistics update
/// comes before `due_ms`, the shop's `stuck` rule fires.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CareWatch {
    /// The shop whose order it is.
    pub shop: String,
    /// The order.
    pub order: String,
    /// The buyer's id in that shop.
    pub customer: String,
    /// When the rule fires, Unix milliseconds.
    pub due_ms: i64,
    /// The last event's fields for the message's placeholders.
    pub fields: Vec<(String, String)>,
}

/// A care message and who receives it: (shop, their id there); or why no
/// message can reach the customer.
pub type CareMessage = Result<(NewAction, (String, String)), String>;

/// One care rule's decision about an order, for the store to commit: it is
/// queued only if the rule has not fired for the order, the recipient has
/// not opted out and is under the cap.
#[derive(Debug, Clone, PartialEq)]
pub struct CareSend {
    /// The shop whose order it is.
    pub shop: String,
    /// The order.
    pub order: String,
    /// The rule.
    pub rule: String,
    /// The message and who receives it ((shop, id)), or why none is sent.
    pub message: CareMessage,
    /// When it may go out, Unix milliseconds.
    pub due_ms: i64,
    /// The cap: at most this many messages to one recipient …
    pub most_per_customer: u32,
    /// … within this many milliseconds.
    pub cap_window_ms: i64,
}

/// What a change to an order does to its stuck-parcel watch.
#[derive(Debug, Clone, PartialEq)]
pub enum WatchChange {
    /// Watch it (again), until the new due time.
    Set(CareWatch),
    /// Move an order's watch, if it has one, to a new due time (a
    /// logistics update that names no buyer).
    PushBack {
        /// The shop.
        shop: String,
        /// The order.
        order: String,
        /// The new due time, Unix milliseconds.
        due_ms: i64,
    },
    /// Stop watching for good (signed for, closed): an update arriving
    /// late, out of order, does not start it again.
    Cancel {
        /// The shop.
        shop: String,
        /// The order.
        order: String,
    },
}

/// Everything care decided about one event.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CareChanges {
    /// Rules that fire.
    pub sends: Vec<CareSend>,
    /// The order's watch.
    pub watch: Option<WatchChange>,
    /// The customer opted out of care (`true`, 退订) or back in, on the
    /// event's shop: their id there.
    pub opt_out: Option<(String, bool)>,
}
