//! The agents' desk: conversations the bot handed to people wait in a
//! per-shop queue (priority first, then age); agents from the config get
//! them by least-loaded or round-robin assignment within their concurrency
//! cap, or take them by hand; an agent replies, transfers, closes, or hands
//! a conversation back to the bot. Every change is a compare-and-swap on the
//! stored hand-off, so two agents cannot both win one conversation.

use crate::clock;
use crate::config::{AgentConfig, Assignment};
use crate::model::{
    Action, ActionKind, ActionName, AgentStatus, Content, Conversation, Handoff, HandoffState,
    NewAction,
};
use crate::shops::Shops;
use crate::store::Store;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// What the desk works with: the store, the shops, the agents and their
/// assignment, and delivery's wake-up for the messages agents send.
#[derive(Clone)]
pub struct People {
    /// The store.
    pub store: Arc<dyn Store>,
    /// The shops served.
    pub shops: Shops,
    /// The agents and how conversations are assigned.
    pub desk: Arc<Desk>,
    /// Wakes delivery when an agent's message is queued.
    pub delivery_wake: Arc<Notify>,
}

/// Why a desk operation was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DeskError {
    /// No such shop, agent or hand-off.
    #[error("{0}")]
    NotFound(String),
    /// The agent may not do this (not their shop, not their conversation).
    #[error("{0}")]
    Forbidden(String),
    /// The conversation changed meanwhile, or a cap is reached.
    #[error("{0}")]
    Conflict(String),
    /// The channel's reply window does not allow a message now.
    #[error("{0}")]
    WindowClosed(String),
    /// The request itself is wrong.
    #[error("{0}")]
    Invalid(String),
    /// The store failed.
    #[error("{0}")]
    Store(String),
}

impl From<anyhow::Error> for DeskError {
    fn from(err: anyhow::Error) -> Self {
        DeskError::Store(format!("{err:#}"))
    }
}

/// Whether the channel lets a message out now, for agents to see.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct WindowStatus {
    /// A message may be sent now.
    pub open: bool,
    /// When the time window closes, Unix milliseconds (if the channel has one).
    pub closes_at_ms: Option<i64>,
    /// Messages left before the customer must write again (if limited).
    pub messages_left: Option<u32>,
    /// Why it is closed.
    pub reason: Option<String>,
}

/// The desk: agents, assignment policy and the round-robin position.
#[derive(Debug)]
pub struct Desk {
    agents: Vec<AgentConfig>,
    assignment: Assignment,
    /// Serializes assignment decisions so caps hold.
    lock: Mutex<HashMap<String, usize>>,
}

impl Desk {
    /// A desk for these agents.
    pub fn new(agents: Vec<AgentConfig>, assignment: Assignment) -> Desk {
        Desk {
            agents,
            assignment,
            lock: Mutex::new(HashMap::new()),
        }
    }

    /// The configured agents.
    pub fn agents(&self) -> &[AgentConfig] {
        &self.agents
    }

    /// Whether any agent serves the shop (else nothing is handed over).
    pub fn serves(&self, shop: &str) -> bool {
        self.agents.iter().any(|agent| agent.shops.contains(shop))
    }

    fn agent(&self, id: &str) -> Result<&AgentConfig, DeskError> {
        self.agents
            .iter()
            .find(|agent| agent.id == id)
            .ok_or_else(|| DeskError::NotFound(format!("no agent `{id}`")))
    }
}

/// A shop's waiting conversations, most urgent first, then oldest.
pub fn queue(host: &People, shop: &str) -> Result<Vec<Handoff>, DeskError> {
    let mut waiting: Vec<Handoff> = host
        .store
        .handoffs(shop)?
        .into_iter()
        .filter(|h| h.state == HandoffState::Waiting)
        .collect();
    waiting.sort_by(|a, b| {
        b.priority
            .cmp(&a.priority)
            .then(a.queued_ms.cmp(&b.queued_ms))
            .then(a.conversation.cmp(&b.conversation))
    });
    Ok(waiting)
}

/// How many conversations each agent holds now.
fn loads(host: &People) -> Result<HashMap<String, u32>, DeskError> {
    let mut loads = HashMap::new();
    for shop in host.shops.iter() {
        for handoff in host.store.handoffs(&shop.config.id)? {
            if let Some(agent) = handoff.agent() {
                *loads.entry(agent.to_owned()).or_default() += 1;
            }
        }
    }
    Ok(loads)
}

/// Sets an agent's status. 离线 (offline) is refused while the agent holds
/// conversations: transfer or close them first. Going online assigns
/// waiting conversations at once.
pub fn set_status(host: &People, agent: &str, status: AgentStatus) -> Result<(), DeskError> {
    if status == AgentStatus::Offline {
        let held = loads(host)?.get(agent).copied().unwrap_or(0);
        if held > 0 {
            return Err(DeskError::Conflict(format!(
                "`{agent}` still holds {held} conversation(s): transfer or close them before going offline"
            )));
        }
    }
    host.store.set_agent_status(agent, status)?;
    if status == AgentStatus::Online {
        assign_waiting(host)?;
    }
    Ok(())
}

/// An agent who lost their connection: their conversations go back to the
/// queue (keeping their place and urgency), they go offline so nothing new
/// reaches them, and the queue is assigned to colleagues who are online.
/// Returns the conversations put back.
pub fn requeue_lost_agent(host: &People, agent: &str) -> Result<Vec<Handoff>, DeskError> {
    let mut requeued = Vec::new();
    for shop in host.shops.iter() {
        for handoff in host.store.handoffs(&shop.config.id)? {
            if handoff.agent() != Some(agent) {
                continue;
            }
            let mut waiting = handoff.clone();
            waiting.state = HandoffState::Waiting;
            if host.store.swap_handoff(
                &handoff.shop,
                &handoff.conversation,
                Some(&handoff),
                Some(&waiting),
            )? {
                tracing::info!(shop = %handoff.shop, conversation = %handoff.conversation, %agent, "the agent's connection was lost; the conversation is back in the queue");
                requeued.push(waiting);
            }
        }
    }
    host.store.set_agent_status(agent, AgentStatus::Offline)?;
    assign_waiting(host)?;
    Ok(requeued)
}

/// An agent's load: how many conversations they hold.
pub fn load(host: &People, agent: &str) -> Result<u32, DeskError> {
    Ok(loads(host)?.get(agent).copied().unwrap_or(0))
}

/// Gives waiting conversations to agents with room who are online, by the
/// configured policy; returns how many were assigned.
pub fn assign_waiting(host: &People) -> Result<usize, DeskError> {
    let desk = &host.desk;
    if desk.assignment == Assignment::Manual || desk.agents.is_empty() {
        return Ok(0);
    }
    let mut positions = desk.lock.lock().unwrap_or_else(|e| e.into_inner());
    let mut loads = loads(host)?;
    let mut assigned = 0;
    for shop in host.shops.iter() {
        let shop_id = &shop.config.id;
        let serving: Vec<&AgentConfig> = desk
            .agents
            .iter()
            .filter(|agent| agent.shops.contains(shop_id))
            .collect();
        if serving.is_empty() {
            continue;
        }
        let mut online = HashMap::new();
        for agent in &serving {
            online.insert(
                agent.id.clone(),
                host.store.agent_status(&agent.id)? == AgentStatus::Online,
            );
        }
        for handoff in queue(host, shop_id)? {
            let has_room = |agent: &AgentConfig| {
                online.get(&agent.id).copied().unwrap_or(false)
                    && loads.get(&agent.id).copied().unwrap_or(0) < agent.max_concurrent
            };
            let chosen = match desk.assignment {
                Assignment::LeastLoaded => serving
                    .iter()
                    .filter(|agent| has_room(agent))
                    .min_by_key(|agent| loads.get(&agent.id).copied().unwrap_or(0))
                    .copied(),
                Assignment::RoundRobin => {
                    let start = positions.get(shop_id).copied().unwrap_or(0);
                    let found = (0..serving.len())
                        .map(|offset| (start + offset) % serving.len())
                        .find(|&index| has_room(serving[index]));
                    found.map(|index| {
                        positions.insert(shop_id.clone(), index + 1);
                        serving[index]
                    })
                }
                Assignment::Manual => None,
            };
            let Some(agent) = chosen else {
                break;
            };
            let mut taken = handoff.clone();
            taken.state = HandoffState::Assigned {
                agent: agent.id.clone(),
                since_ms: clock::now_ms(),
            };
            if host.store.swap_handoff(
                shop_id,
                &handoff.conversation,
                Some(&handoff),
                Some(&taken),
            )? {
                *loads.entry(agent.id.clone()).or_default() += 1;
                assigned += 1;
                tracing::info!(shop = %shop_id, conversation = %handoff.conversation, agent = %agent.id, "conversation assigned");
            }
        }
    }
    Ok(assigned)
}

fn current(host: &People, shop: &str, conversation: &str) -> Result<Handoff, DeskError> {
    if host.shops.get(shop).is_none() {
        return Err(DeskError::NotFound(format!("no shop `{shop}`")));
    }
    host.store.handoff(shop, conversation)?.ok_or_else(|| {
        DeskError::NotFound(format!(
            "conversation `{conversation}` of shop `{shop}` is not with people"
        ))
    })
}

fn serves(agent: &AgentConfig, shop: &str) -> Result<(), DeskError> {
    if agent.shops.contains(shop) {
        Ok(())
    } else {
        Err(DeskError::Forbidden(format!(
            "agent `{}` does not serve shop `{shop}`",
            agent.id
        )))
    }
}

fn owned_by(handoff: &Handoff, agent: &str) -> Result<(), DeskError> {
    match handoff.agent() {
        Some(owner) if owner == agent => Ok(()),
        Some(owner) => Err(DeskError::Forbidden(format!(
            "the conversation is with agent `{owner}`"
        ))),
        None => Err(DeskError::Conflict(
            "the conversation is waiting in the queue: take it first".into(),
        )),
    }
}

fn swap(host: &People, old: &Handoff, new: Option<&Handoff>) -> Result<(), DeskError> {
    if host
        .store
        .swap_handoff(&old.shop, &old.conversation, Some(old), new)?
    {
        Ok(())
    } else {
        Err(DeskError::Conflict(
            "the conversation changed meanwhile; reload it".into(),
        ))
    }
}

fn ensure_room(host: &People, agent: &AgentConfig) -> Result<(), DeskError> {
    let held = loads(host)?.get(&agent.id).copied().unwrap_or(0);
    if held >= agent.max_concurrent {
        return Err(DeskError::Conflict(format!(
            "agent `{}` already holds {held} conversation(s), the cap",
            agent.id
        )));
    }
    Ok(())
}

/// An agent takes a waiting conversation.
pub fn take(
    host: &People,
    shop: &str,
    conversation: &str,
    agent: &str,
) -> Result<Handoff, DeskError> {
    let agent = host.desk.agent(agent)?;
    serves(agent, shop)?;
    let _serial = host.desk.lock.lock().unwrap_or_else(|e| e.into_inner());
    let handoff = current(host, shop, conversation)?;
    if let Some(owner) = handoff.agent() {
        return Err(DeskError::Conflict(format!(
            "agent `{owner}` already has the conversation"
        )));
    }
    ensure_room(host, agent)?;
    let mut taken = handoff.clone();
    taken.state = HandoffState::Assigned {
        agent: agent.id.clone(),
        since_ms: clock::now_ms(),
    };
    swap(host, &handoff, Some(&taken))?;
    Ok(taken)
}

/// The agent who has a conversation passes it to another agent.
pub fn transfer(
    host: &People,
    shop: &str,
    conversation: &str,
    agent: &str,
    to: &str,
) -> Result<Handoff, DeskError> {
    let target = host.desk.agent(to)?;
    serves(target, shop)?;
    let _serial = host.desk.lock.lock().unwrap_or_else(|e| e.into_inner());
    let handoff = current(host, shop, conversation)?;
    owned_by(&handoff, agent)?;
    ensure_room(host, target)?;
    let mut moved = handoff.clone();
    moved.state = HandoffState::Assigned {
        agent: target.id.clone(),
        since_ms: clock::now_ms(),
    };
    swap(host, &handoff, Some(&moved))?;
    count(host, shop, agent, clock::now_ms(), Served::Transfer)?;
    Ok(moved)
}

/// The agent ends the conversation with people (the bot answers the
/// customer's next message). `end_session` also ends the session on
/// platforms that have sessions.
pub fn release(
    host: &People,
    shop: &str,
    conversation: &str,
    agent: &str,
    end_session: bool,
) -> Result<Option<u64>, DeskError> {
    let handoff = current(host, shop, conversation)?;
    owned_by(&handoff, agent)?;
    swap(host, &handoff, None)?;
    if let HandoffState::Assigned { since_ms, .. } = &handoff.state {
        let now_ms = clock::now_ms();
        let held = (now_ms - since_ms).max(0) as u64;
        count(host, shop, agent, now_ms, Served::Handled { held })?;
    }
    if end_session {
        invite_rating(host, &handoff, agent)?;
    }
    let supports_end = host.shops.get(shop).is_some_and(|s| {
        s.plugin()
            .manifest
            .actions
            .contains(&ActionName::EndSession)
    });
    if !(end_session && supports_end) {
        return Ok(None);
    }
    let action = new_action(host, &handoff, agent, ActionKind::EndSession)?;
    Ok(host
        .store
        .queue_actions(&[action], clock::now_ms())?
        .first()
        .copied())
}

/// The agent who has a conversation sends the customer a message.
/// `request_id` makes a retried request queue the message once.
pub fn reply(
    host: &People,
    shop: &str,
    conversation: &str,
    agent: &str,
    text: &str,
    request_id: Option<&str>,
) -> Result<u64, DeskError> {
    if text.trim().is_empty() {
        return Err(DeskError::Invalid("the reply is empty".into()));
    }
    send(
        host,
        shop,
        conversation,
        agent,
        ActionKind::SendMessage(Content::Text(text.to_owned())),
        request_id,
    )
}

/// The agent who has a conversation sends the customer the shop's coupon
/// (the one in the shop's config): through the platform's coupon API where
/// the plugin has one (`send-coupon`), else as a coupon card the plugin
/// renders as the platform allows (or as its text).
pub fn send_coupon(
    host: &People,
    shop: &str,
    conversation: &str,
    agent: &str,
    request_id: Option<&str>,
) -> Result<u64, DeskError> {
    let coupon = host
        .shops
        .get(shop)
        .and_then(|s| s.config.coupon.clone())
        .ok_or_else(|| DeskError::Invalid(format!("shop `{shop}` has no coupon configured")))?;
    let supports_coupons = host.shops.get(shop).is_some_and(|s| {
        s.plugin()
            .manifest
            .actions
            .contains(&ActionName::SendCoupon)
    });
    let kind = if supports_coupons {
        ActionKind::SendCoupon(coupon)
    } else {
        ActionKind::SendMessage(Content::Coupon(coupon))
    };
    send(host, shop, conversation, agent, kind, request_id)
}

/// Queues `kind` to the customer from the agent who has the conversation,
/// inside the channel's reply window.
fn send(
    host: &People,
    shop: &str,
    conversation: &str,
    agent: &str,
    kind: ActionKind,
    request_id: Option<&str>,
) -> Result<u64, DeskError> {
    let handoff = current(host, shop, conversation)?;
    owned_by(&handoff, agent)?;
    let window = window(host, shop, conversation)?;
    if !window.open {
        return Err(DeskError::WindowClosed(
            window
                .reason
                .unwrap_or_else(|| "the reply window is closed".into()),
        ));
    }
    let mut action = new_action(host, &handoff, agent, kind)?;
    if let Some(request_id) = request_id {
        action.action.idempotency_key =
            hashed_key(&format!("{agent}\n{conversation}\n{request_id}"));
    }
    let first_answer = !host
        .store
        .conversation_outbox(shop, conversation)?
        .iter()
        .any(|item| item.sent_by.is_some() && item.created_ms >= handoff.queued_ms);
    let now_ms = clock::now_ms();
    let seqs = host.store.queue_actions(&[action], now_ms)?;
    host.delivery_wake.notify_one();
    let seq = seqs.first().copied().ok_or_else(|| {
        DeskError::Conflict("this request was already queued (same request id)".into())
    })?;
    if first_answer {
        let waited = (now_ms - handoff.queued_ms).max(0) as u64;
        count(host, shop, agent, now_ms, Served::FirstResponse { waited })?;
    }
    Ok(seq)
}

/// Where the shop asks for it (`csat_invite`) and its channel sends
/// messages, invites the customer of a conversation `agent` closed to rate
/// the service, and has the bot wait for the answer (before any end of
/// the session, which goes out after it).
fn invite_rating(host: &People, handoff: &Handoff, agent: &str) -> Result<(), DeskError> {
    let Some(shop) = host.shops.get(&handoff.shop) else {
        return Ok(());
    };
    let sends = shop
        .plugin()
        .manifest
        .actions
        .contains(&ActionName::SendMessage);
    if !shop.config.csat_invite || !sends {
        return Ok(());
    }
    // Only inside the reply window: an invitation the channel refuses
    // would leave the bot waiting for an answer to a question never seen.
    if !window(host, &handoff.shop, &handoff.conversation)?.open {
        return Ok(());
    }
    let invitation = new_action(
        host,
        handoff,
        agent,
        ActionKind::SendMessage(crate::model::Content::Text(
            crate::csat::INVITATION.to_owned(),
        )),
    )?;
    let now_ms = clock::now_ms();
    crate::csat::await_rating(
        &*host.store,
        &handoff.shop,
        &handoff.conversation,
        agent,
        now_ms,
    )?;
    host.store.queue_actions(&[invitation], now_ms)?;
    host.delivery_wake.notify_one();
    Ok(())
}

/// What an agent did that the day's figures count.
enum Served {
    /// Answered a handed-over customer first, after this wait (ms).
    FirstResponse { waited: u64 },
    /// Closed or handed back a conversation held this long (ms).
    Handled { held: u64 },
    /// Passed a conversation to a colleague.
    Transfer,
}

/// Adds what `agent` did to today's figures of the shop and of the agent.
fn count(
    host: &People,
    shop: &str,
    agent: &str,
    now_ms: i64,
    served: Served,
) -> Result<(), DeskError> {
    use crate::model::{AgentTally, DailyTally};
    let (shop_delta, agent_delta) = match served {
        Served::FirstResponse { waited } => (
            DailyTally {
                first_responses: 1,
                first_response_ms: waited,
                ..Default::default()
            },
            AgentTally {
                first_responses: 1,
                first_response_ms: waited,
                ..Default::default()
            },
        ),
        Served::Handled { held } => (
            DailyTally {
                handled: 1,
                handling_ms: held,
                ..Default::default()
            },
            AgentTally {
                handled: 1,
                handling_ms: held,
                ..Default::default()
            },
        ),
        Served::Transfer => (
            DailyTally::default(),
            AgentTally {
                transfers: 1,
                ..Default::default()
            },
        ),
    };
    let day = crate::model::day_of(now_ms);
    if shop_delta != DailyTally::default() {
        host.store.add_tally(day, shop, &shop_delta)?;
    }
    host.store.add_agent_tally(day, agent, &agent_delta)?;
    Ok(())
}

fn new_action(
    host: &People,
    handoff: &Handoff,
    agent: &str,
    kind: ActionKind,
) -> Result<NewAction, DeskError> {
    let route = host
        .store
        .conversation(&handoff.shop, &handoff.conversation)?
        .map(|c| c.route)
        .unwrap_or_default();
    Ok(NewAction {
        shop: handoff.shop.clone(),
        action: Action {
            idempotency_key: uuid::Uuid::now_v7().simple().to_string(),
            conversation_id: handoff.conversation.clone(),
            recipient: handoff.customer.clone(),
            route,
            kind,
            attempt: 0,
        },
        sent_by: Some(agent.to_owned()),
    })
}

fn hashed_key(text: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(text.as_bytes())[..16])
}

/// The channel's reply window for a conversation now.
pub fn window(host: &People, shop: &str, conversation: &str) -> Result<WindowStatus, DeskError> {
    let shop_state = host
        .shops
        .get(shop)
        .ok_or_else(|| DeskError::NotFound(format!("no shop `{shop}`")))?;
    let Some(limits) = &shop_state.plugin().manifest.reply_window else {
        return Ok(WindowStatus {
            open: true,
            closes_at_ms: None,
            messages_left: None,
            reason: None,
        });
    };
    let stored = host.store.conversation(shop, conversation)?;
    let conversation =
        stored.unwrap_or_else(|| Conversation::new(shop, conversation, clock::now_ms()));
    let reason = crate::delivery::reply_window_verdict(&conversation, limits, clock::now_ms());
    Ok(WindowStatus {
        open: reason.is_none(),
        closes_at_ms: (limits.window_seconds > 0)
            .then_some(conversation.last_inbound_ms)
            .flatten()
            .map(|last| last + i64::from(limits.window_seconds) * 1000),
        messages_left: (limits.max_messages > 0).then(|| {
            limits
                .max_messages
                .saturating_sub(conversation.replies_since_inbound)
        }),
        reason,
    })
}
