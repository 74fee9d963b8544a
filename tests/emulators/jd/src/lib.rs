//! JD's side of the open platform, for tongdao's tests: one [`JdEmulator`]
//! serves on a loopback port
//!
//! * the JOS router (`/routerjson`): the gateway's checks in its order and
//!   with its codes (14/15 method, 7/8 timestamp within 6 minutes, 11/12
//!   signature, 19 access token), a per-method call limit (code 2), injected
//!   errors and garbled answers, and the methods tongdao uses — the shop's
//!   chat sessions and chat logs (`jingdong.im.pop.sessionlist.get`,
//!   `jingdong.im.pop.chatlog.get`, windows of at most 7 days), 咚咚 pushes
//!   (`jingdong.dongdong.packet.josChatMessage.push`, which check the
//!   partner ids and write the reply into the chat log as the waiter's), and
//!   POP orders (`jingdong.pop.order.search` by modification time,
//!   `jingdong.pop.order.get`);
//! * the OAuth refresh (`/oauth2/refresh_token`): a valid refresh token
//!   buys a new access token and a new refresh token.
//!
//! Every call is logged. Its clock (for timestamp checks) is the system
//! clock unless set.

mod im;
mod oauth;
mod orders;
mod router;
pub mod signing;

use serde_json::Value;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use tongdao_loopback::{Incoming, LoopbackServer, Reply};

/// The app and seller the emulator serves.
#[derive(Debug, Clone)]
pub struct JdConfig {
    /// The App Key.
    pub app_key: String,
    /// The App Secret.
    pub app_secret: String,
    /// The seller's access token the emulator starts with.
    pub access_token: String,
    /// The refresh token that came with it.
    pub refresh_token: String,
    /// The 咚咚 access id the app was issued.
    pub dongdong_accessid: String,
    /// The 咚咚 ASP id the app was issued.
    pub dongdong_aspid: String,
    /// How far a call's timestamp may be from the clock (6 minutes).
    pub timestamp_tolerance_ms: i64,
}

impl JdConfig {
    /// A config with the given app and tokens and demo 咚咚 ids.
    pub fn new(app_key: &str, app_secret: &str, access_token: &str, refresh_token: &str) -> Self {
        JdConfig {
            app_key: app_key.into(),
            app_secret: app_secret.into(),
            access_token: access_token.into(),
            refresh_token: refresh_token.into(),
            dongdong_accessid: "dd-access-1".into(),
            dongdong_aspid: "dd-asp-1".into(),
            timestamp_tolerance_ms: 6 * 60 * 1000,
        }
    }
}

/// One line of a chat log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatEntry {
    /// The customer's pin.
    pub customer: String,
    /// The waiter (customer-service account) of the session.
    pub waiter: String,
    /// The text.
    pub content: String,
    /// The session id.
    pub sid: String,
    /// The product asked about (0 if none).
    pub sku_id: u64,
    /// When, Unix milliseconds.
    pub time_ms: i64,
    /// Written by the waiter (else by the customer).
    pub waiter_send: bool,
}

/// A JOS call as the router saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiCall {
    /// `method`.
    pub method: String,
    /// All parameters (query and form body).
    pub params: Vec<(String, String)>,
    /// The error code answered (`error_response`), `None` otherwise.
    pub error_code: Option<String>,
}

impl ApiCall {
    /// A parameter's value.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The business parameters (`360buy_param_json`), `Null` if absent or
    /// not JSON.
    pub fn business(&self) -> Value {
        self.param("360buy_param_json")
            .and_then(|text| serde_json::from_str(text).ok())
            .unwrap_or(Value::Null)
    }
}

/// A 咚咚 message the emulator received.
#[derive(Debug, Clone, PartialEq)]
pub struct PushedMessage {
    /// `param2.upid`.
    pub upid: String,
    /// `param2.fromPin`.
    pub from_pin: String,
    /// `param2.toPin`.
    pub to_pin: String,
    /// The text of `param2.body`.
    pub text: String,
}

/// An error to answer instead of the real result.
#[derive(Debug, Clone)]
struct Injected {
    method: String,
    remaining: u32,
    code: String,
    zh_desc: String,
    en_desc: String,
}

struct State {
    config: JdConfig,
    clock_ms: Option<i64>,
    valid_tokens: Vec<String>,
    refresh_token: String,
    issued: u32,
    refreshes: Vec<bool>,
    chats: Vec<ChatEntry>,
    orders: BTreeMap<String, Value>,
    pushes: Vec<PushedMessage>,
    calls: Vec<ApiCall>,
    injected: VecDeque<Injected>,
    garbled: HashMap<String, u32>,
    call_limits: HashMap<String, u32>,
}

impl State {
    fn now_ms(&self) -> i64 {
        self.clock_ms.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0)
        })
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

fn handle(state: &Mutex<State>, request: &Incoming) -> Reply {
    match request.path.as_str() {
        router::ROUTER_PATH => router::handle(&mut lock(state), request),
        oauth::REFRESH_PATH => oauth::handle(&mut lock(state), request),
        _ => Reply::not_found(),
    }
}

/// The running emulator. Stops when dropped.
pub struct JdEmulator {
    state: Arc<Mutex<State>>,
    server: LoopbackServer,
}

impl JdEmulator {
    /// Start the router and the OAuth endpoint on a loopback port.
    pub async fn start(config: JdConfig) -> anyhow::Result<JdEmulator> {
        let state = Arc::new(Mutex::new(State {
            valid_tokens: vec![config.access_token.clone()],
            refresh_token: config.refresh_token.clone(),
            config,
            clock_ms: None,
            issued: 0,
            refreshes: Vec::new(),
            chats: Vec::new(),
            orders: BTreeMap::new(),
            pushes: Vec::new(),
            calls: Vec::new(),
            injected: VecDeque::new(),
            garbled: HashMap::new(),
            call_limits: HashMap::new(),
        }));
        let for_server = Arc::clone(&state);
        let server =
            LoopbackServer::start_sync(move |request| handle(&for_server, &request)).await?;
        Ok(JdEmulator { state, server })
    }

    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut lock(&self.state))
    }

    /// `http://127.0.0.1:PORT`, instead of both `https://api.jd.com` and
    /// `https://open-oauth.jd.com`.
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// Set the clock used for timestamp checks (Unix ms); `None` = system.
    pub fn set_clock_ms(&self, ms: Option<i64>) {
        self.with(|s| s.clock_ms = ms);
    }

    /// The emulator's clock, Unix milliseconds.
    pub fn now_ms(&self) -> i64 {
        self.with(|s| s.now_ms())
    }

    /// Write a line into the chat log.
    pub fn add_chat(&self, entry: ChatEntry) {
        self.with(|s| s.chats.push(entry));
    }

    /// A customer writes `text` to `waiter` in session `sid` at `time_ms`.
    pub fn customer_says(&self, customer: &str, waiter: &str, sid: &str, text: &str, time_ms: i64) {
        self.add_chat(ChatEntry {
            customer: customer.into(),
            waiter: waiter.into(),
            content: text.into(),
            sid: sid.into(),
            sku_id: 0,
            time_ms,
            waiter_send: false,
        });
    }

    /// The chat log, oldest first.
    pub fn chat_log(&self) -> Vec<ChatEntry> {
        self.with(|s| {
            let mut chats = s.chats.clone();
            chats.sort_by_key(|c| c.time_ms);
            chats
        })
    }

    /// Put an order in state `state`, paid `payment` (yuan text) by `pin`,
    /// modified at `modified_ms`; returns it as the order APIs give it.
    pub fn set_order(
        &self,
        order_id: &str,
        state: &str,
        payment: &str,
        pin: &str,
        modified_ms: i64,
    ) -> Value {
        self.with(|s| {
            let order = orders::order(order_id, state, payment, pin, modified_ms);
            s.orders.insert(order_id.into(), order.clone());
            order
        })
    }

    /// Invalidate every access token issued so far (as when a seller's
    /// authorisation expires); the refresh token still works.
    pub fn expire_access_tokens(&self) {
        self.with(|s| s.valid_tokens.clear());
    }

    /// Answer the next `times` calls of `method` with `error_response` `code`.
    pub fn fail_next(&self, method: &str, times: u32, code: &str, zh_desc: &str, en_desc: &str) {
        self.with(|s| {
            s.injected.push_back(Injected {
                method: method.into(),
                remaining: times,
                code: code.into(),
                zh_desc: zh_desc.into(),
                en_desc: en_desc.into(),
            })
        });
    }

    /// Answer the next `times` calls of `method` with a body that is not
    /// JSON (a proxy's error page).
    pub fn garble_next(&self, method: &str, times: u32) {
        self.with(|s| s.garbled.insert(method.into(), times));
    }

    /// Allow `method` `calls` more calls, then answer code 2.
    pub fn limit_calls(&self, method: &str, calls: u32) {
        self.with(|s| s.call_limits.insert(method.into(), calls));
    }

    /// Every router call, in order.
    pub fn calls(&self) -> Vec<ApiCall> {
        self.with(|s| s.calls.clone())
    }

    /// The router calls of `method`.
    pub fn calls_of(&self, method: &str) -> Vec<ApiCall> {
        self.with(|s| {
            s.calls
                .iter()
                .filter(|c| c.method == method)
                .cloned()
                .collect()
        })
    }

    /// Every 咚咚 message accepted, in order.
    pub fn pushes(&self) -> Vec<PushedMessage> {
        self.with(|s| s.pushes.clone())
    }

    /// Every token refresh, in order: accepted or refused.
    pub fn refreshes(&self) -> Vec<bool> {
        self.with(|s| s.refreshes.clone())
    }

    /// The access tokens currently accepted.
    pub fn valid_access_tokens(&self) -> Vec<String> {
        self.with(|s| s.valid_tokens.clone())
    }
}
