//! A loopback emulator of the WeChat Official Account API (the part tongdao
//! talks to for 客服消息), for end-to-end tests:
//!
//! * `POST /cgi-bin/stable_token` — normal mode returns the same token while
//!   it is valid (a new one in its last minutes, the old one staying valid),
//!   force mode replaces it and is limited per day;
//! * `GET /cgi-bin/token` — the classic token family, isolated from the
//!   stable one;
//! * `POST /cgi-bin/message/custom/send` — token checks (41001 / 40001 /
//!   42001), body checks (47001 / 44002 / 40008 / 44004 / 40007 / 45002), the
//!   follower and reply-window rules (40003 / 45015 / 45047) and failures
//!   injected by the test;
//! * template and subscription messages: see [`crate::notices`].
//!
//! Everything it accepted and every request it saw is recorded for
//! assertions. Its clock is the system clock unless the test sets one.

use rand::Rng;
use rand::distr::Alphanumeric;
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::watch;
use tongdao_loopback::{Incoming, LoopbackServer, Reply};

/// Path of the stable-token endpoint.
pub const STABLE_TOKEN_PATH: &str = "/cgi-bin/stable_token";
/// Path of the classic token endpoint.
pub const TOKEN_PATH: &str = "/cgi-bin/token";
/// Path of the custom-message endpoint.
pub const CUSTOM_SEND_PATH: &str = "/cgi-bin/message/custom/send";
/// Path of the user-profile endpoint.
pub const USER_INFO_PATH: &str = "/cgi-bin/user/info";

/// Length of the token strings the emulator issues (the platform documents
/// that callers should reserve at least 512 characters).
pub const TOKEN_CHARS: usize = 136;

/// The account the emulator serves and the platform limits it applies.
/// [`WechatApiConfig::new`] gives the documented defaults.
#[derive(Debug, Clone)]
pub struct WechatApiConfig {
    /// The AppID (`appid`) the token endpoints accept.
    pub app_id: String,
    /// The AppSecret (`secret`) the token endpoints accept.
    pub app_secret: String,
    /// Lifetime of an issued token, in seconds (7200).
    pub token_lifetime_secs: i64,
    /// In normal mode, a token with this many seconds or fewer left is
    /// replaced by a new one (the old one stays valid until it expires): the
    /// platform "refreshes 5 minutes early" (300).
    pub early_refresh_secs: i64,
    /// `force_refresh=true` calls allowed per day (Beijing time) before
    /// 45009 (20).
    pub force_refresh_daily_limit: u32,
    /// The reply window after a customer's message, in seconds (48 h).
    pub reply_window_secs: i64,
    /// Messages allowed per customer message within the window (5).
    pub replies_per_customer_message: u32,
    /// The longest text `content`, in bytes (2048).
    pub max_text_bytes: usize,
}

impl WechatApiConfig {
    /// The documented defaults for the account `app_id` / `app_secret`.
    pub fn new(app_id: &str, app_secret: &str) -> WechatApiConfig {
        WechatApiConfig {
            app_id: app_id.to_string(),
            app_secret: app_secret.to_string(),
            token_lifetime_secs: 7200,
            early_refresh_secs: 300,
            force_refresh_daily_limit: 20,
            reply_window_secs: 48 * 3600,
            replies_per_customer_message: 5,
            max_text_bytes: 2048,
        }
    }
}

/// Which token endpoint issued a token or was asked for one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenFamily {
    /// `POST /cgi-bin/stable_token`.
    Stable,
    /// `GET /cgi-bin/token`.
    Classic,
}

/// One request to a token endpoint, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    /// The endpoint.
    pub family: TokenFamily,
    /// The `force_refresh` flag (always `false` for the classic endpoint).
    pub force_refresh: bool,
    /// The answer's `errcode`, 0 when a token was returned.
    pub errcode: i64,
    /// The token returned, if any.
    pub access_token: Option<String>,
}

/// A custom message the emulator accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct SentMessage {
    /// The recipient openid (`touser`).
    pub touser: String,
    /// `text`, `image`, …
    pub msgtype: String,
    /// `text.content`, for text messages.
    pub text: Option<String>,
    /// The access token the request used.
    pub token: String,
    /// The whole request body as parsed JSON.
    pub body: Value,
    /// The emulator's clock when it was accepted (Unix seconds).
    pub at: i64,
}

#[derive(Debug, Clone)]
struct IssuedToken {
    expires_at: i64,
    /// Expired by the test (→ 42001) regardless of the clock.
    expired: bool,
    /// No longer accepted (→ 40001): replaced by force refresh, or
    /// invalidated by the test.
    invalid: bool,
}

#[derive(Debug)]
pub(crate) struct Follower {
    last_wrote: i64,
    replies: u32,
}

#[derive(Debug)]
pub(crate) struct State {
    config: WechatApiConfig,
    clock: Option<i64>,
    tokens: HashMap<String, IssuedToken>,
    current_stable: Option<String>,
    current_classic: Option<String>,
    /// (Beijing day number, force refreshes on that day).
    force_refreshes: (i64, u32),
    pub(crate) followers: HashMap<String, Follower>,
    /// openid → unionid, for accounts bound to an Open Platform account.
    unionids: HashMap<String, String>,
    pub(crate) failures: VecDeque<(i64, String)>,
    sent: Vec<SentMessage>,
    pub(crate) notices: crate::notices::Notices,
    token_requests: Vec<TokenRequest>,
    requests: HashMap<String, usize>,
}

impl State {
    pub(crate) fn now(&self) -> i64 {
        self.clock.unwrap_or_else(system_now)
    }

    fn issue(&mut self, now: i64) -> String {
        let value: String = rand::rng()
            .sample_iter(&Alphanumeric)
            .take(TOKEN_CHARS)
            .map(char::from)
            .collect();
        self.tokens.insert(
            value.clone(),
            IssuedToken {
                expires_at: now + self.config.token_lifetime_secs,
                expired: false,
                invalid: false,
            },
        );
        value
    }

    fn is_expired(&self, token: &IssuedToken, now: i64) -> bool {
        token.expired || now >= token.expires_at
    }
}

fn system_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The running emulator. Cheap to share by reference across tasks; every
/// method takes `&self`. Stops on [`WechatApiEmulator::shutdown`] or when
/// dropped.
pub struct WechatApiEmulator {
    server: LoopbackServer,
    state: Arc<Mutex<State>>,
    accepted: watch::Receiver<usize>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl WechatApiEmulator {
    /// Start serving `config`'s account on a loopback port.
    pub async fn start(config: WechatApiConfig) -> anyhow::Result<WechatApiEmulator> {
        let state = Arc::new(Mutex::new(State {
            config,
            clock: None,
            tokens: HashMap::new(),
            current_stable: None,
            current_classic: None,
            force_refreshes: (0, 0),
            followers: HashMap::new(),
            unionids: HashMap::new(),
            failures: VecDeque::new(),
            sent: Vec::new(),
            notices: Default::default(),
            token_requests: Vec::new(),
            requests: HashMap::new(),
        }));
        let (accepted_tx, accepted) = watch::channel(0usize);
        let shared = Arc::clone(&state);
        let server = LoopbackServer::start_sync(move |request| {
            let mut state = lock(&shared);
            *state.requests.entry(request.path.clone()).or_default() += 1;
            let reply = route(&mut state, &request);
            accepted_tx.send_replace(state.sent.len() + state.notices.sent.len());
            reply
        })
        .await?;
        Ok(WechatApiEmulator {
            server,
            state,
            accepted,
        })
    }

    /// `http://127.0.0.1:PORT`: what to use instead of
    /// `https://api.weixin.qq.com`.
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// Stop serving; connecting afterwards is refused.
    pub async fn shutdown(&self) {
        self.server.shutdown().await
    }

    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut lock(&self.state))
    }

    /// The follower `openid` wrote to the account at `unix_secs`: opens a
    /// reply window of 48 h with a fresh quota of 5 messages.
    pub fn customer_wrote(&self, openid: &str, unix_secs: i64) {
        self.with(|s| {
            s.followers.insert(
                openid.to_string(),
                Follower {
                    last_wrote: unix_secs,
                    replies: 0,
                },
            );
        })
    }

    /// Set the emulator's clock to `unix_secs` (it stays there until set
    /// again). Token expiry, the reply window and daily quotas follow it.
    pub fn set_now(&self, unix_secs: i64) {
        self.with(|s| s.clock = Some(unix_secs))
    }

    /// Go back to the system clock.
    pub fn use_system_clock(&self) {
        self.with(|s| s.clock = None)
    }

    /// The emulator's clock, Unix seconds.
    pub fn now(&self) -> i64 {
        self.with(|s| s.now())
    }

    /// The current tokens of both families expire, as if their 7200 s had
    /// passed: sending with them answers 42001, and the next normal-mode
    /// token request issues a new token.
    pub fn expire_current_token(&self) {
        self.with(|s| {
            for current in [s.current_stable.clone(), s.current_classic.clone()]
                .into_iter()
                .flatten()
            {
                if let Some(token) = s.tokens.get_mut(&current) {
                    token.expired = true;
                }
            }
        })
    }

    /// The current tokens of both families stop being accepted: sending with
    /// them answers 40001. Normal-mode `stable_token` keeps returning the
    /// invalid token while it has not expired; only `force_refresh=true`
    /// replaces it (what the platform advises on 40001).
    pub fn invalidate_current_token(&self) {
        self.with(|s| {
            for current in [s.current_stable.clone(), s.current_classic.clone()]
                .into_iter()
                .flatten()
            {
                if let Some(token) = s.tokens.get_mut(&current) {
                    token.invalid = true;
                }
            }
        })
    }

    /// The next `n` custom sends that pass the token and body checks answer
    /// `{"errcode": errcode, "errmsg": errmsg}` instead of being processed
    /// (e.g. `-1` "system error", 45009 "api freq out of limit").
    pub fn fail_next_sends(&self, n: usize, errcode: i64, errmsg: &str) {
        self.with(|s| {
            s.failures
                .extend(std::iter::repeat_n((errcode, errmsg.to_string()), n))
        })
    }

    /// The account has the template `id` (for template and subscription
    /// messages).
    pub fn add_template(&self, id: &str) {
        self.with(|s| s.notices.templates.insert(id.to_owned()));
    }

    /// `openid` follows the account (without having written).
    pub fn follow(&self, openid: &str) {
        self.with(|s| s.notices.follows.insert(openid.to_owned()));
    }

    /// `openid` subscribed once to template `id` (一次性订阅): one
    /// subscription message may reach them.
    pub fn subscribe(&self, openid: &str, id: &str) {
        self.with(|s| {
            *s.notices
                .subscriptions
                .entry((openid.to_owned(), id.to_owned()))
                .or_default() += 1
        });
    }

    /// Template messages whose `client_msg_id` repeated one accepted
    /// within 10 minutes: answered with the first msgid, not sent again.
    pub fn notice_repeats(&self) -> usize {
        self.with(|s| s.notices.repeats)
    }

    /// Template and subscription messages accepted so far, in order.
    pub fn notices(&self) -> Vec<crate::notices::SentNotice> {
        self.with(|s| s.notices.sent.clone())
    }

    /// Resolve once custom messages and notifications accepted together
    /// reach `n`; an error if that does not happen within `timeout`.
    pub async fn wait_for_accepted(&self, n: usize, timeout: Duration) -> anyhow::Result<()> {
        let mut accepted = self.accepted.clone();
        let reached = tokio::time::timeout(timeout, accepted.wait_for(|count| *count >= n))
            .await
            .map(|waited| waited.is_ok());
        match reached {
            Ok(true) => Ok(()),
            Ok(false) => anyhow::bail!("the WeChat API emulator stopped"),
            Err(_) => anyhow::bail!(
                "the WeChat API emulator accepted {} message(s) and notification(s) within {timeout:?}, expected {n}",
                *self.accepted.borrow()
            ),
        }
    }

    /// Messages accepted so far, in order.
    pub fn sent_messages(&self) -> Vec<SentMessage> {
        self.with(|s| s.sent.clone())
    }

    /// Requests to either token endpoint so far, including refused ones.
    pub fn token_requests(&self) -> usize {
        self.with(|s| s.token_requests.len())
    }

    /// Every request to a token endpoint so far, in order.
    pub fn token_request_log(&self) -> Vec<TokenRequest> {
        self.with(|s| s.token_requests.clone())
    }

    /// Binds an openid to a unionid, as an account bound to an Open
    /// Platform account reports it in `user/info`.
    pub fn bind_unionid(&self, openid: &str, unionid: &str) {
        lock(&self.state)
            .unionids
            .insert(openid.to_string(), unionid.to_string());
    }

    /// Requests to `path` (e.g. [`CUSTOM_SEND_PATH`]) so far, whatever the
    /// answer; unknown paths are counted too.
    pub fn request_count(&self, path: &str) -> usize {
        self.with(|s| s.requests.get(path).copied().unwrap_or(0))
    }

    /// The token normal-mode `stable_token` last issued, if any.
    pub fn current_token(&self) -> Option<String> {
        self.with(|s| s.current_stable.clone())
    }

    /// Messages the follower `openid` may still receive in the current
    /// window (ignoring the window's end), or `None` for an unknown openid.
    pub fn replies_left(&self, openid: &str) -> Option<u32> {
        self.with(|s| {
            let limit = s.config.replies_per_customer_message;
            s.followers
                .get(openid)
                .map(|f| limit.saturating_sub(f.replies))
        })
    }

    /// Resolve once at least `n` messages have been accepted, with all the
    /// messages accepted so far; an error if that does not happen within
    /// `timeout` (so `is_err()` also asserts that nothing more was sent).
    pub async fn wait_for_messages(
        &self,
        n: usize,
        timeout: Duration,
    ) -> anyhow::Result<Vec<SentMessage>> {
        let mut accepted = self.accepted.clone();
        match tokio::time::timeout(timeout, accepted.wait_for(|count| *count >= n)).await {
            Ok(Ok(_)) => Ok(self.sent_messages()),
            Ok(Err(_)) => anyhow::bail!("the WeChat API emulator stopped"),
            Err(_) => {
                let sent = self.sent_messages();
                anyhow::bail!(
                    "the WeChat API emulator accepted {} message(s) within {timeout:?}, expected {n}: {:?}",
                    sent.len(),
                    sent.iter().map(|m| &m.body).collect::<Vec<_>>()
                )
            }
        }
    }
}

pub(crate) fn error(code: i64, message: &str) -> Reply {
    Reply::json(&json!({"errcode": code, "errmsg": message}))
}

fn route(state: &mut State, request: &Incoming) -> Reply {
    match (request.method.as_str(), request.path.as_str()) {
        ("POST", STABLE_TOKEN_PATH) => stable_token(state, request),
        ("GET", TOKEN_PATH) => classic_token(state, request),
        ("POST", CUSTOM_SEND_PATH) => custom_send(state, request),
        ("GET", USER_INFO_PATH) => user_info(state, request),
        ("POST", crate::notices::TEMPLATE_SEND_PATH) => {
            crate::notices::send(state, request, crate::notices::NoticeApi::Template)
        }
        ("POST", crate::notices::SUBSCRIBE_SEND_PATH) => {
            crate::notices::send(state, request, crate::notices::NoticeApi::Subscription)
        }
        _ => Reply::not_found(),
    }
}

fn check_credentials(
    state: &State,
    grant_type: Option<&str>,
    appid: Option<&str>,
    secret: Option<&str>,
) -> Result<(), (i64, &'static str)> {
    if grant_type != Some("client_credential") {
        return Err((40002, "invalid grant_type"));
    }
    let appid = appid
        .filter(|a| !a.is_empty())
        .ok_or((41002, "appid missing"))?;
    let secret = secret
        .filter(|s| !s.is_empty())
        .ok_or((41004, "appsecret missing"))?;
    if appid != state.config.app_id {
        return Err((40013, "invalid appid"));
    }
    if secret != state.config.app_secret {
        return Err((40125, "invalid appsecret"));
    }
    Ok(())
}

fn token_reply(
    state: &mut State,
    request: TokenRequest,
    reply: Result<(String, i64), (i64, &str)>,
) -> Reply {
    let (logged, reply) = match reply {
        Ok((token, expires_in)) => (
            TokenRequest {
                access_token: Some(token.clone()),
                ..request
            },
            Reply::json(&json!({"access_token": token, "expires_in": expires_in})),
        ),
        Err((code, message)) => (
            TokenRequest {
                errcode: code,
                ..request
            },
            error(code, message),
        ),
    };
    state.token_requests.push(logged);
    reply
}

fn stable_token(state: &mut State, request: &Incoming) -> Reply {
    let body = serde_json::from_slice::<Value>(&request.body).ok();
    let force = body
        .as_ref()
        .and_then(|b| b["force_refresh"].as_bool())
        .unwrap_or(false);
    let logged = TokenRequest {
        family: TokenFamily::Stable,
        force_refresh: force,
        errcode: 0,
        access_token: None,
    };
    let Some(body) = body.filter(Value::is_object) else {
        return token_reply(state, logged, Err((47001, "data format error")));
    };
    if let Err(refused) = check_credentials(
        state,
        body["grant_type"].as_str(),
        body["appid"].as_str(),
        body["secret"].as_str(),
    ) {
        return token_reply(state, logged, Err(refused));
    }
    let now = state.now();
    if force {
        let day = (now + 8 * 3600).div_euclid(86_400);
        if state.force_refreshes.0 != day {
            state.force_refreshes = (day, 0);
        }
        if state.force_refreshes.1 >= state.config.force_refresh_daily_limit {
            return token_reply(
                state,
                logged,
                Err((45009, "reach max api daily quota limit")),
            );
        }
        state.force_refreshes.1 += 1;
        if let Some(old) = state.current_stable.take()
            && let Some(old) = state.tokens.get_mut(&old)
        {
            old.invalid = true;
        }
    }
    let early = state.config.early_refresh_secs;
    let live = state.current_stable.as_ref().and_then(|value| {
        let token = state.tokens.get(value)?;
        let usable = !state.is_expired(token, now) && token.expires_at - now > early;
        usable.then(|| (value.clone(), token.expires_at - now))
    });
    let answer = match live {
        Some(live) => live,
        None => {
            let value = state.issue(now);
            state.current_stable = Some(value.clone());
            (value, state.config.token_lifetime_secs)
        }
    };
    token_reply(state, logged, Ok(answer))
}

fn classic_token(state: &mut State, request: &Incoming) -> Reply {
    let logged = TokenRequest {
        family: TokenFamily::Classic,
        force_refresh: false,
        errcode: 0,
        access_token: None,
    };
    if let Err(refused) = check_credentials(
        state,
        request.query("grant_type"),
        request.query("appid"),
        request.query("secret"),
    ) {
        return token_reply(state, logged, Err(refused));
    }
    let now = state.now();
    // Every call issues a new token; the previous one keeps working for at
    // most 5 more minutes.
    if let Some(old) = state.current_classic.take()
        && let Some(old) = state.tokens.get_mut(&old)
    {
        old.expires_at = old.expires_at.min(now + 300);
    }
    let value = state.issue(now);
    state.current_classic = Some(value.clone());
    let lifetime = state.config.token_lifetime_secs;
    token_reply(state, logged, Ok((value, lifetime)))
}

/// Checks the `access_token` query parameter: `Err` is the platform's
/// error answer.
pub(crate) fn check_token(state: &State, request: &Incoming) -> Result<(), Reply> {
    let Some(token) = request.query("access_token").filter(|t| !t.is_empty()) else {
        return Err(error(41001, "access_token missing"));
    };
    match state.tokens.get(token) {
        None => Err(error(
            40001,
            "invalid credential, access_token is invalid or not latest",
        )),
        Some(issued) if issued.invalid => Err(error(
            40001,
            "invalid credential, access_token is invalid or not latest",
        )),
        Some(issued) if state.is_expired(issued, state.now()) => {
            Err(error(42001, "access_token expired"))
        }
        Some(_) => Ok(()),
    }
}

/// `user/info`: the follower's profile; `unionid` only when the test bound
/// the openid to one (the account is bound to an Open Platform account).
fn user_info(state: &mut State, request: &Incoming) -> Reply {
    if let Err(refused) = check_token(state, request) {
        return refused;
    }
    let Some(openid) = request.query("openid").filter(|o| !o.is_empty()) else {
        return error(41009, "missing openid");
    };
    if !state.followers.contains_key(openid) && !state.unionids.contains_key(openid) {
        return error(40003, "invalid openid");
    }
    let mut profile = serde_json::json!({
        "subscribe": 1,
        "openid": openid,
        "language": "zh_CN",
        "subscribe_time": state.now(),
    });
    if let Some(unionid) = state.unionids.get(openid) {
        profile["unionid"] = Value::String(unionid.clone());
    }
    Reply::json(&profile)
}

fn custom_send(state: &mut State, request: &Incoming) -> Reply {
    let Some(token) = request.query("access_token").filter(|t| !t.is_empty()) else {
        return error(41001, "access_token missing");
    };
    let now = state.now();
    match state.tokens.get(token) {
        None => {
            return error(
                40001,
                "invalid credential, access_token is invalid or not latest",
            );
        }
        Some(issued) if issued.invalid => {
            return error(
                40001,
                "invalid credential, access_token is invalid or not latest",
            );
        }
        Some(issued) if state.is_expired(issued, now) => {
            return error(42001, "access_token expired");
        }
        Some(_) => {}
    }
    let token = token.to_string();
    if request.body.is_empty() {
        return error(44002, "empty post data");
    }
    let Ok(body) = serde_json::from_slice::<Value>(&request.body) else {
        return error(47001, "data format error");
    };
    if !body.is_object() {
        return error(47001, "data format error");
    }
    let Some(touser) = body["touser"].as_str().filter(|t| !t.is_empty()) else {
        return error(44002, "empty post data");
    };
    let Some(msgtype) = body["msgtype"].as_str() else {
        return error(40008, "invalid message type");
    };
    let text = match msgtype {
        "text" => match body["text"]["content"].as_str() {
            None | Some("") => return error(44004, "empty content"),
            Some(content) if content.len() > state.config.max_text_bytes => {
                return error(45002, "content size out of limit");
            }
            Some(content) => Some(content.to_string()),
        },
        "image" | "voice" | "video" | "mpnews" => {
            if body[msgtype]["media_id"]
                .as_str()
                .is_none_or(|m| m.is_empty())
            {
                return error(40007, "invalid media_id");
            }
            None
        }
        "music" | "news" | "mpnewsarticle" | "msgmenu" | "wxcard" | "miniprogrampage" => None,
        _ => return error(40008, "invalid message type"),
    };
    if let Some((code, message)) = state.failures.pop_front() {
        return error(code, &message);
    }
    let (window, limit) = (
        state.config.reply_window_secs,
        state.config.replies_per_customer_message,
    );
    let Some(follower) = state.followers.get_mut(touser) else {
        return error(40003, "invalid openid");
    };
    if now - follower.last_wrote > window {
        return error(
            45015,
            "response out of time limit or subscription is canceled",
        );
    }
    if follower.replies >= limit {
        return error(45047, "out of response count limit");
    }
    follower.replies += 1;
    state.sent.push(SentMessage {
        touser: touser.to_string(),
        msgtype: msgtype.to_string(),
        text,
        token,
        body: body.clone(),
        at: now,
    });
    error(0, "ok")
}
