//! The host's data model: its own records of events, actions and plugin
//! state ([`records`], converted to and from each contract version by
//! [`crate::contract`]), the contract's call-shaped types the host only
//! passes through (requests, manifests, results), and what the host adds
//! around them — stored events, conversations, outbox items, hand-offs.

mod care;
mod records;
mod risk;
mod tally;
mod voc;

pub use crate::runtime::bindings::tongdao::channel::types::{
    ActionName, ContentKind, CredentialSpec, DeliveryOutcome, Failure, Frame, FrameResult,
    HttpRequest, HttpResponse, IngestionShape, Interpretation, Manifest, OutboundRequest,
    PluginError, PollHint, PollOutcome, PollPage, PollRequest, PollResult, PushResult, ReplyWindow,
    RetryHint, ShopContext, StreamConnect,
};
pub use care::*;
pub use records::*;
pub use risk::*;
use serde::{Deserialize, Serialize};
pub use tally::*;
pub use voc::*;

/// An event as the store keeps it: the plugin's normalized event plus the
/// host's id, the shop and plugin it came through, and when it arrived.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    /// tongdao's own id (a UUIDv7: ordered by arrival).
    pub id: String,
    /// The shop the event belongs to.
    pub shop: String,
    /// The plugin that produced it.
    pub plugin: String,
    /// When the host received it, Unix milliseconds.
    pub received_ms: i64,
    /// The normalized event.
    pub event: Event,
}

/// What the bot is waiting for in a conversation: its short context, so the
/// customer's next message can finish what the last one started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum BotContext {
    /// It asked which of these intents was meant (best first).
    Clarifying {
        /// The intents offered, by id.
        candidates: Vec<String>,
        /// When it asked, Unix milliseconds.
        asked_ms: i64,
    },
    /// It answered an intent that looks an order up, and asked for the
    /// order number the message lacked.
    AwaitingOrder {
        /// The intent, by id.
        intent: String,
        /// When it asked, Unix milliseconds.
        asked_ms: i64,
    },
    /// The conversation closed and the customer was invited to rate it.
    AwaitingRating {
        /// Who served: an agent's id, or [`BOT_SERVER`].
        served_by: String,
        /// When the invitation was queued, Unix milliseconds.
        asked_ms: i64,
    },
}

/// Who served when the bot did, in ratings and the report.
pub const BOT_SERVER: &str = "(bot)";

impl BotContext {
    /// How long the bot remembers what it asked: a customer who answers
    /// later is asking something new.
    pub const LIFETIME_MS: i64 = 10 * 60 * 1000;

    /// How long an invitation to rate stays open.
    pub const RATING_LIFETIME_MS: i64 = 30 * 60 * 1000;

    /// When the bot asked.
    pub fn asked_ms(&self) -> i64 {
        match self {
            BotContext::Clarifying { asked_ms, .. }
            | BotContext::AwaitingOrder { asked_ms, .. }
            | BotContext::AwaitingRating { asked_ms, .. } => *asked_ms,
        }
    }

    /// Whether the context still applies at `now_ms`.
    pub fn is_current(&self, now_ms: i64) -> bool {
        let lifetime = match self {
            BotContext::AwaitingRating { .. } => Self::RATING_LIFETIME_MS,
            _ => Self::LIFETIME_MS,
        };
        now_ms - self.asked_ms() <= lifetime
    }
}

/// A customer's question the bot could not answer: the raw material for
/// suggesting new examples and intents from what agents replied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnansweredQuestion {
    /// The shop.
    pub shop: String,
    /// The conversation.
    pub conversation: String,
    /// The stored event that asked it.
    pub event: String,
    /// The question.
    pub question: String,
    /// When it arrived, Unix milliseconds.
    pub received_ms: i64,
}

/// A console session as stored, so agents stay signed in across restarts.
/// Keyed by the SHA-256 of the session id: the store holds no usable
/// cookie. The agent's role and shops come from the config when the
/// session is used, so a config change applies to live sessions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConsoleSession {
    /// The agent who signed in.
    pub agent: String,
    /// The token the session's forms carry.
    pub csrf: String,
    /// When it began, Unix milliseconds.
    pub started_ms: i64,
    /// When it was last used (written at most every few minutes).
    pub used_ms: i64,
}

/// A private note on a conversation: agents see it, the customer never
/// does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Note {
    /// The agent who wrote it.
    pub agent: String,
    /// The note.
    pub text: String,
    /// When, Unix milliseconds.
    pub at_ms: i64,
}

/// A shop's canned reply, offered in the console's reply box after `/`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CannedReply {
    /// Its short name, typed after `/` (e.g. 退货地址).
    pub name: String,
    /// The text it inserts.
    pub text: String,
}

/// Whether an agent takes new customers: 在线 (online), 小休 (on a break:
/// keeps what they hold, gets nothing new), 离线 (offline: refused while
/// they hold conversations).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum AgentStatus {
    /// 在线: takes new customers.
    #[default]
    Online,
    /// 小休: keeps their conversations, gets no new ones.
    Break,
    /// 离线: away.
    Offline,
}

impl AgentStatus {
    /// The form and API value.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentStatus::Online => "online",
            AgentStatus::Break => "break",
            AgentStatus::Offline => "offline",
        }
    }

    /// From the form and API value.
    pub fn parse(value: &str) -> Option<AgentStatus> {
        match value {
            "online" => Some(AgentStatus::Online),
            "break" => Some(AgentStatus::Break),
            "offline" => Some(AgentStatus::Offline),
            _ => None,
        }
    }
}

/// Something the console shows changed: the feed its live updates follow.
/// Each change gets a sequence number from the store, in commit order, so a
/// console that reconnects asks for everything after the last one it saw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConsoleChange {
    /// The shop.
    pub shop: String,
    /// The conversation.
    pub conversation: String,
    /// What changed.
    pub kind: ChangeKind,
    /// When, Unix milliseconds.
    pub at_ms: i64,
}

/// What kind of change a [`ConsoleChange`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeKind {
    /// A conversation was handed to people, taken, transferred, released
    /// or its priority rose.
    Handoff,
    /// The customer wrote in a conversation people have.
    Message,
    /// An agent's message was queued.
    Reply,
    /// A risk alert was raised in the conversation.
    Alert,
}

impl ChangeKind {
    /// The SSE event name.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Handoff => "handoff",
            ChangeKind::Message => "message",
            ChangeKind::Reply => "reply",
            ChangeKind::Alert => "alert",
        }
    }
}

/// What a decision does to a conversation's [`BotContext`].
#[derive(Debug, Clone, Default, PartialEq)]
pub enum ContextUpdate {
    /// Leave it as it is.
    #[default]
    Keep,
    /// Replace it.
    Set(BotContext),
    /// Forget it.
    Clear,
}

/// A conversation with one customer in one shop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    /// The shop.
    pub shop: String,
    /// The plugin's conversation id.
    pub id: String,
    /// The customer, once known.
    pub customer: Option<Identity>,
    /// Routing data from the latest event.
    pub route: Vec<Pair>,
    /// When the customer last wrote (opens the reply window).
    pub last_inbound_ms: Option<i64>,
    /// Replies delivered since the customer last wrote.
    pub replies_since_inbound: u32,
    /// Last change, Unix milliseconds.
    pub updated_ms: i64,
}

/// Where an outbox item stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum OutboxStatus {
    /// Waiting for (another) attempt.
    Pending,
    /// Claimed by delivery, durably, before its request leaves: after a
    /// crash, an item found in flight may or may not have reached the
    /// platform.
    InFlight {
        /// When delivery claimed it, Unix milliseconds.
        since_ms: i64,
    },
    /// The platform accepted it.
    Delivered {
        /// The platform's receipt.
        receipt: DeliveryReceipt,
        /// When, Unix milliseconds.
        at_ms: i64,
    },
    /// It will not be sent: dead-lettered with the reason.
    Failed {
        /// Why, as a kind operators and code can act on.
        kind: FailureKind,
        /// What happened.
        reason: String,
        /// When, Unix milliseconds.
        at_ms: i64,
    },
}

/// Why an action was dead-lettered. Stored as its kebab-case name, the
/// strings earlier versions wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureKind {
    /// The platform refused it for good (or the shop is gone).
    Permanent,
    /// The channel's reply window was closed.
    WindowClosed,
    /// Retries ran out.
    AttemptsExhausted,
    /// The request may not go where the plugin addressed it.
    EgressDenied,
    /// The plugin refused to render or interpret it.
    Refused,
    /// In flight at two crashes in a row on a channel that cannot drop a
    /// repeated request: not sent a third time.
    Uncertain,
}

impl FailureKind {
    /// The kind's name, as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Permanent => "permanent",
            FailureKind::WindowClosed => "window-closed",
            FailureKind::AttemptsExhausted => "attempts-exhausted",
            FailureKind::EgressDenied => "egress-denied",
            FailureKind::Refused => "refused",
            FailureKind::Uncertain => "uncertain",
        }
    }
}

impl std::fmt::Display for FailureKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An action waiting for delivery, and its history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxItem {
    /// Position in the outbox (delivery order).
    pub seq: u64,
    /// The shop whose plugin delivers it.
    pub shop: String,
    /// The action; `attempt` counts attempts made.
    pub action: Action,
    /// The event that caused it, if any.
    pub cause: Option<String>,
    /// Where it stands.
    pub status: OutboxStatus,
    /// When the next attempt is due, Unix milliseconds.
    pub next_attempt_ms: i64,
    /// When it was queued, Unix milliseconds.
    pub created_ms: i64,
    /// The last failure, for operators.
    pub last_error: Option<String>,
    /// The agent who sent it; `None` for the bot.
    #[serde(default)]
    pub sent_by: Option<String>,
    /// How often it was found in flight after a crash and sent again
    /// without knowing whether the earlier request reached the platform.
    #[serde(default)]
    pub uncertain_resends: u32,
}

/// An action to queue, before the store gives it a place in the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAction {
    /// The shop whose plugin delivers it.
    pub shop: String,
    /// The action (its `attempt` is set by the host).
    pub action: Action,
    /// The agent sending it; `None` for the bot.
    pub sent_by: Option<String>,
}

impl Conversation {
    /// A new, empty conversation.
    pub fn new(shop: &str, id: &str, now_ms: i64) -> Self {
        Conversation {
            shop: shop.to_string(),
            id: id.to_string(),
            customer: None,
            route: Vec::new(),
            last_inbound_ms: None,
            replies_since_inbound: 0,
            updated_ms: now_ms,
        }
    }

    /// Fold an inbound event into the conversation: the customer, routing
    /// data, and the reply window the customer's message opens.
    pub fn absorb(&mut self, event: &Event, now_ms: i64) {
        if !event.route.is_empty() {
            self.route = event.route.clone();
        }
        match &event.body {
            EventBody::Message(message) => {
                if message.role == AuthorRole::Customer && message.direction == Direction::Inbound {
                    self.customer = Some(message.author.clone());
                    self.last_inbound_ms = Some(event.platform_time_ms.max(0));
                    self.replies_since_inbound = 0;
                }
            }
            EventBody::Session(session) => {
                self.customer
                    .get_or_insert_with(|| session.customer.clone());
            }
            EventBody::Commerce(commerce) => {
                if let Some(customer) = &commerce.customer {
                    self.customer.get_or_insert_with(|| customer.clone());
                }
            }
        }
        self.updated_ms = now_ms;
    }
}

/// The text of an event's message, if it is a customer's text message.
pub fn customer_text(event: &Event) -> Option<&str> {
    match &event.body {
        EventBody::Message(Message {
            role: AuthorRole::Customer,
            direction: Direction::Inbound,
            content: Content::Text(text),
            ..
        }) => Some(text),
        EventBody::Message(Message {
            role: AuthorRole::Customer,
            direction: Direction::Inbound,
            content:
                Content::Voice(Voice {
                    recognition: Some(text),
                    ..
                }),
            ..
        }) => Some(text),
        _ => None,
    }
}

impl Action {
    /// The action's name, for logs.
    pub fn kind_name(&self) -> &'static str {
        match &self.kind {
            ActionKind::SendMessage(_) => "send-message",
            ActionKind::TransferToHuman(_) => "transfer-to-human",
            ActionKind::EndSession => "end-session",
            ActionKind::SendCoupon(_) => "send-coupon",
            ActionKind::QueryOrder(_) => "query-order",
            ActionKind::QueryLogistics(_) => "query-logistics",
            ActionKind::TagCustomer(_) => "tag-customer",
            ActionKind::ReplyToEvent(_) => "reply-to-event",
        }
    }
}

/// How urgently a conversation waiting for a person must be taken; higher
/// first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Priority {
    /// The bot could not answer, or the customer asked for a person.
    Normal,
    /// The customer is angry.
    Angry,
    /// The customer threatens a complaint or a bad review.
    Threat,
}

/// Who has a conversation that left the bot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "state")]
pub enum HandoffState {
    /// In the shop's queue, waiting for an agent.
    Waiting,
    /// An agent has it.
    Assigned {
        /// The agent's id.
        agent: String,
        /// Since when, Unix milliseconds.
        since_ms: i64,
    },
}

/// A conversation handed from the bot to people. While one exists the bot
/// stays silent in that conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Handoff {
    /// The shop.
    pub shop: String,
    /// The conversation.
    pub conversation: String,
    /// The customer's platform id.
    pub customer: String,
    /// How urgent.
    pub priority: Priority,
    /// Why, in words (the bot's decision).
    pub reason: String,
    /// Waiting or assigned.
    pub state: HandoffState,
    /// When it entered the queue, Unix milliseconds (ages order the queue).
    pub queued_ms: i64,
}

impl Handoff {
    /// The agent who has it, if any.
    pub fn agent(&self) -> Option<&str> {
        match &self.state {
            HandoffState::Assigned { agent, .. } => Some(agent),
            HandoffState::Waiting => None,
        }
    }
}

/// The customer an event is about, if it names one: the author of a
/// customer's message, the customer of a session or commerce event.
pub fn event_customer(event: &Event) -> Option<&Identity> {
    match &event.body {
        EventBody::Message(message) if message.role == AuthorRole::Customer => {
            Some(&message.author)
        }
        EventBody::Message(_) => None,
        EventBody::Session(session) => Some(&session.customer),
        EventBody::Commerce(commerce) => commerce.customer.as_ref(),
    }
    .filter(|identity| !identity.platform_user_id.is_empty())
}

/// One platform-scoped identity as the identity graph knows it: a
/// customer's id in one shop, the hints platforms gave about it, and the
/// conversations it appears in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KnownIdentity {
    /// The shop (the scope of the platform id).
    pub shop: String,
    /// The platform's id for the customer.
    pub platform_user_id: String,
    /// The latest display name given (shown only; never used to link).
    pub display_name: Option<String>,
    /// Every hint seen (unionid, …).
    pub hints: Vec<IdentityHint>,
    /// Conversations the customer appears in.
    pub conversations: Vec<String>,
    /// When first and last seen, Unix milliseconds.
    pub first_seen_ms: i64,
    /// When last seen, Unix milliseconds.
    pub last_seen_ms: i64,
}

/// A link between two identities made by a person through the admin API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManualLink {
    /// One side: (shop, platform user id).
    pub a: (String, String),
    /// The other side.
    pub b: (String, String),
    /// Who made it.
    pub by: String,
    /// Why, in words.
    pub note: Option<String>,
    /// When, Unix milliseconds.
    pub at_ms: i64,
}

#[cfg(test)]
mod failure_kind_tests {
    use super::*;

    #[test]
    fn dead_letters_written_with_string_kinds_still_read() {
        let written = r#"{"Failed":{"kind":"window-closed","reason":"48 h passed","at_ms":1}}"#;
        let status: OutboxStatus = serde_json::from_str(written).unwrap();
        assert_eq!(
            status,
            OutboxStatus::Failed {
                kind: FailureKind::WindowClosed,
                reason: "48 h passed".into(),
                at_ms: 1,
            }
        );
        assert_eq!(serde_json::to_string(&status).unwrap(), written);
    }
}
