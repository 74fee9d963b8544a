//! The pipeline: takes committed events from the inbox, decides what the bot
//! does about each, and queues the resulting actions in the outbox in the
//! same transaction that takes the event out of the inbox — so a crash
//! neither loses an answer nor queues it twice.

use crate::clock;
use crate::kb::KnowledgeBase;
use crate::model::{
    Action, ActionKind, ActionName, Content, NewAction, StoredEvent, customer_text,
};
use crate::server::HostState;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How many inbox events one pass handles.
const BATCH: usize = 256;

/// Run the pipeline until `shutdown` turns true.
pub async fn run(host: Arc<HostState>, mut shutdown: watch::Receiver<bool>) {
    loop {
        match process_pending(&host) {
            Ok(0) => {}
            Ok(_) => continue,
            Err(err) => {
                tracing::error!(error = %format!("{err:#}"), "the pipeline failed; retrying")
            }
        }
        tokio::select! {
            _ = host.pipeline_wake.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Handle the events waiting in the inbox; returns how many.
fn process_pending(host: &HostState) -> anyhow::Result<usize> {
    let pending = host.store.pending_inbox(BATCH)?;
    let mut queued_any = false;
    for event_id in &pending {
        let Some(stored) = host.store.event(event_id)? else {
            host.store.finish_inbox(event_id, &[], clock::now_ms())?;
            continue;
        };
        let actions = decide(host, &stored);
        queued_any |= !actions.is_empty();
        host.store
            .finish_inbox(event_id, &actions, clock::now_ms())?;
    }
    if queued_any {
        host.delivery_wake.notify_one();
    }
    Ok(pending.len())
}

/// What the bot does about one event.
fn decide(host: &HostState, stored: &StoredEvent) -> Vec<NewAction> {
    let Some(shop) = host.shops.get(&stored.shop) else {
        return Vec::new();
    };
    if !shop
        .plugin
        .manifest
        .actions
        .contains(&ActionName::SendMessage)
    {
        return Vec::new();
    }
    let Some(question) = customer_text(&stored.event) else {
        return Vec::new();
    };
    let Some(answer) = answer(host.knowledge_base.as_deref(), question, host.min_score) else {
        tracing::debug!(shop = %stored.shop, event = %stored.id, "no confident answer; leaving the question for a person");
        return Vec::new();
    };
    let recipient = match &stored.event.body {
        crate::model::EventBody::Message(message) => message.author.platform_user_id.clone(),
        _ => return Vec::new(),
    };
    vec![NewAction {
        shop: stored.shop.clone(),
        action: Action {
            idempotency_key: reply_key(&stored.id),
            conversation_id: stored.event.conversation_id.clone(),
            recipient,
            route: stored.event.route.clone(),
            kind: ActionKind::SendMessage(Content::Text(answer)),
            attempt: 0,
        },
    }]
}

fn answer(kb: Option<&KnowledgeBase>, question: &str, min_score: f64) -> Option<String> {
    let hit = kb?.best_match(question, min_score)?;
    Some(hit.intent.answer.clone())
}

/// The idempotency key of the bot's reply to an event: the event's UUID
/// without dashes (32 characters of `[0-9a-f]`, within every platform's
/// client-id rules).
fn reply_key(event_id: &str) -> String {
    event_id.replace('-', "")
}
