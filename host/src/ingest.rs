//! Push ingestion: hand a webhook to the shop's plugin, commit the events it
//! returns (deduplicated), wait until the commit is durable, and only then
//! give the platform the response the plugin rendered. Anything that goes
//! wrong before that point answers with an error status, so the platform
//! redelivers and nothing is lost.

use crate::clock;
use crate::config::Limits;
use crate::contract::v0_1::{self, wit::Pair};
use crate::model::{HttpRequest, HttpResponse, PluginError, PollHint};
use crate::poll;
use crate::runtime::Runtime;
use crate::runtime::{CallError, refusal_kind, refusal_reason};
use crate::shops::{Refusal, Shop};
use crate::store::OwnedIngestBatch;
use crate::store::{GroupCommit, Store};
use crate::telemetry::Metrics;
use std::sync::Arc;
use tokio::sync::Notify;

/// What webhook ingestion works with.
#[derive(Clone)]
pub struct Ingest {
    /// The plugin runtime.
    pub runtime: Runtime,
    /// The store (plugin state for the call's context).
    pub store: Arc<dyn Store>,
    /// Commits and the durability barrier before the acknowledgement.
    pub group_commit: GroupCommit,
    /// Limits (dedupe window).
    pub limits: Limits,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Wakes the pipeline once events are committed.
    pub pipeline_wake: Arc<Notify>,
    /// Where poll hints go.
    pub poll_hints: poll::Hints,
}

/// Handle one webhook for `shop` and return the response for the platform.
pub async fn handle_push(host: &Ingest, shop: &Shop, request: HttpRequest) -> HttpResponse {
    let _admitted = match shop.admit_webhook().await {
        Ok(permit) => permit,
        Err(refusal) => return not_admitted(host, shop, refusal),
    };
    let now_ms = clock::now_ms();
    let ctx = match shop.context(host.store.as_ref(), now_ms) {
        Ok(ctx) => ctx,
        Err(err) => return store_unavailable(host, shop, &err),
    };
    let result = shop
        .guarded_webhook(host.runtime.handle_push(&shop.plugin(), ctx, request))
        .await;
    let pushed = match result {
        Ok(pushed) => pushed,
        Err(err) => return call_failed(host, shop, err),
    };
    let batch = OwnedIngestBatch {
        shop: shop.id().to_owned(),
        plugin: shop.plugin().name.clone(),
        received_ms: now_ms,
        events: v0_1::events(pushed.events),
        state: v0_1::state(pushed.state),
        dedupe_until_ms: now_ms.saturating_add(host.limits.dedupe_window.as_millis() as i64),
    };
    // Committed with the other webhooks waiting, and durable on return.
    let receipt = match host.group_commit.commit(batch).await {
        Ok(receipt) => receipt,
        Err(err) => return store_unavailable(host, shop, &err),
    };
    if receipt.replayed {
        Metrics::bump(&host.metrics.webhooks_refused);
        tracing::warn!(
            shop = shop.id(),
            plugin = shop.plugin().name.as_str(),
            "webhook refused: its signed request was accepted once already (a replay); nothing stored"
        );
        return plain(401, "refused: replayed");
    }
    Metrics::bump(&host.metrics.webhooks_accepted);
    Metrics::add(&host.metrics.events_stored, receipt.stored.len() as u64);
    Metrics::add(&host.metrics.events_duplicate, receipt.duplicates as u64);
    tracing::debug!(
        shop = shop.id(),
        stored = receipt.stored.len(),
        duplicates = receipt.duplicates,
        "webhook committed"
    );
    if !receipt.stored.is_empty() {
        host.pipeline_wake.notify_one();
    }
    forward_hints(host, shop, pushed.poll_hints);
    pushed.response
}

/// 429 over the shop's rate, 503 when its webhook calls are all busy: the
/// platform redelivers later, and nothing was read or stored.
fn not_admitted(host: &Ingest, shop: &Shop, refusal: Refusal) -> HttpResponse {
    Metrics::bump(&host.metrics.webhooks_throttled);
    let (status, retry_after, reason) = match refusal {
        Refusal::RateLimited(wait) => (429, wait.as_secs().max(1), "over the shop's webhook rate"),
        Refusal::Busy => (503, 1, "the shop's webhook calls are all busy"),
    };
    tracing::debug!(shop = shop.id(), reason, "webhook not admitted");
    retry_after_secs(plain(status, &format!("throttled: {reason}")), retry_after)
}

/// Hand a push's poll hints to the poller (after the commit, so a hint
/// never overtakes the state it depends on).
fn forward_hints(host: &Ingest, shop: &Shop, hints: Vec<PollHint>) {
    if hints.is_empty() {
        return;
    }
    if !shop.polls() {
        tracing::warn!(
            shop = shop.id(),
            "the plugin hinted a poll but does not declare poll ingestion; ignored"
        );
        return;
    }
    for hint in hints {
        let hint = poll::PollHint {
            shop: shop.id().to_string(),
            feed: hint.feed,
            token: hint.token,
        };
        if let Err(err) = host.poll_hints.send(hint) {
            tracing::warn!(shop = shop.id(), error = %err, "poll hint dropped; the feed's schedule will catch up");
        }
    }
}

fn call_failed(host: &Ingest, shop: &Shop, err: CallError) -> HttpResponse {
    let serving = shop.plugin();
    let plugin = serving.name.as_str();
    match &err {
        CallError::Refused(refusal) => {
            Metrics::bump(&host.metrics.webhooks_refused);
            let status = match refusal {
                PluginError::Unauthenticated(_) | PluginError::Stale(_) => 401,
                PluginError::Malformed(_) | PluginError::Unsupported(_) => 400,
                PluginError::Misconfigured(_) => 500,
            };
            let (kind, reason) = (refusal_kind(refusal), refusal_reason(refusal));
            if status == 500 {
                tracing::error!(
                    shop = shop.id(),
                    plugin,
                    reason,
                    "webhook refused: the shop's configuration is incomplete"
                );
            } else {
                tracing::warn!(
                    shop = shop.id(),
                    plugin,
                    kind,
                    reason,
                    "webhook refused; nothing stored"
                );
            }
            plain(status, &format!("refused: {kind}"))
        }
        CallError::CircuitOpen { retry_after } => {
            Metrics::bump(&host.metrics.webhooks_failed);
            tracing::warn!(
                shop = shop.id(),
                plugin,
                ?retry_after,
                "webhook not processed: the shop's plugin is paused after repeated faults"
            );
            retry_after_secs(
                plain(503, "plugin paused; retry later"),
                retry_after.as_secs().max(1),
            )
        }
        other => {
            Metrics::bump(&host.metrics.webhooks_failed);
            if other.is_plugin_fault() {
                Metrics::bump(&host.metrics.plugin_faults);
            }
            tracing::error!(shop = shop.id(), plugin, error = %other, "webhook not processed: plugin call failed; the platform will redeliver");
            plain(500, "plugin failed")
        }
    }
}

fn store_unavailable(host: &Ingest, shop: &Shop, err: &anyhow::Error) -> HttpResponse {
    Metrics::bump(&host.metrics.webhooks_failed);
    tracing::error!(shop = shop.id(), error = %format!("{err:#}"), "webhook not acknowledged: the store failed");
    plain(503, "store unavailable")
}

/// `response` with a `Retry-After` of `secs` seconds.
fn retry_after_secs(mut response: HttpResponse, secs: u64) -> HttpResponse {
    response.headers.push(Pair {
        name: "retry-after".into(),
        value: secs.to_string(),
    });
    response
}

/// A plain-text response.
pub fn plain(status: u16, body: &str) -> HttpResponse {
    HttpResponse {
        status,
        headers: vec![Pair {
            name: "content-type".into(),
            value: "text/plain; charset=utf-8".into(),
        }],
        body: body.as_bytes().to_vec(),
    }
}
