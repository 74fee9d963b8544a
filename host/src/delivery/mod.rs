//! Delivery: outbox workers render each action through the shop's plugin,
//! send it with the host's HTTP client, let the plugin interpret the answer,
//! and record the outcome — retrying with back-off, refreshing tokens once,
//! and dead-lettering what will not succeed. One conversation's actions go
//! out one at a time, in order.
//!
//! Every item is claimed (recorded in flight) durably before its request
//! leaves, and its end is recorded after: an item is never started twice by
//! one host, and after a crash only what was in flight may go out again
//! (see [`recover`]).

use crate::backoff;
use crate::clock;
use crate::model::FailureKind;
use crate::model::{
    ActionKind, Conversation, DeliveryOutcome, NewAction, OutboxItem, OutboxStatus, RetryHint,
};
use crate::outbound::{self, SendError};
use crate::runtime::CallError;
use crate::shops::Shop;
use crate::store::{DeliveryEnd, DeliveryRecord};
use crate::telemetry::Metrics;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Semaphore, watch};

/// What delivery works with.
#[derive(Clone)]
pub struct Delivery {
    /// The plugin runtime.
    pub runtime: crate::runtime::Runtime,
    /// The store.
    pub store: std::sync::Arc<dyn crate::store::Store>,
    /// The durability barrier.
    pub group_commit: crate::store::GroupCommit,
    /// The shops served.
    pub shops: crate::shops::Shops,
    /// Limits.
    pub limits: crate::config::Limits,
    /// Counters.
    pub metrics: std::sync::Arc<Metrics>,
    /// The outbound HTTP client.
    pub http: crate::outbound::OutboundClient,
    /// What follows a delivered action (answers to look-ups).
    pub follow_ups: std::sync::Arc<dyn FollowUps>,
    /// Wakes delivery when actions are queued or finished.
    pub delivery_wake: std::sync::Arc<tokio::sync::Notify>,
}

/// Deliveries in flight at once (each mostly waits: on the platform's answer
/// and on the flush that records its end).
const MAX_IN_FLIGHT: usize = 256;
/// Render/send/interpret rounds one attempt may take (token fetch, retry after refresh, …).
const MAX_STEPS: u32 = 6;

/// How one attempt ended.
#[derive(Debug)]
enum Attempt {
    Delivered(crate::model::DeliveryReceipt),
    Retry {
        reason: String,
        after: Option<Duration>,
    },
    Failed {
        kind: FailureKind,
        reason: String,
    },
}

/// How long in-flight deliveries get to finish after shutdown begins; the
/// rest stay in flight and are recovered at the next start.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(15);

/// The first and the longest wait before recording a delivery's end again
/// after the store failed to record it.
const RECORD_RETRY_FIRST: Duration = Duration::from_millis(100);
const RECORD_RETRY_MAX: Duration = Duration::from_secs(30);

/// Run the delivery loop until `shutdown` turns true, then let in-flight
/// deliveries finish. Items left in flight by a crash are recovered first.
pub async fn run(host: Arc<Delivery>, mut shutdown: watch::Receiver<bool>) {
    if let Err(err) = recover(&host) {
        tracing::error!(error = %format!("{err:#}"), "recovering deliveries in flight at the last stop failed");
    }
    let mut deliveries = tokio::task::JoinSet::new();
    loop_until_shutdown(&host, &mut shutdown, &mut deliveries).await;
    let stopped = crate::tasks::drain(&mut deliveries, DRAIN_TIMEOUT).await;
    if stopped > 0 {
        tracing::warn!(
            stopped,
            "stopped deliveries that did not finish in time; they will be recovered at the next start"
        );
    }
}

/// Make the items a crash left in flight pending again (see
/// [`crate::store::Store::recover_in_flight`]), counting and logging each
/// one whose earlier request may have reached a platform that cannot drop a
/// repeat.
fn recover(host: &Delivery) -> anyhow::Result<()> {
    // Sending again is harmless where the platform drops a repeated
    // idempotency key, and for look-ups, which only read. A message to a
    // group (a risk alert to a robot) carries no key the platform knows.
    let idempotent = |item: &OutboxItem| {
        let to_group = item.action.route.iter().any(|pair| {
            pair.name == crate::risk::TARGET_ROUTE && pair.value == crate::risk::TARGET_GROUP_ROBOT
        });
        matches!(
            item.action.kind,
            ActionKind::QueryOrder(_) | ActionKind::QueryLogistics(_)
        ) || (!to_group
            && host
                .shops
                .get(&item.shop)
                .is_some_and(|shop| shop.plugin().manifest.idempotent_delivery))
    };
    for item in host.store.recover_in_flight(clock::now_ms(), &idempotent)? {
        let key = item.action.idempotency_key.as_str();
        match &item.status {
            OutboxStatus::Pending if idempotent(&item) => {
                tracing::info!(shop = %item.shop, seq = item.seq, key, "resending a delivery in flight at the last stop; the platform drops it if it arrived");
            }
            OutboxStatus::Pending => {
                Metrics::bump(&host.metrics.deliveries_uncertain);
                tracing::warn!(shop = %item.shop, seq = item.seq, key, "resending a delivery in flight at the last stop; the customer may get it twice");
            }
            _ => {
                Metrics::bump(&host.metrics.deliveries_failed);
                tracing::warn!(shop = %item.shop, seq = item.seq, key, "a delivery was in flight at two stops; dead-lettered as uncertain, not sent again");
            }
        }
    }
    Ok(())
}

/// A conversation: (shop, conversation id).
type ConversationKey = (String, String);

async fn loop_until_shutdown(
    host: &Arc<Delivery>,
    shutdown: &mut watch::Receiver<bool>,
    deliveries: &mut tokio::task::JoinSet<()>,
) {
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    // Conversations with an action in flight: their next action waits, so
    // one conversation's actions go out one at a time.
    let busy: Arc<Mutex<HashSet<ConversationKey>>> = Arc::default();
    loop {
        while deliveries.try_join_next().is_some() {}
        let claimed = claim(host, slots.available_permits(), &busy);
        if !claimed.is_empty() {
            // The claims must be on disk before any request leaves: after a
            // crash, an item not recorded in flight would be sent again as if
            // it had never left.
            if let Err(err) = host.group_commit.durable().await {
                tracing::error!(error = %format!("{err:#}"), "claims for delivery are not durable; retrying later");
                release(host, &claimed, &busy, &format!("{err:#}"));
            } else {
                for item in claimed {
                    let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
                        unreachable!("claims never exceed the free delivery slots");
                    };
                    let (host, busy) = (Arc::clone(host), Arc::clone(&busy));
                    deliveries.spawn(async move {
                        let conversation = conversation_of(&item);
                        deliver(&host, item).await;
                        busy.lock().expect("busy lock").remove(&conversation);
                        drop(permit);
                        host.delivery_wake.notify_one();
                    });
                }
            }
        }
        let wait = match host.store.next_due_ms() {
            Ok(Some(due)) => Duration::from_millis((due - clock::now_ms()).clamp(10, 1000) as u64),
            _ => Duration::from_secs(1),
        };
        tokio::select! {
            _ = host.delivery_wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return,
        }
    }
}

fn conversation_of(item: &OutboxItem) -> ConversationKey {
    (item.shop.clone(), item.action.conversation_id.clone())
}

/// Claim up to `free` due items whose conversations are not busy, and mark
/// their conversations busy.
fn claim(host: &Delivery, free: usize, busy: &Mutex<HashSet<ConversationKey>>) -> Vec<OutboxItem> {
    if free == 0 {
        return Vec::new();
    }
    let mut busy = busy.lock().expect("busy lock");
    let skip = |item: &OutboxItem| busy.contains(&conversation_of(item));
    match host.store.claim_due(clock::now_ms(), free, &skip) {
        Ok(claimed) => {
            busy.extend(claimed.iter().map(conversation_of));
            claimed
        }
        Err(err) => {
            tracing::error!(error = %format!("{err:#}"), "claiming due deliveries failed");
            Vec::new()
        }
    }
}

/// Give claimed items back (pending, after a back-off) when their claim
/// could not be made durable.
fn release(
    host: &Delivery,
    claimed: &[OutboxItem],
    busy: &Mutex<HashSet<ConversationKey>>,
    reason: &str,
) {
    let later = clock::now_ms() + RECORD_RETRY_MAX.as_millis() as i64;
    let mut busy = busy.lock().expect("busy lock");
    for item in claimed {
        if let Err(err) = host
            .store
            .reschedule(item.seq, item.action.attempt, later, reason)
        {
            tracing::error!(seq = item.seq, error = %format!("{err:#}"), "releasing a claim failed; it is recovered at the next start");
        }
        busy.remove(&conversation_of(item));
    }
}

/// Make one attempt at a claimed outbox item and record how it ended. If
/// the store cannot record it, the record is retried with back-off while the
/// item stays in flight: it is never sent again from here.
async fn deliver(host: &Delivery, mut item: OutboxItem) {
    item.action.attempt += 1;
    let attempt = match host.shops.get(&item.shop) {
        None => Attempt::Failed {
            kind: FailureKind::Permanent,
            reason: format!("shop `{}` is no longer configured", item.shop),
        },
        Some(shop) => match window_closed(host, shop, &item, clock::now_ms()) {
            Ok(Some(reason)) => Attempt::Failed {
                kind: FailureKind::WindowClosed,
                reason,
            },
            Ok(None) => attempt(host, shop, &item).await,
            Err(err) => retry(format!("reading the conversation failed: {err:#}"), None),
        },
    };
    tracing::debug!(
        shop = %item.shop,
        seq = item.seq,
        action = item.action.kind_name(),
        attempt = item.action.attempt,
        outcome = ?attempt,
        "delivery attempt"
    );
    let mut wait = RECORD_RETRY_FIRST;
    while let Err(err) = record(host, &item, &attempt).await {
        tracing::error!(shop = %item.shop, seq = item.seq, error = %format!("{err:#}"), retry_in = ?wait, "recording a delivery's end failed; it is not sent again");
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(RECORD_RETRY_MAX);
    }
}

/// Record how an attempt ended, durably (so a crash soon after does not
/// find the item still in flight): a retry is rescheduled; an end goes to
/// the committer, which records every delivery ending now in one
/// transaction and one flush.
async fn record(host: &Delivery, item: &OutboxItem, attempt: &Attempt) -> anyhow::Result<()> {
    let (end, follow_up) = match attempt {
        Attempt::Delivered(receipt) => (
            DeliveryEnd::Delivered(receipt.clone()),
            follow_up(host, item, receipt.result_json.as_deref()),
        ),
        Attempt::Retry { reason, after }
            if item.action.attempt < host.limits.max_delivery_attempts =>
        {
            let delay = backoff::delay(item.action.attempt, *after);
            let next = crate::care::next_attempt(
                &host.shops,
                &item.action.route,
                clock::now_ms() + delay.as_millis() as i64,
            );
            host.store
                .reschedule(item.seq, item.action.attempt, next, reason)?;
            host.group_commit.durable().await?;
            Metrics::bump(&host.metrics.deliveries_retried);
            return Ok(());
        }
        Attempt::Retry { reason, .. } => (
            DeliveryEnd::Failed {
                kind: FailureKind::AttemptsExhausted,
                reason: format!(
                    "gave up after {} attempts; last: {reason}",
                    item.action.attempt
                ),
            },
            follow_up(host, item, None),
        ),
        Attempt::Failed { kind, reason } => (
            DeliveryEnd::Failed {
                kind: *kind,
                reason: reason.clone(),
            },
            follow_up(host, item, None),
        ),
    };
    let delivered = matches!(end, DeliveryEnd::Delivered(_));
    host.group_commit
        .finish(DeliveryRecord {
            seq: item.seq,
            end,
            follow_up,
        })
        .await?;
    if delivered {
        Metrics::bump(&host.metrics.deliveries_delivered);
    } else {
        Metrics::bump(&host.metrics.deliveries_failed);
        if let Attempt::Failed { kind, reason } = attempt {
            tracing::warn!(shop = %item.shop, seq = item.seq, kind = kind.as_str(), reason, "action dead-lettered");
        }
    }
    Ok(())
}

/// What follows a delivered action, worked out outside delivery (the
/// pipeline's answers to look-ups): delivery records it with the delivery.
pub trait FollowUps: Send + Sync {
    /// The actions to queue once `item` ended, with the platform's result.
    fn after(&self, item: &OutboxItem, result_json: Option<&str>)
    -> anyhow::Result<Vec<NewAction>>;
}

/// What to send after `item` ends (the answer to a look-up). A failure to
/// work it out is logged and sends nothing more, so it cannot hold up
/// recording the delivery.
fn follow_up(host: &Delivery, item: &OutboxItem, result_json: Option<&str>) -> Vec<NewAction> {
    host.follow_ups
        .after(item, result_json)
        .unwrap_or_else(|err| {
            tracing::error!(shop = %item.shop, seq = item.seq, error = %format!("{err:#}"), "working out the answer to a look-up failed; none is sent");
            Vec::new()
        })
}

/// The channel's reply window, checked before a message goes out.
fn window_closed(
    host: &Delivery,
    shop: &Shop,
    item: &OutboxItem,
    now: i64,
) -> anyhow::Result<Option<String>> {
    let (ActionKind::SendMessage(content), Some(window)) =
        (&item.action.kind, &shop.plugin().manifest.reply_window)
    else {
        return Ok(None);
    };
    // A platform notification (a WeChat template or subscription message)
    // is sent outside any chat window.
    if crate::care::reach::is_notification(&item.action.route, content) {
        return Ok(None);
    }
    let Some(conversation) = host
        .store
        .conversation(&item.shop, &item.action.conversation_id)?
    else {
        return Ok(None);
    };
    Ok(reply_window_verdict(&conversation, window, now))
}

/// Why the channel's reply window does not let a message out at `now`, if
/// it does not: the customer never wrote, the window closed, or the replies
/// it allows are spent.
pub fn reply_window_verdict(
    conversation: &Conversation,
    window: &crate::model::ReplyWindow,
    now: i64,
) -> Option<String> {
    if window.window_seconds > 0 {
        let Some(last) = conversation.last_inbound_ms else {
            return Some("the customer has not written, so the reply window is not open".into());
        };
        let closes = last + i64::from(window.window_seconds) * 1000;
        if now > closes {
            return Some(format!(
                "the {} h reply window closed {} s ago",
                window.window_seconds / 3600,
                (now - closes) / 1000
            ));
        }
    }
    if window.max_messages > 0 && conversation.replies_since_inbound >= window.max_messages {
        return Some(format!(
            "{} replies already sent since the customer's last message (the limit is {})",
            conversation.replies_since_inbound, window.max_messages
        ));
    }
    None
}

/// Render, send and interpret until the plugin reaches an outcome.
async fn attempt(host: &Delivery, shop: &Shop, item: &OutboxItem) -> Attempt {
    let mut refreshed_token = false;
    for _ in 0..MAX_STEPS {
        let ctx = match shop.context(host.store.as_ref(), clock::now_ms()) {
            Ok(ctx) => ctx,
            Err(err) => return retry(format!("reading plugin state failed: {err:#}"), None),
        };
        let rendered = match shop
            .guarded(
                host.runtime
                    .render_action(&shop.plugin(), ctx.clone(), item.action.clone()),
            )
            .await
        {
            Ok(rendered) => rendered,
            Err(err) => return call_failed(host, err),
        };
        let response = match outbound::send(&host.http, shop, &rendered.request).await {
            Ok(response) => response,
            Err(SendError::Denied(reason)) => {
                return Attempt::Failed {
                    kind: FailureKind::EgressDenied,
                    reason,
                };
            }
            Err(SendError::Transport(reason)) => return retry(reason, None),
        };
        let mut ctx = ctx;
        ctx.now_ms = clock::now_ms();
        let interpretation = match shop
            .guarded(host.runtime.interpret_response(
                &shop.plugin(),
                ctx,
                item.action.clone(),
                rendered.step.clone(),
                response,
            ))
            .await
        {
            Ok(interpretation) => interpretation,
            Err(err) => return call_failed(host, err),
        };
        let state = crate::contract::v0_1::state(interpretation.state);
        if let Err(err) = host.store.apply_state(shop.id(), &state) {
            return retry(format!("saving plugin state failed: {err:#}"), None);
        }
        match interpretation.outcome {
            DeliveryOutcome::Delivered(receipt) => return Attempt::Delivered(receipt.into()),
            DeliveryOutcome::NextStep => continue,
            DeliveryOutcome::TokenExpired if !refreshed_token => {
                refreshed_token = true;
                continue;
            }
            DeliveryOutcome::TokenExpired => {
                return retry("the platform rejected a freshly fetched token".into(), None);
            }
            DeliveryOutcome::Retry(hint) => return retry_hint(hint),
            DeliveryOutcome::QuotaExceeded(hint) => {
                let hint = RetryHint {
                    reason: format!("quota exceeded: {}", hint.reason),
                    ..hint
                };
                return retry_hint(hint);
            }
            DeliveryOutcome::WindowClosed(failure) => {
                return Attempt::Failed {
                    kind: FailureKind::WindowClosed,
                    reason: format!("{}: {}", failure.code, failure.reason),
                };
            }
            DeliveryOutcome::Permanent(failure) => {
                return Attempt::Failed {
                    kind: FailureKind::Permanent,
                    reason: format!("{}: {}", failure.code, failure.reason),
                };
            }
        }
    }
    retry(
        format!("the plugin took more than {MAX_STEPS} steps without an outcome"),
        None,
    )
}

fn retry(reason: String, after: Option<Duration>) -> Attempt {
    Attempt::Retry { reason, after }
}

fn retry_hint(hint: RetryHint) -> Attempt {
    retry(
        hint.reason,
        hint.after_ms.map(|ms| Duration::from_millis(u64::from(ms))),
    )
}

fn call_failed(host: &Delivery, err: CallError) -> Attempt {
    if err.is_plugin_fault() {
        Metrics::bump(&host.metrics.plugin_faults);
    }
    match err {
        CallError::Refused(_) => Attempt::Failed {
            kind: FailureKind::Refused,
            reason: err.to_string(),
        },
        other => retry(other.to_string(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ReplyWindow;

    fn conversation(last_inbound_ms: Option<i64>, replies: u32) -> Conversation {
        let mut c = Conversation::new("s", "c", 0);
        c.last_inbound_ms = last_inbound_ms;
        c.replies_since_inbound = replies;
        c
    }

    #[test]
    fn the_reply_window_opens_with_the_customer_and_closes_after_48_hours_or_5_replies() {
        let window = ReplyWindow {
            window_seconds: 48 * 3600,
            max_messages: 5,
        };
        let hour = 3_600_000;
        assert!(reply_window_verdict(&conversation(None, 0), &window, 0).is_some());
        assert_eq!(
            reply_window_verdict(&conversation(Some(0), 0), &window, 47 * hour),
            None
        );
        let closed = reply_window_verdict(&conversation(Some(0), 0), &window, 49 * hour).unwrap();
        assert!(closed.contains("48 h reply window closed"), "{closed}");
        assert_eq!(
            reply_window_verdict(&conversation(Some(0), 4), &window, hour),
            None
        );
        let spent = reply_window_verdict(&conversation(Some(0), 5), &window, hour).unwrap();
        assert!(spent.contains("5 replies already sent"), "{spent}");
    }
}
