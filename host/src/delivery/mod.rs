//! Delivery: outbox workers render each action through the shop's plugin,
//! send it with the host's HTTP client, let the plugin interpret the answer,
//! and record the outcome — retrying with back-off, refreshing tokens once,
//! and dead-lettering what will not succeed. One conversation's actions go
//! out one at a time, in order.

use crate::backoff;
use crate::clock;
use crate::gateway::metrics::Metrics;
use crate::model::{ActionKind, Conversation, DeliveryOutcome, OutboxItem, RetryHint};
use crate::outbound::{self, SendError};
use crate::runtime::CallError;
use crate::server::HostState;
use crate::shops::Shop;
use crate::store::DeliveryEnd;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Semaphore, watch};

/// Deliveries in flight at once.
const MAX_IN_FLIGHT: usize = 64;
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
        kind: &'static str,
        reason: String,
    },
}

/// How long in-flight deliveries get to finish after shutdown begins; the
/// rest stay pending and are retried at the next start.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(15);

/// Run the delivery loop until `shutdown` turns true, then let in-flight
/// deliveries finish.
pub async fn run(host: Arc<HostState>, mut shutdown: watch::Receiver<bool>) {
    let mut deliveries = tokio::task::JoinSet::new();
    loop_until_shutdown(&host, &mut shutdown, &mut deliveries).await;
    let stopped = crate::tasks::drain(&mut deliveries, DRAIN_TIMEOUT).await;
    if stopped > 0 {
        tracing::warn!(
            stopped,
            "stopped deliveries that did not finish in time; they will be retried"
        );
    }
}

async fn loop_until_shutdown(
    host: &Arc<HostState>,
    shutdown: &mut watch::Receiver<bool>,
    deliveries: &mut tokio::task::JoinSet<()>,
) {
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let in_flight: Arc<Mutex<HashSet<u64>>> = Arc::default();
    let busy_conversations: Arc<Mutex<HashSet<(String, String)>>> = Arc::default();
    loop {
        let now = clock::now_ms();
        match host.store.due_outbox(now, MAX_IN_FLIGHT * 4) {
            Ok(due) => {
                for item in due {
                    let conversation = (item.shop.clone(), item.action.conversation_id.clone());
                    {
                        let mut flying = in_flight.lock().expect("in-flight lock");
                        let mut busy = busy_conversations.lock().expect("busy lock");
                        if flying.contains(&item.seq) || busy.contains(&conversation) {
                            continue;
                        }
                        flying.insert(item.seq);
                        busy.insert(conversation.clone());
                    }
                    let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
                        return;
                    };
                    while deliveries.try_join_next().is_some() {}
                    let (host, in_flight, busy) = (
                        Arc::clone(host),
                        Arc::clone(&in_flight),
                        Arc::clone(&busy_conversations),
                    );
                    deliveries.spawn(async move {
                        let seq = item.seq;
                        if let Err(err) = deliver(&host, item).await {
                            tracing::error!(seq, error = %format!("{err:#}"), "recording a delivery failed; it will be retried");
                        }
                        in_flight.lock().expect("in-flight lock").remove(&seq);
                        busy.lock().expect("busy lock").remove(&conversation);
                        drop(permit);
                        host.delivery_wake.notify_one();
                    });
                }
            }
            Err(err) => tracing::error!(error = %format!("{err:#}"), "reading the outbox failed"),
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

/// Make one attempt at an outbox item and record how it ended.
async fn deliver(host: &HostState, mut item: OutboxItem) -> anyhow::Result<()> {
    let now = clock::now_ms();
    let Some(shop) = host.shops.get(&item.shop) else {
        return finish(
            host,
            &item,
            Attempt::Failed {
                kind: "permanent",
                reason: format!("shop `{}` is no longer configured", item.shop),
            },
        );
    };
    item.action.attempt += 1;
    let attempt = match window_closed(host, shop, &item, now)? {
        Some(reason) => Attempt::Failed {
            kind: "window-closed",
            reason,
        },
        None => attempt(host, shop, &item).await,
    };
    tracing::info!(
        shop = %item.shop,
        seq = item.seq,
        action = item.action.kind_name(),
        attempt = item.action.attempt,
        outcome = ?attempt,
        "delivery attempt"
    );
    finish(host, &item, attempt)
}

fn finish(host: &HostState, item: &OutboxItem, attempt: Attempt) -> anyhow::Result<()> {
    let now = clock::now_ms();
    match attempt {
        Attempt::Delivered(receipt) => {
            Metrics::bump(&host.metrics.deliveries_delivered);
            let follow_up = crate::answers::after_look_up(
                host.store.as_ref(),
                &host.bot,
                item,
                receipt.result_json.as_deref(),
            )?;
            host.store
                .finish_delivery(item.seq, DeliveryEnd::Delivered(receipt), &follow_up, now)
        }
        Attempt::Retry { reason, after }
            if item.action.attempt < host.limits.max_delivery_attempts =>
        {
            Metrics::bump(&host.metrics.deliveries_retried);
            let delay = backoff::delay(item.action.attempt, after);
            host.store.reschedule(
                item.seq,
                item.action.attempt,
                now + delay.as_millis() as i64,
                &reason,
            )
        }
        Attempt::Retry { reason, .. } => {
            Metrics::bump(&host.metrics.deliveries_failed);
            let reason = format!(
                "gave up after {} attempts; last: {reason}",
                item.action.attempt
            );
            let follow_up =
                crate::answers::after_look_up(host.store.as_ref(), &host.bot, item, None)?;
            host.store.finish_delivery(
                item.seq,
                DeliveryEnd::Failed {
                    kind: "attempts-exhausted".into(),
                    reason,
                },
                &follow_up,
                now,
            )
        }
        Attempt::Failed { kind, reason } => {
            Metrics::bump(&host.metrics.deliveries_failed);
            tracing::warn!(shop = %item.shop, seq = item.seq, kind, reason, "action dead-lettered");
            let follow_up =
                crate::answers::after_look_up(host.store.as_ref(), &host.bot, item, None)?;
            host.store.finish_delivery(
                item.seq,
                DeliveryEnd::Failed {
                    kind: kind.into(),
                    reason,
                },
                &follow_up,
                now,
            )
        }
    }
}

/// The channel's reply window, checked before a message goes out.
fn window_closed(
    host: &HostState,
    shop: &Shop,
    item: &OutboxItem,
    now: i64,
) -> anyhow::Result<Option<String>> {
    let (ActionKind::SendMessage(_), Some(window)) =
        (&item.action.kind, &shop.plugin.manifest.reply_window)
    else {
        return Ok(None);
    };
    let Some(conversation) = host
        .store
        .conversation(&item.shop, &item.action.conversation_id)?
    else {
        return Ok(None);
    };
    Ok(reply_window_verdict(&conversation, window, now))
}

pub(crate) fn reply_window_verdict(
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
async fn attempt(host: &HostState, shop: &Shop, item: &OutboxItem) -> Attempt {
    let mut refreshed_token = false;
    for _ in 0..MAX_STEPS {
        let ctx = match shop.context(host.store.as_ref(), clock::now_ms()) {
            Ok(ctx) => ctx,
            Err(err) => return retry(format!("reading plugin state failed: {err:#}"), None),
        };
        let rendered = match shop
            .guarded(
                host.runtime
                    .render_action(&shop.plugin, ctx.clone(), item.action.clone()),
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
                    kind: "egress-denied",
                    reason,
                };
            }
            Err(SendError::Transport(reason)) => return retry(reason, None),
        };
        let mut ctx = ctx;
        ctx.now_ms = clock::now_ms();
        let interpretation = match shop
            .guarded(host.runtime.interpret_response(
                &shop.plugin,
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
        if let Err(err) = host.store.apply_state(shop.id(), &interpretation.state) {
            return retry(format!("saving plugin state failed: {err:#}"), None);
        }
        match interpretation.outcome {
            DeliveryOutcome::Delivered(receipt) => return Attempt::Delivered(receipt),
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
                    kind: "window-closed",
                    reason: format!("{}: {}", failure.code, failure.reason),
                };
            }
            DeliveryOutcome::Permanent(failure) => {
                return Attempt::Failed {
                    kind: "permanent",
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

fn call_failed(host: &HostState, err: CallError) -> Attempt {
    if err.is_plugin_fault() {
        Metrics::bump(&host.metrics.plugin_faults);
    }
    match err {
        CallError::Refused(_) => Attempt::Failed {
            kind: "refused",
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
