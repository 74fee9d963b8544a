//! An emulator of the WeChat Official Account API's side of 客服消息:
//! `cgi-bin/stable_token` (normal and force-refresh modes, quotas),
//! `cgi-bin/token`, and `cgi-bin/message/custom/send` with token checks
//! (41001 / 40001 / 42001), body checks (47001 / 44002 / 40008 / 45002),
//! follower and reply-window rules (40003 / 45015 / 45047) and injected
//! failures. It records what it accepted for assertions.

use crate::emulators::loopback::{Handler, Incoming, LoopbackServer, Reply};
use rand::Rng;
use rand::distr::Alphanumeric;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a token lives, in seconds.
pub const TOKEN_LIFETIME_SECS: i64 = 7200;
/// The reply window after a customer's message, in seconds.
pub const WINDOW_SECS: i64 = 48 * 3600;
/// Replies allowed per customer message.
pub const MAX_REPLIES: u32 = 5;
/// The longest text content, in bytes.
pub const MAX_TEXT_BYTES: usize = 2048;

/// A message the emulator accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct SentMessage {
    /// The recipient openid.
    pub touser: String,
    /// `text`, `image`, …
    pub msgtype: String,
    /// The text content, for text messages.
    pub text: Option<String>,
    /// The access token the request used.
    pub token: String,
    /// The whole request body.
    pub body: Value,
}

#[derive(Debug, Clone)]
struct Token {
    value: String,
    expires_at: i64,
}

#[derive(Debug, Default)]
struct Follower {
    last_wrote: i64,
    replies: u32,
}

#[derive(Debug, Default)]
struct State {
    app_id: String,
    secret: String,
    stable: Option<Token>,
    classic: Option<Token>,
    /// Tokens that were valid once and have expired (→ 42001).
    expired: HashSet<String>,
    /// Tokens the platform no longer accepts (→ 40001).
    invalid: HashSet<String>,
    force_refreshes: u32,
    force_refresh_limit: u32,
    followers: HashMap<String, Follower>,
    clock: Option<i64>,
    failures: VecDeque<(i64, String)>,
    sent: Vec<SentMessage>,
    token_requests: Vec<bool>,
    requests: HashMap<String, usize>,
}

impl State {
    fn now(&self) -> i64 {
        self.clock.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0)
        })
    }
}

/// The emulator; stops when dropped.
pub struct WechatApi {
    server: LoopbackServer,
    state: Arc<Mutex<State>>,
}

fn error(code: i64, message: &str) -> Reply {
    Reply::json(json!({"errcode": code, "errmsg": message}))
}

fn new_token() -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(136)
        .map(char::from)
        .collect()
}

impl WechatApi {
    /// Start an emulator for the account `app_id` / `secret`.
    pub async fn start(app_id: &str, secret: &str) -> WechatApi {
        let state = Arc::new(Mutex::new(State {
            app_id: app_id.into(),
            secret: secret.into(),
            force_refresh_limit: 20,
            ..State::default()
        }));
        let shared = Arc::clone(&state);
        let handler: Handler = Arc::new(move |request| {
            let mut state = shared.lock().expect("emulator state");
            *state.requests.entry(request.path.clone()).or_default() += 1;
            route(&mut state, &request)
        });
        let server = LoopbackServer::start(handler)
            .await
            .expect("binding the WeChat emulator");
        WechatApi { server, state }
    }

    /// The base URL to point `api.weixin.qq.com` at.
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.state.lock().expect("emulator state"))
    }

    /// A follower wrote to the account at `unix_secs` (opens the reply window).
    pub fn customer_wrote(&self, openid: &str, unix_secs: i64) {
        self.with(|s| {
            let follower = s.followers.entry(openid.to_string()).or_default();
            follower.last_wrote = unix_secs;
            follower.replies = 0;
        })
    }

    /// Set the emulator's clock (Unix seconds); by default it is the system's.
    pub fn set_now(&self, unix_secs: i64) {
        self.with(|s| s.clock = Some(unix_secs))
    }

    /// The current stable token expires, as if 7200 s had passed (→ 42001).
    pub fn expire_current_token(&self) {
        self.with(|s| {
            if let Some(token) = s.stable.take() {
                s.expired.insert(token.value);
            }
        })
    }

    /// The current stable token stops being accepted (→ 40001), while normal
    /// mode keeps returning it: only `force_refresh` replaces it.
    pub fn invalidate_current_token(&self) {
        self.with(|s| {
            if let Some(token) = &s.stable {
                s.invalid.insert(token.value.clone());
            }
        })
    }

    /// The next `n` sends fail with `errcode`.
    pub fn fail_next_sends(&self, n: usize, errcode: i64, errmsg: &str) {
        self.with(|s| {
            for _ in 0..n {
                s.failures.push_back((errcode, errmsg.to_string()));
            }
        })
    }

    /// Messages accepted so far.
    pub fn sent_messages(&self) -> Vec<SentMessage> {
        self.with(|s| s.sent.clone())
    }

    /// `stable_token` requests so far, each with its `force_refresh` flag.
    pub fn token_requests(&self) -> Vec<bool> {
        self.with(|s| s.token_requests.clone())
    }

    /// Requests to `path` so far, accepted or not.
    pub fn request_count(&self, path: &str) -> usize {
        self.with(|s| s.requests.get(path).copied().unwrap_or(0))
    }

    /// The token normal-mode `stable_token` currently returns.
    pub fn current_token(&self) -> Option<String> {
        self.with(|s| s.stable.as_ref().map(|t| t.value.clone()))
    }

    /// Wait until at least `n` messages were accepted; panics after `timeout`.
    pub async fn wait_for_messages(&self, n: usize, timeout: Duration) -> Vec<SentMessage> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let sent = self.sent_messages();
            if sent.len() >= n {
                return sent;
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "the WeChat emulator accepted {} message(s) within {timeout:?}, expected {n}",
                    sent.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn route(state: &mut State, request: &Incoming) -> Reply {
    match (request.method.as_str(), request.path.as_str()) {
        ("POST", "/cgi-bin/stable_token") => stable_token(state, request),
        ("GET", "/cgi-bin/token") => classic_token(state, request),
        ("POST", "/cgi-bin/message/custom/send") => custom_send(state, request),
        _ => Reply {
            status: 404,
            content_type: "text/plain",
            body: b"not found".to_vec(),
        },
    }
}

fn check_credentials(state: &State, appid: Option<&str>, secret: Option<&str>) -> Option<Reply> {
    match (appid, secret) {
        (None, _) | (_, None) => Some(error(41002, "appid missing")),
        (Some(appid), _) if appid != state.app_id => Some(error(40013, "invalid appid")),
        (_, Some(secret)) if secret != state.secret => Some(error(40125, "invalid appsecret")),
        _ => None,
    }
}

fn stable_token(state: &mut State, request: &Incoming) -> Reply {
    let Ok(body) = serde_json::from_slice::<Value>(&request.body) else {
        return error(47001, "data format error");
    };
    if body["grant_type"] != "client_credential" {
        return error(40002, "invalid grant_type");
    }
    if let Some(refused) = check_credentials(state, body["appid"].as_str(), body["secret"].as_str())
    {
        return refused;
    }
    let force = body["force_refresh"].as_bool().unwrap_or(false);
    state.token_requests.push(force);
    let now = state.now();
    if force {
        if state.force_refreshes >= state.force_refresh_limit {
            return error(45009, "reach max api daily quota limit");
        }
        state.force_refreshes += 1;
        if let Some(old) = state.stable.take() {
            state.invalid.insert(old.value);
        }
    }
    let live = state
        .stable
        .as_ref()
        .filter(|t| t.expires_at > now)
        .cloned();
    let token = match live {
        Some(token) => token,
        None => {
            if let Some(old) = state.stable.take() {
                state.expired.insert(old.value);
            }
            let token = Token {
                value: new_token(),
                expires_at: now + TOKEN_LIFETIME_SECS,
            };
            state.stable = Some(token.clone());
            token
        }
    };
    Reply::json(json!({"access_token": token.value, "expires_in": token.expires_at - now}))
}

fn classic_token(state: &mut State, request: &Incoming) -> Reply {
    if request.query("grant_type") != Some("client_credential") {
        return error(40002, "invalid grant_type");
    }
    if let Some(refused) = check_credentials(state, request.query("appid"), request.query("secret"))
    {
        return refused;
    }
    let now = state.now();
    let token = Token {
        value: new_token(),
        expires_at: now + TOKEN_LIFETIME_SECS,
    };
    state.classic = Some(token.clone());
    Reply::json(json!({"access_token": token.value, "expires_in": TOKEN_LIFETIME_SECS}))
}

fn custom_send(state: &mut State, request: &Incoming) -> Reply {
    let Some(token) = request.query("access_token").map(str::to_string) else {
        return error(41001, "access_token missing");
    };
    let now = state.now();
    let is_current = |t: &Option<Token>| t.as_ref().is_some_and(|t| t.value == token);
    if state.expired.contains(&token)
        || (is_current(&state.stable) && state.stable.as_ref().is_some_and(|t| t.expires_at <= now))
    {
        return error(42001, "access_token expired");
    }
    if state.invalid.contains(&token) || !(is_current(&state.stable) || is_current(&state.classic))
    {
        return error(
            40001,
            "invalid credential, access_token is invalid or not latest",
        );
    }
    let Ok(body) = serde_json::from_slice::<Value>(&request.body) else {
        return error(47001, "data format error");
    };
    let (Some(touser), Some(msgtype)) = (body["touser"].as_str(), body["msgtype"].as_str()) else {
        return error(44002, "empty post data");
    };
    let text = match msgtype {
        "text" => match body["text"]["content"].as_str() {
            Some(content) if content.len() > MAX_TEXT_BYTES => {
                return error(45002, "content size out of limit");
            }
            Some(content) => Some(content.to_string()),
            None => return error(44002, "empty post data"),
        },
        "image" | "voice" | "video" | "mpnews" | "msgmenu" | "miniprogrampage" | "music"
        | "news" | "wxcard" => None,
        _ => return error(40008, "invalid message type"),
    };
    if let Some((code, message)) = state.failures.pop_front() {
        return error(code, &message);
    }
    let Some(follower) = state.followers.get_mut(touser) else {
        return error(40003, "invalid openid");
    };
    if now - follower.last_wrote > WINDOW_SECS {
        return error(
            45015,
            "response out of time limit or subscription is canceled",
        );
    }
    if follower.replies >= MAX_REPLIES {
        return error(45047, "out of response count limit");
    }
    follower.replies += 1;
    state.sent.push(SentMessage {
        touser: touser.to_string(),
        msgtype: msgtype.to_string(),
        text,
        token,
        body,
    });
    Reply::json(json!({"errcode": 0, "errmsg": "ok"}))
}
