//! Retention on sled: events past their retention (oldest first: event ids
//! are UUIDv7, so the `events` tree is in time order), conversations left
//! without events, finished outbox items (oldest first: seqs grow with
//! time), and expired plugin state. Each sweep removes at most a budget of
//! records, so it never holds the store for long.

use super::{SledStore, keys};
use crate::model::{
    Conversation, KnownIdentity, OutboxItem, OutboxStatus, StateEntry, StoredEvent,
};

/// Entries of a tree swept in rounds (identities, care) looked at per pass
/// (most are kept, so visits, not removals, bound the pass).
const VISITS_PER_PASS: usize = 20_000;
use crate::store::{Retention, StoreResult, SweepReport};

/// The Unix milliseconds a UUIDv7 was minted at.
fn uuid_v7_ms(key: &[u8]) -> Option<i64> {
    let bytes: [u8; 6] = key.get(..6)?.try_into().ok()?;
    let mut ms = [0u8; 8];
    ms[2..].copy_from_slice(&bytes);
    Some(i64::from_be_bytes(ms))
}

/// The shortest time care's records are kept, whatever the events'
/// retention: 180 days.
const CARE_KEPT_AT_LEAST_MS: i64 = 180 * 86_400_000;

/// How long the console's change feed is kept.
const CHANGES_KEPT_MS: i64 = 24 * 3600 * 1000;

fn cutoff(now_ms: i64, keep: std::time::Duration) -> i64 {
    now_ms.saturating_sub(i64::try_from(keep.as_millis()).unwrap_or(i64::MAX))
}

/// Visits `tree` from where the last pass stopped (`cursor`), at most
/// [`VISITS_PER_PASS`] entries and `left` removals, letting `remove_if_due`
/// remove each entry past its retention (it says whether it did; each
/// removal is counted in `removed`). Past the end, the next round starts
/// from the beginning. Whether an early next pass is worth it: this one
/// stopped short while removing, or had nothing left to spend.
fn sweep_in_rounds(
    tree: &sled::Tree,
    cursor: &std::sync::Mutex<Vec<u8>>,
    left: &mut usize,
    removed: &mut usize,
    mut remove_if_due: impl FnMut(&[u8], &[u8]) -> StoreResult<bool>,
) -> StoreResult<bool> {
    // Nothing left to spend: keep the place for the next pass.
    if *left == 0 {
        return Ok(true);
    }
    let start = cursor.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut visited = 0usize;
    let mut last = None;
    let mut removed_now = 0usize;
    for entry in tree.range(start..) {
        if *left == 0 || visited >= VISITS_PER_PASS {
            break;
        }
        let (key, bytes) = entry?;
        visited += 1;
        last = Some(key.to_vec());
        if remove_if_due(&key, &bytes)? {
            removed_now += 1;
            *left -= 1;
        }
    }
    *removed += removed_now;
    let stopped_early = visited >= VISITS_PER_PASS || *left == 0;
    *cursor.lock().unwrap_or_else(|e| e.into_inner()) = match last {
        Some(mut key) if stopped_early => {
            key.push(0);
            key
        }
        _ => Vec::new(),
    };
    Ok(stopped_early && removed_now > 0)
}

impl SledStore {
    pub(super) fn sweep(
        &self,
        retention: &Retention,
        now_ms: i64,
        budget: usize,
    ) -> StoreResult<SweepReport> {
        let mut report = SweepReport::default();
        let mut left = budget;
        self.sweep_events(cutoff(now_ms, retention.events), &mut left, &mut report)?;
        self.sweep_unanswered(cutoff(now_ms, retention.events), &mut left, &mut report)?;
        self.sweep_changes(now_ms - CHANGES_KEPT_MS, &mut left, &mut report)?;
        self.sweep_outbox(
            cutoff(now_ms, retention.delivered),
            cutoff(now_ms, retention.dead_letters),
            &mut left,
            &mut report,
        )?;
        self.sweep_state(now_ms, &mut left, &mut report)?;
        let mut identities_left_over = false;
        if let Some(keep) = retention.identities {
            identities_left_over =
                self.sweep_identities(cutoff(now_ms, keep), &mut left, &mut report)?;
        }
        let care_kept = retention.events.max(std::time::Duration::from_millis(
            CARE_KEPT_AT_LEAST_MS as u64,
        ));
        let care_left_over = self.sweep_care(cutoff(now_ms, care_kept), &mut left, &mut report)?;
        report.more = left == 0 || identities_left_over || care_left_over;
        Ok(report)
    }

    fn sweep_events(
        &self,
        before_ms: i64,
        left: &mut usize,
        report: &mut SweepReport,
    ) -> StoreResult<()> {
        for entry in self.events.iter() {
            if *left == 0 {
                return Ok(());
            }
            let (key, bytes) = entry?;
            if uuid_v7_ms(&key).is_none_or(|at| at >= before_ms) {
                return Ok(());
            }
            // An event the pipeline has not handled yet stays.
            if self.inbox.contains_key(&key)? {
                continue;
            }
            let stored: StoredEvent = super::read(&bytes, "event")?;
            let mut index = keys::parts(&[&stored.shop, &stored.event.conversation_id]);
            index.extend_from_slice(&key);
            // The index first: a crash in between leaves an unindexed event,
            // which the next sweep removes.
            self.conversation_events.remove(&index)?;
            self.decisions.remove(&key)?;
            self.events.remove(&key)?;
            report.events += 1;
            *left -= 1;
            self.forget_quiet_conversation(
                &stored.shop,
                &stored.event.conversation_id,
                before_ms,
                report,
            )?;
        }
        Ok(())
    }

    /// Removes the console's changes older than the cutoff: a console away
    /// longer than that reloads instead of catching up.
    fn sweep_changes(
        &self,
        before_ms: i64,
        left: &mut usize,
        report: &mut SweepReport,
    ) -> StoreResult<()> {
        for entry in self.changes.iter() {
            if *left == 0 {
                return Ok(());
            }
            let (key, bytes) = entry?;
            let change: crate::model::ConsoleChange = super::read(&bytes, "console change")?;
            if change.at_ms >= before_ms {
                return Ok(());
            }
            self.changes.remove(key)?;
            report.changes += 1;
            *left -= 1;
        }
        Ok(())
    }

    /// Removes the records of unanswered questions that arrived before the
    /// cutoff (keyed by arrival time, so a range).
    fn sweep_unanswered(
        &self,
        before_ms: i64,
        left: &mut usize,
        report: &mut SweepReport,
    ) -> StoreResult<()> {
        for key in self
            .unanswered
            .range(..keys::time(before_ms).to_vec())
            .keys()
        {
            if *left == 0 {
                return Ok(());
            }
            self.unanswered.remove(key?)?;
            report.unanswered += 1;
            *left -= 1;
        }
        Ok(())
    }

    /// Removes a conversation's summary (and what the bot was waiting for
    /// in it) once it has no events left and has been quiet since before
    /// the cutoff.
    fn forget_quiet_conversation(
        &self,
        shop: &str,
        conversation: &str,
        before_ms: i64,
        report: &mut SweepReport,
    ) -> StoreResult<()> {
        let prefix = keys::parts(&[shop, conversation]);
        if self
            .conversation_events
            .scan_prefix(&prefix)
            .next()
            .is_some()
        {
            return Ok(());
        }
        let key = keys::parts(&[shop, conversation]);
        let Some(bytes) = self.conversations.get(&key)? else {
            return Ok(());
        };
        let summary: Conversation = super::read(&bytes, "conversation")?;
        if summary.updated_ms < before_ms && self.handoffs.get(&key)?.is_none() {
            self.bot_context.remove(&key)?;
            self.conversations.remove(&key)?;
            report.conversations += 1;
        }
        Ok(())
    }

    fn sweep_outbox(
        &self,
        delivered_before_ms: i64,
        dead_before_ms: i64,
        left: &mut usize,
        report: &mut SweepReport,
    ) -> StoreResult<()> {
        let newest_cutoff = delivered_before_ms.max(dead_before_ms);
        for entry in self.outbox.iter() {
            if *left == 0 {
                return Ok(());
            }
            let (key, bytes) = entry?;
            let item: OutboxItem = super::read(&bytes, "outbox item")?;
            // Seqs grow with time: past both cutoffs, nothing later is due.
            if item.created_ms >= newest_cutoff {
                return Ok(());
            }
            let due = match item.status {
                OutboxStatus::Delivered { .. } => item.created_ms < delivered_before_ms,
                OutboxStatus::Failed { .. } => item.created_ms < dead_before_ms,
                OutboxStatus::Pending | OutboxStatus::InFlight { .. } => false,
            };
            if !due || self.outbox_in_flight.contains_key(&key)? {
                continue;
            }
            let mut index = keys::parts(&[&item.shop, &item.action.conversation_id]);
            index.extend_from_slice(&keys::seq(item.seq));
            self.conversation_outbox.remove(&index)?;
            self.outbox_keys
                .remove(keys::parts(&[&item.shop, &item.action.idempotency_key]))?;
            self.outbox.remove(&key)?;
            report.actions += 1;
            *left -= 1;
        }
        Ok(())
    }

    /// Identities are not in time order: each pass goes on from where the
    /// last stopped, so every identity is visited once per round.
    fn sweep_identities(
        &self,
        before_ms: i64,
        left: &mut usize,
        report: &mut SweepReport,
    ) -> StoreResult<bool> {
        sweep_in_rounds(
            &self.identities,
            &self.identity_sweep_cursor,
            left,
            &mut report.identities,
            |key, bytes| {
                let known: KnownIdentity = super::read(bytes, "identity")?;
                if known.last_seen_ms >= before_ms {
                    return Ok(false);
                }
                for hint in &known.hints {
                    self.identity_hints.remove(keys::parts(&[
                        &hint.kind,
                        &hint.value,
                        &known.shop,
                        &known.platform_user_id,
                    ]))?;
                }
                for conversation in self.identity_conversations.scan_prefix(key).keys() {
                    self.identity_conversations.remove(conversation?)?;
                }
                self.identities.remove(key)?;
                Ok(true)
            },
        )
    }

    /// Care's records past their retention: what a rule did about an
    /// order, and an order's closed watch, kept for the events' retention
    /// but at least [`CARE_KEPT_AT_LEAST_MS`] (longer than any order's
    /// course from payment to the last refund, so a late event of the
    /// order cannot make a rule fire again); and the send times of
    /// customers none of whose care messages is that recent. Opt-outs are
    /// kept. An entry changed since it was read stays. The tree is not in
    /// time order: visited in rounds, as identities are.
    fn sweep_care(
        &self,
        before_ms: i64,
        left: &mut usize,
        report: &mut SweepReport,
    ) -> StoreResult<bool> {
        sweep_in_rounds(
            &self.care,
            &self.care_sweep_cursor,
            left,
            &mut report.care_records,
            |key, bytes| {
                if !super::care::is_expired(key, bytes, before_ms)? {
                    return Ok(false);
                }
                // A transaction may have changed it since: then it stays.
                Ok(self
                    .care
                    .compare_and_swap(key, Some(bytes), None::<&[u8]>)?
                    .is_ok())
            },
        )
    }

    fn sweep_state(
        &self,
        now_ms: i64,
        left: &mut usize,
        report: &mut SweepReport,
    ) -> StoreResult<()> {
        for entry in self.plugin_state.iter() {
            if *left == 0 {
                return Ok(());
            }
            let (key, bytes) = entry?;
            let state: StateEntry = super::read(&bytes, "plugin state")?;
            if state.expires_at_ms.is_some_and(|at| at <= now_ms) {
                self.plugin_state.remove(&key)?;
                report.state_entries += 1;
                *left -= 1;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uuid_v7_carries_its_time() {
        let id = uuid::Uuid::now_v7();
        let at = uuid_v7_ms(id.as_bytes()).unwrap();
        assert!((crate::clock::now_ms() - at).abs() < 1000);
    }
}
