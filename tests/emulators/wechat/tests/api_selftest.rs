//! Self-test of the WeChat API emulator over real HTTP: the token state
//! machine (stable and classic families, normal and force modes, expiry,
//! invalidation, quotas) and the custom-message rules the end-to-end tests
//! rely on.

use serde_json::{Value, json};
use std::time::Duration;
use tongdao_emulator_wechat::api::{
    CUSTOM_SEND_PATH, STABLE_TOKEN_PATH, TOKEN_PATH, TokenFamily, WechatApiConfig,
    WechatApiEmulator,
};

const APP_ID: &str = "wx_selftest";
const SECRET: &str = "s3cret";
/// A fixed start for the emulator's clock (2024-04-25, Beijing afternoon).
const T0: i64 = 1_714_037_059;

async fn start() -> WechatApiEmulator {
    start_with(WechatApiConfig::new(APP_ID, SECRET)).await
}

async fn start_with(config: WechatApiConfig) -> WechatApiEmulator {
    let api = WechatApiEmulator::start(config).await.unwrap();
    api.set_now(T0);
    api
}

async fn post_raw(url: &str, body: impl Into<reqwest::Body>) -> Value {
    reqwest::Client::new()
        .post(url)
        .body(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn stable(api: &WechatApiEmulator, appid: &str, secret: &str, force: bool) -> Value {
    post_raw(
        &format!("{}{STABLE_TOKEN_PATH}", api.base_url()),
        json!({"grant_type": "client_credential", "appid": appid, "secret": secret, "force_refresh": force}).to_string(),
    )
    .await
}

async fn stable_token(api: &WechatApiEmulator, force: bool) -> String {
    let answer = stable(api, APP_ID, SECRET, force).await;
    answer["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token: {answer}"))
        .to_string()
}

async fn classic_token(api: &WechatApiEmulator) -> Value {
    reqwest::get(format!(
        "{}{TOKEN_PATH}?grant_type=client_credential&appid={APP_ID}&secret={SECRET}",
        api.base_url()
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap()
}

async fn send_body(api: &WechatApiEmulator, token: &str, body: &str) -> Value {
    post_raw(
        &format!("{}{CUSTOM_SEND_PATH}?access_token={token}", api.base_url()),
        body.to_string(),
    )
    .await
}

async fn send(api: &WechatApiEmulator, token: &str, touser: &str, text: &str) -> i64 {
    let body = json!({"touser": touser, "msgtype": "text", "text": {"content": text}});
    let answer = send_body(api, token, &body.to_string()).await;
    answer["errcode"].as_i64().unwrap()
}

#[tokio::test]
async fn credentials_are_checked() {
    let api = start().await;
    assert_eq!(stable(&api, APP_ID, "wrong", false).await["errcode"], 40125);
    assert_eq!(
        stable(&api, "wx_other", SECRET, false).await["errcode"],
        40013
    );
    assert_eq!(
        stable(&api, "wx_other", SECRET, false).await["errmsg"],
        "invalid appid"
    );
    assert_eq!(stable(&api, "", SECRET, false).await["errcode"], 41002);
    let url = format!("{}{STABLE_TOKEN_PATH}", api.base_url());
    assert_eq!(post_raw(&url, "{not json").await["errcode"], 47001);
    assert_eq!(
        post_raw(
            &url,
            json!({"grant_type": "password", "appid": APP_ID, "secret": SECRET}).to_string()
        )
        .await["errcode"],
        40002
    );
    let wrong_classic: Value = reqwest::get(format!(
        "{}{TOKEN_PATH}?grant_type=client_credential&appid={APP_ID}&secret=nope",
        api.base_url()
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(wrong_classic["errcode"], 40125);
    assert_eq!(api.token_requests(), 7, "refused requests are counted too");
    assert!(api.token_request_log().iter().all(|r| r.errcode != 0));
    assert_eq!(api.current_token(), None);
}

#[tokio::test]
async fn normal_mode_returns_the_same_token_until_it_is_nearly_expired() {
    let api = start().await;
    let first = stable(&api, APP_ID, SECRET, false).await;
    let t1 = first["access_token"].as_str().unwrap().to_string();
    assert!(t1.len() >= 100, "{t1}");
    assert_eq!(first["expires_in"], 7200);
    assert_eq!(api.current_token().as_deref(), Some(t1.as_str()));

    api.set_now(T0 + 100);
    let again = stable(&api, APP_ID, SECRET, false).await;
    assert_eq!(again["access_token"], t1.as_str());
    assert_eq!(again["expires_in"], 7100, "the remaining lifetime");

    // In its last 5 minutes the platform issues the next token; the old one
    // keeps working until it expires.
    api.customer_wrote("o1", T0 + 6950);
    api.set_now(T0 + 6950);
    let t2 = stable_token(&api, false).await;
    assert_ne!(t1, t2);
    assert_eq!(send(&api, &t1, "o1", "old still valid").await, 0);
    assert_eq!(send(&api, &t2, "o1", "new valid").await, 0);
    api.set_now(T0 + 7200);
    assert_eq!(send(&api, &t1, "o1", "old expired").await, 42001);
    assert_eq!(send(&api, &t2, "o1", "new still valid").await, 0);
    // By the clock, the new token expires too.
    api.set_now(T0 + 6950 + 7200);
    assert_eq!(send(&api, &t2, "o1", "expired").await, 42001);
    let t3 = stable_token(&api, false).await;
    assert_ne!(t3, t2);
    assert_eq!(api.token_requests(), 4);
    assert!(
        api.token_request_log()
            .iter()
            .all(|r| r.family == TokenFamily::Stable && !r.force_refresh && r.errcode == 0)
    );
}

#[tokio::test]
async fn force_refresh_replaces_the_token_and_is_limited_per_day() {
    let mut config = WechatApiConfig::new(APP_ID, SECRET);
    config.force_refresh_daily_limit = 2;
    let api = start_with(config).await;
    api.customer_wrote("o1", T0);
    let t1 = stable_token(&api, false).await;
    let t2 = stable_token(&api, true).await;
    assert_ne!(t1, t2);
    assert_eq!(send(&api, &t1, "o1", "hi").await, 40001);
    assert_eq!(send(&api, &t2, "o1", "hi").await, 0);
    assert_eq!(
        stable_token(&api, false).await,
        t2,
        "normal mode returns the new one"
    );
    let t3 = stable_token(&api, true).await;
    assert_eq!(stable(&api, APP_ID, SECRET, true).await["errcode"], 45009);
    assert_eq!(
        send(&api, &t3, "o1", "the limit did not touch the token").await,
        0
    );
    // The quota resets the next day.
    api.set_now(T0 + 86_400);
    api.customer_wrote("o1", T0 + 86_400);
    let t4 = stable_token(&api, true).await;
    assert_ne!(t3, t4);
    let flags: Vec<(bool, i64)> = api
        .token_request_log()
        .iter()
        .map(|r| (r.force_refresh, r.errcode))
        .collect();
    assert_eq!(
        flags,
        vec![
            (false, 0),
            (true, 0),
            (false, 0),
            (true, 0),
            (true, 45009),
            (true, 0)
        ]
    );
}

#[tokio::test]
async fn expired_and_invalidated_tokens() {
    let api = start().await;
    api.customer_wrote("o1", T0);
    let t1 = stable_token(&api, false).await;
    assert_eq!(send(&api, &t1, "o1", "hi").await, 0);

    api.expire_current_token();
    let answer = send_body(
        &api,
        &t1,
        &json!({"touser": "o1", "msgtype": "text", "text": {"content": "hi"}}).to_string(),
    )
    .await;
    assert_eq!(
        answer,
        json!({"errcode": 42001, "errmsg": "access_token expired"})
    );
    let t2 = stable_token(&api, false).await;
    assert_ne!(t1, t2, "normal mode issues a new token after expiry");
    assert_eq!(send(&api, &t2, "o1", "hi").await, 0);

    api.invalidate_current_token();
    assert_eq!(send(&api, &t2, "o1", "hi").await, 40001);
    assert_eq!(
        stable_token(&api, false).await,
        t2,
        "normal mode keeps returning the invalid token"
    );
    let t3 = stable_token(&api, true).await;
    assert_eq!(send(&api, &t3, "o1", "hi").await, 0);
    assert_eq!(api.sent_messages().len(), 3);
}

#[tokio::test]
async fn classic_tokens_are_a_separate_family() {
    let api = start().await;
    api.customer_wrote("o1", T0);
    let stable1 = stable_token(&api, false).await;
    let c1 = classic_token(&api).await;
    assert_eq!(c1["expires_in"], 7200);
    let c1 = c1["access_token"].as_str().unwrap().to_string();
    assert!(c1.len() >= 100);
    assert_ne!(c1, stable1);
    assert_eq!(
        stable_token(&api, false).await,
        stable1,
        "the stable token is untouched"
    );
    assert_eq!(send(&api, &c1, "o1", "classic").await, 0);
    // A new classic token leaves the old one 5 minutes.
    let c2 = classic_token(&api).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(c1, c2);
    assert_eq!(send(&api, &c1, "o1", "grace").await, 0);
    api.set_now(T0 + 301);
    assert_eq!(send(&api, &c1, "o1", "too late").await, 42001);
    assert_eq!(send(&api, &c2, "o1", "classic 2").await, 0);
    assert_eq!(send(&api, &stable1, "o1", "stable").await, 0);
    assert_eq!(api.request_count(TOKEN_PATH), 2);
    assert_eq!(api.request_count(STABLE_TOKEN_PATH), 2);
}

#[tokio::test]
async fn custom_send_checks_the_request() {
    let api = start().await;
    api.customer_wrote("o1", T0);
    let t = stable_token(&api, false).await;
    let base = api.base_url();
    let code = |answer: Value| answer["errcode"].as_i64().unwrap();

    let missing = post_raw(&format!("{base}{CUSTOM_SEND_PATH}"), "{}").await;
    assert_eq!(code(missing), 41001);
    assert_eq!(send(&api, "garbage", "o1", "hi").await, 40001);
    assert_eq!(code(send_body(&api, &t, "{oops").await), 47001);
    assert_eq!(code(send_body(&api, &t, "").await), 44002);
    assert_eq!(
        code(send_body(&api, &t, r#"{"msgtype":"text","text":{"content":"hi"}}"#).await),
        44002
    );
    assert_eq!(
        code(send_body(&api, &t, r#"{"touser":"o1","text":{"content":"hi"}}"#).await),
        40008
    );
    assert_eq!(
        code(send_body(&api, &t, r#"{"touser":"o1","msgtype":"fax"}"#).await),
        40008
    );
    assert_eq!(
        code(send_body(&api, &t, r#"{"touser":"o1","msgtype":"text","text":{}}"#).await),
        44004
    );
    assert_eq!(
        code(send_body(&api, &t, r#"{"touser":"o1","msgtype":"image","image":{}}"#).await),
        40007
    );
    // 2048 bytes is the limit: 682 three-byte characters fit, 683 do not.
    assert_eq!(send(&api, &t, "o1", &"长".repeat(683)).await, 45002);
    assert_eq!(send(&api, &t, "o1", &"长".repeat(682)).await, 0);
    assert_eq!(send(&api, &t, "stranger", "hi").await, 40003);
    assert_eq!(
        code(
            send_body(
                &api,
                &t,
                r#"{"touser":"o1","msgtype":"image","image":{"media_id":"M1"}}"#
            )
            .await
        ),
        0
    );

    let sent = api.sent_messages();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].msgtype, "text");
    assert_eq!(sent[0].text.as_deref(), Some("长".repeat(682).as_str()));
    assert_eq!(sent[0].token, t);
    assert_eq!(sent[0].at, T0);
    assert_eq!(sent[1].msgtype, "image");
    assert_eq!(sent[1].text, None);
    assert_eq!(sent[1].body["image"]["media_id"], "M1");
    assert_eq!(api.request_count(CUSTOM_SEND_PATH), 13);
    let unknown = reqwest::get(format!("{base}/cgi-bin/nope")).await.unwrap();
    assert_eq!(unknown.status().as_u16(), 404);
    assert_eq!(api.request_count("/cgi-bin/nope"), 1);
}

#[tokio::test]
async fn the_reply_window_and_the_five_message_quota() {
    let api = start().await;
    let t = stable_token(&api, false).await;
    api.customer_wrote("o1", T0);
    for i in 0..5 {
        assert_eq!(send(&api, &t, "o1", &format!("reply {i}")).await, 0);
    }
    assert_eq!(send(&api, &t, "o1", "sixth").await, 45047);
    assert_eq!(api.replies_left("o1"), Some(0));
    // The customer writes again: a new quota.
    api.customer_wrote("o1", T0 + 60);
    assert_eq!(api.replies_left("o1"), Some(5));
    assert_eq!(send(&api, &t, "o1", "after the new message").await, 0);

    // The window is 48 h after the customer's last message (by the
    // emulator's clock, which also ages the token: use a fresh one).
    api.customer_wrote("o2", T0);
    api.set_now(T0 + 48 * 3600);
    let t = stable_token(&api, false).await;
    assert_eq!(send(&api, &t, "o2", "just in time").await, 0);
    api.set_now(T0 + 48 * 3600 + 1);
    assert_eq!(send(&api, &t, "o2", "too late").await, 45015);
    api.customer_wrote("o3", T0 - 49 * 3600);
    assert_eq!(send(&api, &t, "o3", "long gone").await, 45015);
    assert_eq!(api.sent_messages().len(), 7);
}

#[tokio::test]
async fn injected_failures_come_first_then_sends_recover() {
    let api = start().await;
    api.customer_wrote("o1", T0);
    let t = stable_token(&api, false).await;
    api.fail_next_sends(2, -1, "system error");
    let answer = send_body(
        &api,
        &t,
        &json!({"touser": "o1", "msgtype": "text", "text": {"content": "hi"}}).to_string(),
    )
    .await;
    assert_eq!(answer, json!({"errcode": -1, "errmsg": "system error"}));
    // A bad token is still reported as such, without using up a failure.
    assert_eq!(send(&api, "garbage", "o1", "hi").await, 40001);
    assert_eq!(send(&api, &t, "o1", "hi").await, -1);
    assert_eq!(send(&api, &t, "o1", "hi").await, 0);
    api.fail_next_sends(1, 45009, "reach max api daily quota limit");
    assert_eq!(send(&api, &t, "o1", "hi").await, 45009);
    assert_eq!(send(&api, &t, "o1", "hi").await, 0);
    assert_eq!(api.sent_messages().len(), 2);
    assert_eq!(
        api.replies_left("o1"),
        Some(3),
        "failures do not use the quota"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_sends_respect_the_quota_and_wake_waiters() {
    let api = std::sync::Arc::new(start().await);
    api.customer_wrote("o1", T0);
    let t = stable_token(&api, false).await;

    let waiter = {
        let api = std::sync::Arc::clone(&api);
        tokio::spawn(async move { api.wait_for_messages(5, Duration::from_secs(10)).await })
    };
    let sends = (0..20).map(|i| {
        let (api, t) = (std::sync::Arc::clone(&api), t.clone());
        tokio::spawn(async move { send(&api, &t, "o1", &format!("m{i}")).await })
    });
    let mut codes = Vec::new();
    for send in sends {
        codes.push(send.await.unwrap());
    }
    codes.sort();
    assert_eq!(codes, [vec![0; 5], vec![45047; 15]].concat());
    assert_eq!(waiter.await.unwrap().unwrap().len(), 5);
    assert_eq!(api.request_count(CUSTOM_SEND_PATH), 20);

    let late = api.wait_for_messages(6, Duration::from_millis(200)).await;
    assert!(late.is_err(), "no sixth message arrives");
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let api = start().await;
    let url = format!("{}{TOKEN_PATH}", api.base_url());
    assert!(reqwest::get(&url).await.is_ok());
    api.shutdown().await;
    assert!(reqwest::get(&url).await.is_err(), "refused after shutdown");

    let api = start().await;
    let url = format!("{}{TOKEN_PATH}", api.base_url());
    drop(api);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(reqwest::get(&url).await.is_err(), "refused after drop");
}
