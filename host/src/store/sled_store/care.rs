//! Proactive care in the store's transactions: a rule fires once per
//! (shop, order, rule), never to a customer who opted out, never over the
//! customer's cap; and the watches on shipped orders that fire the `stuck`
//! rule. Everything lives in one tree, `care`, under one-letter prefixes:
//!
//! | prefix | key | value |
//! |---|---|---|
//! | `f` | shop, order, rule | [`CareRecord`]: the rule fired |
//! | `q` | shop, customer | the times of the customer's care messages |
//! | `o` | shop, customer | when the customer opted out (退订) |
//! | `w` | shop, order | [`CareWatch`] |
//! | `d` | due time, shop, order | (the watches by due time) |
//! | `x` | shop, order | when it was signed for or closed: never watched again |

use super::{OutboxTx, TxResult, from_json, to_json};
use crate::model::{CareChanges, CareOutcome, CareRecord, CareSend, CareWatch, WatchChange};
use crate::store::keys;
use sled::transaction::TransactionalTree;

const FIRED: u8 = b'f';
const QUOTA: u8 = b'q';
const OPTED_OUT: u8 = b'o';
const WATCH: u8 = b'w';
const DUE: u8 = b'd';
const WATCH_CLOSED: u8 = b'x';

fn key(prefix: u8, parts: &[&str]) -> Vec<u8> {
    let mut key = vec![prefix];
    key.extend_from_slice(&keys::parts(parts));
    key
}

/// The key of a rule's record for an order.
pub(super) fn fired_key(shop: &str, order: &str, rule: &str) -> Vec<u8> {
    key(FIRED, &[shop, order, rule])
}

/// The prefix of an order's records.
pub(super) fn order_prefix(shop: &str, order: &str) -> Vec<u8> {
    key(FIRED, &[shop, order])
}

/// The key of a customer's opt-out.
pub(super) fn opt_out_key(shop: &str, customer: &str) -> Vec<u8> {
    key(OPTED_OUT, &[shop, customer])
}

/// The key of an order's watch.
pub(super) fn watch_key(shop: &str, order: &str) -> Vec<u8> {
    key(WATCH, &[shop, order])
}

/// The prefix of the due index.
pub(super) const DUE_PREFIX: [u8; 1] = [DUE];

fn due_key(due_ms: i64, shop: &str, order: &str) -> Vec<u8> {
    let mut key = vec![DUE];
    key.extend_from_slice(&keys::time(due_ms));
    key.extend_from_slice(&keys::parts(&[shop, order]));
    key
}

/// Commits what care decided about one event: the sends (with `seqs`, one
/// each), the order's watch and the customer's opt-out on `shop`. Returns
/// the seqs queued.
pub(super) fn apply(
    care: &TransactionalTree,
    outbox: &OutboxTx<'_>,
    shop: &str,
    changes: &CareChanges,
    seqs: &[u64],
    cause: Option<&str>,
    now_ms: i64,
) -> TxResult<Vec<u64>> {
    if let Some((customer, opted_out)) = &changes.opt_out {
        let key = opt_out_key(shop, customer);
        if *opted_out {
            care.insert(key, &keys::time(now_ms))?;
        } else {
            care.remove(key)?;
        }
    }
    match &changes.watch {
        // Signed for or closed already: a late update starts nothing.
        Some(WatchChange::Set(watch))
            if care
                .get(key(WATCH_CLOSED, &[&watch.shop, &watch.order]))?
                .is_some() => {}
        Some(WatchChange::Set(watch)) => set_watch(care, watch)?,
        Some(WatchChange::PushBack {
            shop,
            order,
            due_ms,
        }) => {
            if let Some(mut watch) = remove_watch(care, shop, order)? {
                watch.due_ms = *due_ms;
                set_watch(care, &watch)?;
            }
        }
        Some(WatchChange::Cancel { shop, order }) => {
            remove_watch(care, shop, order)?;
            care.insert(key(WATCH_CLOSED, &[shop, order]), &keys::time(now_ms))?;
        }
        None => {}
    }
    let mut queued = Vec::new();
    for (send, &seq) in changes.sends.iter().zip(seqs) {
        if let Some(seq) = fire(care, outbox, send, seq, cause, now_ms)? {
            queued.push(seq);
        }
    }
    Ok(queued)
}

/// One rule for one order, at most once: queued if the customer has not
/// opted out and is under the cap, else recorded as skipped. Returns the
/// seq queued.
pub(super) fn fire(
    care: &TransactionalTree,
    outbox: &OutboxTx<'_>,
    send: &CareSend,
    seq: u64,
    cause: Option<&str>,
    now_ms: i64,
) -> TxResult<Option<u64>> {
    let fired = fired_key(&send.shop, &send.order, &send.rule);
    if care.get(&fired)?.is_some() {
        return Ok(None);
    }
    let record = |outcome| CareRecord {
        shop: send.shop.clone(),
        order: send.order.clone(),
        rule: send.rule.clone(),
        at_ms: now_ms,
        outcome,
    };
    let skipped = |reason: String| record(CareOutcome::Skipped { reason });
    let (action, (via, recipient)) = match &send.message {
        Ok(message) => message,
        Err(reason) => {
            care.insert(fired, to_json(&skipped(reason.clone()))?)?;
            return Ok(None);
        }
    };
    if care.get(opt_out_key(via, recipient))?.is_some() {
        let reason = "the customer opted out (退订)".to_owned();
        care.insert(fired, to_json(&skipped(reason))?)?;
        return Ok(None);
    }
    let quota_key = key(QUOTA, &[via, recipient]);
    let mut sent: Vec<i64> = match care.get(&quota_key)? {
        Some(bytes) => from_json(&bytes, "care quota")?,
        None => Vec::new(),
    };
    sent.retain(|&at| at > send.due_ms - send.cap_window_ms);
    if sent.len() >= send.most_per_customer as usize {
        let reason = format!(
            "the customer already had {} care message(s) within {} s",
            sent.len(),
            send.cap_window_ms / 1000
        );
        care.insert(fired, to_json(&skipped(reason))?)?;
        return Ok(None);
    }
    if !outbox.queue_one(action, seq, cause, now_ms, send.due_ms)? {
        // The same message is queued already (its key is the rule's and
        // the order's): nothing more to do.
        return Ok(None);
    }
    sent.push(send.due_ms);
    care.insert(quota_key, to_json(&sent)?)?;
    let queued = record(CareOutcome::Queued {
        via: via.clone(),
        recipient: recipient.clone(),
        due_ms: send.due_ms,
        seq,
    });
    care.insert(fired, to_json(&queued)?)?;
    Ok(Some(seq))
}

/// Whether the `care` entry under `key` is past the retention: a rule's
/// record decided before `before_ms`, send times all before it, or an
/// order closed before it. Opt-outs and watches are never expired here.
pub(super) fn is_expired(key: &[u8], bytes: &[u8], before_ms: i64) -> anyhow::Result<bool> {
    Ok(match key.first() {
        Some(&FIRED) => {
            let record: CareRecord = super::read(bytes, "care record")?;
            record.at_ms < before_ms
        }
        Some(&QUOTA) => {
            let sent: Vec<i64> = super::read(bytes, "care quota")?;
            sent.iter().all(|&at| at < before_ms)
        }
        Some(&WATCH_CLOSED) => keys::decode_time(bytes).is_none_or(|at| at < before_ms),
        _ => false,
    })
}

fn set_watch(care: &TransactionalTree, watch: &CareWatch) -> TxResult<()> {
    remove_watch(care, &watch.shop, &watch.order)?;
    care.insert(watch_key(&watch.shop, &watch.order), to_json(watch)?)?;
    care.insert(due_key(watch.due_ms, &watch.shop, &watch.order), &[])?;
    Ok(())
}

/// Stops watching an order; the watch there was, if any.
pub(super) fn remove_watch(
    care: &TransactionalTree,
    shop: &str,
    order: &str,
) -> TxResult<Option<CareWatch>> {
    let Some(bytes) = care.remove(watch_key(shop, order))? else {
        return Ok(None);
    };
    let watch: CareWatch = from_json(&bytes, "care watch")?;
    care.remove(due_key(watch.due_ms, shop, order))?;
    Ok(Some(watch))
}
