//! The embedded store on sled: one tree per kind of record, multi-tree
//! transactions for everything that must change together.

use crate::model::{
    ActionKind, AuthorRole, BotContext, ContextUpdate, Conversation, Direction, Event, EventBody,
    Handoff, Identity, KnownIdentity, ManualLink, Message, NewAction, OutboxItem, OutboxStatus,
    StateChange, StateEntry, StoredEvent,
};
use crate::model::{
    AgentStatus, AgentTally, BotDecision, CannedReply, ChangeKind, ConsoleChange, ConsoleSession,
    DailyTally, Note, RiskAlert, RiskState, UnansweredQuestion, VocTally,
};
use crate::model::{CareRecord, CareSend, CareWatch};
use crate::store::keys;
use crate::store::{
    DeliveryEnd, DeliveryRecord, Flush, InboxOutcome, IngestBatch, IngestReceipt, Store,
    StoreResult,
};
use crate::store::{is_replay_claim, replay_claims};
use anyhow::{Context, anyhow};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};
use std::path::Path;

/// A dedupe record: which event a platform id became, and until when it is kept.
#[derive(Debug, Serialize, Deserialize)]
struct DedupeRecord {
    event: String,
    until_ms: i64,
}

/// The sled-backed [`Store`].
pub struct SledStore {
    db: sled::Db,
    /// Every write holds this shared; a backup holds it alone, so the
    /// snapshot is one moment across all trees.
    writes: std::sync::RwLock<()>,
    /// Where the next identity retention pass starts.
    identity_sweep_cursor: std::sync::Mutex<Vec<u8>>,
    /// Where the next sweep of the `care` tree resumes.
    care_sweep_cursor: std::sync::Mutex<Vec<u8>>,
    /// event id (UUID bytes) → [`StoredEvent`] JSON.
    events: sled::Tree,
    /// (shop, conversation) ‖ event id → ().
    conversation_events: sled::Tree,
    /// (shop, platform id) → [`DedupeRecord`] JSON.
    dedupe: sled::Tree,
    /// expiry time ‖ dedupe key → ().
    dedupe_expiry: sled::Tree,
    /// expiry time ‖ (shop, claim) → the claiming request's fingerprint.
    replay_claims: sled::Tree,
    /// (shop, conversation) → [`Conversation`] JSON.
    conversations: sled::Tree,
    /// (shop, key) → [`StateEntry`] JSON.
    plugin_state: sled::Tree,
    /// (shop, feed) → cursor.
    cursors: sled::Tree,
    /// event id → () for events the pipeline has not handled.
    inbox: sled::Tree,
    /// event id → why the pipeline set it aside (it could not be read).
    quarantine: sled::Tree,
    /// seq → [`OutboxItem`] JSON.
    outbox: sled::Tree,
    /// due time ‖ seq → () for pending outbox items.
    outbox_due: sled::Tree,
    /// seq → claim time for outbox items in flight (the item itself stays
    /// as it was queued: claiming writes only this index).
    outbox_in_flight: sled::Tree,
    /// (shop, idempotency key) → seq.
    outbox_keys: sled::Tree,
    /// (shop, conversation) ‖ seq → ().
    conversation_outbox: sled::Tree,
    /// (shop, conversation) → [`Handoff`] JSON.
    handoffs: sled::Tree,
    /// (shop, platform user id) → [`KnownIdentity`] JSON.
    identities: sled::Tree,
    /// (hint kind, hint value, shop, platform user id) → ().
    identity_hints: sled::Tree,
    /// (shop, platform user id, conversation) → (): the conversations a
    /// customer appears in (records written before it kept them inline).
    identity_conversations: sled::Tree,
    /// (shop, user, other shop, other user) → [`ManualLink`] JSON, both ways.
    manual_links: sled::Tree,
    /// (shop, conversation) → [`BotContext`]: what the bot asked and waits
    /// for.
    bot_context: sled::Tree,
    /// arrival time ‖ event id → [`UnansweredQuestion`].
    unanswered: sled::Tree,
    /// change sequence → [`ConsoleChange`]: the console's live feed.
    changes: sled::Tree,
    /// agent id → [`AgentStatus`] JSON.
    agent_status: sled::Tree,
    /// (shop, conversation) ‖ time ‖ counter → [`Note`] JSON.
    notes: sled::Tree,
    /// (shop, name) → [`CannedReply`] JSON.
    canned_replies: sled::Tree,
    /// event key → [`BotDecision`] JSON: what the bot decided about a
    /// customer's message (removed with the event).
    decisions: sled::Tree,
    /// Per day (i64, big-endian) ‖ …: the day's figures. `‖ shop` →
    /// [`DailyTally`]; `‖ (shop, "\0voc")` → [`VocTally`]; `‖ ("\0agent",
    /// agent)` → [`AgentTally`] (names never hold NUL, so the shapes never
    /// meet).
    tallies: sled::Tree,
    /// SHA-256 of a session id → [`ConsoleSession`] JSON.
    console_sessions: sled::Tree,
    /// (shop, conversation) → [`RiskState`].
    risk: sled::Tree,
    /// time (raised, big-endian) ‖ (shop, conversation, kind) → [`RiskAlert`].
    alerts: sled::Tree,
    /// time (due) ‖ (shop, conversation) → empty: the bot's invitations
    /// to rate it, waiting for a quiet customer.
    csat_due: sled::Tree,
    /// (shop, conversation) → the conversation's `csat_due` key.
    csat_scheduled: sled::Tree,
    /// Proactive care: what each rule did per order, caps, opt-outs and
    /// stuck-parcel watches (see [`care`]).
    care: sled::Tree,
    /// The next change's number, held while a change is numbered and
    /// committed, so changes commit in the order of their numbers and a
    /// reader never skips one. It starts after the last committed change.
    change_order: std::sync::Mutex<u64>,
}

/// How stale an identity's `last_seen_ms` may get before an event rewrites
/// the record for it alone.
const LAST_SEEN_GRANULARITY_MS: i64 = 3_600_000;

/// Adds what an event says about its customer to the identity graph: the
/// identity record (display name, hints, times), its hints' index and its
/// conversations' index. It costs reads and no write when the event says
/// nothing new, and never rewrites a list that grows with the customer's
/// history (conversations live in their own index).
fn absorb_identity(
    trees: &IdentityTx<'_>,
    shop: &str,
    conversation: &str,
    identity: &Identity,
    now_ms: i64,
) -> TxResult<()> {
    let key = keys::parts(&[shop, &identity.platform_user_id]);
    let (mut known, mut changed) = match trees.identities.get(&key)? {
        Some(bytes) => (from_json::<KnownIdentity>(&bytes, "identity")?, false),
        None => (
            KnownIdentity {
                shop: shop.to_owned(),
                platform_user_id: identity.platform_user_id.clone(),
                display_name: None,
                hints: Vec::new(),
                conversations: Vec::new(),
                first_seen_ms: now_ms,
                last_seen_ms: now_ms,
            },
            true,
        ),
    };
    if identity.display_name.is_some() && identity.display_name != known.display_name {
        known.display_name = identity.display_name.clone();
        changed = true;
    }
    for hint in &identity.hints {
        if hint.value.is_empty() || known.hints.contains(hint) {
            continue;
        }
        known.hints.push(hint.clone());
        trees.identity_hints.insert(
            keys::parts(&[&hint.kind, &hint.value, shop, &identity.platform_user_id]),
            &[],
        )?;
        changed = true;
    }
    let conversation_key = keys::parts(&[shop, &identity.platform_user_id, conversation]);
    if trees
        .identity_conversations
        .get(&conversation_key)?
        .is_none()
        && !known.conversations.iter().any(|c| c == conversation)
    {
        trees.identity_conversations.insert(conversation_key, &[])?;
    }
    if now_ms - known.last_seen_ms >= LAST_SEEN_GRANULARITY_MS {
        known.last_seen_ms = now_ms;
        changed = true;
    }
    if changed {
        trees.identities.insert(key, to_json(&known)?)?;
    }
    Ok(())
}

/// The identity trees inside one transaction.
struct IdentityTx<'a> {
    identities: &'a TransactionalTree,
    identity_hints: &'a TransactionalTree,
    identity_conversations: &'a TransactionalTree,
}

/// Takes a batch's replay claims, unless one of them is live already for
/// a different request: then nothing is written and the answer is `false`.
/// A claim is one entry of `replay_claims`, keyed by its expiry first (the
/// same signed request always names the same expiry, so the key is exact,
/// and the sweep removes expired claims by range) with the request's
/// fingerprint as its value.
fn take_replay_claims(replay: &TransactionalTree, batch: &IngestBatch<'_>) -> TxResult<bool> {
    let mut new_claims = Vec::new();
    for claim in replay_claims(batch.state) {
        let mut key = keys::time(claim.until_ms).to_vec();
        key.extend_from_slice(&keys::parts(&[batch.shop, claim.key]));
        if claim.until_ms > batch.received_ms
            && let Some(fingerprint) = replay.get(&key)?
        {
            if fingerprint.as_ref() != claim.fingerprint.as_bytes() {
                return Ok(false);
            }
            continue;
        }
        new_claims.push((key, claim.fingerprint));
    }
    for (key, fingerprint) in new_claims {
        replay.insert(key, fingerprint.as_bytes())?;
    }
    Ok(true)
}

/// The outbox trees inside one transaction.
struct OutboxTx<'a> {
    outbox: &'a TransactionalTree,
    outbox_due: &'a TransactionalTree,
    outbox_keys: &'a TransactionalTree,
    conversation_outbox: &'a TransactionalTree,
}

impl OutboxTx<'_> {
    /// Queues actions with the given seqs, skipping idempotency keys
    /// already queued for the shop.
    fn queue(
        &self,
        actions: &[NewAction],
        seqs: &[u64],
        cause: Option<&str>,
        now_ms: i64,
    ) -> TxResult<Vec<u64>> {
        let mut queued = Vec::new();
        for (new, &seq) in actions.iter().zip(seqs) {
            if self.queue_one(new, seq, cause, now_ms, now_ms)? {
                queued.push(seq);
            }
        }
        Ok(queued)
    }

    /// Queues one action with `seq`, first due at `due_ms`, unless its
    /// idempotency key is already queued for the shop. Whether it was.
    fn queue_one(
        &self,
        new: &NewAction,
        seq: u64,
        cause: Option<&str>,
        now_ms: i64,
        due_ms: i64,
    ) -> TxResult<bool> {
        let key = keys::parts(&[&new.shop, &new.action.idempotency_key]);
        if self.outbox_keys.get(&key)?.is_some() {
            return Ok(false);
        }
        let mut action = new.action.clone();
        action.attempt = 0;
        let item = OutboxItem {
            seq,
            shop: new.shop.clone(),
            action,
            cause: cause.map(str::to_owned),
            status: OutboxStatus::Pending,
            next_attempt_ms: due_ms,
            created_ms: now_ms,
            last_error: None,
            sent_by: new.sent_by.clone(),
            uncertain_resends: 0,
        };
        self.outbox.insert(&keys::seq(seq), to_json(&item)?)?;
        self.outbox_due.insert(&keys::due(due_ms, seq), &[])?;
        self.outbox_keys.insert(key, &keys::seq(seq))?;
        let mut index = keys::parts(&[&new.shop, &new.action.conversation_id]);
        index.extend_from_slice(&keys::seq(seq));
        self.conversation_outbox.insert(index, &[])?;
        Ok(true)
    }
}

type TxResult<T> = Result<T, ConflictableTransactionError<String>>;

/// The number after the last committed change.
fn next_change(changes: &sled::Tree) -> StoreResult<u64> {
    Ok(match changes.last()? {
        Some((key, _)) => keys::decode_seq(&key).context("corrupt change key")? + 1,
        None => 1,
    })
}

/// Numbers a console change and writes it in the transaction. `next` is
/// the guarded counter of [`SledStore::change_order`]; a number taken by a
/// transaction that retries or fails is skipped, which readers do not mind.
fn record_change(
    next: &std::cell::Cell<u64>,
    changes: &TransactionalTree,
    shop: &str,
    conversation: &str,
    kind: ChangeKind,
    at_ms: i64,
) -> TxResult<()> {
    let seq = next.get();
    next.set(seq + 1);
    let change = ConsoleChange {
        shop: shop.to_owned(),
        conversation: conversation.to_owned(),
        kind,
        at_ms,
    };
    changes.insert(&keys::seq(seq), to_json(&change)?)?;
    Ok(())
}

fn to_json<T: Serialize>(value: &T) -> TxResult<Vec<u8>> {
    codec::encode(value).map_err(ConflictableTransactionError::Abort)
}

fn from_json<T: DeserializeOwned>(bytes: &[u8], what: &str) -> TxResult<T> {
    codec::decode(bytes)
        .map_err(|err| ConflictableTransactionError::Abort(format!("corrupt {what}: {err}")))
}

/// A record read outside a transaction; a record that does not decode is
/// [`StoreError::Corrupt`].
fn read<T: DeserializeOwned>(bytes: &[u8], what: &str) -> anyhow::Result<T> {
    codec::decode(bytes).map_err(|detail| {
        anyhow::Error::new(crate::store::StoreError::Corrupt {
            what: what.to_owned(),
            detail,
        })
    })
}

/// An outbox item read inside a transaction.
fn load_in_tx(outbox: &TransactionalTree, seq: u64) -> TxResult<OutboxItem> {
    let bytes = outbox.get(keys::seq(seq))?.ok_or_else(|| {
        ConflictableTransactionError::Abort(format!("outbox item {seq} does not exist"))
    })?;
    from_json(&bytes, "outbox item")
}

fn tx_error(err: TransactionError<String>) -> anyhow::Error {
    match err {
        TransactionError::Abort(message) => anyhow!(message),
        TransactionError::Storage(err) => anyhow!(err),
    }
}

/// Adds to the figures record at `key` in `tallies` (a new one starts
/// from its default), inside a transaction.
fn add_figures<T: Default + Serialize + DeserializeOwned>(
    tallies: &TransactionalTree,
    key: &[u8],
    what: &str,
    add: impl FnOnce(&mut T),
) -> TxResult<()> {
    let mut figures: T = match tallies.get(key)? {
        Some(bytes) => from_json(&bytes, what)?,
        None => T::default(),
    };
    add(&mut figures);
    tallies.insert(key, to_json(&figures)?)?;
    Ok(())
}

/// The tag of a shop's voice-of-the-customer record in `tallies`.
const VOC_TAG: &str = "\0voc";
/// The tag of an agent's record in `tallies`.
const AGENT_TAG: &str = "\0agent";

/// A shop's voice-of-the-customer key for a day.
fn voc_key(day: i64, shop: &str) -> Vec<u8> {
    let mut key = day.to_be_bytes().to_vec();
    keys::push_part(&mut key, shop);
    keys::push_part(&mut key, VOC_TAG);
    key
}

/// An agent's key for a day.
fn agent_tally_key(day: i64, agent: &str) -> Vec<u8> {
    let mut key = day.to_be_bytes().to_vec();
    keys::push_part(&mut key, AGENT_TAG);
    keys::push_part(&mut key, agent);
    key
}

/// A day's figures' key: the day, big-endian (days sort in order), then
/// the shop.
fn tally_key(day: i64, shop: &str) -> Vec<u8> {
    let mut key = day.to_be_bytes().to_vec();
    keys::push_part(&mut key, shop);
    key
}

fn event_key(id: &str) -> StoreResult<[u8; 16]> {
    Ok(*uuid::Uuid::parse_str(id)
        .with_context(|| format!("`{id}` is not an event id"))?
        .as_bytes())
}

impl SledStore {
    /// Open (or create) the store in `dir`. Besides explicit flushes, sled
    /// writes its buffers out in the background every 500 ms.
    pub fn open(dir: &Path) -> StoreResult<SledStore> {
        Self::open_with(dir, Some(500))
    }

    /// Open (or create) the store in `dir`, with sled's background flush
    /// every `background_flush_ms` or, with `None`, only on [`Store::flush`].
    pub fn open_with(dir: &Path, background_flush_ms: Option<u64>) -> StoreResult<SledStore> {
        let db = sled::Config::new()
            .path(dir)
            .mode(sled::Mode::HighThroughput)
            .flush_every_ms(background_flush_ms)
            .open()
            .with_context(|| format!("opening the store in {}", dir.display()))?;
        let tree = |name: &str| {
            db.open_tree(name)
                .with_context(|| format!("opening tree `{name}` in {}", dir.display()))
        };
        Ok(SledStore {
            events: tree("events")?,
            conversation_events: tree("conversation_events")?,
            dedupe: tree("dedupe")?,
            dedupe_expiry: tree("dedupe_expiry")?,
            replay_claims: tree("replay_claims")?,
            conversations: tree("conversations")?,
            plugin_state: tree("plugin_state")?,
            cursors: tree("cursors")?,
            inbox: tree("inbox")?,
            quarantine: tree("quarantine")?,
            outbox: tree("outbox")?,
            outbox_due: tree("outbox_due")?,
            outbox_in_flight: tree("outbox_in_flight")?,
            outbox_keys: tree("outbox_keys")?,
            conversation_outbox: tree("conversation_outbox")?,
            handoffs: tree("handoffs")?,
            identities: tree("identities")?,
            identity_hints: tree("identity_hints")?,
            identity_conversations: tree("identity_conversations")?,
            manual_links: tree("manual_links")?,
            bot_context: tree("bot_context")?,
            unanswered: tree("unanswered")?,
            change_order: std::sync::Mutex::new(next_change(&db.open_tree("changes")?)?),
            changes: tree("changes")?,
            agent_status: tree("agent_status")?,
            notes: tree("notes")?,
            canned_replies: tree("canned_replies")?,
            decisions: tree("decisions")?,
            tallies: tree("tallies")?,
            console_sessions: tree("console_sessions")?,
            risk: tree("risk")?,
            alerts: tree("alerts")?,
            csat_due: tree("csat_due")?,
            csat_scheduled: tree("csat_scheduled")?,
            care: tree("care")?,
            writes: std::sync::RwLock::new(()),
            identity_sweep_cursor: std::sync::Mutex::new(Vec::new()),
            care_sweep_cursor: std::sync::Mutex::new(Vec::new()),
            db,
        })
    }

    fn apply_state_in(
        tree: &TransactionalTree,
        shop: &str,
        changes: &[StateChange],
    ) -> TxResult<()> {
        for change in changes.iter().filter(|c| !is_replay_claim(c)) {
            match change {
                StateChange::Set(entry) => {
                    tree.insert(keys::parts(&[shop, &entry.key]), to_json(entry)?)?;
                }
                StateChange::Remove(key) => {
                    tree.remove(keys::parts(&[shop, key]))?;
                }
            }
        }
        Ok(())
    }

    /// A share of the write gate (see [`SledStore::writes`]).
    fn change_order(&self) -> std::sync::MutexGuard<'_, u64> {
        self.change_order
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn writing(&self) -> std::sync::RwLockReadGuard<'_, ()> {
        self.writes.read().unwrap_or_else(|e| e.into_inner())
    }

    /// `n` new outbox seqs. They are taken outside any transaction: a
    /// retried transaction must not reuse a number another one took.
    fn new_seqs(&self, n: usize) -> StoreResult<Vec<u64>> {
        (0..n)
            .map(|_| self.db.generate_id().context("taking an outbox seq"))
            .collect()
    }

    fn load_item(&self, seq: u64) -> StoreResult<OutboxItem> {
        self.outbox_item(seq)?
            .with_context(|| format!("outbox item {seq} does not exist"))
    }

    /// A pending item as it stands: in flight if its claim is recorded.
    fn with_flight(&self, mut item: OutboxItem) -> StoreResult<OutboxItem> {
        if item.status == OutboxStatus::Pending
            && let Some(since) = self.outbox_in_flight.get(keys::seq(item.seq))?
        {
            item.status = OutboxStatus::InFlight {
                since_ms: keys::decode_time(&since).context("corrupt in-flight index")?,
            };
        }
        Ok(item)
    }
}

/// Insert a new event into the event trees.
fn insert_event(
    events: &TransactionalTree,
    conversation_events: &TransactionalTree,
    stored: &StoredEvent,
) -> TxResult<()> {
    let id = *uuid::Uuid::parse_str(&stored.id)
        .map_err(|err| ConflictableTransactionError::Abort(err.to_string()))?
        .as_bytes();
    events.insert(&id, to_json(stored)?)?;
    let mut index = keys::parts(&[&stored.shop, &stored.event.conversation_id]);
    index.extend_from_slice(&id);
    conversation_events.insert(index, &[])?;
    Ok(())
}

impl Flush for SledStore {
    fn flush(&self) -> StoreResult<()> {
        self.db.flush().context("flushing the store to disk")?;
        Ok(())
    }
}

impl Store for SledStore {
    fn commit_ingest(&self, batch: &IngestBatch<'_>) -> StoreResult<IngestReceipt> {
        let mut receipts = self
            .commit_ingest_all(std::slice::from_ref(batch))
            .with_context(|| {
                format!(
                    "committing {} event(s) for shop `{}`",
                    batch.events.len(),
                    batch.shop
                )
            })?;
        Ok(receipts.pop().unwrap_or_default())
    }

    fn commit_ingest_all(&self, batches: &[IngestBatch<'_>]) -> StoreResult<Vec<IngestReceipt>> {
        let _writing = self.writing();
        let trees = (
            &self.events,
            &self.conversation_events,
            &self.dedupe,
            &self.dedupe_expiry,
            &self.conversations,
            &self.plugin_state,
            &self.cursors,
            &self.inbox,
            &self.replay_claims,
        );
        trees
            .transaction(
                |(
                    events,
                    conversation_events,
                    dedupe,
                    dedupe_expiry,
                    conversations,
                    state,
                    cursors,
                    inbox,
                    replay_claims,
                )| {
                    let mut receipts = Vec::with_capacity(batches.len());
                    for batch in batches {
                        let mut receipt = IngestReceipt::default();
                        if !take_replay_claims(replay_claims, batch)? {
                            receipt.replayed = true;
                            receipts.push(receipt);
                            continue;
                        }
                        for event in batch.events {
                            let dedupe_key = keys::parts(&[batch.shop, &event.platform_id]);
                            if dedupe.get(&dedupe_key)?.is_some() {
                                receipt.duplicates += 1;
                                continue;
                            }
                            let stored = StoredEvent {
                                id: uuid::Uuid::now_v7().to_string(),
                                shop: batch.shop.to_string(),
                                plugin: batch.plugin.to_string(),
                                received_ms: batch.received_ms,
                                event: event.clone(),
                            };
                            insert_event(events, conversation_events, &stored)?;
                            let record = DedupeRecord {
                                event: stored.id.clone(),
                                until_ms: batch.dedupe_until_ms,
                            };
                            dedupe.insert(dedupe_key.as_slice(), to_json(&record)?)?;
                            let mut expiry = keys::time(batch.dedupe_until_ms).to_vec();
                            expiry.extend_from_slice(&dedupe_key);
                            dedupe_expiry.insert(expiry, &[])?;

                            let conversation_key =
                                keys::parts(&[batch.shop, &event.conversation_id]);
                            let mut conversation = match conversations.get(&conversation_key)? {
                                Some(bytes) => from_json::<Conversation>(&bytes, "conversation")?,
                                None => Conversation::new(
                                    batch.shop,
                                    &event.conversation_id,
                                    batch.received_ms,
                                ),
                            };
                            conversation.absorb(event, batch.received_ms);
                            conversations.insert(conversation_key, to_json(&conversation)?)?;

                            let id = uuid::Uuid::parse_str(&stored.id).map_err(|err| {
                                ConflictableTransactionError::Abort(err.to_string())
                            })?;
                            inbox.insert(id.as_bytes(), &[])?;
                            receipt.stored.push(stored.id);
                        }
                        Self::apply_state_in(state, batch.shop, batch.state)?;
                        if let Some((feed, cursor)) = batch.cursor {
                            cursors.insert(keys::parts(&[batch.shop, feed]), cursor.as_bytes())?;
                        }
                        receipts.push(receipt);
                    }
                    Ok(receipts)
                },
            )
            .map_err(tx_error)
            .with_context(|| format!("committing {} batch(es) of events", batches.len()))
    }

    fn plugin_state(&self, shop: &str, now_ms: i64) -> StoreResult<Vec<StateEntry>> {
        let mut entries = Vec::new();
        for item in self.plugin_state.scan_prefix(keys::parts(&[shop])) {
            let (_, bytes) = item?;
            let entry: StateEntry = read(&bytes, "plugin state entry")?;
            if entry.expires_at_ms.is_none_or(|at| at > now_ms) {
                entries.push(entry);
            }
        }
        Ok(entries)
    }

    fn apply_state(&self, shop: &str, changes: &[StateChange]) -> StoreResult<()> {
        let _writing = self.writing();
        if changes.is_empty() {
            return Ok(());
        }
        self.plugin_state
            .transaction(|tree| Self::apply_state_in(tree, shop, changes))
            .map_err(tx_error)
            .with_context(|| format!("saving plugin state for shop `{shop}`"))
    }

    fn cursor(&self, shop: &str, feed: &str) -> StoreResult<Option<String>> {
        Ok(self
            .cursors
            .get(keys::parts(&[shop, feed]))?
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned()))
    }

    fn event(&self, id: &str) -> StoreResult<Option<StoredEvent>> {
        match self.events.get(event_key(id)?)? {
            Some(bytes) => Ok(Some(read(&bytes, &format!("event {id}"))?)),
            None => Ok(None),
        }
    }

    fn conversation(&self, shop: &str, id: &str) -> StoreResult<Option<Conversation>> {
        match self.conversations.get(keys::parts(&[shop, id]))? {
            Some(bytes) => Ok(Some(read(&bytes, "conversation")?)),
            None => Ok(None),
        }
    }

    fn conversation_events(&self, shop: &str, id: &str) -> StoreResult<Vec<StoredEvent>> {
        let prefix = keys::parts(&[shop, id]);
        let mut found = Vec::new();
        for item in self.conversation_events.scan_prefix(&prefix) {
            let (key, _) = item?;
            let event_id = &key[prefix.len()..];
            let bytes = self
                .events
                .get(event_id)?
                .context("conversation index points at a missing event")?;
            found.push(read(&bytes, "event")?);
        }
        Ok(found)
    }

    fn pending_inbox(&self, limit: usize) -> StoreResult<Vec<String>> {
        self.inbox
            .iter()
            .keys()
            .take(limit)
            .map(|key| {
                let key = key?;
                let bytes: [u8; 16] = key.as_ref().try_into().context("corrupt inbox key")?;
                Ok(uuid::Uuid::from_bytes(bytes).to_string())
            })
            .collect()
    }

    fn finish_inbox(
        &self,
        event_id: &str,
        outcome: &InboxOutcome<'_>,
        now_ms: i64,
    ) -> StoreResult<Vec<u64>> {
        let mut queued = self
            .finish_inbox_all(&[(event_id, outcome.clone())], now_ms)
            .with_context(|| format!("queueing actions for event {event_id}"))?;
        Ok(queued.pop().unwrap_or_default())
    }

    fn finish_inbox_all(
        &self,
        finished: &[(&str, InboxOutcome<'_>)],
        now_ms: i64,
    ) -> StoreResult<Vec<Vec<u64>>> {
        let _writing = self.writing();
        let mut in_order = self.change_order();
        let next_change = std::cell::Cell::new(*in_order);
        let event_keys = finished
            .iter()
            .map(|(event_id, _)| event_key(event_id))
            .collect::<StoreResult<Vec<_>>>()?;
        let seqs = finished
            .iter()
            .map(|(_, outcome)| {
                self.new_seqs(outcome.actions.len() + outcome.care.map_or(0, |c| c.sends.len()))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        // More trees than sled's tuple transactions take: a slice of them.
        let finished_all = [
            &self.inbox,
            &self.outbox,
            &self.outbox_due,
            &self.outbox_keys,
            &self.conversation_outbox,
            &self.handoffs,
            &self.identities,
            &self.identity_hints,
            &self.identity_conversations,
            &self.bot_context,
            &self.unanswered,
            &self.changes,
            &self.decisions,
            &self.tallies,
            &self.risk,
            &self.alerts,
            &self.csat_due,
            &self.csat_scheduled,
            &self.care,
        ]
        .transaction(|trees| {
            let [
                inbox,
                outbox,
                outbox_due,
                outbox_keys,
                conversation_outbox,
                handoffs,
                identities,
                identity_hints,
                identity_conversations,
                bot_context,
                unanswered,
                changes,
                decisions,
                tallies,
                risk,
                alerts,
                csat_due,
                csat_scheduled,
                care_tree,
            ] = trees.as_slice()
            else {
                unreachable!("the transaction has 19 trees")
            };
            // The day's figures, summed per shop over the batch and
            // merged once each.
            // Keyed by the day the event arrived (a backlog decided after
            // midnight still counts for its own day).
            let mut day_tallies: Vec<(i64, &str, DailyTally)> = Vec::new();
            let mut day_voc: Vec<(i64, &str, VocTally)> = Vec::new();
            let mut day_ratings: Vec<(i64, &str, u8)> = Vec::new();
            let identity_tx = IdentityTx {
                identities,
                identity_hints,
                identity_conversations,
            };
            let tx = OutboxTx {
                outbox,
                outbox_due,
                outbox_keys,
                conversation_outbox,
            };
            let mut all_queued = Vec::with_capacity(finished.len());
            for (((event_id, outcome), event_key), seqs) in
                finished.iter().zip(&event_keys).zip(&seqs)
            {
                let (action_seqs, care_seqs) = seqs.split_at(outcome.actions.len());
                let mut queued = tx.queue(outcome.actions, action_seqs, Some(event_id), now_ms)?;
                if let Some(changes) = outcome.care {
                    queued.extend(care::apply(
                        care_tree,
                        &tx,
                        outcome.shop,
                        changes,
                        care_seqs,
                        Some(event_id),
                        now_ms,
                    )?);
                }
                // Whether the conversation went to people or became
                // more urgent (else, with people already, the
                // console hears of a message).
                let mut handed_over = false;
                if let Some(escalation) = outcome.escalation {
                    let key = keys::parts(&[&escalation.shop, &escalation.conversation]);
                    let handoff = match handoffs.get(&key)? {
                        Some(bytes) => {
                            let mut current: Handoff = from_json(&bytes, "hand-off")?;
                            handed_over = escalation.priority > current.priority;
                            current.priority = current.priority.max(escalation.priority);
                            current
                        }
                        None => {
                            handed_over = true;
                            escalation.clone()
                        }
                    };
                    let json = serde_json::to_vec(&handoff)
                        .map_err(|err| ConflictableTransactionError::Abort(err.to_string()))?;
                    handoffs.insert(key, json)?;
                }
                if let Some((conversation, identity)) = outcome.customer {
                    absorb_identity(&identity_tx, outcome.shop, conversation, identity, now_ms)?;
                }
                if let Some((conversation, update)) = outcome.context {
                    let key = keys::parts(&[outcome.shop, conversation]);
                    match update {
                        ContextUpdate::Keep => {}
                        ContextUpdate::Set(context) => {
                            bot_context.insert(key, to_json(context)?)?;
                        }
                        ContextUpdate::Clear => {
                            bot_context.remove(key)?;
                        }
                    }
                }
                let mut alerted = false;
                if let Some(update) = outcome.risk {
                    let key = keys::parts(&[outcome.shop, &update.conversation]);
                    risk.insert(key.clone(), to_json(&update.state)?)?;
                    if let Some(alert) = &update.alert {
                        // Two alerts of one conversation may share an arrival
                        // time (one poll page): the kind keeps them apart.
                        let mut alert_key = keys::time(alert.at_ms).to_vec();
                        alert_key.extend_from_slice(&key);
                        keys::push_part(&mut alert_key, alert.kind.as_str());
                        alerts.insert(alert_key, to_json(alert)?)?;
                        alerted = true;
                    }
                }
                if let Some(conversation) = outcome.conversation {
                    let key = keys::parts(&[outcome.shop, conversation]);
                    let kind = if handed_over {
                        Some(ChangeKind::Handoff)
                    } else if handoffs.get(&key)?.is_some() {
                        Some(ChangeKind::Message)
                    } else {
                        None
                    };
                    // A raised alert is a change of its own: the lists still hear of
                    // the hand-off.
                    let alert = alerted.then_some(ChangeKind::Alert);
                    for kind in kind.into_iter().chain(alert) {
                        record_change(
                            &next_change,
                            changes,
                            outcome.shop,
                            conversation,
                            kind,
                            now_ms,
                        )?;
                    }
                }
                if let Some(question) = outcome.unanswered {
                    let mut key = keys::time(question.received_ms).to_vec();
                    key.extend_from_slice(question.event.as_bytes());
                    unanswered.insert(key, to_json(question)?)?;
                }
                if let Some((conversation, due)) = outcome.csat {
                    let key = keys::parts(&[outcome.shop, conversation]);
                    if let Some(pending) = csat_scheduled.remove(key.as_slice())? {
                        csat_due.remove(pending)?;
                    }
                    if let Some(due_ms) = due {
                        let mut due_key = keys::time(due_ms).to_vec();
                        due_key.extend_from_slice(&key);
                        csat_due.insert(due_key.as_slice(), &[])?;
                        csat_scheduled.insert(key, due_key)?;
                    }
                }
                let day = crate::model::day_of(if outcome.arrived_ms > 0 {
                    outcome.arrived_ms
                } else {
                    now_ms
                });
                if let Some((served_by, score)) = outcome.rating {
                    day_ratings.push((day, served_by, *score));
                }
                if let Some(voc) = outcome.voc {
                    match day_voc
                        .iter_mut()
                        .find(|(d, shop, _)| *d == day && *shop == outcome.shop)
                    {
                        Some((_, _, tally)) => tally.add(voc),
                        None => day_voc.push((day, outcome.shop, voc.clone())),
                    }
                }
                if let Some(decision) = outcome.decision {
                    decisions.insert(event_key.as_slice(), to_json(decision)?)?;
                    let delta = DailyTally::of_outcome(decision.outcome);
                    match day_tallies
                        .iter_mut()
                        .find(|(d, shop, _)| *d == day && *shop == outcome.shop)
                    {
                        Some((_, _, tally)) => tally.add(&delta),
                        None => day_tallies.push((day, outcome.shop, delta)),
                    }
                }
                inbox.remove(event_key)?;
                all_queued.push(queued);
            }
            for (day, shop, delta) in &day_tallies {
                add_figures(
                    tallies,
                    &tally_key(*day, shop),
                    "daily tally",
                    |t: &mut DailyTally| t.add(delta),
                )?;
            }
            for (day, served_by, score) in &day_ratings {
                let rating = AgentTally {
                    ratings: 1,
                    rating_sum: u64::from(*score),
                    ..AgentTally::default()
                };
                add_figures(
                    tallies,
                    &agent_tally_key(*day, served_by),
                    "agent's figures",
                    |t: &mut AgentTally| t.add(&rating),
                )?;
            }
            for (day, shop, delta) in &day_voc {
                add_figures(
                    tallies,
                    &voc_key(*day, shop),
                    "voice of the customer",
                    |t: &mut VocTally| t.add(delta),
                )?;
            }
            Ok(all_queued)
        })
        .map_err(tx_error)
        .with_context(|| format!("finishing {} inbox event(s)", finished.len()));
        *in_order = next_change.get();
        finished_all
    }

    fn known_identity(
        &self,
        shop: &str,
        platform_user_id: &str,
    ) -> StoreResult<Option<KnownIdentity>> {
        let Some(bytes) = self
            .identities
            .get(keys::parts(&[shop, platform_user_id]))?
        else {
            return Ok(None);
        };
        let mut known: KnownIdentity = read::<KnownIdentity>(&bytes, "identity")
            .with_context(|| format!("corrupt identity {shop}/{platform_user_id}"))?;
        let prefix = keys::parts(&[shop, platform_user_id]);
        for entry in self.identity_conversations.scan_prefix(&prefix) {
            let (key, _) = entry?;
            let parts = keys::split(&key).context("corrupt identity conversation key")?;
            if let [_, _, conversation] = parts.as_slice()
                && !known.conversations.contains(conversation)
            {
                known.conversations.push(conversation.clone());
            }
        }
        Ok(Some(known))
    }

    fn identities_with_hint(&self, kind: &str, value: &str) -> StoreResult<Vec<(String, String)>> {
        let prefix = keys::parts(&[kind, value]);
        self.identity_hints
            .scan_prefix(&prefix)
            .map(|entry| {
                let (key, _) = entry?;
                let parts =
                    keys::split(&key[prefix.len()..]).context("corrupt identity hint key")?;
                match parts.as_slice() {
                    [shop, user] => Ok((shop.clone(), user.clone())),
                    _ => Err(anyhow!("corrupt identity hint key")),
                }
            })
            .collect()
    }

    fn manual_links(&self, shop: &str, platform_user_id: &str) -> StoreResult<Vec<ManualLink>> {
        self.manual_links
            .scan_prefix(keys::parts(&[shop, platform_user_id]))
            .map(|entry| {
                let (_, bytes) = entry?;
                serde_json::from_slice(&bytes).context("corrupt manual link")
            })
            .collect()
    }

    fn set_manual_link(
        &self,
        a: (&str, &str),
        b: (&str, &str),
        link: Option<&ManualLink>,
    ) -> StoreResult<bool> {
        let _writing = self.writing();
        let forward = keys::parts(&[a.0, a.1, b.0, b.1]);
        let backward = keys::parts(&[b.0, b.1, a.0, a.1]);
        let value = link.map(serde_json::to_vec).transpose()?;
        self.manual_links
            .transaction(|tree| {
                let existed = tree.get(&forward)?.is_some();
                match &value {
                    Some(bytes) => {
                        tree.insert(forward.as_slice(), bytes.as_slice())?;
                        tree.insert(backward.as_slice(), bytes.as_slice())?;
                        Ok(!existed)
                    }
                    None => {
                        tree.remove(forward.as_slice())?;
                        tree.remove(backward.as_slice())?;
                        Ok(existed)
                    }
                }
            })
            .map_err(tx_error)
            .context("updating a manual identity link")
    }

    fn queue_actions(&self, actions: &[NewAction], now_ms: i64) -> StoreResult<Vec<u64>> {
        let _writing = self.writing();
        let mut in_order = self.change_order();
        let next_change = std::cell::Cell::new(*in_order);
        let seqs = self.new_seqs(actions.len())?;
        let queued = (
            &self.outbox,
            &self.outbox_due,
            &self.outbox_keys,
            &self.conversation_outbox,
            &self.changes,
        )
            .transaction(
                |(outbox, outbox_due, outbox_keys, conversation_outbox, changes)| {
                    let queued = OutboxTx {
                        outbox,
                        outbox_due,
                        outbox_keys,
                        conversation_outbox,
                    }
                    .queue(actions, &seqs, None, now_ms)?;
                    for action in actions.iter().filter(|a| a.sent_by.is_some()) {
                        record_change(
                            &next_change,
                            changes,
                            &action.shop,
                            &action.action.conversation_id,
                            ChangeKind::Reply,
                            now_ms,
                        )?;
                    }
                    Ok(queued)
                },
            )
            .map_err(tx_error)
            .context("queueing actions");
        *in_order = next_change.get();
        queued
    }

    fn handoff(&self, shop: &str, conversation: &str) -> StoreResult<Option<Handoff>> {
        self.handoffs
            .get(keys::parts(&[shop, conversation]))?
            .map(|bytes| serde_json::from_slice(&bytes))
            .transpose()
            .with_context(|| format!("corrupt hand-off of {shop}/{conversation}"))
    }

    fn bot_context(&self, shop: &str, conversation: &str) -> StoreResult<Option<BotContext>> {
        self.bot_context
            .get(keys::parts(&[shop, conversation]))?
            .map(|bytes| read(&bytes, "bot context"))
            .transpose()
            .with_context(|| format!("bot context of {shop}/{conversation}"))
    }

    fn set_bot_context(
        &self,
        shop: &str,
        conversation: &str,
        context: Option<&BotContext>,
    ) -> StoreResult<()> {
        let _writing = self.writing();
        let key = keys::parts(&[shop, conversation]);
        match context {
            Some(context) => {
                let bytes = codec::encode(context).map_err(anyhow::Error::msg)?;
                self.bot_context.insert(key, bytes)?;
            }
            None => {
                self.bot_context.remove(key)?;
            }
        }
        Ok(())
    }

    fn add_note(&self, shop: &str, conversation: &str, note: &Note) -> StoreResult<()> {
        let _writing = self.writing();
        let mut key = keys::parts(&[shop, conversation]);
        key.extend_from_slice(&keys::time(note.at_ms));
        key.extend_from_slice(&self.db.generate_id()?.to_be_bytes());
        self.notes.insert(key, serde_json::to_vec(note)?)?;
        self.flush()
    }

    fn notes(&self, shop: &str, conversation: &str) -> StoreResult<Vec<Note>> {
        self.notes
            .scan_prefix(keys::parts(&[shop, conversation]))
            .values()
            .map(|bytes| read(&bytes?, "note"))
            .collect()
    }

    fn put_canned_reply(&self, shop: &str, reply: &CannedReply) -> StoreResult<()> {
        let _writing = self.writing();
        self.canned_replies.insert(
            keys::parts(&[shop, &reply.name]),
            serde_json::to_vec(reply)?,
        )?;
        self.flush()
    }

    fn remove_canned_reply(&self, shop: &str, name: &str) -> StoreResult<bool> {
        let _writing = self.writing();
        let removed = self
            .canned_replies
            .remove(keys::parts(&[shop, name]))?
            .is_some();
        self.flush()?;
        Ok(removed)
    }

    fn canned_replies(&self, shop: &str) -> StoreResult<Vec<CannedReply>> {
        let mut prefix = Vec::new();
        keys::push_part(&mut prefix, shop);
        self.canned_replies
            .scan_prefix(prefix)
            .values()
            .map(|bytes| read(&bytes?, "canned reply"))
            .collect()
    }

    fn agent_status(&self, agent: &str) -> StoreResult<AgentStatus> {
        Ok(match self.agent_status.get(agent.as_bytes())? {
            Some(bytes) => read(&bytes, "agent status")?,
            None => AgentStatus::default(),
        })
    }

    fn set_agent_status(&self, agent: &str, status: AgentStatus) -> StoreResult<()> {
        let _writing = self.writing();
        self.agent_status
            .insert(agent.as_bytes(), serde_json::to_vec(&status)?)?;
        self.flush()
    }

    fn changes_after(&self, after: u64, limit: usize) -> StoreResult<Vec<(u64, ConsoleChange)>> {
        let start = keys::seq(after.saturating_add(1));
        self.changes
            .range(start.as_slice()..)
            .take(limit)
            .map(|entry| {
                let (key, bytes) = entry?;
                let seq = keys::decode_seq(&key).context("corrupt change key")?;
                Ok((seq, read(&bytes, "console change")?))
            })
            .collect()
    }

    fn last_change(&self) -> StoreResult<u64> {
        match self.changes.last()? {
            Some((key, _)) => Ok(keys::decode_seq(&key).context("corrupt change key")?),
            None => Ok(0),
        }
    }

    fn unanswered(&self, since_ms: i64, limit: usize) -> StoreResult<Vec<UnansweredQuestion>> {
        self.unanswered
            .range(keys::time(since_ms).to_vec()..)
            .values()
            .take(limit)
            .map(|bytes| read(&bytes?, "unanswered question"))
            .collect()
    }

    fn console_session(&self, key: &[u8; 32]) -> StoreResult<Option<ConsoleSession>> {
        self.console_sessions
            .get(key)?
            .map(|bytes| read(&bytes, "console session"))
            .transpose()
    }

    fn put_console_session(
        &self,
        key: &[u8; 32],
        session: Option<&ConsoleSession>,
    ) -> StoreResult<()> {
        match session {
            Some(session) => {
                self.console_sessions
                    .insert(key, serde_json::to_vec(session)?)?;
            }
            None => {
                self.console_sessions.remove(key)?;
            }
        }
        Ok(())
    }

    fn sweep_console_sessions(
        &self,
        expired: &dyn Fn(&ConsoleSession) -> bool,
    ) -> StoreResult<usize> {
        let mut removed = 0;
        for entry in self.console_sessions.iter() {
            let (key, bytes) = entry?;
            let over =
                read::<ConsoleSession>(&bytes, "console session").map_or(true, |s| expired(&s));
            if over {
                self.console_sessions.remove(key)?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    fn decision(&self, event_id: &str) -> StoreResult<Option<BotDecision>> {
        self.decisions
            .get(event_key(event_id)?)?
            .map(|bytes| read(&bytes, "bot decision"))
            .transpose()
    }

    fn risk_state(&self, shop: &str, conversation: &str) -> StoreResult<Option<RiskState>> {
        self.risk
            .get(keys::parts(&[shop, conversation]))?
            .map(|bytes| read(&bytes, "risk state"))
            .transpose()
    }

    fn risk_alerts(&self, limit: usize) -> StoreResult<Vec<RiskAlert>> {
        self.alerts
            .iter()
            .rev()
            .take(limit)
            .map(|entry| {
                let (_, bytes) = entry?;
                read(&bytes, "risk alert")
            })
            .collect()
    }

    fn due_csat(&self, now_ms: i64, limit: usize) -> StoreResult<Vec<(String, String, i64)>> {
        let mut due = Vec::new();
        for entry in self
            .csat_due
            .range(..keys::time(now_ms.saturating_add(1)).to_vec())
        {
            let (key, _) = entry?;
            let at = keys::decode_time(&key).context("corrupt invitation key")?;
            let parts = keys::split(&key[8..]).context("corrupt invitation key")?;
            if let [shop, conversation] = parts.as_slice() {
                due.push((shop.clone(), conversation.clone(), at));
            }
            if due.len() >= limit {
                break;
            }
        }
        Ok(due)
    }

    fn clear_csat(&self, shop: &str, conversation: &str, due_ms: i64) -> StoreResult<()> {
        let _writing = self.writing();
        let key = keys::parts(&[shop, conversation]);
        let mut due_key = keys::time(due_ms).to_vec();
        due_key.extend_from_slice(&key);
        (&self.csat_due, &self.csat_scheduled)
            .transaction(|(csat_due, csat_scheduled)| {
                csat_due.remove(due_key.as_slice())?;
                if csat_scheduled.get(key.as_slice())?.as_deref() == Some(due_key.as_slice()) {
                    csat_scheduled.remove(key.as_slice())?;
                }
                Ok(())
            })
            .map_err(tx_error)
            .with_context(|| format!("clearing the invitation of {shop}/{conversation}"))
    }

    fn care_records(&self, shop: &str, order: &str) -> StoreResult<Vec<CareRecord>> {
        self.care
            .scan_prefix(care::order_prefix(shop, order))
            .map(|entry| {
                let (_, bytes) = entry?;
                read(&bytes, "care record")
            })
            .collect()
    }

    fn care_opted_out(&self, shop: &str, customer: &str) -> StoreResult<bool> {
        Ok(self.care.get(care::opt_out_key(shop, customer))?.is_some())
    }

    fn due_care_watches(&self, now_ms: i64, limit: usize) -> StoreResult<Vec<CareWatch>> {
        let mut watches = Vec::new();
        for entry in self.care.scan_prefix(care::DUE_PREFIX) {
            let (key, _) = entry?;
            let due = keys::decode_time(&key[1..]).context("corrupt care due key")?;
            if due > now_ms || watches.len() >= limit {
                break;
            }
            let parts = keys::split(&key[9..]).context("corrupt care due key")?;
            let [shop, order] = parts.as_slice() else {
                return Err(anyhow!("corrupt care due key"));
            };
            if let Some(bytes) = self.care.get(care::watch_key(shop, order))? {
                watches.push(read(&bytes, "care watch")?);
            }
        }
        Ok(watches)
    }

    fn fire_care_watch(
        &self,
        watch: &CareWatch,
        send: Option<&CareSend>,
        now_ms: i64,
    ) -> StoreResult<Option<u64>> {
        let _writing = self.writing();
        let seq = self.new_seqs(1)?[0];
        (
            &self.care,
            &self.outbox,
            &self.outbox_due,
            &self.outbox_keys,
            &self.conversation_outbox,
        )
            .transaction(
                |(care_tree, outbox, outbox_due, outbox_keys, conversation_outbox)| {
                    // Pushed back or cancelled since it was read: not due.
                    let current = care_tree.get(care::watch_key(&watch.shop, &watch.order))?;
                    match current {
                        Some(bytes) if from_json::<CareWatch>(&bytes, "care watch")? == *watch => {}
                        _ => return Ok(None),
                    }
                    care::remove_watch(care_tree, &watch.shop, &watch.order)?;
                    let Some(send) = send else {
                        return Ok(None);
                    };
                    let tx = OutboxTx {
                        outbox,
                        outbox_due,
                        outbox_keys,
                        conversation_outbox,
                    };
                    care::fire(care_tree, &tx, send, seq, None, now_ms)
                },
            )
            .map_err(tx_error)
            .with_context(|| format!("firing the stuck-parcel rule for order {}", watch.order))
    }

    fn day_figures(&self, day: i64) -> StoreResult<crate::store::DayFigures> {
        let mut figures = crate::store::DayFigures::default();
        for entry in self.tallies.scan_prefix(day.to_be_bytes()) {
            let (key, bytes) = entry?;
            let parts = keys::split(&key[8..])
                .with_context(|| format!("corrupt figures key of day {day}"))?;
            match parts.as_slice() {
                [shop] => figures
                    .shops
                    .push((shop.clone(), read(&bytes, "daily tally")?)),
                [shop, tag] if tag == VOC_TAG => figures
                    .voc
                    .push((shop.clone(), read(&bytes, "voice of the customer")?)),
                [tag, agent] if tag == AGENT_TAG => figures
                    .agents
                    .push((agent.clone(), read(&bytes, "agent's figures")?)),
                _ => anyhow::bail!("corrupt figures key of day {day}: {parts:?}"),
            }
        }
        Ok(figures)
    }

    fn add_agent_tally(&self, day: i64, agent: &str, delta: &AgentTally) -> StoreResult<()> {
        let key = agent_tally_key(day, agent);
        self.tallies
            .transaction(|tallies| {
                add_figures(tallies, &key, "agent's figures", |t: &mut AgentTally| {
                    t.add(delta)
                })
            })
            .map_err(tx_error)
            .with_context(|| format!("adding to agent {agent}'s figures of day {day}"))
    }

    fn tally(&self, day: i64, shop: &str) -> StoreResult<DailyTally> {
        Ok(match self.tallies.get(tally_key(day, shop))? {
            Some(bytes) => read(&bytes, "daily tally")?,
            None => DailyTally::default(),
        })
    }

    fn add_tally(&self, day: i64, shop: &str, delta: &DailyTally) -> StoreResult<()> {
        let key = tally_key(day, shop);
        self.tallies
            .transaction(|tallies| {
                add_figures(tallies, &key, "daily tally", |t: &mut DailyTally| {
                    t.add(delta)
                })
            })
            .map_err(tx_error)
            .with_context(|| format!("adding to shop {shop}'s figures of day {day}"))
    }

    fn handoffs(&self, shop: &str) -> StoreResult<Vec<Handoff>> {
        let mut prefix = Vec::new();
        keys::push_part(&mut prefix, shop);
        self.handoffs
            .scan_prefix(prefix)
            .map(|entry| {
                let (_, bytes) = entry?;
                serde_json::from_slice(&bytes)
                    .with_context(|| format!("corrupt hand-off in shop {shop}"))
            })
            .collect()
    }

    fn swap_handoff(
        &self,
        shop: &str,
        conversation: &str,
        expected: Option<&Handoff>,
        new: Option<&Handoff>,
    ) -> StoreResult<bool> {
        let _writing = self.writing();
        let mut in_order = self.change_order();
        let next_change = std::cell::Cell::new(*in_order);
        let key = keys::parts(&[shop, conversation]);
        let old = expected.map(serde_json::to_vec).transpose()?;
        let new = new.map(serde_json::to_vec).transpose()?;
        let swapped = (&self.handoffs, &self.changes)
            .transaction(|(handoffs, changes)| {
                if handoffs.get(&key)?.as_deref() != old.as_deref() {
                    return Ok(false);
                }
                match &new {
                    Some(bytes) => handoffs.insert(key.as_slice(), bytes.as_slice())?,
                    None => handoffs.remove(key.as_slice())?,
                };
                record_change(
                    &next_change,
                    changes,
                    shop,
                    conversation,
                    ChangeKind::Handoff,
                    crate::clock::now_ms(),
                )?;
                Ok(true)
            })
            .map_err(tx_error)
            .with_context(|| format!("updating the hand-off of {shop}/{conversation}"));
        *in_order = next_change.get();
        swapped
    }

    fn due_outbox(&self, now_ms: i64, limit: usize) -> StoreResult<Vec<OutboxItem>> {
        let mut items = Vec::new();
        for entry in self
            .outbox_due
            .range(..keys::time(now_ms.saturating_add(1)).to_vec())
        {
            let (key, _) = entry?;
            let seq = keys::decode_seq(&key[8..]).context("corrupt outbox index key")?;
            items.push(self.load_item(seq)?);
            if items.len() >= limit {
                break;
            }
        }
        items.sort_by_key(|item| item.seq);
        Ok(items)
    }

    fn outbox_unfinished(&self) -> StoreResult<usize> {
        Ok(self.outbox_due.len() + self.outbox_in_flight.len())
    }

    fn next_due_ms(&self) -> StoreResult<Option<i64>> {
        Ok(match self.outbox_due.first()? {
            Some((key, _)) => keys::decode_time(&key),
            None => None,
        })
    }

    fn outbox_item(&self, seq: u64) -> StoreResult<Option<OutboxItem>> {
        match self.outbox.get(keys::seq(seq))? {
            Some(bytes) => Ok(Some(
                self.with_flight(read(&bytes, &format!("outbox item {seq}"))?)?,
            )),
            None => Ok(None),
        }
    }

    fn conversation_outbox(&self, shop: &str, conversation: &str) -> StoreResult<Vec<OutboxItem>> {
        let prefix = keys::parts(&[shop, conversation]);
        let mut items = Vec::new();
        for entry in self.conversation_outbox.scan_prefix(&prefix) {
            let (key, _) = entry?;
            let seq = keys::decode_seq(&key[prefix.len()..]).context("corrupt outbox index key")?;
            items.push(self.load_item(seq)?);
        }
        Ok(items)
    }

    fn reschedule(
        &self,
        seq: u64,
        attempts: u32,
        next_attempt_ms: i64,
        error: &str,
    ) -> StoreResult<()> {
        let _writing = self.writing();
        (&self.outbox, &self.outbox_due, &self.outbox_in_flight)
            .transaction(|(outbox, outbox_due, outbox_in_flight)| {
                let mut item = load_in_tx(outbox, seq)?;
                outbox_due.remove(&keys::due(item.next_attempt_ms, seq))?;
                outbox_in_flight.remove(&keys::seq(seq))?;
                item.status = OutboxStatus::Pending;
                item.action.attempt = attempts;
                item.next_attempt_ms = next_attempt_ms;
                item.last_error = Some(error.to_string());
                outbox_due.insert(&keys::due(next_attempt_ms, seq), &[])?;
                outbox.insert(&keys::seq(seq), to_json(&item)?)?;
                Ok(())
            })
            .map_err(tx_error)
            .with_context(|| format!("rescheduling outbox item {seq}"))
    }

    fn claim_due(
        &self,
        now_ms: i64,
        limit: usize,
        skip: &dyn Fn(&OutboxItem) -> bool,
    ) -> StoreResult<Vec<OutboxItem>> {
        let _writing = self.writing();
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut candidates = Vec::new();
        let mut conversations = std::collections::HashSet::new();
        for entry in self
            .outbox_due
            .range(..keys::time(now_ms.saturating_add(1)).to_vec())
        {
            let (key, _) = entry?;
            let seq = keys::decode_seq(&key[8..]).context("corrupt outbox index key")?;
            let item = self.load_item(seq)?;
            if skip(&item)
                || !conversations.insert((item.shop.clone(), item.action.conversation_id.clone()))
            {
                continue;
            }
            candidates.push(seq);
            if candidates.len() >= limit {
                break;
            }
        }
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        (&self.outbox, &self.outbox_due, &self.outbox_in_flight)
            .transaction(|(outbox, outbox_due, outbox_in_flight)| {
                let mut claimed = Vec::with_capacity(candidates.len());
                for &seq in &candidates {
                    let mut item = load_in_tx(outbox, seq)?;
                    let due = keys::due(item.next_attempt_ms, seq);
                    if item.status != OutboxStatus::Pending
                        || item.next_attempt_ms > now_ms
                        || outbox_due.remove(&due)?.is_none()
                    {
                        continue;
                    }
                    outbox_in_flight.insert(&keys::seq(seq), &keys::time(now_ms))?;
                    item.status = OutboxStatus::InFlight { since_ms: now_ms };
                    claimed.push(item);
                }
                Ok(claimed)
            })
            .map_err(tx_error)
            .context("claiming due outbox items")
    }

    fn recover_in_flight(
        &self,
        now_ms: i64,
        idempotent: &dyn Fn(&OutboxItem) -> bool,
    ) -> StoreResult<Vec<OutboxItem>> {
        let _writing = self.writing();
        let seqs = self
            .outbox_in_flight
            .iter()
            .keys()
            .map(|key| keys::decode_seq(&key?).context("corrupt in-flight index key"))
            .collect::<StoreResult<Vec<u64>>>()?;
        (&self.outbox, &self.outbox_due, &self.outbox_in_flight)
            .transaction(|(outbox, outbox_due, outbox_in_flight)| {
                let mut found = Vec::with_capacity(seqs.len());
                for &seq in &seqs {
                    outbox_in_flight.remove(&keys::seq(seq))?;
                    let mut item = load_in_tx(outbox, seq)?;
                    // In the index and still as queued: it was in flight.
                    if item.status != OutboxStatus::Pending {
                        continue;
                    }
                    if idempotent(&item) {
                        item.status = OutboxStatus::Pending;
                    } else if item.uncertain_resends == 0 {
                        item.uncertain_resends = 1;
                        item.status = OutboxStatus::Pending;
                    } else {
                        let reason = "in flight at two crashes; it may have been delivered, so it is not sent a third time".to_string();
                        item.last_error = Some(reason.clone());
                        item.status = OutboxStatus::Failed {
                            kind: crate::model::FailureKind::Uncertain,
                            reason,
                            at_ms: now_ms,
                        };
                    }
                    if item.status == OutboxStatus::Pending {
                        item.next_attempt_ms = now_ms;
                        outbox_due.insert(&keys::due(now_ms, seq), &[])?;
                    }
                    outbox.insert(&keys::seq(seq), to_json(&item)?)?;
                    found.push(item);
                }
                Ok(found)
            })
            .map_err(tx_error)
            .context("recovering outbox items in flight at a crash")
    }

    fn finish_delivery(
        &self,
        seq: u64,
        end: DeliveryEnd,
        follow_up: &[NewAction],
        now_ms: i64,
    ) -> StoreResult<()> {
        let record = DeliveryRecord {
            seq,
            end,
            follow_up: follow_up.to_vec(),
        };
        self.finish_deliveries(std::slice::from_ref(&record), now_ms)
            .with_context(|| format!("recording the end of delivery {seq}"))
    }

    fn finish_deliveries(&self, records: &[DeliveryRecord], now_ms: i64) -> StoreResult<()> {
        let _writing = self.writing();
        let follow_up_seqs = records
            .iter()
            .map(|record| self.new_seqs(record.follow_up.len()))
            .collect::<StoreResult<Vec<_>>>()?;
        let trees = (
            &self.outbox,
            &self.outbox_due,
            &self.conversations,
            &self.events,
            &self.conversation_events,
            &self.outbox_keys,
            &self.conversation_outbox,
            &self.outbox_in_flight,
        );
        trees
            .transaction(
                |(
                    outbox,
                    outbox_due,
                    conversations,
                    events,
                    conversation_events,
                    outbox_keys,
                    conversation_outbox,
                    outbox_in_flight,
                )| {
                    for (record, seqs) in records.iter().zip(&follow_up_seqs) {
                        let seq = record.seq;
                        let mut item = load_in_tx(outbox, seq)?;
                        // Already recorded (a retry after a failed flush):
                        // nothing to do twice.
                        if item.status != OutboxStatus::Pending {
                            continue;
                        }
                        OutboxTx {
                            outbox,
                            outbox_due,
                            outbox_keys,
                            conversation_outbox,
                        }
                        .queue(&record.follow_up, seqs, None, now_ms)?;
                        outbox_due.remove(&keys::due(item.next_attempt_ms, seq))?;
                        outbox_in_flight.remove(&keys::seq(seq))?;
                        match &record.end {
                            DeliveryEnd::Delivered(receipt) => {
                                item.status = OutboxStatus::Delivered {
                                    receipt: receipt.clone(),
                                    at_ms: now_ms,
                                };
                                if let ActionKind::SendMessage(content) = &item.action.kind {
                                    let conversation_key =
                                        keys::parts(&[&item.shop, &item.action.conversation_id]);
                                    // A platform notification (a template
                                    // message) spends none of the chat
                                    // window's replies.
                                    let notification = crate::care::reach::is_notification(
                                        &item.action.route,
                                        content,
                                    );
                                    if let (false, Some(bytes)) =
                                        (notification, conversations.get(&conversation_key)?)
                                    {
                                        let mut conversation: Conversation =
                                            from_json(&bytes, "conversation")?;
                                        conversation.replies_since_inbound += 1;
                                        conversation.updated_ms = now_ms;
                                        conversations
                                            .insert(conversation_key, to_json(&conversation)?)?;
                                    }
                                    let outbound = StoredEvent {
                                        id: uuid::Uuid::now_v7().to_string(),
                                        shop: item.shop.clone(),
                                        plugin: String::new(),
                                        received_ms: now_ms,
                                        event: Event {
                                            platform_id: receipt
                                                .platform_id
                                                .clone()
                                                .unwrap_or_else(|| {
                                                    format!("out:{}", item.action.idempotency_key)
                                                }),
                                            conversation_id: item.action.conversation_id.clone(),
                                            platform_time_ms: now_ms,
                                            route: item.action.route.clone(),
                                            body: EventBody::Message(Message {
                                                author: Identity {
                                                    platform_user_id: item
                                                        .sent_by
                                                        .clone()
                                                        .unwrap_or_else(|| item.shop.clone()),
                                                    display_name: None,
                                                    hints: Vec::new(),
                                                },
                                                role: if item.sent_by.is_some() {
                                                    AuthorRole::Agent
                                                } else {
                                                    AuthorRole::Bot
                                                },
                                                direction: Direction::Outbound,
                                                content: content.clone(),
                                            }),
                                        },
                                    };
                                    insert_event(events, conversation_events, &outbound)?;
                                }
                            }
                            DeliveryEnd::Failed { kind, reason } => {
                                item.status = OutboxStatus::Failed {
                                    kind: *kind,
                                    reason: reason.clone(),
                                    at_ms: now_ms,
                                };
                                item.last_error = Some(reason.clone());
                            }
                        }
                        outbox.insert(&keys::seq(seq), to_json(&item)?)?;
                    }
                    Ok(())
                },
            )
            .map_err(tx_error)
            .with_context(|| format!("recording the end of {} deliveries", records.len()))
    }

    fn quarantine_inbox(&self, event_id: &str, reason: &str, now_ms: i64) -> StoreResult<()> {
        let _writing = self.writing();
        let key = event_key(event_id)?;
        let record = serde_json::to_vec(&serde_json::json!({ "reason": reason, "at_ms": now_ms }))?;
        (&self.inbox, &self.quarantine)
            .transaction(|(inbox, quarantine)| {
                inbox.remove(&key)?;
                quarantine.insert(&key, record.as_slice())?;
                Ok(())
            })
            .map_err(tx_error)
            .with_context(|| format!("setting event {event_id} aside"))
    }

    fn quarantined(&self) -> StoreResult<Vec<(String, String)>> {
        self.quarantine
            .iter()
            .map(|entry| {
                let (key, value) = entry?;
                let id = uuid::Uuid::from_slice(&key).context("corrupt quarantine key")?;
                let record: serde_json::Value =
                    serde_json::from_slice(&value).context("corrupt quarantine record")?;
                Ok((
                    id.to_string(),
                    record["reason"].as_str().unwrap_or_default().to_owned(),
                ))
            })
            .collect()
    }

    fn sweep_expired(
        &self,
        retention: &crate::store::Retention,
        now_ms: i64,
        budget: usize,
    ) -> StoreResult<crate::store::SweepReport> {
        let _writing = self.writing();
        self.sweep(retention, now_ms, budget)
    }

    fn backup(&self, path: &Path) -> StoreResult<crate::store::backup::BackupSummary> {
        let _alone = self.writes.write().unwrap_or_else(|e| e.into_inner());
        crate::store::backup::write(&self.db, path)
            .with_context(|| format!("writing a backup to {}", path.display()))
    }

    fn sweep_dedupe(&self, now_ms: i64) -> StoreResult<usize> {
        let _writing = self.writing();
        let mut removed = 0;
        for entry in self.dedupe_expiry.range(..keys::time(now_ms).to_vec()) {
            let (key, _) = entry?;
            self.dedupe.remove(&key[8..])?;
            self.dedupe_expiry.remove(&key)?;
            removed += 1;
        }
        for entry in self.replay_claims.range(..keys::time(now_ms).to_vec()) {
            let (key, _) = entry?;
            self.replay_claims.remove(&key)?;
            removed += 1;
        }
        Ok(removed)
    }
}

mod care;
mod codec;
mod retention;
#[cfg(test)]
mod tests;
