//! The store: events, conversations, dedupe keys, plugin state, cursors, the
//! pipeline's inbox and the delivery outbox.
//!
//! [`Store`] is deliberately narrow so a server-backed engine can implement it
//! for multi-node deployments; [`SledStore`] is the embedded default.
//! Writes become durable at the next [`GroupCommit`] barrier: the gateway
//! acknowledges a platform only after awaiting it.

pub mod backup;
mod group_commit;
mod keys;
mod sled_store;

pub use group_commit::{Committer, Flush, GroupCommit, MIN_FLUSH_INTERVAL};
pub use sled_store::SledStore;

use crate::model::{
    AgentStatus, BotDecision, CannedReply, ConsoleChange, ConsoleSession, DailyTally,
    DeliveryReceipt, Note, UnansweredQuestion,
};
use crate::model::{
    BotContext, ContextUpdate, Conversation, Event, Handoff, Identity, KnownIdentity, ManualLink,
    NewAction, OutboxItem, StateChange, StateEntry, StoredEvent,
};

/// Result type of store operations. Failures that callers act on carry a
/// [`StoreError`] in the chain, found with [`StoreError::find`] (as wasmtime
/// keeps `Trap` downcastable inside its `anyhow` errors).
pub type StoreResult<T> = anyhow::Result<T>;

/// The store failures callers act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A record could not be decoded: retrying will not help, so whoever
    /// reads it sets it aside instead of stalling on it.
    #[error("corrupt {what}: {detail}")]
    Corrupt {
        /// Which record.
        what: String,
        /// What the decoder said.
        detail: String,
    },
}

impl StoreError {
    /// The store failure in `err`'s chain, if it has one.
    pub fn find(err: &anyhow::Error) -> Option<&StoreError> {
        err.chain()
            .find_map(|cause| cause.downcast_ref::<StoreError>())
    }
}

/// What one ingestion call commits, atomically.
#[derive(Debug, Clone)]
pub struct IngestBatch<'a> {
    /// The shop (tenancy and dedupe scope).
    pub shop: &'a str,
    /// The plugin that produced the events.
    pub plugin: &'a str,
    /// When the host received them, Unix milliseconds.
    pub received_ms: i64,
    /// The normalized events.
    pub events: &'a [Event],
    /// Plugin state changes.
    pub state: &'a [StateChange],
    /// A poll cursor to commit with the events: (feed, cursor).
    pub cursor: Option<(&'a str, &'a str)>,
    /// When the events' dedupe keys may be forgotten, Unix milliseconds.
    pub dedupe_until_ms: i64,
}

/// An [`IngestBatch`] that owns its data, to hand to the committer thread
/// (see [`GroupCommit::commit`]).
#[derive(Debug, Clone)]
pub struct OwnedIngestBatch {
    /// The shop (tenancy and dedupe scope).
    pub shop: String,
    /// The plugin that produced the events.
    pub plugin: String,
    /// When the host received them, Unix milliseconds.
    pub received_ms: i64,
    /// The normalized events.
    pub events: Vec<Event>,
    /// Plugin state changes.
    pub state: Vec<StateChange>,
    /// When the events' dedupe keys may be forgotten, Unix milliseconds.
    pub dedupe_until_ms: i64,
}

impl OwnedIngestBatch {
    /// The batch to commit.
    pub fn as_batch(&self) -> IngestBatch<'_> {
        IngestBatch {
            shop: &self.shop,
            plugin: &self.plugin,
            received_ms: self.received_ms,
            events: &self.events,
            state: &self.state,
            cursor: None,
            dedupe_until_ms: self.dedupe_until_ms,
        }
    }
}

/// How long each kind of record is kept.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Retention {
    /// Events (conversation history), and conversations with none left.
    pub events: std::time::Duration,
    /// Delivered actions (and their idempotency keys).
    pub delivered: std::time::Duration,
    /// Dead-lettered actions.
    pub dead_letters: std::time::Duration,
    /// Customers' identities not seen for this long (with their hints and
    /// conversations indexes); `None` keeps them.
    pub identities: Option<std::time::Duration>,
}

impl Default for Retention {
    fn default() -> Self {
        const DAY: u64 = 24 * 3600;
        Retention {
            events: std::time::Duration::from_secs(365 * DAY),
            delivered: std::time::Duration::from_secs(30 * DAY),
            dead_letters: std::time::Duration::from_secs(90 * DAY),
            identities: None,
        }
    }
}

/// What one retention sweep removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Events removed.
    pub events: usize,
    /// Conversations removed (no events left, quiet past the retention).
    pub conversations: usize,
    /// Finished outbox items removed.
    pub actions: usize,
    /// Expired plugin state entries removed.
    pub state_entries: usize,
    /// Identities removed (not seen within their retention).
    pub identities: usize,
    /// Unanswered-question records removed (they go with their events).
    pub unanswered: usize,
    /// Console changes removed (kept a day).
    pub changes: usize,
    /// Proactive care's records removed: what a rule did about an order
    /// (they go with the order's events) and send times no cap still
    /// counts.
    pub care_records: usize,
    /// Whether the budget ran out before everything due was removed.
    pub more: bool,
}

/// What a commit did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestReceipt {
    /// Ids of the events stored (new to the store), in input order.
    pub stored: Vec<String>,
    /// Events skipped because their platform id was seen before.
    pub duplicates: usize,
    /// The batch carried a replay claim taken before by a different request:
    /// nothing of it was stored (see [`replay_claims`]).
    pub replayed: bool,
}

/// The replay claims among a call's state changes: state keys with the
/// SDK's `once:` prefix, set with an expiry. The host commits a batch only
/// if none of its claims is live, takes them with the batch, and never
/// shows them to the plugin as state.
pub fn replay_claims(changes: &[StateChange]) -> impl Iterator<Item = ReplayClaim<'_>> {
    changes.iter().filter_map(|change| match change {
        StateChange::Set(entry) => {
            entry
                .key
                .strip_prefix(REPLAY_CLAIM_PREFIX)
                .map(|key| ReplayClaim {
                    key,
                    fingerprint: &entry.value,
                    until_ms: entry.expires_at_ms.unwrap_or(i64::MAX),
                })
        }
        StateChange::Remove(_) => None,
    })
}

/// One replay claim (the SDK's `claim_once`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayClaim<'a> {
    /// What is claimed, e.g. a push's timestamp, nonce and signature.
    pub key: &'a str,
    /// What the claiming request said: the same request redelivered has
    /// the same fingerprint and passes.
    pub fingerprint: &'a str,
    /// Until when the claim holds.
    pub until_ms: i64,
}

/// Whether a state change is a replay claim rather than plugin state.
pub fn is_replay_claim(change: &StateChange) -> bool {
    matches!(change, StateChange::Set(entry) if entry.key.starts_with(REPLAY_CLAIM_PREFIX))
}

/// The state-key prefix of replay claims (the SDK's `claim_once`).
pub const REPLAY_CLAIM_PREFIX: &str = "once:";

/// What the pipeline decided about one event, for [`Store::finish_inbox`].
#[derive(Debug, Clone, Default)]
pub struct InboxOutcome<'a> {
    /// The event's shop.
    pub shop: &'a str,
    /// Actions to queue.
    pub actions: &'a [NewAction],
    /// The conversation goes to people.
    pub escalation: Option<&'a Handoff>,
    /// The customer the event is about, for the identity graph:
    /// (conversation, identity).
    pub customer: Option<(&'a str, &'a Identity)>,
    /// The bot's context for the event's conversation: (conversation,
    /// change).
    pub context: Option<(&'a str, &'a ContextUpdate)>,
    /// A question the bot could not answer, kept for suggestions.
    pub unanswered: Option<&'a UnansweredQuestion>,
    /// The event's conversation: when people have it, the console hears of
    /// the message.
    pub conversation: Option<&'a str>,
    /// The bot's decision about a customer's message: kept for the thread
    /// and counted in the day's figures.
    pub decision: Option<&'a BotDecision>,
    /// The conversation's risk after the message, and the alert it raised.
    pub risk: Option<&'a RiskUpdate>,
    /// What the message adds to the shop's voice of the customer today.
    pub voc: Option<&'a crate::model::VocTally>,
    /// The customer rated the service: who served (an agent, or the bot),
    /// and the score, credited to them today.
    pub rating: Option<&'a (String, u8)>,
    /// When the event arrived, Unix milliseconds: its figures count for
    /// that day (0: the day of the commit).
    pub arrived_ms: i64,
    /// The bot's invitation to rate it: (conversation, when it is due;
    /// `None` cancels one pending, as a new message from the customer
    /// does).
    pub csat: Option<(&'a str, Option<i64>)>,
    /// What proactive care decided about the event.
    pub care: Option<&'a crate::model::CareChanges>,
}

/// Every figure kept for one day: per shop, the bot's and people's figures
/// and the voice of the customer; per agent, theirs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DayFigures {
    /// Per shop: [`crate::model::DailyTally`].
    pub shops: Vec<(String, DailyTally)>,
    /// Per shop: [`crate::model::VocTally`].
    pub voc: Vec<(String, crate::model::VocTally)>,
    /// Per agent: [`crate::model::AgentTally`].
    pub agents: Vec<(String, crate::model::AgentTally)>,
}

/// A conversation's new risk state, and the alert the message raised.
#[derive(Debug, Clone, PartialEq)]
pub struct RiskUpdate {
    /// The conversation.
    pub conversation: String,
    /// Its state after the message.
    pub state: crate::model::RiskState,
    /// The alert raised, if any.
    pub alert: Option<crate::model::RiskAlert>,
}

/// How a delivery ended, for [`Store::finish_delivery`].
#[derive(Debug, Clone, PartialEq)]
pub enum DeliveryEnd {
    /// The platform accepted the action.
    Delivered(DeliveryReceipt),
    /// It will not be sent: kind and reason.
    Failed {
        /// Why.
        kind: crate::model::FailureKind,
        /// What happened.
        reason: String,
    },
}

/// How one delivery ended and what follows it, for
/// [`Store::finish_deliveries`].
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryRecord {
    /// The outbox item.
    pub seq: u64,
    /// How it ended.
    pub end: DeliveryEnd,
    /// Actions to queue after it (the answer to a look-up).
    pub follow_up: Vec<NewAction>,
}

/// The storage engine behind the host. Writes become durable when
/// [`Flush::flush`] returns.
pub trait Store: Flush {
    /// Commit normalized events (skipping duplicates), the plugin's state
    /// changes and an optional cursor in one transaction; new events also
    /// enter the pipeline's inbox.
    fn commit_ingest(&self, batch: &IngestBatch<'_>) -> StoreResult<IngestReceipt>;

    /// Commit several batches, as [`Store::commit_ingest`] would one after
    /// the other, in one transaction where the engine can (a group's worth
    /// of webhooks then costs one transaction). If the whole fails, the
    /// caller commits them one by one to find the one at fault.
    fn commit_ingest_all(&self, batches: &[IngestBatch<'_>]) -> StoreResult<Vec<IngestReceipt>> {
        batches
            .iter()
            .map(|batch| self.commit_ingest(batch))
            .collect()
    }

    /// A shop's plugin-held state, without entries expired at `now_ms`.
    fn plugin_state(&self, shop: &str, now_ms: i64) -> StoreResult<Vec<StateEntry>>;

    /// Apply plugin state changes outside an ingestion (delivery, polls).
    fn apply_state(&self, shop: &str, changes: &[StateChange]) -> StoreResult<()>;

    /// The committed cursor of a shop's feed.
    fn cursor(&self, shop: &str, feed: &str) -> StoreResult<Option<String>>;

    /// One stored event.
    fn event(&self, id: &str) -> StoreResult<Option<StoredEvent>>;

    /// One conversation.
    fn conversation(&self, shop: &str, id: &str) -> StoreResult<Option<Conversation>>;

    /// A conversation's events, oldest first.
    fn conversation_events(&self, shop: &str, id: &str) -> StoreResult<Vec<StoredEvent>>;

    /// Events waiting for the pipeline, oldest first.
    fn pending_inbox(&self, limit: usize) -> StoreResult<Vec<String>>;

    /// Finish the pipeline's work on an event in one transaction: queue its
    /// actions (skipping idempotency keys already queued for the shop), hand
    /// its conversation to people if the outcome says so (a conversation
    /// already handed over keeps its place and agent and only gains
    /// priority), add the event's customer to the identity graph, and take
    /// the event out of the inbox. Returns the new outbox seqs.
    fn finish_inbox(
        &self,
        event_id: &str,
        outcome: &InboxOutcome<'_>,
        now_ms: i64,
    ) -> StoreResult<Vec<u64>>;

    /// Finish several inbox events, as [`Store::finish_inbox`] would one
    /// after the other, in one transaction where the engine can. Returns
    /// each event's new outbox seqs.
    fn finish_inbox_all(
        &self,
        finished: &[(&str, InboxOutcome<'_>)],
        now_ms: i64,
    ) -> StoreResult<Vec<Vec<u64>>> {
        finished
            .iter()
            .map(|(event_id, outcome)| self.finish_inbox(event_id, outcome, now_ms))
            .collect()
    }

    /// One identity of the graph.
    fn known_identity(
        &self,
        shop: &str,
        platform_user_id: &str,
    ) -> StoreResult<Option<KnownIdentity>>;

    /// The identities that carry a hint, as (shop, platform user id).
    fn identities_with_hint(&self, kind: &str, value: &str) -> StoreResult<Vec<(String, String)>>;

    /// The manual links touching an identity.
    fn manual_links(&self, shop: &str, platform_user_id: &str) -> StoreResult<Vec<ManualLink>>;

    /// Make (`Some`) or undo (`None`) the manual link between `a` and `b`;
    /// returns whether anything changed.
    fn set_manual_link(
        &self,
        a: (&str, &str),
        b: (&str, &str),
        link: Option<&ManualLink>,
    ) -> StoreResult<bool>;

    /// Queue actions not caused by an event (an agent's reply), skipping
    /// idempotency keys already queued. Returns the new outbox seqs.
    fn queue_actions(&self, actions: &[NewAction], now_ms: i64) -> StoreResult<Vec<u64>>;

    /// A stored console session, by the hash of its id.
    fn console_session(&self, key: &[u8; 32]) -> StoreResult<Option<ConsoleSession>>;

    /// Stores (`Some`) or removes (`None`) a console session.
    fn put_console_session(
        &self,
        key: &[u8; 32],
        session: Option<&ConsoleSession>,
    ) -> StoreResult<()>;

    /// Removes the console sessions `expired` says are over; how many.
    fn sweep_console_sessions(
        &self,
        expired: &dyn Fn(&ConsoleSession) -> bool,
    ) -> StoreResult<usize>;

    /// The bot's decision about a customer's message (written with
    /// [`InboxOutcome::decision`]).
    fn decision(&self, event_id: &str) -> StoreResult<Option<BotDecision>>;

    /// A conversation's risk so far (written with [`InboxOutcome::risk`]).
    fn risk_state(
        &self,
        shop: &str,
        conversation: &str,
    ) -> StoreResult<Option<crate::model::RiskState>>;

    /// The latest `limit` risk alerts raised, newest first.
    fn risk_alerts(&self, limit: usize) -> StoreResult<Vec<crate::model::RiskAlert>>;

    /// The bot's invitations to rate it that are due at `now_ms`: (shop,
    /// conversation, due), oldest first.
    fn due_csat(&self, now_ms: i64, limit: usize) -> StoreResult<Vec<(String, String, i64)>>;

    /// Removes a due invitation once it is queued (or no longer wanted).
    fn clear_csat(&self, shop: &str, conversation: &str, due_ms: i64) -> StoreResult<()>;

    /// What the care rules did about an order, by rule name.
    fn care_records(&self, shop: &str, order: &str) -> StoreResult<Vec<crate::model::CareRecord>>;

    /// Whether the customer opted out of care (退订) on the shop.
    fn care_opted_out(&self, shop: &str, customer: &str) -> StoreResult<bool>;

    /// Stuck-parcel watches due by `now_ms`, soonest first, at most `limit`.
    fn due_care_watches(
        &self,
        now_ms: i64,
        limit: usize,
    ) -> StoreResult<Vec<crate::model::CareWatch>>;

    /// Fires a due watch in one transaction: if it is unchanged (not pushed
    /// back or cancelled since it was read), stop watching and commit
    /// `send`, if any, as a rule firing once for the order. The seq queued,
    /// if any.
    fn fire_care_watch(
        &self,
        watch: &crate::model::CareWatch,
        send: Option<&crate::model::CareSend>,
        now_ms: i64,
    ) -> StoreResult<Option<u64>>;

    /// Every figure kept for a day, in one read of that day's records.
    fn day_figures(&self, day: i64) -> StoreResult<DayFigures>;

    /// Adds to an agent's figures for a day.
    fn add_agent_tally(
        &self,
        day: i64,
        agent: &str,
        delta: &crate::model::AgentTally,
    ) -> StoreResult<()>;

    /// A shop's figures for a day ([`crate::model::day_of`]).
    fn tally(&self, day: i64, shop: &str) -> StoreResult<DailyTally>;

    /// Adds to a shop's figures for a day (people's responses and handling).
    fn add_tally(&self, day: i64, shop: &str, delta: &DailyTally) -> StoreResult<()>;

    /// The hand-off of a conversation, if it is with people.
    fn handoff(&self, shop: &str, conversation: &str) -> StoreResult<Option<Handoff>>;

    /// What the bot is waiting for in a conversation, if anything (written
    /// with [`InboxOutcome::context`]).
    fn bot_context(&self, shop: &str, conversation: &str) -> StoreResult<Option<BotContext>>;

    /// Sets (or clears) what the bot waits for in a conversation, outside
    /// the pipeline (an invitation to rate when an agent closes it).
    fn set_bot_context(
        &self,
        shop: &str,
        conversation: &str,
        context: Option<&BotContext>,
    ) -> StoreResult<()>;

    /// Adds a private note to a conversation.
    fn add_note(&self, shop: &str, conversation: &str, note: &Note) -> StoreResult<()>;

    /// A conversation's notes, oldest first.
    fn notes(&self, shop: &str, conversation: &str) -> StoreResult<Vec<Note>>;

    /// Adds or replaces a shop's canned reply (by name).
    fn put_canned_reply(&self, shop: &str, reply: &CannedReply) -> StoreResult<()>;

    /// Removes a shop's canned reply; whether it existed.
    fn remove_canned_reply(&self, shop: &str, name: &str) -> StoreResult<bool>;

    /// A shop's canned replies, by name.
    fn canned_replies(&self, shop: &str) -> StoreResult<Vec<CannedReply>>;

    /// An agent's status (online when never set).
    fn agent_status(&self, agent: &str) -> StoreResult<AgentStatus>;

    /// Sets an agent's status.
    fn set_agent_status(&self, agent: &str, status: AgentStatus) -> StoreResult<()>;

    /// The console's changes after sequence `after`, in order, at most
    /// `limit`.
    fn changes_after(&self, after: u64, limit: usize) -> StoreResult<Vec<(u64, ConsoleChange)>>;

    /// The latest change's sequence (0 when there is none).
    fn last_change(&self) -> StoreResult<u64>;

    /// Questions the bot could not answer that arrived at or after
    /// `since_ms`, oldest first, at most `limit`.
    fn unanswered(&self, since_ms: i64, limit: usize) -> StoreResult<Vec<UnansweredQuestion>>;

    /// Every hand-off of a shop (waiting and assigned), in no order.
    fn handoffs(&self, shop: &str) -> StoreResult<Vec<Handoff>>;

    /// Replace a hand-off if it still equals `expected` (compare-and-swap:
    /// two agents taking one conversation cannot both win); `new = None`
    /// gives the conversation back to the bot. Returns whether it swapped.
    fn swap_handoff(
        &self,
        shop: &str,
        conversation: &str,
        expected: Option<&Handoff>,
        new: Option<&Handoff>,
    ) -> StoreResult<bool>;

    /// Outbox items due at `now_ms`, in outbox order (a read: nothing is claimed).
    fn due_outbox(&self, now_ms: i64, limit: usize) -> StoreResult<Vec<OutboxItem>>;

    /// Claim up to `limit` pending items due at `now_ms` for delivery, in
    /// due order, at most one per conversation and none for which `skip`
    /// says yes (a conversation whose earlier action is still in flight).
    /// Claimed items are recorded as in flight in one transaction; the
    /// caller makes that durable before any request leaves. An item is
    /// claimed once: it is not due again until [`Store::reschedule`] or
    /// [`Store::recover_in_flight`] makes it pending.
    fn claim_due(
        &self,
        now_ms: i64,
        limit: usize,
        skip: &dyn Fn(&OutboxItem) -> bool,
    ) -> StoreResult<Vec<OutboxItem>>;

    /// After a crash: every item still in flight may or may not have reached
    /// the platform. Where `idempotent(item)` (a read, or a platform that drops a repeated
    /// idempotency key) it is made pending again; elsewhere it is made pending
    /// once more with `uncertain_resends` counted, and an item that was
    /// already resent once is dead-lettered as `uncertain` instead. Returns
    /// what was found, as it now stands.
    fn recover_in_flight(
        &self,
        now_ms: i64,
        idempotent: &dyn Fn(&OutboxItem) -> bool,
    ) -> StoreResult<Vec<OutboxItem>>;

    /// How many outbox items are pending or in flight (reads the indexes
    /// whole: for tests and tools, not hot paths).
    fn outbox_unfinished(&self) -> StoreResult<usize>;

    /// When the earliest pending outbox item is due.
    fn next_due_ms(&self) -> StoreResult<Option<i64>>;

    /// One outbox item.
    fn outbox_item(&self, seq: u64) -> StoreResult<Option<OutboxItem>>;

    /// The actions queued for a conversation, in outbox order, with how
    /// each ended.
    fn conversation_outbox(&self, shop: &str, conversation: &str) -> StoreResult<Vec<OutboxItem>>;

    /// Record a failed attempt of an item in flight and when to try again
    /// (it becomes pending).
    fn reschedule(
        &self,
        seq: u64,
        attempts: u32,
        next_attempt_ms: i64,
        error: &str,
    ) -> StoreResult<()>;

    /// Record how a delivery ended and queue its follow-up actions (the
    /// answer to a look-up), in one transaction; a delivered message also
    /// counts against the conversation's reply window and joins its history.
    fn finish_delivery(
        &self,
        seq: u64,
        end: DeliveryEnd,
        follow_up: &[NewAction],
        now_ms: i64,
    ) -> StoreResult<()>;

    /// Record several deliveries' ends, as [`Store::finish_delivery`] would
    /// one after the other, in one transaction where the engine can.
    fn finish_deliveries(&self, records: &[DeliveryRecord], now_ms: i64) -> StoreResult<()> {
        for record in records {
            self.finish_delivery(record.seq, record.end.clone(), &record.follow_up, now_ms)?;
        }
        Ok(())
    }

    /// Take an event the pipeline cannot read out of the inbox and keep its
    /// id with the reason, so one bad record does not stall every shop.
    fn quarantine_inbox(&self, event_id: &str, reason: &str, _now_ms: i64) -> StoreResult<()> {
        anyhow::bail!("this store cannot set event {event_id} aside ({reason})")
    }

    /// The events set aside by [`Store::quarantine_inbox`]: (id, reason).
    fn quarantined(&self) -> StoreResult<Vec<(String, String)>> {
        Ok(Vec::new())
    }

    /// Forget dedupe keys that expired before `now_ms`; returns how many.
    fn sweep_dedupe(&self, now_ms: i64) -> StoreResult<usize>;

    /// Remove what is past its retention, at most `budget` records per
    /// call (the caller repeats while the report says more is left).
    fn sweep_expired(
        &self,
        _retention: &Retention,
        _now_ms: i64,
        _budget: usize,
    ) -> StoreResult<SweepReport> {
        Ok(SweepReport::default())
    }

    /// Write a consistent snapshot of the whole store to `path` while the
    /// store keeps serving (writes wait while it is taken).
    fn backup(&self, path: &std::path::Path) -> StoreResult<backup::BackupSummary> {
        anyhow::bail!("this store cannot write a backup to {}", path.display())
    }
}
