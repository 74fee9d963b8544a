//! The console's live updates: `GET /console/events`, a Server-Sent Events
//! stream per tab. Each event's id is the store's change sequence
//! ([`crate::model::ConsoleChange`]), numbered in commit order, so a browser
//! that reconnects after sleep or a network loss sends `Last-Event-ID` and
//! gets every change after it, and none twice. Only changes in the shops
//! the signed-in agent serves are sent. A comment every 15 s keeps proxies
//! from cutting the stream; it ends when the session does or the host stops.
//!
//! A stream also registers its agent's presence, with the conversation its
//! tab shows (`?viewing=SHOP/CONVERSATION`): a `presence` event, without an
//! id (presence is not stored and nothing needs replaying), tells the tab
//! when the colleagues viewing its conversation change.

use super::session;
use crate::gateway::ResponseBody;
use crate::gateway::admin::Admin;
use crate::store::Store;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response, StatusCode, header};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

/// How often the stream looks for new changes.
const TICK: Duration = Duration::from_millis(200);
/// How often a quiet stream sends a keep-alive comment.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Changes read per look.
const BATCH: usize = 200;

/// What the stream needs between polls.
struct Follower {
    store: Arc<dyn Store>,
    sessions: Arc<session::Sessions>,
    session_id: String,
    principal: crate::auth::Principal,
    last: u64,
    quiet: Duration,
    opened: bool,
    /// This stream's presence; unregistered when the stream is dropped.
    _connected: super::presence::Connected,
    presence: Arc<super::presence::Presence>,
    presence_changes: tokio::sync::watch::Receiver<u64>,
    viewing: Option<super::presence::ConversationKey>,
    /// The colleagues last reported viewing the conversation.
    viewers: std::collections::BTreeSet<String>,
}

/// The event stream for the signed-in agent.
pub async fn events(host: &Admin, request: Request<Incoming>) -> Response<ResponseBody> {
    let now_ms = crate::clock::now_ms();
    let Some((session_id, session)) = session::signed_in(&host.sessions, request.headers(), now_ms)
    else {
        return plain(StatusCode::UNAUTHORIZED, "sign in first");
    };
    let resume = request
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let last = match resume {
        Some(seq) => seq,
        None => match host.store.last_change() {
            Ok(seq) => seq,
            Err(err) => {
                tracing::error!(error = %format!("{err:#}"), "the console's feed cannot be read");
                return plain(StatusCode::INTERNAL_SERVER_ERROR, "the feed cannot be read");
            }
        },
    };
    let viewing = viewing(request.uri().query().unwrap_or(""))
        .filter(|(shop, _)| session.principal.serves(shop));
    let mut presence_changes = host.presence.subscribe();
    presence_changes.borrow_and_update();
    let connected = host
        .presence
        .connect(&session.principal.id, viewing.clone());
    let viewers = match &viewing {
        Some((shop, conversation)) => {
            others(&host.presence, shop, conversation, &session.principal.id)
        }
        None => Default::default(),
    };
    let follower = Follower {
        _connected: connected,
        presence: Arc::clone(&host.presence),
        presence_changes,
        viewing,
        viewers,
        store: Arc::clone(&host.store),
        sessions: Arc::clone(&host.sessions),
        session_id,
        principal: session.principal.clone(),
        last,
        quiet: Duration::ZERO,
        opened: false,
    };
    let stream = futures::stream::unfold(follower, |mut follower| async move {
        let frame = follower.next().await?;
        Some((Ok::<_, Infallible>(Frame::data(frame)), follower))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-store")
        .header("x-accel-buffering", "no")
        .body(StreamBody::new(stream).boxed_unsync())
        .expect("a valid response")
}

impl Follower {
    /// The next piece of the stream, waiting for one; `None` ends it.
    async fn next(&mut self) -> Option<Bytes> {
        if !self.opened {
            self.opened = true;
            return Some(Bytes::from_static(b"retry: 1000\n\n"));
        }
        loop {
            if self.sessions.closing()
                || self
                    .sessions
                    .get(&self.session_id, crate::clock::now_ms())
                    .is_none()
            {
                return None;
            }
            let changes = match self.store.changes_after(self.last, BATCH) {
                Ok(changes) => changes,
                Err(err) => {
                    tracing::warn!(error = %format!("{err:#}"), "the console's feed could not be read");
                    return None;
                }
            };
            let mut out = String::new();
            if self.presence_changes.has_changed().unwrap_or(false) {
                self.presence_changes.borrow_and_update();
                if let Some((shop, conversation)) = &self.viewing {
                    let now = others(&self.presence, shop, conversation, &self.principal.id);
                    if now != self.viewers {
                        let data = serde_json::json!({ "viewers": now });
                        out.push_str(&format!("event: presence\ndata: {data}\n\n"));
                        self.viewers = now;
                    }
                }
            }
            for (seq, change) in changes {
                self.last = seq;
                if !self.principal.serves(&change.shop) {
                    continue;
                }
                let data = serde_json::json!({
                    "shop": change.shop,
                    "conversation": change.conversation,
                    "at_ms": change.at_ms,
                });
                out.push_str(&format!(
                    "id: {seq}\nevent: {}\ndata: {data}\n\n",
                    change.kind.as_str()
                ));
            }
            if !out.is_empty() {
                self.quiet = Duration::ZERO;
                return Some(Bytes::from(out));
            }
            if self.quiet >= KEEP_ALIVE {
                self.quiet = Duration::ZERO;
                return Some(Bytes::from_static(b": keep-alive\n\n"));
            }
            tokio::time::sleep(TICK).await;
            self.quiet += TICK;
        }
    }
}

/// The conversation a tab shows, from `viewing=SHOP/CONVERSATION`.
fn viewing(query: &str) -> Option<super::presence::ConversationKey> {
    let value = url::form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == "viewing")?
        .1;
    let (shop, conversation) = value.split_once('/')?;
    (!shop.is_empty() && !conversation.is_empty())
        .then(|| (shop.to_owned(), conversation.to_owned()))
}

/// The colleagues of `me` viewing a conversation.
pub fn others(
    presence: &super::presence::Presence,
    shop: &str,
    conversation: &str,
    me: &str,
) -> std::collections::BTreeSet<String> {
    let mut viewers = presence.viewers(shop, conversation);
    viewers.remove(me);
    viewers
}

fn plain(status: StatusCode, text: &'static str) -> Response<ResponseBody> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Full::new(Bytes::from_static(text.as_bytes())).boxed_unsync())
        .expect("a valid response")
}
