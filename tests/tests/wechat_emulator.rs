//! The WeChat API emulator itself, over real HTTP: the token rules and the
//! custom-message rules the end-to-end tests rely on.

use serde_json::{Value, json};
use tongdao_e2e::emulators::wechat_api::WechatApi;

async fn post(url: &str, body: Value) -> Value {
    let text = reqwest::Client::new()
        .post(url)
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    serde_json::from_str(&text).unwrap()
}

async fn token(api: &WechatApi, secret: &str, force: bool) -> Value {
    post(
        &format!("{}/cgi-bin/stable_token", api.base_url()),
        json!({"grant_type": "client_credential", "appid": "wx1", "secret": secret, "force_refresh": force}),
    )
    .await
}

async fn send(api: &WechatApi, token: &str, touser: &str, text: &str) -> i64 {
    let answer = post(
        &format!(
            "{}/cgi-bin/message/custom/send?access_token={token}",
            api.base_url()
        ),
        json!({"touser": touser, "msgtype": "text", "text": {"content": text}}),
    )
    .await;
    answer["errcode"].as_i64().unwrap()
}

#[tokio::test]
async fn tokens_follow_the_stable_token_rules() {
    let api = WechatApi::start("wx1", "secret").await;
    assert_eq!(token(&api, "wrong", false).await["errcode"], 40125);
    let first = token(&api, "secret", false).await;
    let t1 = first["access_token"].as_str().unwrap().to_string();
    assert!(t1.len() >= 100);
    assert!(first["expires_in"].as_i64().unwrap() > 7000);
    // Normal mode returns the same token while it is valid.
    assert_eq!(
        token(&api, "secret", false).await["access_token"],
        t1.as_str()
    );
    // Force mode issues a new one and the old one stops working.
    let t2 = token(&api, "secret", true).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(t1, t2);
    api.customer_wrote("o1", now());
    assert_eq!(send(&api, &t1, "o1", "hi").await, 40001);
    assert_eq!(send(&api, &t2, "o1", "hi").await, 0);
    api.expire_current_token();
    assert_eq!(send(&api, &t2, "o1", "hi").await, 42001);
    assert_eq!(api.token_requests(), vec![false, false, true]);
}

#[tokio::test]
async fn custom_messages_follow_the_window_rules() {
    let api = WechatApi::start("wx1", "secret").await;
    let t = token(&api, "secret", false).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(send(&api, &t, "stranger", "hi").await, 40003);
    api.customer_wrote("o1", now());
    for _ in 0..5 {
        assert_eq!(send(&api, &t, "o1", "hi").await, 0);
    }
    assert_eq!(send(&api, &t, "o1", "hi").await, 45047);
    api.customer_wrote("o1", now());
    assert_eq!(send(&api, &t, "o1", "hi").await, 0);
    api.customer_wrote("o2", now() - 49 * 3600);
    assert_eq!(send(&api, &t, "o2", "hi").await, 45015);
    assert_eq!(send(&api, &t, "o1", &"长".repeat(700)).await, 45002);
    api.fail_next_sends(1, -1, "system error");
    assert_eq!(send(&api, &t, "o1", "hi").await, -1);
    assert_eq!(api.sent_messages().len(), 6);
    assert_eq!(api.request_count("/cgi-bin/message/custom/send"), 11);
}

fn now() -> i64 {
    tongdao::clock::now_ms() / 1000
}
