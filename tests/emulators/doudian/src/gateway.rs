//! A loopback emulator of the 抖店 open-API gateway
//! (`openapi-fxg.jinritemai.com`), the part tongdao calls:
//!
//! * every call: `POST /{method with . → /}` with `param_json` as the body and
//!   `app_key, method, access_token, timestamp, v, sign_method, sign` in the
//!   query; the platform's checks and codes — 40001 `isv.app-id-missing` /
//!   `isv.signature-missing` / `isv.access-token-missing`, 40003
//!   `isv.app-id-invalid` / `isv.signature-invalid` / `isv.timestamp-invalid`
//!   / `isv.parameter-format-invalid` / `isv.access-token-no-existed` /
//!   `isv.access-token-expired`, 70000 `isp.api-service-off`, 60000 when
//!   the per-second rate limit is hit;
//! * `/token/create` (`grant_type=authorization_self`, `shop_id`) and
//!   `/token/refresh` (`grant_type=refresh_token`) with token lifetimes and
//!   the `dop.token-generate-failed:*` codes;
//! * `/order/orderDetail` for the orders the test registers.
//!
//! Every request is logged with the answer's code, and a test can inject
//! failures ("answer the next N calls of method M with code C"). Its clock is
//! the system clock unless the test sets one.

use crate::signing::{SignMethod, api_sign};
use rand::Rng;
use rand::distr::Alphanumeric;
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use time::macros::{format_description, offset};
use tongdao_loopback::{Incoming, LoopbackServer, Reply};

/// The code of a successful call.
pub const SUCCESS: i64 = 10000;

/// The app and shop the emulator serves, and the limits it applies.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// The app's App Key.
    pub app_key: String,
    /// The app's App Secret.
    pub app_secret: String,
    /// The shop the app is authorized for (自用型: one shop).
    pub shop_id: String,
    /// Lifetime of an access token, seconds (documented: 7 days).
    pub access_lifetime_secs: i64,
    /// Lifetime of a refresh token, seconds (documented: 14 days).
    pub refresh_lifetime_secs: i64,
    /// Accepted clock difference of `timestamp`, seconds.
    pub max_skew_secs: i64,
    /// Calls per second per app before 60000 (0 = unlimited).
    pub calls_per_second: u32,
}

impl GatewayConfig {
    /// The documented defaults for app `app_key` / `app_secret` and shop
    /// `shop_id`.
    pub fn new(app_key: &str, app_secret: &str, shop_id: &str) -> GatewayConfig {
        GatewayConfig {
            app_key: app_key.into(),
            app_secret: app_secret.into(),
            shop_id: shop_id.into(),
            access_lifetime_secs: 7 * 24 * 3600,
            refresh_lifetime_secs: 14 * 24 * 3600,
            max_skew_secs: 600,
            calls_per_second: 0,
        }
    }
}

/// One request the gateway saw, and how it answered.
#[derive(Debug, Clone, PartialEq)]
pub struct GatewayCall {
    /// The URL path, e.g. `/order/orderDetail`.
    pub path: String,
    /// The query parameters, decoded.
    pub query: Vec<(String, String)>,
    /// The body (`param_json`).
    pub body: String,
    /// The answer's `code` (10000 on success).
    pub code: i64,
    /// The answer's `sub_code` (empty on success).
    pub sub_code: String,
}

impl GatewayCall {
    /// The query parameter `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The API method (`method` query parameter).
    pub fn method(&self) -> Option<&str> {
        self.param("method")
    }

    /// Whether the call succeeded.
    pub fn succeeded(&self) -> bool {
        self.code == SUCCESS
    }
}

/// A failure to answer instead of processing a call.
#[derive(Debug, Clone)]
struct Injected {
    method: String,
    code: i64,
    sub_code: String,
    sub_msg: String,
}

#[derive(Debug, Clone)]
struct Token {
    expires_at: i64,
    expired: bool,
}

#[derive(Debug)]
struct State {
    config: GatewayConfig,
    clock: Option<i64>,
    access: HashMap<String, Token>,
    refresh: HashMap<String, Token>,
    orders: HashMap<String, Value>,
    failures: VecDeque<Injected>,
    log: Vec<GatewayCall>,
    /// (second, calls in it) for the rate limit.
    window: (i64, u32),
}

impl State {
    fn now(&self) -> i64 {
        self.clock.unwrap_or_else(system_now)
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

/// The running gateway. Every method takes `&self`; it stops on
/// [`DoudianGateway::shutdown`] or when dropped.
pub struct DoudianGateway {
    server: LoopbackServer,
    state: Arc<Mutex<State>>,
}

impl DoudianGateway {
    /// Start serving `config` on a loopback port.
    pub async fn start(config: GatewayConfig) -> anyhow::Result<DoudianGateway> {
        let state = Arc::new(Mutex::new(State {
            config,
            clock: None,
            access: HashMap::new(),
            refresh: HashMap::new(),
            orders: HashMap::new(),
            failures: VecDeque::new(),
            log: Vec::new(),
            window: (0, 0),
        }));
        let shared = Arc::clone(&state);
        let server = LoopbackServer::start_sync(move |request| {
            let mut state = lock(&shared);
            let (status, answer) = handle(&mut state, &request);
            state.log.push(GatewayCall {
                path: request.path.clone(),
                query: request.query.clone(),
                body: String::from_utf8_lossy(&request.body).into_owned(),
                code: answer["code"].as_i64().unwrap_or(0),
                sub_code: answer["sub_code"].as_str().unwrap_or_default().to_string(),
            });
            let mut reply = Reply::json(&answer);
            reply.status = status;
            reply
        })
        .await?;
        Ok(DoudianGateway { server, state })
    }

    /// `http://127.0.0.1:PORT`: what to use instead of
    /// `https://openapi-fxg.jinritemai.com`.
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

    /// Register an order `/order/orderDetail` answers with: `detail` becomes
    /// `data.shop_order_detail` (its `order_id` is set to `order_id`).
    pub fn add_order(&self, order_id: &str, mut detail: Value) {
        detail["order_id"] = Value::String(order_id.to_string());
        self.with(|s| s.orders.insert(order_id.to_string(), detail));
    }

    /// Register a paid order (`order_status` 2 备货中) of `pay_amount_fen`.
    pub fn add_paid_order(&self, order_id: &str, pay_amount_fen: i64) {
        self.add_order(
            order_id,
            json!({
                "order_status": 2,
                "order_status_desc": "备货中",
                "pay_amount": pay_amount_fen,
                "order_amount": pay_amount_fen,
                "logistics_info": [],
            }),
        );
    }

    /// Set the clock to `unix_secs` (token expiry and timestamps follow it).
    pub fn set_now(&self, unix_secs: i64) {
        self.with(|s| s.clock = Some(unix_secs))
    }

    /// Every access token issued so far expires now: calls with them answer
    /// 40003 `isv.access-token-expired` (refresh tokens stay valid).
    pub fn expire_access_tokens(&self) {
        self.with(|s| s.access.values_mut().for_each(|t| t.expired = true))
    }

    /// Every refresh token issued so far expires now.
    pub fn expire_refresh_tokens(&self) {
        self.with(|s| s.refresh.values_mut().for_each(|t| t.expired = true))
    }

    /// The next `n` calls of API `method` (e.g. `order.orderDetail`) that
    /// pass the gateway's checks answer `code` / `sub_code` / `sub_msg`.
    pub fn fail_next(&self, method: &str, n: usize, code: i64, sub_code: &str, sub_msg: &str) {
        let injected = Injected {
            method: method.into(),
            code,
            sub_code: sub_code.into(),
            sub_msg: sub_msg.into(),
        };
        self.with(|s| s.failures.extend(std::iter::repeat_n(injected, n)))
    }

    /// Allow `calls_per_second` calls per second (0 = unlimited); beyond
    /// that the gateway answers 60000.
    pub fn limit_rate(&self, calls_per_second: u32) {
        self.with(|s| s.config.calls_per_second = calls_per_second)
    }

    /// Every request so far, in order.
    pub fn calls(&self) -> Vec<GatewayCall> {
        self.with(|s| s.log.clone())
    }

    /// The requests for API `method` so far, in order.
    pub fn calls_of(&self, method: &str) -> Vec<GatewayCall> {
        self.calls()
            .into_iter()
            .filter(|c| c.method() == Some(method))
            .collect()
    }

    /// Whether `token` is an access token the gateway accepts now.
    pub fn is_live_access_token(&self, token: &str) -> bool {
        self.with(|s| {
            let now = s.now();
            s.access
                .get(token)
                .is_some_and(|t| !t.expired && now < t.expires_at)
        })
    }

    /// Resolve once `predicate` holds for the log, or fail after `timeout`.
    pub async fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        predicate: impl Fn(&[GatewayCall]) -> bool,
    ) -> anyhow::Result<Vec<GatewayCall>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let calls = self.calls();
            if predicate(&calls) {
                return Ok(calls);
            }
            if tokio::time::Instant::now() >= deadline {
                anyhow::bail!("the 抖店 gateway did not see {what} within {timeout:?}: {calls:#?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// An answer in the gateway's envelope.
fn answer(code: i64, msg: &str, sub_code: &str, sub_msg: &str, data: Value) -> Value {
    let log_id: String = rand::rng()
        .sample_iter(&Alphanumeric)
        .take(24)
        .map(char::from)
        .collect();
    json!({
        "code": code, "msg": msg, "sub_code": sub_code, "sub_msg": sub_msg,
        "log_id": log_id, "data": data,
    })
}

fn refuse(code: i64, sub_code: &str, sub_msg: &str) -> Value {
    let msg = match code {
        20000 => "服务不可用",
        30001 => "操作权限不足",
        40001 => "缺少必选参数（平台校验）",
        40002 => "缺少必选参数（业务校验）",
        40003 => "非法的参数（平台校验）",
        40004 => "非法的参数（业务校验）",
        50001 => "平台处理失败",
        50002 => "业务处理失败",
        60000 => "触发限流，请稍后重试",
        70000 => "接口服务已下线",
        _ => "其他异常",
    };
    answer(code, msg, sub_code, sub_msg, json!({}))
}

fn ok(data: Value) -> Value {
    answer(SUCCESS, "success", "", "", data)
}

/// Route and check one request: (HTTP status, answer).
fn handle(state: &mut State, request: &Incoming) -> (u16, Value) {
    if request.method != "POST" && request.method != "GET" {
        return (
            405,
            refuse(40003, "isv.http-method-invalid", "请求方法不支持"),
        );
    }
    let api_method = request.path.trim_start_matches('/').replace('/', ".");
    match check_call(state, request, &api_method) {
        Err(refused) => (200, refused),
        Ok(params) => (200, dispatch(state, request, &api_method, &params)),
    }
}

/// The gateway's checks, in the platform's order; the business parameters
/// when they pass.
fn check_call(state: &mut State, request: &Incoming, api_method: &str) -> Result<Value, Value> {
    let config = state.config.clone();
    let app_key = request
        .query("app_key")
        .filter(|k| !k.is_empty())
        .ok_or_else(|| refuse(40001, "isv.app-id-missing", "认证失败，app_key不存在"))?;
    if app_key.len() != 19 || !app_key.bytes().all(|b| b.is_ascii_digit()) {
        return Err(refuse(
            40003,
            "isv.app-id-invalid",
            "认证失败，app_key格式不正确，应为19位纯数字",
        ));
    }
    if app_key != config.app_key {
        return Err(refuse(
            40003,
            "isv.app-id-invalid",
            "认证失败，app_key不存在",
        ));
    }
    if request.query("method") != Some(api_method) {
        return Err(refuse(
            40003,
            "isv.method-invalid",
            "method 与请求路径不一致",
        ));
    }
    if request.query("v") != Some("2") {
        return Err(refuse(40003, "isv.version-invalid", "v 必须为 2"));
    }
    let sign = request
        .query("sign")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            refuse(
                40001,
                "isv.signature-missing",
                "获取签名失败，请根据文档确保参数拼装正确",
            )
        })?;
    let sign_method = match request.query("sign_method") {
        None | Some("") => SignMethod::Md5,
        Some(name) => SignMethod::parse(name)
            .ok_or_else(|| refuse(40003, "isv.sign-method-invalid", "sign_method 不支持"))?,
    };
    let timestamp = request.query("timestamp").unwrap_or_default();
    let at = parse_timestamp(timestamp)
        .ok_or_else(|| refuse(40003, "isv.timestamp-format-error", "时间戳格式错误"))?;
    if (at - state.now()).abs() > config.max_skew_secs {
        return Err(refuse(40003, "isv.timestamp-invalid", "时间戳不合法"));
    }
    let body = std::str::from_utf8(&request.body).map_err(|_| {
        refuse(
            40003,
            "isv.parameter-format-invalid",
            "业务参数json解析失败",
        )
    })?;
    let param_json = if body.trim().is_empty() { "{}" } else { body };
    let expected = api_sign(
        sign_method,
        &config.app_key,
        &config.app_secret,
        api_method,
        param_json,
        timestamp,
    );
    if !expected.eq_ignore_ascii_case(sign) {
        return Err(refuse(40003, "isv.signature-invalid", "签名校验失败"));
    }
    let params: Value = serde_json::from_str(param_json)
        .ok()
        .filter(Value::is_object)
        .ok_or_else(|| {
            refuse(
                40003,
                "isv.parameter-format-invalid",
                "业务参数json解析失败",
            )
        })?;
    if !matches!(
        api_method,
        "token.create" | "token.refresh" | "order.orderDetail"
    ) {
        return Err(refuse(70000, "isp.api-service-off", "API不存在或API已下线"));
    }
    if !api_method.starts_with("token.") {
        let token = request
            .query("access_token")
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                refuse(
                    40001,
                    "isv.access-token-missing",
                    "认证失败，access_token不能为空",
                )
            })?;
        let now = state.now();
        match state.access.get(token) {
            None => {
                return Err(refuse(
                    40003,
                    "isv.access-token-no-existed",
                    "access_token不存在，请使用最新的access_token访问",
                ));
            }
            Some(t) if t.expired || now >= t.expires_at => {
                return Err(refuse(
                    40003,
                    "isv.access-token-expired",
                    "access_token已过期",
                ));
            }
            Some(_) => {}
        }
    }
    if config.calls_per_second > 0 {
        let now = state.now();
        if state.window.0 != now {
            state.window = (now, 0);
        }
        state.window.1 += 1;
        if state.window.1 > config.calls_per_second {
            return Err(refuse(
                60000,
                "isv.api-flow-limited",
                "触发限流，请稍后重试",
            ));
        }
    }
    if let Some(index) = state.failures.iter().position(|f| f.method == api_method) {
        let injected = state.failures.remove(index).expect("the position exists");
        return Err(refuse(injected.code, &injected.sub_code, &injected.sub_msg));
    }
    Ok(params)
}

/// `timestamp` as Unix seconds. SDKs send Unix seconds, Unix milliseconds
/// (one version of the Java SDK) or `yyyy-MM-dd HH:mm:ss` in GMT+8; all are
/// accepted.
fn parse_timestamp(text: &str) -> Option<i64> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        let value: i64 = text.parse().ok()?;
        return Some(if value >= 100_000_000_000 {
            value / 1000
        } else {
            value
        });
    }
    let format = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    time::PrimitiveDateTime::parse(text, &format)
        .ok()
        .map(|at| at.assume_offset(offset!(+8)).unix_timestamp())
}

fn dispatch(state: &mut State, request: &Incoming, api_method: &str, params: &Value) -> Value {
    let _ = request;
    match api_method {
        "token.create" => token_create(state, params),
        "token.refresh" => token_refresh(state, params),
        _ => order_detail(state, params),
    }
}

fn text_param(params: &Value, name: &str) -> Option<String> {
    match params.get(name)? {
        Value::String(s) => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
    .filter(|s| !s.is_empty())
}

fn issue(state: &mut State) -> Value {
    let now = state.now();
    let token = |len| -> String {
        rand::rng()
            .sample_iter(&Alphanumeric)
            .take(len)
            .map(char::from)
            .collect()
    };
    let (access, refresh) = (token(36), token(36));
    let config = state.config.clone();
    state.access.insert(
        access.clone(),
        Token {
            expires_at: now + config.access_lifetime_secs,
            expired: false,
        },
    );
    state.refresh.insert(
        refresh.clone(),
        Token {
            expires_at: now + config.refresh_lifetime_secs,
            expired: false,
        },
    );
    ok(json!({
        "access_token": access,
        "expires_in": config.access_lifetime_secs,
        "refresh_token": refresh,
        "scope": "SCOPE",
        "shop_id": config.shop_id.parse::<u64>().map(Value::from).unwrap_or(Value::String(config.shop_id.clone())),
        "shop_name": "tongdao 测试店铺",
        "authority_id": "",
        "auth_subject_type": "MiniApp",
    }))
}

fn token_create(state: &mut State, params: &Value) -> Value {
    match text_param(params, "grant_type").as_deref() {
        Some("authorization_self") => {}
        Some("authorization_code") => {
            return refuse(
                50001,
                "dop.token-generate-failed:code-invalid",
                "生成token失败，code参数不正确，请引导商家重新授权获取code",
            );
        }
        _ => {
            return refuse(
                50001,
                "dop.token-generate-failed:grant-type-invalid",
                "生成token失败，grant_type参数取值不正确，请参照文档根据应用类型填写不同的值",
            );
        }
    }
    if text_param(params, "shop_id").as_deref() != Some(state.config.shop_id.as_str()) {
        return refuse(
            50001,
            "dop.token-generate-failed:no-authorization",
            "生成token失败，店铺授权已失效，请重新引导商家完成店铺授权",
        );
    }
    issue(state)
}

fn token_refresh(state: &mut State, params: &Value) -> Value {
    if text_param(params, "grant_type").as_deref() != Some("refresh_token") {
        return refuse(
            50001,
            "dop.token-generate-failed:grant-type-invalid",
            "生成token失败，grant_type参数取值不正确",
        );
    }
    let Some(refresh) = text_param(params, "refresh_token") else {
        return refuse(
            40002,
            "isv.missing-parameter:refresh_token",
            "refresh_token不能为空",
        );
    };
    let now = state.now();
    match state.refresh.get(&refresh) {
        None => refuse(
            50001,
            "dop.token-generate-failed:token-invalid",
            "生成token失败，token不存在",
        ),
        Some(t) if t.expired || now >= t.expires_at => refuse(
            50001,
            "dop.token-generate-failed:token-expired",
            "生成token失败，token已过期",
        ),
        Some(_) => {
            // A refresh token is spent once used.
            state.refresh.remove(&refresh);
            issue(state)
        }
    }
}

fn order_detail(state: &mut State, params: &Value) -> Value {
    let Some(order_id) = text_param(params, "shop_order_id") else {
        return refuse(
            40002,
            "isv.missing-parameter:shop_order_id",
            "shop_order_id不能为空",
        );
    };
    match state.orders.get(&order_id) {
        Some(detail) => ok(json!({ "shop_order_detail": detail })),
        None => refuse(50002, "isv.business-failed:20015", "订单不存在"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::param_json;

    const APP_KEY: &str = "7000000000000000001";
    const SECRET: &str = "test_secret";

    async fn gateway() -> DoudianGateway {
        DoudianGateway::start(GatewayConfig::new(APP_KEY, SECRET, "12345"))
            .await
            .unwrap()
    }

    /// Call the gateway like an SDK: signed, `param_json` as the body.
    async fn call(
        gateway: &DoudianGateway,
        method: &str,
        params: Value,
        token: Option<&str>,
        timestamp: &str,
        secret: &str,
    ) -> Value {
        let body = param_json(&params);
        let sign = api_sign(
            SignMethod::HmacSha256,
            APP_KEY,
            secret,
            method,
            &body,
            timestamp,
        );
        let mut query = vec![
            ("app_key", APP_KEY.to_string()),
            ("method", method.to_string()),
            ("timestamp", timestamp.to_string()),
            ("v", "2".to_string()),
            ("sign_method", "hmac-sha256".to_string()),
            ("sign", sign),
        ];
        if let Some(token) = token {
            query.push(("access_token", token.to_string()));
        }
        let url = format!("{}/{}", gateway.base_url(), method.replace('.', "/"));
        let response = reqwest::Client::new()
            .post(url)
            .query(&query)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
    }

    #[tokio::test]
    async fn tokens_orders_and_refreshes_over_http() {
        let gateway = gateway().await;
        gateway.set_now(1_700_000_000);
        gateway.add_paid_order("6900000000000000000", 9900);
        let ts = "1700000000";

        let created = call(
            &gateway,
            "token.create",
            json!({"code": "", "grant_type": "authorization_self", "shop_id": "12345"}),
            None,
            ts,
            SECRET,
        )
        .await;
        assert_eq!(created["code"], SUCCESS, "{created}");
        let access = created["data"]["access_token"]
            .as_str()
            .unwrap()
            .to_string();
        let refresh = created["data"]["refresh_token"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(created["data"]["expires_in"], 604800);

        let order = call(
            &gateway,
            "order.orderDetail",
            json!({"shop_order_id": "6900000000000000000"}),
            Some(&access),
            ts,
            SECRET,
        )
        .await;
        assert_eq!(order["code"], SUCCESS, "{order}");
        assert_eq!(order["data"]["shop_order_detail"]["pay_amount"], 9900);
        let missing = call(
            &gateway,
            "order.orderDetail",
            json!({"shop_order_id": "1"}),
            Some(&access),
            ts,
            SECRET,
        )
        .await;
        assert_eq!(missing["sub_code"], "isv.business-failed:20015");

        gateway.expire_access_tokens();
        let expired = call(
            &gateway,
            "order.orderDetail",
            json!({"shop_order_id": "6900000000000000000"}),
            Some(&access),
            ts,
            SECRET,
        )
        .await;
        assert_eq!(
            (expired["code"].as_i64(), expired["sub_code"].as_str()),
            (Some(40003), Some("isv.access-token-expired"))
        );
        assert!(!gateway.is_live_access_token(&access));

        let refreshed = call(
            &gateway,
            "token.refresh",
            json!({"grant_type": "refresh_token", "refresh_token": refresh}),
            None,
            ts,
            SECRET,
        )
        .await;
        assert_eq!(refreshed["code"], SUCCESS, "{refreshed}");
        let fresh = refreshed["data"]["access_token"]
            .as_str()
            .unwrap()
            .to_string();
        assert_ne!(fresh, access);
        assert!(gateway.is_live_access_token(&fresh));
        // A refresh token is spent once used.
        let again = call(
            &gateway,
            "token.refresh",
            json!({"grant_type": "refresh_token", "refresh_token": refresh}),
            None,
            ts,
            SECRET,
        )
        .await;
        assert_eq!(again["sub_code"], "dop.token-generate-failed:token-invalid");

        // Tokens also expire with the clock.
        gateway.set_now(1_700_000_000 + 7 * 24 * 3600);
        let late_ts = (1_700_000_000 + 7 * 24 * 3600).to_string();
        let aged = call(
            &gateway,
            "order.orderDetail",
            json!({"shop_order_id": "6900000000000000000"}),
            Some(&fresh),
            &late_ts,
            SECRET,
        )
        .await;
        assert_eq!(aged["sub_code"], "isv.access-token-expired");

        let methods: Vec<_> = gateway
            .calls()
            .iter()
            .map(|c| c.method().unwrap().to_string())
            .collect();
        assert_eq!(methods.len(), 7);
        assert_eq!(gateway.calls_of("token.refresh").len(), 2);
        assert!(gateway.calls_of("token.create")[0].succeeded());
    }

    #[tokio::test]
    async fn the_gateway_refuses_what_the_platform_refuses() {
        let gateway = gateway().await;
        gateway.set_now(1_700_000_000);
        let ts = "1700000000";
        let create = json!({"grant_type": "authorization_self", "shop_id": "12345"});

        let forged = call(
            &gateway,
            "token.create",
            create.clone(),
            None,
            ts,
            "wrong_secret",
        )
        .await;
        assert_eq!(
            (forged["code"].as_i64(), forged["sub_code"].as_str()),
            (Some(40003), Some("isv.signature-invalid"))
        );
        let stale = call(
            &gateway,
            "token.create",
            create.clone(),
            None,
            "1699990000",
            SECRET,
        )
        .await;
        assert_eq!(stale["sub_code"], "isv.timestamp-invalid");
        // The date-time form (GMT+8) is accepted too.
        let dated = call(
            &gateway,
            "token.create",
            create.clone(),
            None,
            "2023-11-15 06:13:20",
            SECRET,
        )
        .await;
        assert_eq!(dated["code"], SUCCESS, "{dated}");
        let other_shop = call(
            &gateway,
            "token.create",
            json!({"grant_type": "authorization_self", "shop_id": "999"}),
            None,
            ts,
            SECRET,
        )
        .await;
        assert_eq!(
            other_shop["sub_code"],
            "dop.token-generate-failed:no-authorization"
        );
        let no_token = call(
            &gateway,
            "order.orderDetail",
            json!({"shop_order_id": "1"}),
            None,
            ts,
            SECRET,
        )
        .await;
        assert_eq!(
            (no_token["code"].as_i64(), no_token["sub_code"].as_str()),
            (Some(40001), Some("isv.access-token-missing"))
        );
        let unknown = call(
            &gateway,
            "order.orderDetail",
            json!({"shop_order_id": "1"}),
            Some("nope"),
            ts,
            SECRET,
        )
        .await;
        assert_eq!(unknown["sub_code"], "isv.access-token-no-existed");
        let offline = call(
            &gateway,
            "order.searchList",
            json!({}),
            Some("nope"),
            ts,
            SECRET,
        )
        .await;
        assert_eq!(offline["code"], 70000);

        // Injected failures hit only their method, in order.
        gateway.fail_next("token.create", 2, 20000, "dop.service-error", "内部错误");
        for _ in 0..2 {
            let busy = call(&gateway, "token.create", create.clone(), None, ts, SECRET).await;
            assert_eq!(
                (busy["code"].as_i64(), busy["msg"].as_str()),
                (Some(20000), Some("服务不可用"))
            );
        }
        assert_eq!(
            call(&gateway, "token.create", create.clone(), None, ts, SECRET).await["code"],
            SUCCESS
        );

        // The rate limit answers 60000.
        gateway.limit_rate(1);
        let first = call(&gateway, "token.create", create.clone(), None, ts, SECRET).await;
        let second = call(&gateway, "token.create", create.clone(), None, ts, SECRET).await;
        assert_eq!(first["code"], SUCCESS);
        assert_eq!(second["code"], 60000);
        let refused: Vec<_> = gateway
            .calls()
            .iter()
            .filter(|c| !c.succeeded())
            .map(|c| c.code)
            .collect();
        assert_eq!(
            refused,
            [
                40003, 40003, 50001, 40001, 40003, 70000, 20000, 20000, 60000
            ]
        );
    }

    #[test]
    fn timestamps_in_both_forms() {
        assert_eq!(parse_timestamp("1700000000"), Some(1_700_000_000));
        assert_eq!(parse_timestamp("1700000000123"), Some(1_700_000_000));
        assert_eq!(parse_timestamp("2023-11-15 06:13:20"), Some(1_700_000_000));
        assert_eq!(parse_timestamp(""), None);
        assert_eq!(parse_timestamp("yesterday"), None);
    }
}
