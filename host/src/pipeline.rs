//! The pipeline: takes committed events from the inbox, decides what the bot
//! does about each — answer a customer's question from the knowledge base,
//! look up an order an order event is about, welcome a customer entering a
//! session — and queues the resulting actions in the outbox in the same
//! transaction that takes the event out of the inbox, so a crash neither
//! loses an action nor queues it twice.

use crate::clock;
use crate::desk::{Desk, People};
use crate::kb::Bot;
use crate::kb::IntentAction;
use crate::model::{
    Action, ActionKind, ActionName, CommerceEvent, CommerceKind, Content, ContextUpdate, EventBody,
    EventReply, Handoff, HandoffState, Message, NewAction, SessionEvent, SessionKind, StoredEvent,
    customer_text, event_customer,
};
use crate::model::{BotDecision, BotOutcome, UnansweredQuestion};
use crate::shops::Shop;
use crate::shops::Shops;
use crate::store::{GroupCommit, Store};
use crate::store::{InboxOutcome, StoreError};
use crate::telemetry::Metrics;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::sync::watch;

/// What the pipeline works with.
#[derive(Clone)]
pub struct Pipeline {
    /// The store: the inbox, history, outbox.
    pub store: Arc<dyn Store>,
    /// The durability barrier a pass waits for before acting.
    pub group_commit: GroupCommit,
    /// The shops served.
    pub shops: Shops,
    /// The bot.
    pub bot: Arc<Bot>,
    /// Which shops have agents (hand-offs go to people there).
    pub desk: Arc<Desk>,
    /// The desk, to assign what was handed over.
    pub people: People,
    /// Wakes the pipeline.
    pub pipeline_wake: Arc<Notify>,
    /// Wakes delivery once actions are queued.
    pub delivery_wake: Arc<Notify>,
    /// Where profile look-ups are hinted.
    pub poll_hints: crate::poll::Hints,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Risk alerts' settings.
    pub alerts: crate::config::AlertsConfig,
}

/// How many inbox events one pass handles.
const BATCH: usize = 256;

/// Run the pipeline until `shutdown` turns true.
pub async fn run(host: Arc<Pipeline>, mut shutdown: watch::Receiver<bool>) {
    loop {
        match process_pending(&host).await {
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

/// Handle the events waiting in the inbox; returns how many. Only durable
/// events are acted on: an event committed but not yet flushed could vanish
/// in a crash and come back as a redelivery, so the pass first waits for the
/// flush that covers what it read. The decisions (the bot's scoring) and the
/// store's transaction run on a blocking thread, off the async workers.
async fn process_pending(host: &Arc<Pipeline>) -> anyhow::Result<usize> {
    let pending = host.store.pending_inbox(BATCH)?;
    if pending.is_empty() {
        return Ok(0);
    }
    host.group_commit.durable().await?;
    let host = Arc::clone(host);
    tokio::task::spawn_blocking(move || decide_batch(&host, &pending))
        .await
        .map_err(|err| anyhow::anyhow!("the pipeline's worker failed: {err}"))?
}

/// One event's decision, waiting to be recorded with the batch's others.
struct Pending {
    event_id: String,
    stored: Option<StoredEvent>,
    decided: Decided,
    new_customer: bool,
}

/// Decide about a batch of inbox events and record every outcome in one
/// transaction. A conversation (or customer) gets one event per batch: a
/// later one waits for the next pass, so it is decided knowing what the
/// earlier one did (a hand-off, a new customer already looked up).
fn decide_batch(host: &Pipeline, pending: &[String]) -> anyhow::Result<usize> {
    let mut conversations = HashSet::new();
    let mut customers = HashSet::new();
    let mut batch = Vec::with_capacity(pending.len());
    for event_id in pending {
        let read = match host.store.event(event_id) {
            Ok(read) => read,
            // A record that cannot be read never will be: set it aside so
            // it does not hold up every event behind it.
            Err(err) if StoreError::find(&err).is_some() => {
                let reason = format!("{err:#}");
                tracing::error!(event = %event_id, reason, "an inbox event cannot be read; it is set aside");
                host.store
                    .quarantine_inbox(event_id, &reason, clock::now_ms())?;
                Metrics::bump(&host.metrics.events_quarantined);
                continue;
            }
            Err(err) => return Err(err),
        };
        let Some(stored) = read else {
            batch.push(Pending {
                event_id: event_id.clone(),
                stored: None,
                decided: Decided::default(),
                new_customer: false,
            });
            continue;
        };
        let customer = event_customer(&stored.event);
        let conversation = (stored.shop.clone(), stored.event.conversation_id.clone());
        let customer_key = customer.map(|c| (stored.shop.clone(), c.platform_user_id.clone()));
        if conversations.contains(&conversation)
            || customer_key.as_ref().is_some_and(|c| customers.contains(c))
        {
            continue;
        }
        conversations.insert(conversation);
        customers.extend(customer_key);
        let decided = decide(host, &stored)?;
        let new_customer = match customer {
            Some(identity) => host
                .store
                .known_identity(&stored.shop, &identity.platform_user_id)?
                .is_none(),
            None => false,
        };
        batch.push(Pending {
            event_id: event_id.clone(),
            stored: Some(stored),
            decided,
            new_customer,
        });
    }
    let outcomes: Vec<(&str, InboxOutcome<'_>)> = batch
        .iter()
        .map(|p| {
            let outcome = match &p.stored {
                None => InboxOutcome::default(),
                Some(stored) => InboxOutcome {
                    shop: &stored.shop,
                    actions: &p.decided.actions,
                    escalation: p.decided.escalation.as_ref(),
                    customer: event_customer(&stored.event)
                        .map(|identity| (stored.event.conversation_id.as_str(), identity)),
                    context: Some((stored.event.conversation_id.as_str(), &p.decided.context)),
                    unanswered: p.decided.found.unanswered.as_ref(),
                    conversation: Some(stored.event.conversation_id.as_str()),
                    decision: p.decided.found.decision.as_ref(),
                    risk: p.decided.found.risk.as_ref().map(|(update, _)| update),
                    voc: p.decided.found.voc.as_ref(),
                    rating: p.decided.found.rating.as_ref(),
                    arrived_ms: stored.received_ms,
                    csat: p
                        .decided
                        .found
                        .csat
                        .map(|due| (stored.event.conversation_id.as_str(), due)),
                    care: p.decided.found.care.as_ref(),
                },
            };
            (p.event_id.as_str(), outcome)
        })
        .collect();
    host.store.finish_inbox_all(&outcomes, clock::now_ms())?;
    let mut queued_any = false;
    let mut escalated_any = false;
    for p in &batch {
        queued_any |= !p.decided.actions.is_empty()
            || p.decided
                .found
                .care
                .as_ref()
                .is_some_and(|c| !c.sends.is_empty());
        if let Some(handoff) = &p.decided.escalation {
            escalated_any = true;
            tracing::info!(shop = %handoff.shop, conversation = %handoff.conversation, priority = ?handoff.priority, reason = %handoff.reason, "conversation handed to people");
        }
        if let (true, Some(stored)) = (p.new_customer, &p.stored) {
            look_up_profile(host, &stored.shop, &stored.event.conversation_id);
        }
    }
    if queued_any {
        host.delivery_wake.notify_one();
    }
    if escalated_any {
        crate::desk::assign_waiting(&host.people)?;
    }
    Ok(batch.len())
}

/// Asks the shop's plugin about a customer met for the first time, through
/// its `profile` poll feed, where the shop wants profiles looked up. The
/// hint's token is the conversation the customer was met in (the plugin
/// knows how its conversation ids name the customer).
fn look_up_profile(host: &Pipeline, shop_id: &str, conversation_id: &str) {
    let Some(shop) = host.shops.get(shop_id) else {
        return;
    };
    if !shop.config.look_up_profiles || !shop.polls() {
        return;
    }
    let hint = crate::poll::PollHint {
        shop: shop_id.to_owned(),
        feed: PROFILE_FEED.to_owned(),
        token: Some(conversation_id.to_owned()),
    };
    if let Err(err) = host.poll_hints.send(hint) {
        tracing::warn!(shop = shop_id, error = %err, "profile look-up dropped");
    }
}

/// The poll feed plugins answer profile look-ups on.
pub const PROFILE_FEED: &str = "profile";

/// What the bot decided about one event.
#[derive(Debug, Default)]
struct Decided {
    actions: Vec<NewAction>,
    escalation: Option<Handoff>,
    /// What the bot remembers for the conversation's next message.
    context: ContextUpdate,
    /// Everything else deciding found (the risk's group message already
    /// moved into `actions`).
    found: Findings,
}

/// What deciding about an event found besides its actions.
#[derive(Debug, Default)]
struct Findings {
    /// The question, when the knowledge base has no answer for it.
    unanswered: Option<UnansweredQuestion>,
    /// The bot's decision.
    decision: Option<BotDecision>,
    /// The conversation's risk after a negative message, and the alert's
    /// message to the group.
    risk: Option<(crate::store::RiskUpdate, Option<NewAction>)>,
    /// What the message adds to the voice of the customer.
    voc: Option<crate::model::VocTally>,
    /// The customer's rating: who served, and the score.
    rating: Option<(String, u8)>,
    /// The bot's invitation to rate it: when due, or `None` to cancel one.
    csat: Option<Option<i64>>,
    /// What proactive care decided.
    care: Option<crate::model::CareChanges>,
}

/// What the bot does about one event.
fn decide(host: &Pipeline, stored: &StoredEvent) -> anyhow::Result<Decided> {
    let Some(shop) = host.shops.get(&stored.shop) else {
        return Ok(Decided::default());
    };
    let mut found = Findings::default();
    let (actions, escalation, context) = match &stored.event.body {
        EventBody::Message(message) => answer_question(host, shop, stored, message, &mut found)?,
        EventBody::Commerce(commerce) => {
            found.care =
                crate::care::on_commerce(host.store.as_ref(), &host.shops, shop, stored, commerce)?;
            (
                look_up_order(shop, stored, commerce).into_iter().collect(),
                None,
                ContextUpdate::Keep,
            )
        }
        EventBody::Session(session) => (
            welcome(shop, stored, session).into_iter().collect(),
            None,
            ContextUpdate::Keep,
        ),
    };
    let mut actions: Vec<NewAction> = actions
        .into_iter()
        .map(|action| NewAction {
            shop: stored.shop.clone(),
            action,
            sent_by: None,
        })
        .collect();
    // The alert's message to the group goes out with the event's actions.
    if let Some((_, to_group)) = &mut found.risk {
        actions.extend(to_group.take());
    }
    Ok(Decided {
        actions,
        escalation,
        context,
        found,
    })
}

/// A customer's message: calm an angry customer and hand them to a person
/// with priority, answer a question the knowledge base knows, ask which of
/// two intents was meant when unsure, hand over what it does not know, offer
/// a coupon to a hesitating customer where the shop allows it, and finish
/// what the bot asked last (which intent was meant, an order number). While
/// people have the conversation the bot stays silent (an angry message
/// still raises its priority) and forgets what it asked. A question the
/// knowledge base cannot answer is noted in `unanswered`.
fn answer_question(
    host: &Pipeline,
    shop: &Shop,
    stored: &StoredEvent,
    message: &Message,
    found: &mut Findings,
) -> anyhow::Result<(Vec<Action>, Option<Handoff>, ContextUpdate)> {
    let supports = |action: ActionName| shop.plugin().manifest.actions.contains(&action);
    let Some(question) = customer_text(&stored.event) else {
        return Ok((Vec::new(), None, ContextUpdate::Keep));
    };
    let customer = message.author.platform_user_id.clone();
    if let Some(opted_out) =
        crate::care::opt_out::wish(question).filter(|_| carries_care(&host.shops, &stored.shop))
    {
        found.care = Some(crate::model::CareChanges {
            opt_out: Some((customer.clone(), opted_out)),
            ..Default::default()
        });
        let text = if opted_out {
            crate::care::opt_out::OPTED_OUT
        } else {
            crate::care::opt_out::OPTED_IN
        };
        // With people the agent answers; the bot only records the wish.
        let with_people = host
            .store
            .handoff(&stored.shop, &stored.event.conversation_id)?
            .is_some();
        let reply = (supports(ActionName::SendMessage) && !with_people).then(|| {
            action_for(
                stored,
                action_key(stored, "care-opt-out"),
                customer,
                ActionKind::SendMessage(Content::Text(text.to_owned())),
            )
        });
        return Ok((reply.into_iter().collect(), None, ContextUpdate::Keep));
    }
    let attended = host.desk.serves(&stored.shop);
    let context = host
        .store
        .bot_context(&stored.shop, &stored.event.conversation_id)?;
    let reply = crate::responder::respond(
        &host.bot,
        &shop.config,
        question,
        attended,
        context.as_ref(),
        stored.received_ms,
    );
    tracing::debug!(shop = %stored.shop, event = %stored.id, decision = %reply.decision, "bot decision");
    if let Some(negative) = &reply.negative {
        found.risk = Some(crate::risk::observe(
            host.store.as_ref(),
            &host.alerts,
            stored,
            &customer,
            question,
            negative,
        )?);
    }
    found.rating = reply
        .rating
        .as_ref()
        .map(|(served_by, rating)| (served_by.clone(), rating.score));
    found.voc = Some(crate::voc::of_message(
        host.store.as_ref(),
        stored,
        &reply,
        found
            .risk
            .as_ref()
            .and_then(|(update, _)| update.alert.as_ref()),
    )?);
    if reply.unanswered {
        found.unanswered = Some(UnansweredQuestion {
            shop: stored.shop.clone(),
            conversation: stored.event.conversation_id.clone(),
            event: stored.id.clone(),
            question: question.to_owned(),
            received_ms: stored.received_ms,
        });
    }
    let escalation = reply.escalation.map(|priority| Handoff {
        shop: stored.shop.clone(),
        conversation: stored.event.conversation_id.clone(),
        customer: customer.clone(),
        priority,
        reason: reply.decision.clone(),
        state: HandoffState::Waiting,
        queued_ms: clock::now_ms(),
    });
    let with_people = host
        .store
        .handoff(&stored.shop, &stored.event.conversation_id)?
        .is_some();
    let outcome = if with_people || !supports(ActionName::SendMessage) {
        BotOutcome::WithPeople
    } else if reply.rating.is_some() {
        BotOutcome::Rated
    } else if reply.escalation.is_some() {
        BotOutcome::HandedOver
    } else if matches!(reply.context, ContextUpdate::Set(_)) {
        BotOutcome::Clarified
    } else if reply.unanswered || (reply.text.is_none() && reply.look_up.is_none()) {
        BotOutcome::Unanswered
    } else {
        BotOutcome::Settled
    };
    // Where the shop invites ratings, a customer the bot answered outright
    // is invited once they have been quiet a while; anything else they
    // write cancels a pending invitation.
    if shop.config.csat_invite {
        found.csat = Some(
            (outcome == BotOutcome::Settled)
                .then(|| stored.received_ms + shop.config.csat_after_bot.as_millis() as i64),
        );
    }
    found.decision = Some(BotDecision {
        decision: reply.decision.clone(),
        outcome,
    });
    if with_people || !supports(ActionName::SendMessage) {
        let forget = if context.is_some() {
            ContextUpdate::Clear
        } else {
            ContextUpdate::Keep
        };
        return Ok((Vec::new(), escalation, forget));
    }
    let mut actions = Vec::new();
    // A question about an order the channel can look up is answered from
    // the look-up (see `answers`); otherwise with the text.
    let look_up = reply.look_up.as_ref().and_then(|(what, order)| {
        let kind = match what {
            IntentAction::LookUpLogistics if supports(ActionName::QueryLogistics) => {
                ActionKind::QueryLogistics(order.clone())
            }
            _ if supports(ActionName::QueryOrder) => ActionKind::QueryOrder(order.clone()),
            _ => return None,
        };
        Some(action_for(
            stored,
            action_key(stored, "look-up"),
            customer.clone(),
            kind,
        ))
    });
    if let Some(look_up) = look_up {
        actions.push(look_up);
    } else if let Some(text) = reply.text {
        actions.push(action_for(
            stored,
            action_key(stored, "reply"),
            customer.clone(),
            ActionKind::SendMessage(Content::Text(text)),
        ));
    }
    if let Some(coupon) = reply.coupon {
        // A platform coupon where the plugin can issue one; otherwise the
        // coupon as a message (its fallback text where cards are not
        // supported).
        let kind = if supports(ActionName::SendCoupon) {
            ActionKind::SendCoupon(coupon)
        } else {
            ActionKind::SendMessage(Content::Coupon(coupon))
        };
        actions.push(action_for(
            stored,
            action_key(stored, "coupon"),
            customer,
            kind,
        ));
    }
    Ok((actions, escalation, reply.context))
}

/// Whether some shop's care messages may go through `shop`'s channel (its
/// customers may then opt out of them there).
fn carries_care(shops: &Shops, shop: &str) -> bool {
    shops.iter().any(|other| {
        other
            .config
            .care
            .as_ref()
            .is_some_and(|care| care.via.iter().any(|via| via == shop))
    })
}

/// An order event gets an order look-up through the plugin (order events
/// carry little; the look-up's result is recorded with the action). Events
/// about the same order in the same state coalesce into one look-up.
fn look_up_order(shop: &Shop, stored: &StoredEvent, commerce: &CommerceEvent) -> Option<Action> {
    let order_id = commerce.order_id.as_ref().filter(|id| !id.is_empty())?;
    if !shop.config.look_up_orders
        || !shop
            .plugin()
            .manifest
            .actions
            .contains(&ActionName::QueryOrder)
    {
        return None;
    }
    let recipient = commerce
        .customer
        .as_ref()
        .map(|customer| customer.platform_user_id.clone())
        .unwrap_or_default();
    Some(action_for(
        stored,
        look_up_key(&commerce.business_key, commerce.kind),
        recipient,
        ActionKind::QueryOrder(order_id.clone()),
    ))
}

/// A customer entering a session the platform wants welcomed (WeCom
/// `enter_session` with a `welcome_code`) gets the shop's welcome message.
fn welcome(shop: &Shop, stored: &StoredEvent, session: &SessionEvent) -> Option<Action> {
    if session.kind != SessionKind::EnteredSession
        || !shop
            .plugin()
            .manifest
            .actions
            .contains(&ActionName::ReplyToEvent)
    {
        return None;
    }
    let text = shop.config.welcome_message.as_ref()?;
    let code = session
        .detail
        .iter()
        .find(|pair| pair.name == "welcome_code" && !pair.value.is_empty())?;
    Some(action_for(
        stored,
        action_key(stored, "welcome"),
        session.customer.platform_user_id.clone(),
        ActionKind::ReplyToEvent(EventReply {
            code: code.value.clone(),
            content: Content::Text(text.clone()),
        }),
    ))
}

fn action_for(
    stored: &StoredEvent,
    idempotency_key: String,
    recipient: String,
    kind: ActionKind,
) -> Action {
    Action {
        idempotency_key,
        conversation_id: stored.event.conversation_id.clone(),
        recipient,
        route: stored.event.route.clone(),
        kind,
        attempt: 0,
    }
}

/// The idempotency key of an action the bot takes about an event (`what`:
/// the reply, a coupon, a look-up, the answer to a look-up): 32 hex
/// characters (within every platform's client-id rules) of a hash of the
/// shop, the platform's own id of the event and what the action is. It never
/// depends on anything the host minted, so a redelivered or re-read event
/// maps to the same keys, and the outbox (and a platform that drops repeated
/// client ids, such as WeCom's `msgid`) queues or sends it once.
pub(crate) fn action_key(event: &StoredEvent, what: &str) -> String {
    let digest =
        Sha256::digest(format!("{what}\n{}\n{}", event.shop, event.event.platform_id).as_bytes());
    hex::encode(&digest[..16])
}

/// The idempotency key of an order look-up: 32 hex characters of a hash of
/// the business key and the event's kind, so redelivered or repeated events
/// about one order in one state share a single look-up.
fn look_up_key(business_key: &str, kind: CommerceKind) -> String {
    let digest = Sha256::digest(format!("look-up\n{business_key}\n{kind:?}").as_bytes());
    hex::encode(&digest[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn look_up_keys_coalesce_per_order_and_state() {
        let paid = look_up_key("trade_1", CommerceKind::OrderPaid);
        assert_eq!(paid.len(), 32);
        assert!(paid.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(paid, look_up_key("trade_1", CommerceKind::OrderPaid));
        assert_ne!(paid, look_up_key("trade_1", CommerceKind::OrderShipped));
        assert_ne!(paid, look_up_key("trade_2", CommerceKind::OrderPaid));
    }

    fn stored(id: &str, shop: &str, platform_id: &str) -> StoredEvent {
        StoredEvent {
            id: id.into(),
            shop: shop.into(),
            plugin: "wechat".into(),
            received_ms: 0,
            event: crate::model::Event {
                platform_id: platform_id.into(),
                conversation_id: "c".into(),
                platform_time_ms: 0,
                route: Vec::new(),
                body: EventBody::Session(SessionEvent {
                    kind: SessionKind::EnteredSession,
                    customer: crate::model::Identity {
                        platform_user_id: "u".into(),
                        display_name: None,
                        hints: Vec::new(),
                    },
                    name: "enter_session".into(),
                    detail: Vec::new(),
                }),
            },
        }
    }

    #[test]
    fn action_keys_follow_the_platform_message_not_the_stored_copy() {
        let first = stored("0190b6f4-8f3e-7c2a-9d41-3f1e2a6b7c8d", "a", "msg-1");
        let redelivered = stored("0190b6f5-0000-7000-8000-000000000000", "a", "msg-1");
        let key = action_key(&first, "reply");
        assert_eq!(key.len(), 32);
        assert!(key.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(key, action_key(&redelivered, "reply"));
        assert_ne!(key, action_key(&first, "coupon"));
        assert_ne!(key, action_key(&stored("x", "b", "msg-1"), "reply"));
        assert_ne!(key, action_key(&stored("x", "a", "msg-2"), "reply"));
    }
}
