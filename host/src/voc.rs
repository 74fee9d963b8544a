//! What one customer message adds to its shop's voice of the customer
//! ([`VocTally`]): the intent and scenario the bot matched (or that it had
//! none), whether the customer was negative or threatening, and for a
//! complaint what it was about — the product the conversation last showed
//! (a product or order card the customer sent) and the state of the order
//! last looked up in it.

use crate::model::{
    ActionKind, Content, Direction, EventBody, OutboxStatus, RiskAlert, StoredEvent, UNKNOWN,
    UNKNOWN_INTENT, VocTally,
};
use crate::responder::Reply;
use crate::store::Store;

/// The tally of one customer message.
pub fn of_message(
    store: &dyn Store,
    stored: &StoredEvent,
    reply: &Reply,
    alert: Option<&RiskAlert>,
) -> anyhow::Result<VocTally> {
    let mut voc = VocTally {
        messages: 1,
        ..VocTally::default()
    };
    let count = |map: &mut std::collections::BTreeMap<String, u64>, key: &str| {
        *map.entry(key.to_owned()).or_default() += 1;
    };
    match &reply.intent {
        Some((intent, scenario)) => {
            count(&mut voc.intents, intent);
            if !scenario.is_empty() {
                count(&mut voc.scenarios, scenario);
            }
        }
        None if reply.unanswered => count(&mut voc.intents, UNKNOWN_INTENT),
        None => {}
    }
    if let Some(negative) = &reply.negative {
        voc.negative = 1;
        voc.threats = u64::from(negative.threatens);
        let (product, state) = complaint_subject(store, stored)?;
        count(&mut voc.complaints_by_product, &product);
        count(&mut voc.complaints_by_order_state, &state);
    }
    if let Some(alert) = alert {
        count(&mut voc.alerts, alert.kind.as_str());
    }
    Ok(voc)
}

/// What a complaint is about: the product the customer last showed in the
/// conversation, and the state of the order last looked up in it.
fn complaint_subject(store: &dyn Store, stored: &StoredEvent) -> anyhow::Result<(String, String)> {
    let (shop, conversation) = (&stored.shop, &stored.event.conversation_id);
    let product = store
        .conversation_events(shop, conversation)?
        .iter()
        .rev()
        .find_map(|event| match &event.event.body {
            EventBody::Message(message) if message.direction == Direction::Inbound => {
                match &message.content {
                    Content::ProductCard(card) => Some(card.title.clone()),
                    Content::OrderCard(card) => card.title.clone(),
                    _ => None,
                }
            }
            _ => None,
        })
        .unwrap_or_else(|| UNKNOWN.to_owned());
    let state = store
        .conversation_outbox(shop, conversation)?
        .iter()
        .rev()
        .find_map(|item| match (&item.action.kind, &item.status) {
            (
                ActionKind::QueryOrder(_) | ActionKind::QueryLogistics(_),
                OutboxStatus::Delivered { receipt, .. },
            ) => receipt
                .result_json
                .as_deref()
                .and_then(crate::answers::order_view)
                .map(|view| view.state)
                .filter(|state| !state.is_empty()),
            _ => None,
        })
        .unwrap_or_else(|| UNKNOWN.to_owned());
    Ok((product, state))
}
