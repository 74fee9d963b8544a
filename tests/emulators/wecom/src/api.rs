//! A loopback emulator of the WeCom API a 微信客服 integration calls, for
//! end-to-end tests:
//!
//! * `GET /cgi-bin/gettoken` — corp id and secret checks (41002 / 41004 /
//!   40013 / 40001); the same token while it is valid, 7200 s;
//! * `POST /cgi-bin/kf/sync_msg` — per kf account message log that tests
//!   append to (customers writing, entering a session, servicers replying),
//!   cursor paging with `limit` and `has_more`, sync tokens valid 10 minutes
//!   (95007), a stricter rate limit without a token (45009); messages sent
//!   through the API are in the log but never returned, so a page may be
//!   empty and still have more;
//! * `POST /cgi-bin/kf/send_msg` — open_kfid, touser, msgid (≤ 32 bytes of
//!   `[0-9a-zA-Z_-]`, idempotent per kf account), text ≤ 2048 bytes, session
//!   state 0 or 1 only (95018), 48 h / 5 messages per customer message
//!   (95002 / 95001);
//! * `POST /cgi-bin/kf/send_msg_on_event` — an event code once, within 20 s;
//! * `POST /cgi-bin/kf/service_state/get` and `…/trans` — the session state
//!   machine (95016, 95014);
//! * `POST /cgi-bin/kf/customer/batchget` — profiles, unionid when bound;
//! * `POST /cgi-bin/webhook/send?key=…` — a group robot: the key (93000),
//!   `text` ≤ 2048 bytes or `markdown` ≤ 4096, at most 20 messages a minute
//!   (45009); no access token.
//!
//! Every kf endpoint checks the access token (41001 / 40014 / 42001). Tests
//! can inject failures, read a log of every request and of every accepted
//! action, and set the clock. README.md lists which rules and codes are
//! documented and which are assumptions.

mod kf;
mod robot;
mod sessions;

use rand::Rng;
use rand::distr::Alphanumeric;
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::watch;
use tongdao_loopback::{Incoming, LoopbackServer, Reply};

pub use robot::RobotMessage;
pub use sessions::SessionState;

/// Path of the token endpoint.
pub const GETTOKEN_PATH: &str = "/cgi-bin/gettoken";
/// Path of the pull endpoint.
pub const SYNC_MSG_PATH: &str = "/cgi-bin/kf/sync_msg";
/// Path of the send endpoint.
pub const SEND_MSG_PATH: &str = "/cgi-bin/kf/send_msg";
/// Path of the event-reply (welcome message) endpoint.
pub const SEND_MSG_ON_EVENT_PATH: &str = "/cgi-bin/kf/send_msg_on_event";
/// Path of the session-state query.
pub const SERVICE_STATE_GET_PATH: &str = "/cgi-bin/kf/service_state/get";
/// Path of the session-state change.
pub const SERVICE_STATE_TRANS_PATH: &str = "/cgi-bin/kf/service_state/trans";
/// Path of the customer profile query.
pub const CUSTOMER_BATCHGET_PATH: &str = "/cgi-bin/kf/customer/batchget";
/// Path of the group robot's webhook.
pub const WEBHOOK_SEND_PATH: &str = "/cgi-bin/webhook/send";

/// What the emulator answers when a msgid is sent a second time for the
/// same kf account. WeCom's documented behaviour could not be found (see
/// README.md), so tests choose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepeatedMsgid {
    /// `errcode` 0 with the same msgid; nothing is sent again.
    EchoOk,
    /// This error; nothing is sent again.
    Refuse {
        /// The `errcode`.
        errcode: i64,
        /// The `errmsg`.
        errmsg: String,
    },
}

/// The corp the emulator serves and the platform limits it applies.
/// [`WecomApiConfig::new`] gives the documented defaults.
#[derive(Debug, Clone)]
pub struct WecomApiConfig {
    /// The corp id `gettoken` accepts.
    pub corp_id: String,
    /// The secret `gettoken` accepts.
    pub secret: String,
    /// Lifetime of an access token, seconds (7200).
    pub token_lifetime_secs: i64,
    /// Lifetime of a callback's sync token, seconds (600).
    pub sync_token_lifetime_secs: i64,
    /// The largest `limit` of a pull (1000, also the default).
    pub max_page_limit: u32,
    /// How far back a pull without cursor reaches, seconds (3 days).
    pub history_secs: i64,
    /// Pulls without a sync token allowed per kf account per minute before
    /// 45009 (the platform only says "stricter"; 10 here).
    pub untokened_pulls_per_minute: usize,
    /// The reply window after a customer's message, seconds (48 h).
    pub reply_window_secs: i64,
    /// Messages allowed per customer message within the window (5).
    pub replies_per_customer_message: u32,
    /// The longest text `content`, bytes (2048).
    pub max_text_bytes: usize,
    /// How long an event code (welcome code) can be used, seconds (20).
    pub event_code_lifetime_secs: i64,
    /// How long after their last message a customer's profile is returned
    /// by `customer/batchget`, seconds (48 h).
    pub profile_window_secs: i64,
    /// The answer to a repeated msgid.
    pub repeated_msgid: RepeatedMsgid,
    /// The key of the group robot's webhook; none answers 93000 to all.
    pub robot_key: Option<String>,
    /// Messages a group robot takes per minute (20).
    pub robot_messages_per_minute: usize,
}

impl WecomApiConfig {
    /// The documented defaults for the corp `corp_id` with the 微信客服 app
    /// secret `secret`.
    pub fn new(corp_id: &str, secret: &str) -> WecomApiConfig {
        WecomApiConfig {
            corp_id: corp_id.to_string(),
            secret: secret.to_string(),
            token_lifetime_secs: 7200,
            sync_token_lifetime_secs: 600,
            max_page_limit: 1000,
            history_secs: 3 * 86_400,
            untokened_pulls_per_minute: 10,
            reply_window_secs: 48 * 3600,
            replies_per_customer_message: 5,
            max_text_bytes: 2048,
            event_code_lifetime_secs: 20,
            profile_window_secs: 48 * 3600,
            repeated_msgid: RepeatedMsgid::EchoOk,
            robot_key: None,
            robot_messages_per_minute: 20,
        }
    }
}

/// One request the emulator received, whatever it answered.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    /// `GET` or `POST`.
    pub method: String,
    /// The path.
    pub path: String,
    /// The decoded query parameters.
    pub query: Vec<(String, String)>,
    /// The body, parsed as JSON when it is JSON.
    pub body: Option<Value>,
    /// The `errcode` of the answer (0 for success; -404 for unknown paths).
    pub errcode: i64,
}

/// A `kf/send_msg` the emulator accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct SentMessage {
    /// The kf account that sent it.
    pub open_kfid: String,
    /// The customer (`touser`).
    pub touser: String,
    /// The msgid (the client's, or one the emulator made up).
    pub msgid: String,
    /// `text`, `image`, …
    pub msgtype: String,
    /// `text.content` of text messages.
    pub text: Option<String>,
    /// The whole request body.
    pub body: Value,
    /// The emulator's clock when it was accepted.
    pub at: i64,
}

/// A `kf/send_msg_on_event` the emulator accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct SentEventReply {
    /// The event code it used.
    pub code: String,
    /// The kf account of the event.
    pub open_kfid: String,
    /// The customer of the event.
    pub external_userid: String,
    /// The msgid.
    pub msgid: String,
    /// `text` or `msgmenu`.
    pub msgtype: String,
    /// `text.content` of text replies.
    pub text: Option<String>,
    /// The emulator's clock when it was accepted.
    pub at: i64,
}

/// A session-state change the emulator accepted through `trans`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateChange {
    /// The kf account.
    pub open_kfid: String,
    /// The customer.
    pub external_userid: String,
    /// The state before.
    pub from: SessionState,
    /// The state after.
    pub to: SessionState,
    /// The servicer, for state 3.
    pub servicer_userid: Option<String>,
}

#[derive(Debug, Clone)]
struct IssuedToken {
    expires_at: i64,
    expired: bool,
    invalid: bool,
}

/// One entry of a kf account's message log.
#[derive(Debug, Clone)]
struct LogEntry {
    /// The item as `sync_msg` returns it.
    item: Value,
    /// Sent through the API: in the log, never returned by `sync_msg`.
    hidden: bool,
    /// When it was appended.
    at: i64,
}

#[derive(Debug, Default)]
struct Account {
    log: Vec<LogEntry>,
    /// Servicers of the account and whether they are on duty (接待中).
    servicers: HashMap<String, bool>,
    /// Times of recent pulls without a sync token.
    untokened_pulls: VecDeque<i64>,
    /// msgids already used by `send_msg` / `send_msg_on_event`.
    used_msgids: HashMap<String, String>,
}

#[derive(Debug, Clone)]
struct EventCode {
    open_kfid: String,
    external_userid: String,
    expires_at: i64,
    used: bool,
}

#[derive(Debug, Clone, Default)]
struct Profile {
    nickname: String,
    unionid: Option<String>,
    last_active: i64,
}

#[derive(Debug)]
struct State {
    config: WecomApiConfig,
    clock: Option<i64>,
    tokens: HashMap<String, IssuedToken>,
    current_token: Option<String>,
    accounts: HashMap<String, Account>,
    sessions: sessions::Sessions,
    sync_tokens: HashMap<String, (String, i64)>,
    event_codes: HashMap<String, EventCode>,
    profiles: HashMap<String, Profile>,
    failures: HashMap<String, VecDeque<(i64, String)>>,
    sent: Vec<SentMessage>,
    event_replies: Vec<SentEventReply>,
    state_changes: Vec<StateChange>,
    requests: Vec<RecordedRequest>,
    robot: robot::Robot,
    next_id: u64,
    /// Entries the next successful pull repeats from before its cursor.
    overlap_next_pull: usize,
}

impl State {
    fn now(&self) -> i64 {
        self.clock.unwrap_or_else(system_now)
    }

    fn random_string(&self, len: usize) -> String {
        rand::rng()
            .sample_iter(&Alphanumeric)
            .take(len)
            .map(char::from)
            .collect()
    }

    fn next_msgid(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}{}", 4_622_416_642_169_452_000u64 + self.next_id)
    }

    fn account(&mut self, open_kfid: &str) -> &mut Account {
        self.accounts.entry(open_kfid.to_string()).or_default()
    }

    fn append(&mut self, open_kfid: &str, item: Value, hidden: bool) {
        let at = self.now();
        self.account(open_kfid)
            .log
            .push(LogEntry { item, hidden, at });
    }

    fn issue_event_code(&mut self, open_kfid: &str, external_userid: &str) -> String {
        let code = self.random_string(43);
        let expires_at = self.now() + self.config.event_code_lifetime_secs;
        self.event_codes.insert(
            code.clone(),
            EventCode {
                open_kfid: open_kfid.to_string(),
                external_userid: external_userid.to_string(),
                expires_at,
                used: false,
            },
        );
        code
    }

    /// The failure injected for the next call of `path`, if any.
    fn injected(&mut self, path: &str) -> Option<(i64, String)> {
        self.failures.get_mut(path)?.pop_front()
    }
}

fn system_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `{"errcode": code, "errmsg": message}`.
fn error(code: i64, message: &str) -> Reply {
    Reply::json(&json!({"errcode": code, "errmsg": message}))
}

/// The running emulator; every method takes `&self`. Stops on
/// [`WecomApiEmulator::shutdown`] or when dropped.
pub struct WecomApiEmulator {
    server: LoopbackServer,
    state: Arc<Mutex<State>>,
    accepted: watch::Receiver<usize>,
}

impl WecomApiEmulator {
    /// Start serving `config`'s corp on a loopback port.
    pub async fn start(config: WecomApiConfig) -> anyhow::Result<WecomApiEmulator> {
        let state = Arc::new(Mutex::new(State {
            config,
            clock: None,
            tokens: HashMap::new(),
            current_token: None,
            accounts: HashMap::new(),
            sessions: sessions::Sessions::default(),
            sync_tokens: HashMap::new(),
            event_codes: HashMap::new(),
            profiles: HashMap::new(),
            failures: HashMap::new(),
            sent: Vec::new(),
            event_replies: Vec::new(),
            state_changes: Vec::new(),
            requests: Vec::new(),
            robot: robot::Robot::default(),
            next_id: 0,
            overlap_next_pull: 0,
        }));
        let (accepted_tx, accepted) = watch::channel(0usize);
        let shared = Arc::clone(&state);
        let server = LoopbackServer::start_sync(move |request| {
            let mut state = lock(&shared);
            let reply = route(&mut state, &request);
            let errcode = if reply.status == 404 {
                -404
            } else {
                serde_json::from_slice::<Value>(&reply.body)
                    .ok()
                    .and_then(|v| v["errcode"].as_i64())
                    .unwrap_or(0)
            };
            state.requests.push(RecordedRequest {
                method: request.method.clone(),
                path: request.path.clone(),
                query: request.query.clone(),
                body: serde_json::from_slice(&request.body).ok(),
                errcode,
            });
            accepted_tx.send_replace(state.sent.len() + state.event_replies.len());
            reply
        })
        .await?;
        Ok(WecomApiEmulator {
            server,
            state,
            accepted,
        })
    }

    /// `http://127.0.0.1:PORT`: what to use instead of
    /// `https://qyapi.weixin.qq.com`.
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// Stop serving; connecting afterwards is refused.
    pub async fn shutdown(&self) {
        self.server.shutdown().await
    }

    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut lock(&self.state))
    }

    // ---- the clock -------------------------------------------------------

    /// Set the clock to `unix_secs`; it stays there until set again.
    pub fn set_now(&self, unix_secs: i64) {
        self.with(|s| s.clock = Some(unix_secs))
    }

    /// Move the clock `secs` forward (from the system clock if none was set).
    pub fn advance(&self, secs: i64) {
        self.with(|s| s.clock = Some(s.now() + secs))
    }

    /// Go back to the system clock.
    pub fn use_system_clock(&self) {
        self.with(|s| s.clock = None)
    }

    /// The emulator's clock, Unix seconds.
    pub fn now(&self) -> i64 {
        self.with(|s| s.now())
    }

    // ---- the corp's set-up ----------------------------------------------

    /// Create the kf account `open_kfid` (accounts are also created by the
    /// first message a test appends to them).
    pub fn add_account(&self, open_kfid: &str) {
        self.with(|s| {
            s.account(open_kfid);
        })
    }

    /// Make `userid` a servicer of `open_kfid`, on duty (接待中) or not.
    pub fn add_servicer(&self, open_kfid: &str, userid: &str, on_duty: bool) {
        self.with(|s| {
            s.account(open_kfid)
                .servicers
                .insert(userid.to_string(), on_duty);
        })
    }

    /// The corp bound a WeChat developer account: `customer/batchget`
    /// returns `unionid` for this customer.
    pub fn bind_unionid(&self, external_userid: &str, unionid: &str) {
        self.with(|s| {
            s.profiles
                .entry(external_userid.to_string())
                .or_default()
                .unionid = Some(unionid.to_string());
        })
    }

    // ---- what customers and servicers do --------------------------------

    /// The customer enters a session with `open_kfid` (opens the chat from
    /// `scene` with `scene_param`): an `enter_session` event with a fresh
    /// welcome code joins the log. Returns the welcome code.
    pub fn customer_enters(
        &self,
        open_kfid: &str,
        external_userid: &str,
        scene: &str,
        scene_param: &str,
    ) -> String {
        self.with(|s| {
            let code = s.issue_event_code(open_kfid, external_userid);
            let msgid = s.next_msgid("from_msgid_");
            let item = json!({
                "msgid": msgid,
                "send_time": s.now(),
                "origin": 4,
                "msgtype": "event",
                "event": {
                    "event_type": "enter_session",
                    "open_kfid": open_kfid,
                    "external_userid": external_userid,
                    "scene": scene,
                    "scene_param": scene_param,
                    "welcome_code": code,
                },
            });
            s.append(open_kfid, item, false);
            code
        })
    }

    /// The customer writes `text` to `open_kfid`: a text message joins the
    /// log, an ended session becomes new (state 0), and the reply window
    /// opens again (48 h, 5 messages). Returns the message's msgid.
    pub fn customer_says(&self, open_kfid: &str, external_userid: &str, text: &str) -> String {
        self.customer_sends(open_kfid, external_userid, "text", json!({"content": text}))
    }

    /// The customer sends a message of `msgtype` whose object is `part`
    /// (e.g. `image` with `{"media_id": …}`); as [`Self::customer_says`].
    pub fn customer_sends(
        &self,
        open_kfid: &str,
        external_userid: &str,
        msgtype: &str,
        part: Value,
    ) -> String {
        self.with(|s| {
            let now = s.now();
            let msgid = s.next_msgid("from_msgid_");
            let item = json!({
                "msgid": msgid,
                "open_kfid": open_kfid,
                "external_userid": external_userid,
                "send_time": now,
                "origin": 3,
                "msgtype": msgtype,
                msgtype: part,
            });
            s.append(open_kfid, item, false);
            s.sessions.customer_wrote(open_kfid, external_userid, now);
            let profile = s.profiles.entry(external_userid.to_string()).or_default();
            profile.last_active = now;
            if profile.nickname.is_empty() {
                profile.nickname = format!(
                    "客户{}",
                    &external_userid[external_userid.len().saturating_sub(4)..]
                );
            }
            msgid
        })
    }

    /// The servicer `servicer_userid` writes `text` from the WeCom client:
    /// an origin-5 message joins the log.
    pub fn servicer_says(
        &self,
        open_kfid: &str,
        external_userid: &str,
        servicer_userid: &str,
        text: &str,
    ) -> String {
        self.with(|s| {
            let msgid = s.next_msgid("from_msgid_");
            let item = json!({
                "msgid": msgid,
                "open_kfid": open_kfid,
                "external_userid": external_userid,
                "send_time": s.now(),
                "origin": 5,
                "servicer_userid": servicer_userid,
                "msgtype": "text",
                "text": {"content": text},
            });
            s.append(open_kfid, item, false);
            msgid
        })
    }

    /// The servicer takes the session over from the WeCom client (from the
    /// pool or from the bot): the session goes to state 3 and a
    /// `session_status_change` event (change_type 1) joins the log.
    pub fn servicer_takes_over(
        &self,
        open_kfid: &str,
        external_userid: &str,
        servicer_userid: &str,
    ) {
        self.with(|s| {
            s.sessions.set(
                open_kfid,
                external_userid,
                SessionState::Human,
                Some(servicer_userid.to_string()),
            );
            let msgid = s.next_msgid("from_msgid_");
            let item = json!({
                "msgid": msgid,
                "send_time": s.now(),
                "origin": 4,
                "msgtype": "event",
                "event": {
                    "event_type": "session_status_change",
                    "open_kfid": open_kfid,
                    "external_userid": external_userid,
                    "change_type": 1,
                    "new_servicer_userid": servicer_userid,
                },
            });
            s.append(open_kfid, item, false);
        })
    }

    /// Append `item` (a `msg_list` entry as WeCom writes it) to the log of
    /// `open_kfid` as it is, e.g. a `msg_send_fail` event.
    pub fn append_raw(&self, open_kfid: &str, item: Value) {
        self.with(|s| s.append(open_kfid, item, false))
    }

    /// Issue a sync token for `open_kfid`, as a `kf_msg_or_event` callback
    /// does; `sync_msg` accepts it for 10 minutes.
    pub fn issue_sync_token(&self, open_kfid: &str) -> String {
        self.with(|s| {
            let token = format!("ENC{}", s.random_string(44));
            let expires_at = s.now() + s.config.sync_token_lifetime_secs;
            s.sync_tokens
                .insert(token.clone(), (open_kfid.to_string(), expires_at));
            token
        })
    }

    // ---- tokens and failures ---------------------------------------------

    /// The current access token expires, as if its 7200 s had passed: using
    /// it answers 42001; `gettoken` issues a new one.
    pub fn expire_current_token(&self) {
        self.with(|s| {
            if let Some(token) = s.current_token.take()
                && let Some(issued) = s.tokens.get_mut(&token)
            {
                issued.expired = true;
            }
        })
    }

    /// The current access token stops being accepted: using it answers
    /// 40014; `gettoken` issues a new one.
    pub fn invalidate_current_token(&self) {
        self.with(|s| {
            if let Some(token) = s.current_token.take()
                && let Some(issued) = s.tokens.get_mut(&token)
            {
                issued.invalid = true;
            }
        })
    }

    /// The next `n` calls of `path` (e.g. [`SEND_MSG_PATH`]) that pass the
    /// access-token check answer `{"errcode": errcode, "errmsg": errmsg}`
    /// instead of being processed.
    pub fn fail_next(&self, path: &str, n: usize, errcode: i64, errmsg: &str) {
        self.with(|s| {
            s.failures
                .entry(path.to_string())
                .or_default()
                .extend(std::iter::repeat_n((errcode, errmsg.to_string()), n))
        })
    }

    /// The next pull that gets a page starts `entries` log entries before
    /// its cursor, repeating messages the previous page already returned
    /// (as a pull whose cursor was not saved would).
    pub fn overlap_next_pull(&self, entries: usize) {
        self.with(|s| s.overlap_next_pull = entries)
    }

    // ---- what happened ---------------------------------------------------

    /// The token `gettoken` currently returns, if one was issued.
    pub fn current_token(&self) -> Option<String> {
        self.with(|s| s.current_token.clone())
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.with(|s| s.requests.clone())
    }

    /// Requests to `path` so far, whatever the answer.
    pub fn request_count(&self, path: &str) -> usize {
        self.with(|s| s.requests.iter().filter(|r| r.path == path).count())
    }

    /// Messages `send_msg` accepted, in order.
    pub fn sent_messages(&self) -> Vec<SentMessage> {
        self.with(|s| s.sent.clone())
    }

    /// Messages the group robot accepted, in order.
    pub fn robot_messages(&self) -> Vec<RobotMessage> {
        self.with(|s| s.robot.accepted.clone())
    }

    /// Event replies `send_msg_on_event` accepted, in order.
    pub fn event_replies(&self) -> Vec<SentEventReply> {
        self.with(|s| s.event_replies.clone())
    }

    /// Session-state changes `trans` accepted, in order.
    pub fn state_changes(&self) -> Vec<StateChange> {
        self.with(|s| s.state_changes.clone())
    }

    /// The session state of a customer of a kf account.
    pub fn session_state(&self, open_kfid: &str, external_userid: &str) -> SessionState {
        self.with(|s| s.sessions.state(open_kfid, external_userid))
    }

    /// Resolve once at least `n` messages and event replies have been
    /// accepted in all; an error if that does not happen within `timeout`.
    pub async fn wait_for_deliveries(&self, n: usize, timeout: Duration) -> anyhow::Result<()> {
        let mut accepted = self.accepted.clone();
        match tokio::time::timeout(timeout, accepted.wait_for(|count| *count >= n)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => anyhow::bail!("the WeCom API emulator stopped"),
            Err(_) => anyhow::bail!(
                "the WeCom API emulator accepted {} message(s) and {} event repl(ies) within {timeout:?}, expected {n} in all",
                self.sent_messages().len(),
                self.event_replies().len()
            ),
        }
    }
}

fn route(state: &mut State, request: &Incoming) -> Reply {
    match (request.method.as_str(), request.path.as_str()) {
        ("GET", GETTOKEN_PATH) => gettoken(state, request),
        ("POST", WEBHOOK_SEND_PATH) => robot::send(state, request),
        ("POST", path)
            if matches!(
                path,
                SYNC_MSG_PATH
                    | SEND_MSG_PATH
                    | SEND_MSG_ON_EVENT_PATH
                    | SERVICE_STATE_GET_PATH
                    | SERVICE_STATE_TRANS_PATH
                    | CUSTOMER_BATCHGET_PATH
            ) =>
        {
            if let Err(refused) = check_token(state, request) {
                return refused;
            }
            if let Some((code, message)) = state.injected(path) {
                return error(code, &message);
            }
            let Some(body) = serde_json::from_slice::<Value>(&request.body)
                .ok()
                .filter(Value::is_object)
            else {
                return error(40035, "invalid parameter, Warning: wrong json format.");
            };
            match path {
                SYNC_MSG_PATH => kf::sync_msg(state, &body),
                SEND_MSG_PATH => kf::send_msg(state, &body),
                SEND_MSG_ON_EVENT_PATH => kf::send_msg_on_event(state, &body),
                SERVICE_STATE_GET_PATH => kf::service_state_get(state, &body),
                SERVICE_STATE_TRANS_PATH => kf::service_state_trans(state, &body),
                _ => kf::customer_batchget(state, &body),
            }
        }
        _ => Reply::not_found(),
    }
}

fn gettoken(state: &mut State, request: &Incoming) -> Reply {
    let Some(corpid) = request.query("corpid").filter(|v| !v.is_empty()) else {
        return error(41002, "corpid missing");
    };
    let Some(secret) = request.query("corpsecret").filter(|v| !v.is_empty()) else {
        return error(41004, "corpsecret missing");
    };
    if corpid != state.config.corp_id {
        return error(40013, "invalid corpid");
    }
    if secret != state.config.secret {
        return error(40001, "invalid credential");
    }
    if let Some((code, message)) = state.injected(GETTOKEN_PATH) {
        return error(code, &message);
    }
    let now = state.now();
    // Within its validity the same token is returned.
    let live = state.current_token.as_ref().and_then(|value| {
        let issued = state.tokens.get(value)?;
        (!issued.expired && !issued.invalid && now < issued.expires_at)
            .then(|| (value.clone(), issued.expires_at - now))
    });
    let (token, expires_in) = match live {
        Some(live) => live,
        None => {
            let value = state.random_string(96);
            let lifetime = state.config.token_lifetime_secs;
            state.tokens.insert(
                value.clone(),
                IssuedToken {
                    expires_at: now + lifetime,
                    expired: false,
                    invalid: false,
                },
            );
            state.current_token = Some(value.clone());
            (value, lifetime)
        }
    };
    Reply::json(&json!({
        "errcode": 0,
        "errmsg": "ok",
        "access_token": token,
        "expires_in": expires_in,
    }))
}

fn check_token(state: &State, request: &Incoming) -> Result<(), Reply> {
    let Some(token) = request.query("access_token").filter(|t| !t.is_empty()) else {
        return Err(error(41001, "access_token missing"));
    };
    match state.tokens.get(token) {
        None => Err(error(40014, "invalid access_token")),
        Some(issued) if issued.invalid => Err(error(40014, "invalid access_token")),
        Some(issued) if issued.expired || state.now() >= issued.expires_at => {
            Err(error(42001, "access_token expired"))
        }
        Some(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests;
