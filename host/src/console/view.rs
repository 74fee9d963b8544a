//! What the console's pages show, gathered from the store and the desk and
//! shaped for the templates: the conversation list with its tabs (待接入,
//! 我的, 全部), sorted by urgency then by wait; one conversation's thread
//! (customer messages, the bot's and agents' sends, cards as cards) with
//! the channel's reply window; and the customer's identities.

use crate::auth::Principal;
use crate::desk::{self, DeskError};
use crate::gateway::admin::Admin;
use crate::model::{AuthorRole, Content, EventBody, Handoff, HandoffState, Priority};

/// Which list the agent is looking at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    /// 待接入: waiting in the queue.
    Queue,
    /// 我的: assigned to the signed-in agent.
    Mine,
    /// 全部: every conversation with people.
    All,
}

impl Tab {
    /// From the `tab` query value (the queue by default).
    pub fn parse(value: Option<&str>) -> Tab {
        match value {
            Some("mine") => Tab::Mine,
            Some("all") => Tab::All,
            _ => Tab::Queue,
        }
    }

    /// The query value.
    pub fn as_str(self) -> &'static str {
        match self {
            Tab::Queue => "queue",
            Tab::Mine => "mine",
            Tab::All => "all",
        }
    }
}

/// One row of the conversation list.
#[derive(Debug, Clone)]
pub struct ListRow {
    /// The shop.
    pub shop: String,
    /// The shop's plugin (the platform badge).
    pub platform: String,
    /// The conversation.
    pub conversation: String,
    /// Position in the shop's queue (1-based) while waiting.
    pub position: Option<usize>,
    /// Seconds since it entered the queue.
    pub waited_secs: i64,
    /// Urgency: `threat`, `angry` or `normal`.
    pub priority: &'static str,
    /// Why it is with people (the bot's decision).
    pub reason: String,
    /// The agent who has it.
    pub agent: Option<String>,
    /// When the customer's last message came, while no person has answered
    /// it (the reply timer runs from it).
    pub unanswered_since_ms: Option<i64>,
    /// The shop's platform's reply-timer thresholds.
    pub timer: crate::config::ReplyTimer,
}

/// The most rows a list shows; the rest are counted.
pub const MAX_ROWS: usize = 200;

/// A list: the rows shown (most urgent first) and how many more there are.
#[derive(Debug, Clone, Default)]
pub struct List {
    /// The rows shown.
    pub rows: Vec<ListRow>,
    /// Rows not shown.
    pub more: usize,
}

/// The conversation list for `who`: `tab`, optionally one shop; at most
/// `limit` rows, the most urgent and longest waiting first, with their
/// reply timers.
pub fn list(
    host: &Admin,
    who: &Principal,
    tab: Tab,
    filter: &Filter,
    now_ms: i64,
    limit: usize,
) -> Result<List, DeskError> {
    let mut rows = every_row(host, who, tab, filter, now_ms)?;
    let more = rows.len().saturating_sub(limit);
    rows.truncate(limit);
    // Only the rows shown read their conversation, for the reply timer: it
    // runs from the customer's last message until a person answers (the
    // bot's soothing word on the way to the queue does not stop it).
    for row in &mut rows {
        let Some(conversation) = host.store.conversation(&row.shop, &row.conversation)? else {
            continue;
        };
        let Some(last_inbound) = conversation.last_inbound_ms else {
            continue;
        };
        let answered = host
            .store
            .conversation_outbox(&row.shop, &row.conversation)?
            .iter()
            .any(|item| item.sent_by.is_some() && item.created_ms >= last_inbound);
        if !answered {
            row.unanswered_since_ms = Some(last_inbound);
        }
    }
    Ok(List { rows, more })
}

/// Which shops and platforms a list shows (all when `None`).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only this shop.
    pub shop: Option<String>,
    /// Only shops on this plugin.
    pub platform: Option<String>,
}

/// Every row of a list, sorted, without reply timers (for counting).
pub fn every_row(
    host: &Admin,
    who: &Principal,
    tab: Tab,
    filter: &Filter,
    now_ms: i64,
) -> Result<Vec<ListRow>, DeskError> {
    let mut rows = Vec::new();
    let shops: Vec<String> = host.shops.iter().map(|s| s.config.id.clone()).collect();
    for shop in shops {
        if !who.serves(&shop) || filter.shop.as_ref().is_some_and(|only| *only != shop) {
            continue;
        }
        let platform = plugin_of(host, &shop);
        if filter
            .platform
            .as_ref()
            .is_some_and(|only| *only != platform)
        {
            continue;
        }
        let timer = host.console.timer(&platform);
        let waiting = desk::queue(&host.people, &shop)?;
        let mut handoffs: Vec<(Option<usize>, Handoff)> = Vec::new();
        if tab != Tab::Mine {
            handoffs.extend(
                waiting
                    .into_iter()
                    .enumerate()
                    .map(|(index, handoff)| (Some(index + 1), handoff)),
            );
        }
        if tab != Tab::Queue {
            for handoff in host.store.handoffs(&shop)? {
                let mine = handoff.agent() == Some(who.id.as_str());
                if handoff.agent().is_some() && (tab == Tab::All || mine) {
                    handoffs.push((None, handoff));
                }
            }
        }
        for (position, handoff) in handoffs {
            rows.push(ListRow {
                shop: shop.clone(),
                platform: platform.clone(),
                conversation: handoff.conversation.clone(),
                position,
                waited_secs: ((now_ms - handoff.queued_ms) / 1000).max(0),
                priority: priority_name(handoff.priority),
                reason: handoff.reason.clone(),
                agent: match &handoff.state {
                    HandoffState::Assigned { agent, .. } => Some(agent.clone()),
                    HandoffState::Waiting => None,
                },
                unanswered_since_ms: None,
                timer,
            });
        }
    }
    rows.sort_by(|a, b| {
        urgency(b.priority)
            .cmp(&urgency(a.priority))
            .then(b.waited_secs.cmp(&a.waited_secs))
    });
    Ok(rows)
}

/// How a reply timer shows: `ok`, `warn` (amber) or `alert` (red); `none`
/// when the customer is not waiting for a reply.
pub fn timer_level(
    unanswered_since_ms: Option<i64>,
    timer: crate::config::ReplyTimer,
    now_ms: i64,
) -> &'static str {
    let Some(since) = unanswered_since_ms else {
        return "none";
    };
    let secs = (now_ms - since) / 1000;
    if secs >= i64::from(timer.alert_secs) {
        "alert"
    } else if secs >= i64::from(timer.warn_secs) {
        "warn"
    } else {
        "ok"
    }
}

fn priority_name(priority: Priority) -> &'static str {
    match priority {
        Priority::Threat => "threat",
        Priority::Angry => "angry",
        Priority::Normal => "normal",
    }
}

fn urgency(name: &str) -> u8 {
    match name {
        "threat" => 2,
        "angry" => 1,
        _ => 0,
    }
}

/// One line of a thread.
#[derive(Debug, Clone)]
pub struct ThreadLine {
    /// When, Unix milliseconds.
    pub at_ms: i64,
    /// `customer`, `bot`, `agent`, or `note` (a private note).
    pub author: &'static str,
    /// The agent's id, for agents' sends.
    pub agent: Option<String>,
    /// The text, or a card's fallback text.
    pub text: String,
    /// A card: (kind, title, detail).
    pub card: Option<(&'static str, String, String)>,
    /// For a customer's message, what the bot decided about it.
    pub decision: Option<String>,
    /// For a line from another of the customer's conversations: its
    /// platform and shop (the badge).
    pub elsewhere: Option<String>,
}

/// One of the customer's identities, for the customer panel.
#[derive(Debug, Clone)]
pub struct IdentityView {
    /// The shop.
    pub shop: String,
    /// The shop's plugin.
    pub platform: String,
    /// The platform's user id.
    pub user: String,
    /// The name the platform gave, if any.
    pub name: Option<String>,
}

/// A link between two identities, for the customer panel.
#[derive(Debug, Clone)]
pub struct LinkView {
    /// One side, `shop/user`.
    pub a: (String, String),
    /// The other.
    pub b: (String, String),
    /// Who linked them by hand (else a shared hint such as a unionid).
    pub by: Option<String>,
    /// The hint's kind, for links the platforms made.
    pub hint: Option<String>,
}

/// One of the customer's conversations, for the customer panel.
#[derive(Debug, Clone)]
pub struct ConversationView {
    /// The shop.
    pub shop: String,
    /// The shop's plugin.
    pub platform: String,
    /// The conversation.
    pub conversation: String,
    /// Whether it is the one open.
    pub current: bool,
}

/// One conversation, for the thread pane.
#[derive(Debug, Clone)]
pub struct Thread {
    /// The shop.
    pub shop: String,
    /// The platform badge.
    pub platform: String,
    /// The conversation.
    pub conversation: String,
    /// Its hand-off, if with people.
    pub handoff: Option<Handoff>,
    /// The customer's platform id.
    pub customer: String,
    /// Messages, oldest first.
    pub lines: Vec<ThreadLine>,
    /// Whether a reply may go now, and why not.
    pub window: desk::WindowStatus,
    /// The customer's identities across channels (One-ID).
    pub identities: Vec<IdentityView>,
    /// The links that join them.
    pub links: Vec<LinkView>,
    /// The customer's conversations in the shops the viewer serves.
    pub conversations: Vec<ConversationView>,
    /// Orders from look-ups in those conversations, latest first.
    pub orders: Vec<crate::answers::OrderView>,
    /// The shop's canned replies, as JSON for the reply box's `/` menu.
    pub canned_json: String,
    /// The title of the coupon agents may send in this shop, if it has one.
    pub coupon: Option<String>,
}

/// The thread of `shop`/`conversation`, for an agent who serves the shop.
pub fn thread(
    host: &Admin,
    who: &Principal,
    shop: &str,
    conversation: &str,
) -> Result<Thread, DeskError> {
    if !who.serves(shop) {
        return Err(DeskError::Forbidden(format!(
            "`{}` does not serve shop `{shop}`",
            who.id
        )));
    }
    let Some(shop_entry) = host.shops.get(shop) else {
        return Err(DeskError::NotFound(format!("no shop `{shop}`")));
    };
    if host.store.conversation(shop, conversation)?.is_none() {
        return Err(DeskError::NotFound(format!(
            "no conversation `{conversation}` in shop `{shop}`"
        )));
    }
    let handoff = host.store.handoff(shop, conversation)?;
    let customer_id = match &handoff {
        Some(handoff) => handoff.customer.clone(),
        None => host
            .store
            .conversation(shop, conversation)?
            .and_then(|c| c.customer)
            .map_or_else(|| conversation.to_owned(), |c| c.platform_user_id),
    };
    let customer = crate::identity::customer(host.store.as_ref(), shop, &customer_id)?;
    // The whole history across the customer's channels, in the shops the
    // viewer serves; lines from elsewhere carry their platform.
    let history = match &customer {
        Some(customer) => crate::identity::history(host.store.as_ref(), customer)?,
        None => host.store.conversation_events(shop, conversation)?,
    };
    let mut lines = Vec::new();
    for stored in history {
        if !who.serves(&stored.shop) {
            continue;
        }
        if let EventBody::Message(message) = &stored.event.body {
            let author = match message.role {
                AuthorRole::Customer => "customer",
                AuthorRole::Bot => "bot",
                _ => "agent",
            };
            let mut shown = line(stored.received_ms, author, None, &message.content);
            if author == "customer" {
                shown.decision = host.store.decision(&stored.id)?.map(|d| d.decision);
            }
            if stored.shop != shop || stored.event.conversation_id != conversation {
                shown.elsewhere = Some(format!(
                    "{} · {}",
                    plugin_of(host, &stored.shop),
                    stored.shop
                ));
            }
            lines.push(shown);
        }
    }
    // Delivered sends are in the history; those still going out are shown
    // from the outbox.
    for item in host.store.conversation_outbox(shop, conversation)? {
        let going_out = matches!(
            item.status,
            crate::model::OutboxStatus::Pending | crate::model::OutboxStatus::InFlight { .. }
        );
        let content = match &item.action.kind {
            crate::model::ActionKind::SendMessage(content) => content.clone(),
            crate::model::ActionKind::SendCoupon(coupon) => Content::Coupon(coupon.clone()),
            _ => continue,
        };
        if going_out {
            let author = if item.sent_by.is_some() {
                "agent"
            } else {
                "bot"
            };
            lines.push(line(
                item.created_ms,
                author,
                item.sent_by.clone(),
                &content,
            ));
        }
    }
    for note in host.store.notes(shop, conversation)? {
        lines.push(ThreadLine {
            at_ms: note.at_ms,
            author: "note",
            agent: Some(note.agent),
            text: note.text,
            card: None,
            decision: None,
            elsewhere: None,
        });
    }
    lines.sort_by_key(|l| l.at_ms);
    let mut identities = Vec::new();
    let mut links = Vec::new();
    let mut conversations = Vec::new();
    let mut orders = Vec::new();
    match &customer {
        Some(customer) => {
            for identity in &customer.identities {
                identities.push(IdentityView {
                    platform: plugin_of(host, &identity.shop),
                    shop: identity.shop.clone(),
                    user: identity.platform_user_id.clone(),
                    name: identity.display_name.clone(),
                });
                if !who.serves(&identity.shop) {
                    continue;
                }
                for id in &identity.conversations {
                    conversations.push(ConversationView {
                        platform: plugin_of(host, &identity.shop),
                        shop: identity.shop.clone(),
                        conversation: id.clone(),
                        current: identity.shop == shop && id == conversation,
                    });
                    for item in host.store.conversation_outbox(&identity.shop, id)? {
                        let looked_up = matches!(
                            item.action.kind,
                            crate::model::ActionKind::QueryOrder(_)
                                | crate::model::ActionKind::QueryLogistics(_)
                        );
                        if let (true, crate::model::OutboxStatus::Delivered { receipt, at_ms }) =
                            (looked_up, &item.status)
                            && let Some(view) = receipt
                                .result_json
                                .as_deref()
                                .and_then(crate::answers::order_view)
                        {
                            orders.push((*at_ms, view));
                        }
                    }
                }
            }
            for link in &customer.links {
                let (by, hint) = match &link.reason {
                    crate::identity::LinkReason::Manual(manual) => (Some(manual.by.clone()), None),
                    crate::identity::LinkReason::Hint { kind, .. } => (None, Some(kind.clone())),
                };
                links.push(LinkView {
                    a: link.a.clone(),
                    b: link.b.clone(),
                    by,
                    hint,
                });
            }
        }
        None => identities.push(IdentityView {
            platform: plugin_of(host, shop),
            shop: shop.to_owned(),
            user: customer_id.clone(),
            name: None,
        }),
    }
    // Latest look-up of each order first.
    orders.sort_by_key(|(at, _)| std::cmp::Reverse(*at));
    let mut seen = std::collections::BTreeSet::new();
    let orders = orders
        .into_iter()
        .map(|(_, view)| view)
        .filter(|view| seen.insert(view.order_id.clone()))
        .collect();
    Ok(Thread {
        shop: shop.to_owned(),
        platform: shop_entry.config.plugin.clone(),
        conversation: conversation.to_owned(),
        handoff,
        lines,
        window: desk::window(&host.people, shop, conversation)?,
        customer: customer_id,
        identities,
        links,
        conversations,
        orders,
        canned_json: serde_json::to_string(&host.store.canned_replies(shop)?)
            .unwrap_or_else(|_| "[]".into()),
        coupon: shop_entry.config.coupon.as_ref().map(|c| c.title.clone()),
    })
}

fn line(at_ms: i64, author: &'static str, agent: Option<String>, content: &Content) -> ThreadLine {
    let (text, card) = match content {
        Content::Text(text) => (text.clone(), None),
        Content::OrderCard(card) => (
            card.fallback_text.clone(),
            Some((
                "order",
                format!("订单 {}", card.order_id),
                [card.status.as_deref(), card.amount.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" · "),
            )),
        ),
        Content::ProductCard(card) => (
            card.fallback_text.clone(),
            Some((
                "product",
                card.title.clone(),
                card.price.clone().unwrap_or_default(),
            )),
        ),
        Content::Coupon(coupon) => (
            coupon.fallback_text.clone(),
            Some((
                "coupon",
                coupon.title.clone(),
                coupon.discount.clone().unwrap_or_default(),
            )),
        ),
        Content::Image(_) => ("[图片]".into(), None),
        Content::Voice(voice) => (
            voice.recognition.clone().unwrap_or_else(|| "[语音]".into()),
            None,
        ),
        Content::Video(_) => ("[视频]".into(), None),
        Content::File(_) => ("[文件]".into(), None),
        Content::Location(_) => ("[位置]".into(), None),
        Content::Link(link) => (format!("{} {}", link.title, link.url), None),
        Content::MiniProgram(_) => ("[小程序]".into(), None),
        Content::Raw(_) => ("[消息]".into(), None),
    };
    ThreadLine {
        at_ms,
        author,
        agent,
        text,
        card,
        decision: None,
        elsewhere: None,
    }
}

/// The plugin of a shop (its platform badge).
fn plugin_of(host: &Admin, shop: &str) -> String {
    host.shops
        .get(shop)
        .map(|s| s.config.plugin.clone())
        .unwrap_or_default()
}

/// "3分12秒", "2小时5分", "45秒".
pub fn wait_text(secs: i64) -> String {
    match secs {
        s if s >= 3600 => format!("{}小时{}分", s / 3600, (s % 3600) / 60),
        s if s >= 60 => format!("{}分{}秒", s / 60, s % 60),
        s => format!("{s}秒"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_read_as_people_say_them() {
        assert_eq!(wait_text(45), "45秒");
        assert_eq!(wait_text(192), "3分12秒");
        assert_eq!(wait_text(7_500), "2小时5分");
    }

    #[test]
    fn reply_timers_turn_amber_then_red_at_the_platform_thresholds() {
        let taobao = crate::config::ReplyTimer {
            warn_secs: 60,
            alert_secs: 100,
        };
        let now = 1_000_000;
        assert_eq!(timer_level(None, taobao, now), "none");
        assert_eq!(timer_level(Some(now - 59_999), taobao, now), "ok");
        assert_eq!(timer_level(Some(now - 60_000), taobao, now), "warn");
        assert_eq!(timer_level(Some(now - 99_000), taobao, now), "warn");
        assert_eq!(timer_level(Some(now - 100_000), taobao, now), "alert");
    }

    #[test]
    fn tabs_parse_with_the_queue_as_default() {
        assert_eq!(Tab::parse(Some("mine")), Tab::Mine);
        assert_eq!(Tab::parse(Some("all")), Tab::All);
        assert_eq!(Tab::parse(Some("bogus")), Tab::Queue);
        assert_eq!(Tab::parse(None).as_str(), "queue");
    }
}
