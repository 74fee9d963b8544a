//! Poll feed `chatlog`: the shop's 咚咚 conversations as JOS's chat-log APIs
//! give them. A round reads `jingdong.im.pop.sessionlist.get` for the
//! sessions in its window, page by page, queuing each customer, then
//! `jingdong.im.pop.chatlog.get` for each queued customer, page by page. The
//! round's progress (window, session page, customer queue, chat page) is the
//! cursor, committed with every page, so a crash resumes where it stopped.
//!
//! The chat log gives no message id: a message's platform id is its session,
//! time, author side and a digest of its text, so reading a stretch again
//! stores nothing twice. Customer messages become inbound customer messages;
//! a waiter's (a person in JD's own client) become outbound agent messages
//! of the history, except those of the shop's `waiter` account, which are
//! tongdao's own replies, already in the history as the bot's.

use crate::answer::{self, Answer, text};
use crate::gateway;
use crate::token::{self, Token};
use crate::window::{self, Window, more_pages};
use crate::{SETTING_WAITER, page_items, poll_failure};
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};
use sha2::{Digest, Sha256};
use tongdao_sdk::*;

/// The feed name.
pub const FEED: &str = "chatlog";
/// The session list method.
pub const SESSION_LIST: &str = "jingdong.im.pop.sessionlist.get";
/// The chat log method.
pub const CHAT_LOG: &str = "jingdong.im.pop.chatlog.get";
/// Step kind of a session-list page.
const STEP_SESSIONS: &str = "sessions";
/// Step kind of a chat-log page.
const STEP_CHATLOG: &str = "chatlog";
/// Sessions per page.
pub const SESSION_PAGE_SIZE: u32 = 50;
/// Messages per page.
pub const CHAT_PAGE_SIZE: u32 = 100;

/// The round under way.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Round {
    from: i64,
    to: i64,
    /// The next session-list page to read, if any is left.
    session_page: Option<u32>,
    /// Customers whose chat log is still to be read; the first is current.
    customers: Vec<String>,
    /// The page of the current customer's chat log to read next.
    chat_page: u32,
}

/// The feed's cursor.
type Cursor = window::Cursor<Round>;

impl Round {
    fn window(&self) -> Window {
        Window {
            from_ms: self.from,
            to_ms: self.to,
        }
    }

    fn finished(&self) -> bool {
        self.session_page.is_none() && self.customers.is_empty()
    }
}

/// Render the next request of feed `chatlog`.
pub fn render(ctx: &ShopContext, poll: &PollRequest) -> Result<OutboundRequest, PluginError> {
    let cursor = Cursor::read(ctx, poll)?;
    let access_token = match token::token(ctx)? {
        Token::Ready(token) => token,
        Token::Refresh(request) => return Ok(request),
    };
    let (step, method, params) = match &cursor.round {
        Some(round) if !round.customers.is_empty() => {
            let window = round.window();
            let params = json!({
                "customer": round.customers[0],
                "startTime": window.start_text(),
                "endTime": window.end_text(),
                "page": round.chat_page,
                "pageSize": CHAT_PAGE_SIZE,
            });
            (window.step(STEP_CHATLOG, round.chat_page), CHAT_LOG, params)
        }
        round => {
            let (window, page) = round
                .as_ref()
                .and_then(|r| r.session_page.map(|page| (r.window(), page)))
                .unwrap_or_else(|| (window::next(cursor.since, ctx.now_ms), 1));
            let params = json!({
                "startTime": window.start_text(),
                "endTime": window.end_text(),
                "page": page,
                "pageSize": SESSION_PAGE_SIZE,
            });
            (window.step(STEP_SESSIONS, page), SESSION_LIST, params)
        }
    };
    Ok(OutboundRequest {
        step,
        request: gateway::call(ctx, method, access_token, &params)?,
    })
}

fn total(page: &Json) -> Option<u64> {
    text(page, "totalRecord")
        .or_else(|| text(page, "total"))
        .and_then(|t| t.parse().ok())
}

/// Interpret an answer of feed `chatlog`.
pub fn parse(
    ctx: &ShopContext,
    poll: &PollRequest,
    step: &str,
    response: &HttpResponse,
) -> Result<PollResult, PluginError> {
    if step == token::STEP_REFRESH {
        return Ok(token::read_refresh(ctx, response).into());
    }
    let cursor = Cursor::read(ctx, poll)?;
    if let Some((window, page)) = Window::from_step(STEP_SESSIONS, step) {
        let body = match answer::read(SESSION_LIST, response) {
            Answer::Success(body) => body,
            Answer::Failed(outcome) => return Ok(poll_failure(ctx, outcome)),
        };
        return Ok(sessions_page(cursor, window, page, &body));
    }
    if Window::from_step(STEP_CHATLOG, step).is_some() {
        let Some(round) = cursor.round.clone().filter(|r| !r.customers.is_empty()) else {
            return Err(PluginError::Malformed(
                "a chat-log answer arrived for a cursor without a customer to read".into(),
            ));
        };
        let body = match answer::read(CHAT_LOG, response) {
            Answer::Success(body) => body,
            Answer::Failed(outcome) => return Ok(poll_failure(ctx, outcome)),
        };
        return Ok(chat_page(
            ctx.setting(SETTING_WAITER),
            cursor.since,
            round,
            &body,
        ));
    }
    Err(PluginError::Unsupported(format!(
        "feed `{FEED}` has no step `{step}`"
    )))
}

/// The page object of an answer: `{Name}Page` (newer SDKs) or `{Name}`.
fn page_object<'a>(body: &'a Json, names: &[&str]) -> Option<&'a Json> {
    names.iter().find_map(|name| body.get(*name))
}

/// The page that commits `events` with the round's progress; a finished
/// round moves the cursor to its end.
fn commit(since: i64, round: Round, events: Vec<Event>) -> PollResult {
    let finished = round.finished();
    let cursor = if finished {
        Cursor {
            since: round.to,
            round: None,
        }
    } else {
        Cursor {
            since,
            round: Some(round),
        }
    };
    PollResult {
        outcome: PollOutcome::Page(PollPage {
            events,
            next_cursor: Some(cursor.write()),
            has_more: !finished,
            acks: Vec::new(),
        }),
        state: Vec::new(),
    }
}

fn sessions_page(cursor: Cursor, window: Window, page: u32, body: &Json) -> PollResult {
    let list_page = page_object(body, &["ChatSessionPage", "ChatSession"]).unwrap_or(&Json::Null);
    let sessions = page_items(list_page, &["chatSessionList", "ChatSessionList"]);
    let mut round = cursor
        .round
        .filter(|r| r.window() == window && r.session_page == Some(page))
        .unwrap_or(Round {
            from: window.from_ms,
            to: window.to_ms,
            session_page: Some(page),
            customers: Vec::new(),
            chat_page: 1,
        });
    for session in &sessions {
        if let Some(customer) = text(session, "customer")
            && !round.customers.contains(&customer)
        {
            round.customers.push(customer);
        }
    }
    round.session_page =
        more_pages(page, SESSION_PAGE_SIZE, sessions.len(), total(list_page)).then_some(page + 1);
    commit(cursor.since, round, Vec::new())
}

fn chat_page(own_waiter: Option<&str>, since: i64, mut round: Round, body: &Json) -> PollResult {
    let log_page = page_object(body, &["ChatLogPage", "ChatLog"]).unwrap_or(&Json::Null);
    let entries = page_items(log_page, &["chatLogList", "ChatLogList"]);
    let customer = round.customers[0].clone();
    let events = entries
        .iter()
        .filter_map(|entry| message_event(&customer, entry))
        .filter(|event| !written_by(event, own_waiter))
        .collect();
    if more_pages(
        round.chat_page,
        CHAT_PAGE_SIZE,
        entries.len(),
        total(log_page),
    ) {
        round.chat_page += 1;
    } else {
        round.customers.remove(0);
        round.chat_page = 1;
    }
    commit(since, round, events)
}

/// Whether `event` is a line the shop's own account (`waiter`) wrote.
fn written_by(event: &Event, own_waiter: Option<&str>) -> bool {
    matches!(
        (event.message(), own_waiter),
        (Some(m), Some(own)) if m.role == AuthorRole::Agent && m.author.platform_user_id == own.trim()
    )
}

fn time_ms(entry: &Json) -> Option<i64> {
    match entry.get("time")? {
        Json::Number(n) => n.as_i64(),
        Json::String(s) => s
            .parse::<i64>()
            .ok()
            .or_else(|| beijing_time::parse_datetime(s)),
        _ => None,
    }
}

fn sent_by_waiter(entry: &Json) -> bool {
    match entry.get("waiterSend") {
        Some(Json::Bool(b)) => *b,
        Some(Json::String(s)) => s == "true" || s == "1",
        Some(Json::Number(n)) => n.as_i64() == Some(1),
        _ => false,
    }
}

/// The event of one chat-log entry; `None` for an entry without text or time.
fn message_event(customer: &str, entry: &Json) -> Option<Event> {
    let content = text(entry, "content")?;
    let time = time_ms(entry)?;
    let customer = text(entry, "customer").unwrap_or_else(|| customer.to_string());
    let waiter = text(entry, "waiter").unwrap_or_default();
    let session = text(entry, "sid").unwrap_or_default();
    let by_waiter = sent_by_waiter(entry);
    let digest = Sha256::new()
        .chain_update(customer.as_bytes())
        .chain_update([0])
        .chain_update(waiter.as_bytes())
        .chain_update([0])
        .chain_update(content.as_bytes())
        .finalize();
    let platform_id = format!(
        "{session}:{time}:{}:{}",
        if by_waiter { "w" } else { "c" },
        hex::encode(&digest[..8])
    );
    let (author, role, direction) = if by_waiter {
        (
            Identity::new(waiter.clone()),
            AuthorRole::Agent,
            Direction::Outbound,
        )
    } else {
        (
            Identity::new(customer.clone()),
            AuthorRole::Customer,
            Direction::Inbound,
        )
    };
    let route = [
        ("waiter", Some(waiter)),
        ("sid", Some(session)),
        ("sku_id", text(entry, "skuId").filter(|s| s != "0")),
    ]
    .into_iter()
    .filter_map(|(name, value)| value.filter(|v| !v.is_empty()).map(|v| Pair::new(name, v)))
    .collect();
    Some(Event {
        platform_id,
        conversation_id: customer,
        platform_time_ms: time,
        route,
        body: EventBody::Message(Message {
            author,
            role,
            direction,
            content: Content::Text(content),
        }),
    })
}

#[cfg(test)]
mod tests;
