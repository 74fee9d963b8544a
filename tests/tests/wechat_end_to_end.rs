//! The WeChat Official Account end to end: signed webhooks over real HTTP to
//! the running host with the real plugin → `success` after commit → stored
//! once despite redelivery → the knowledge-base answer reaches the loopback
//! WeChat API emulator with a valid, refreshed-when-needed access token.

use std::time::Duration;
use tongdao::kb::KnowledgeBase;
use tongdao::model::{AuthorRole, Direction, EventBody};
use tongdao_e2e::harness::{TestHost, bot_entry, example_knowledge_base, plugin_entry};
use tongdao_emulator_wechat::api::{CUSTOM_SEND_PATH, WechatApiConfig, WechatApiEmulator};
use tongdao_emulator_wechat::signing::{PushOptions, WechatPusher};

const APP_ID: &str = "wx2c2769f8efd9abc2";
const SECRET: &str = "demo-app-secret";
const HOOK: &str = "/hooks/wechat/demo-oa";

fn account() -> WechatPusher {
    WechatPusher::new(
        "spamtest",
        APP_ID,
        Some("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"),
    )
    .with_original_id("gh_10f6c3c3ac5a")
}

async fn start_api() -> WechatApiEmulator {
    WechatApiEmulator::start(WechatApiConfig::new(APP_ID, SECRET))
        .await
        .unwrap()
}

/// The `force_refresh` flag of every token request so far.
fn force_flags(api: &WechatApiEmulator) -> Vec<bool> {
    api.token_request_log()
        .iter()
        .map(|r| r.force_refresh)
        .collect()
}

/// The demo shop in 兼容模式 (it receives both plaintext and safe-mode pushes).
fn config(api: &WechatApiEmulator, extra_limits: &str) -> String {
    config_in_mode(api, extra_limits, "compatible")
}

/// The demo shop with its EncodingAESKey, in the given `message_mode` (none:
/// the default, which is safe mode).
fn config_in_mode(api: &WechatApiEmulator, extra_limits: &str, mode: &str) -> String {
    let settings = if mode.is_empty() {
        String::new()
    } else {
        format!("settings = {{ message_mode = \"{mode}\" }}\n")
    };
    format!(
        "[limits]\nmax_body_bytes = 65536\n{extra_limits}\n{}\n{}\n[[shops]]\nid = \"demo-oa\"\nplugin = \"wechat\"\negress = [\"api.weixin.qq.com\"]\ncredentials = {{ app_id = \"{APP_ID}\", app_secret = \"{SECRET}\", token = \"spamtest\", encoding_aes_key = \"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG\" }}\n{settings}api_base = {{ \"api.weixin.qq.com\" = \"{}\" }}\n",
        bot_entry(),
        plugin_entry("wechat"),
        api.base_url()
    )
}

fn answer_for(intent: &str) -> String {
    let kb = KnowledgeBase::load(&example_knowledge_base()).unwrap();
    kb.intents()
        .iter()
        .find(|i| i.id == intent)
        .unwrap()
        .answer
        .clone()
}

fn now_secs() -> i64 {
    tongdao::clock::now_ms() / 1000
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_question_is_stored_once_and_answered_once_despite_redelivery() {
    let api = start_api().await;
    let host = TestHost::start(&config(&api, "")).await;
    let openid = "oCustomer0000000000000001";
    api.customer_wrote(openid, now_secs());
    let push = account().plaintext(
        HOOK,
        &account().text_xml_at(openid, now_secs(), "我的快递到哪了", 24612345678900001),
    );

    // WeChat redelivers when it does not hear back in time: three times here,
    // two of them at once.
    let first = push.send(&client(), &host.base_url).await.unwrap();
    assert_eq!((first.status, first.body.as_str()), (200, "success"));
    let (a, b) = (client(), client());
    let (second, third) =
        tokio::join!(push.send(&a, &host.base_url), push.send(&b, &host.base_url));
    for again in [second.unwrap(), third.unwrap()] {
        assert_eq!((again.status, again.body.as_str()), (200, "success"));
    }

    let sent = api
        .wait_for_messages(1, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(sent[0].touser, openid);
    assert_eq!(sent[0].msgtype, "text");
    assert_eq!(
        sent[0].text.as_deref(),
        Some(tongdao_e2e::harness::first_reply_for("logistics").as_str())
    );
    assert_eq!(
        Some(sent[0].token.clone()),
        api.current_token(),
        "sent with the token the platform issued"
    );
    // Nothing more goes out for the redeliveries.
    host.settled().await;
    assert_eq!(api.sent_messages().len(), 1);
    assert_eq!(force_flags(&api), vec![false]);

    let history = host
        .state()
        .store
        .conversation_events("demo-oa", openid)
        .unwrap();
    assert_eq!(
        history.len(),
        2,
        "the question once and the answer once: {history:#?}"
    );
    let EventBody::Message(question) = &history[0].event.body else {
        panic!("a message")
    };
    assert_eq!(
        (question.role, question.direction),
        (AuthorRole::Customer, Direction::Inbound)
    );
    let EventBody::Message(reply) = &history[1].event.body else {
        panic!("a message")
    };
    assert_eq!(
        (reply.role, reply.direction),
        (AuthorRole::Bot, Direction::Outbound)
    );
    let metrics = host.state().metrics.render();
    assert!(
        metrics.contains("tongdao_events_total{result=\"stored\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("tongdao_events_total{result=\"duplicate\"} 2"),
        "{metrics}"
    );
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_is_refreshed_and_the_send_retried() {
    let api = start_api().await;
    let host = TestHost::start(&config(&api, "")).await;
    let openid = "oCustomer0000000000000002";
    api.customer_wrote(openid, now_secs());
    let ask = |text: &str, id: u64| {
        account().plaintext(HOOK, &account().text_xml_at(openid, now_secs(), text, id))
    };

    assert_eq!(
        ask("我的快递到哪了", 1001)
            .send(&client(), &host.base_url)
            .await
            .unwrap()
            .status,
        200
    );
    let first = api
        .wait_for_messages(1, Duration::from_secs(10))
        .await
        .unwrap();
    let first_token = first[0].token.clone();

    // The platform expires the token: the next send gets 42001, and the host
    // fetches a new token and sends again.
    api.expire_current_token();
    assert_eq!(
        ask("什么时候发货", 1002)
            .send(&client(), &host.base_url)
            .await
            .unwrap()
            .status,
        200
    );
    let sent = api
        .wait_for_messages(2, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(
        sent[1].text.as_deref(),
        Some(answer_for("ship_time").as_str())
    );
    assert_ne!(sent[1].token, first_token, "sent with a fresh token");
    assert_eq!(force_flags(&api), vec![false, false]);
    assert_eq!(
        api.request_count(CUSTOM_SEND_PATH),
        3,
        "one rejected send, then the retry"
    );

    // An invalidated token (40001) makes the next fetch force a refresh.
    api.invalidate_current_token();
    assert_eq!(
        ask("可以开发票吗", 1003)
            .send(&client(), &host.base_url)
            .await
            .unwrap()
            .status,
        200
    );
    let sent = api
        .wait_for_messages(3, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(
        sent[2].text.as_deref(),
        Some(answer_for("invoice").as_str())
    );
    assert_eq!(force_flags(&api), vec![false, false, true]);
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn safe_mode_pushes_are_decrypted_and_answered() {
    let api = start_api().await;
    let host = TestHost::start(&config(&api, "")).await;
    let openid = "oCustomer0000000000000003";
    api.customer_wrote(openid, now_secs());
    let push = account()
        .safe_mode(
            HOOK,
            &account().text_xml_at(openid, now_secs(), "付款后多久发货", 2001),
        )
        .unwrap();
    let delivered = push.send(&client(), &host.base_url).await.unwrap();
    assert_eq!(
        (delivered.status, delivered.body.as_str()),
        (200, "success")
    );
    let sent = api
        .wait_for_messages(1, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(
        sent[0].text.as_deref(),
        Some(answer_for("ship_time").as_str())
    );
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn url_verification_and_events() {
    let api = start_api().await;
    let host = TestHost::start(&config(&api, "")).await;
    let verified = account()
        .verification(HOOK, "8761394921386712")
        .send(&client(), &host.base_url)
        .await
        .unwrap();
    assert_eq!(
        (verified.status, verified.body.as_str()),
        (200, "8761394921386712")
    );

    let openid = "oCustomer0000000000000004";
    let created = now_secs();
    let subscribe = account().plaintext(
        HOOK,
        &account().event_xml(openid, created, "subscribe", Some("qrscene_1")),
    );
    for _ in 0..2 {
        assert_eq!(
            subscribe
                .send(&client(), &host.base_url)
                .await
                .unwrap()
                .status,
            200
        );
    }
    let history = host
        .state()
        .store
        .conversation_events("demo-oa", openid)
        .unwrap();
    assert_eq!(
        history.len(),
        1,
        "an event redelivered with the same sender and time is stored once"
    );
    assert_eq!(
        history[0].event.platform_id,
        format!("{openid}:{created}:subscribe")
    );
    // Events get no bot answer.
    host.settled().await;
    assert!(api.sent_messages().is_empty());
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_stale_malformed_and_oversized_requests_are_refused_and_nothing_is_stored() {
    let api = start_api().await;
    let host = TestHost::start(&config(&api, "")).await;
    let openid = "oIntruder000000000000000";
    let xml = account().text_xml_at(openid, now_secs(), "我的快递到哪了", 3001);

    let forged = account()
        .plaintext(HOOK, &xml)
        .forged()
        .send(&client(), &host.base_url)
        .await
        .unwrap();
    assert_eq!(
        (forged.status, forged.body.as_str()),
        (401, "refused: unauthenticated")
    );

    let mut wrong_key = account();
    wrong_key.encoding_aes_key = Some("ZZZZefghijklmnopqrstuvwxyz0123456789ABCDEFG".into());
    let sealed_wrong = wrong_key
        .safe_mode(HOOK, &xml)
        .unwrap()
        .send(&client(), &host.base_url)
        .await
        .unwrap();
    assert_eq!(sealed_wrong.status, 401);

    let stale = account()
        .plaintext_with(HOOK, &xml, &PushOptions::stale_by(3600))
        .send(&client(), &host.base_url)
        .await
        .unwrap();
    assert_eq!((stale.status, stale.body.as_str()), (401, "refused: stale"));

    let malformed = account()
        .plaintext(HOOK, "<xml><ToUserName>gh_")
        .send(&client(), &host.base_url)
        .await
        .unwrap();
    assert_eq!(
        (malformed.status, malformed.body.as_str()),
        (400, "refused: malformed")
    );

    let huge = format!("<xml><Content>{}</Content></xml>", "x".repeat(100_000));
    let oversized = account()
        .plaintext(HOOK, &huge)
        .send(&client(), &host.base_url)
        .await
        .unwrap();
    assert_eq!(oversized.status, 413);

    let unknown = account()
        .plaintext("/hooks/wechat/no-such-shop", &xml)
        .send(&client(), &host.base_url)
        .await
        .unwrap();
    assert_eq!(unknown.status, 404);

    assert!(
        host.state()
            .store
            .conversation("demo-oa", openid)
            .unwrap()
            .is_none(),
        "nothing stored"
    );
    assert!(host.state().store.pending_inbox(10).unwrap().is_empty());
    let metrics = host.state().metrics.render();
    assert!(
        metrics.contains("tongdao_webhooks_total{result=\"refused\"} 4"),
        "{metrics}"
    );
    assert!(
        metrics.contains("tongdao_webhooks_total{result=\"accepted\"} 0"),
        "{metrics}"
    );
    host.settled().await;
    assert!(api.sent_messages().is_empty());
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_safe_mode_shop_refuses_downgrades_and_replays() {
    let api = start_api().await;
    let host = TestHost::start(&config_in_mode(&api, "", "")).await;
    let openid = "oIntruder000000000000001";
    let xml = account().text_xml_at(openid, now_secs(), "我的快递到哪了", 3101);

    // A plaintext push with a valid outer signature: the signature does not
    // cover the body, so a safe-mode shop refuses it.
    let downgraded = account()
        .plaintext(HOOK, &xml)
        .send(&client(), &host.base_url)
        .await
        .unwrap();
    assert_eq!(
        (downgraded.status, downgraded.body.as_str()),
        (401, "refused: unauthenticated")
    );
    assert!(
        host.state()
            .store
            .conversation("demo-oa", openid)
            .unwrap()
            .is_none()
    );

    // A genuine safe-mode push is taken, and WeChat's own retry of it is
    // answered as before and stored once.
    let genuine = account().safe_mode(HOOK, &xml).unwrap();
    for _ in 0..2 {
        let answer = genuine
            .clone()
            .send(&client(), &host.base_url)
            .await
            .unwrap();
        assert_eq!((answer.status, answer.body.as_str()), (200, "success"));
    }
    let history = host
        .state()
        .store
        .conversation_events("demo-oa", openid)
        .unwrap();
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(history[0].event.platform_id, "3101");
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_url_carries_one_body_only() {
    // In 兼容模式 a plaintext push is authenticated by the outer signature,
    // which covers no body: whoever sees one signed URL must not be able to
    // post another body with it.
    let api = start_api().await;
    let host = TestHost::start(&config(&api, "")).await;
    let openid = "oIntruder000000000000002";
    let genuine = account().plaintext(
        HOOK,
        &account().text_xml_at(openid, now_secs(), "我的快递到哪了", 3201),
    );
    let forged_body = account().text_xml_at(openid, now_secs(), "我要投诉，马上退款", 3202);
    let mut answers = Vec::new();
    for request in [
        genuine.clone(),
        genuine.clone().with_body(forged_body.into_bytes()),
        genuine.clone(),
    ] {
        let answer = request.send(&client(), &host.base_url).await.unwrap();
        answers.push((answer.status, answer.body));
    }
    assert_eq!(
        answers,
        [
            (200, "success".to_string()),
            (401, "refused: replayed".to_string()),
            (200, "success".to_string()),
        ],
        "first, replayed with another body, redelivered as it was"
    );
    let history = host
        .state()
        .store
        .conversation_events("demo-oa", openid)
        .unwrap();
    let ids: Vec<&str> = history
        .iter()
        .map(|e| e.event.platform_id.as_str())
        .collect();
    assert_eq!(ids, ["3201"]);
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_events_survive_a_restart() {
    let api = start_api().await;
    let host = TestHost::start(&config(&api, "")).await;
    let openid = "oCustomer0000000000000005";
    let push = account().plaintext(
        HOOK,
        &account().text_xml_at(openid, now_secs(), "你们老板是谁", 4001),
    );
    assert_eq!(
        push.send(&client(), &host.base_url).await.unwrap().status,
        200
    );

    let host = host.restart().await;
    let history = host
        .state()
        .store
        .conversation_events("demo-oa", openid)
        .unwrap();
    assert_eq!(history.len(), 1, "the acknowledged message is still there");
    // A redelivery after the restart is still recognised.
    assert_eq!(
        push.send(&client(), &host.base_url).await.unwrap().status,
        200
    );
    assert_eq!(
        host.state()
            .store
            .conversation_events("demo-oa", openid)
            .unwrap()
            .len(),
        1
    );
    // A question the knowledge base cannot answer confidently gets no answer.
    host.settled().await;
    assert!(api.sent_messages().is_empty());
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reply_window_is_enforced_before_sending() {
    let api = start_api().await;
    let host = TestHost::start(&config(&api, "")).await;
    let openid = "oCustomer0000000000000006";
    // The customer's message was written 49 hours ago (a redelivered, old
    // message): the 48 h window has closed and the host does not send.
    let written = now_secs() - 49 * 3600;
    api.customer_wrote(openid, written);
    let push = account().plaintext(
        HOOK,
        &account().text_xml_at(openid, written, "我的快递到哪了", 5001),
    );
    assert_eq!(
        push.send(&client(), &host.base_url).await.unwrap().status,
        200
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !host
        .state()
        .metrics
        .render()
        .contains("tongdao_deliveries_total{outcome=\"failed\"} 1")
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the answer was never dead-lettered"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        host.state()
            .store
            .due_outbox(i64::MAX, 10)
            .unwrap()
            .is_empty()
    );
    assert_eq!(api.request_count(CUSTOM_SEND_PATH), 0);
    host.stop().await;
}
