//! WeCom 微信客服 end to end: the loopback WeCom API emulator holds the kf
//! account's message log; signed, encrypted `kf_msg_or_event` callbacks
//! wake the real host, which pulls `kf/sync_msg` through the real plugin,
//! commits the page with its cursor, and answers: the knowledge base's
//! answer through `kf/send_msg` (msgid = the idempotency key), the shop's
//! welcome through `kf/send_msg_on_event`. Redelivered callbacks store
//! nothing twice; a session a servicer has taken refuses API messages
//! (95018), recorded as window-closed; a page that overlaps the committed
//! one stores and answers nothing twice; rejected access tokens (40001 on a
//! send, 42001 on a pull) are fetched again and a busy send (-1) is retried
//! with the same msgid; forged and stale callbacks and a stale URL
//! verification are refused before anything is pulled.

use std::time::Duration;
use tongdao::model::{AuthorRole, Direction, EventBody, OutboxItem, OutboxStatus};
use tongdao_e2e::harness::{TestHost, bot_entry, eventually, plugin_entry};
use tongdao_emulator_wecom::api::{
    GETTOKEN_PATH, SEND_MSG_PATH, SYNC_MSG_PATH, WecomApiConfig, WecomApiEmulator,
};
use tongdao_emulator_wecom::callbacks::{CallbackOptions, WecomCallbacks};

const CORP: &str = "ww12345678910";
const SECRET: &str = "demo-kf-secret";
const TOKEN: &str = "wecomtoken";
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const HOOK: &str = "/hooks/wecom/demo-wecom";
const KF: &str = "wkDEMOkf000000001";
const WELCOME: &str = "欢迎光临，我是智能客服，有什么可以帮您？";

async fn start() -> (WecomApiEmulator, TestHost) {
    let api = WecomApiEmulator::start(WecomApiConfig::new(CORP, SECRET))
        .await
        .unwrap();
    api.add_account(KF);
    let config = format!(
        "{}\n{}\n[[shops]]\nid = \"demo-wecom\"\nplugin = \"wecom\"\negress = [\"qyapi.weixin.qq.com\"]\nwelcome_message = \"{WELCOME}\"\ncredentials = {{ corp_id = \"{CORP}\", secret = \"{SECRET}\", token = \"{TOKEN}\", encoding_aes_key = \"{AES_KEY}\" }}\napi_base = {{ \"qyapi.weixin.qq.com\" = \"{}\" }}\n",
        bot_entry(),
        plugin_entry("wecom"),
        api.base_url()
    );
    let host = TestHost::start(&config).await;
    (api, host)
}

fn callbacks() -> WecomCallbacks {
    WecomCallbacks::new(TOKEN, CORP, AES_KEY)
}

/// WeCom tells the host the kf account has something to pull.
async fn wake_up(api: &WecomApiEmulator, host: &TestHost) -> u16 {
    let sync_token = api.issue_sync_token(KF);
    wake_up_with(&sync_token, host).await
}

/// A `kf_msg_or_event` callback carrying `sync_token`.
async fn wake_up_with(sync_token: &str, host: &TestHost) -> u16 {
    let request = callbacks()
        .kf_msg_or_event(HOOK, KF, sync_token, &CallbackOptions::default())
        .unwrap();
    request
        .send(&reqwest::Client::new(), &host.base_url)
        .await
        .unwrap()
        .status
}

/// Wait until every outbox item of the conversation is delivered and there
/// are `n` of them.
async fn delivered(host: &TestHost, conversation: &str, n: usize) -> Vec<OutboxItem> {
    eventually(
        "the answers to be recorded as delivered",
        Duration::from_secs(15),
        || {
            let outbox = host.outbox("demo-wecom", conversation);
            (outbox.len() == n
                && outbox
                    .iter()
                    .all(|item| matches!(item.status, OutboxStatus::Delivered { .. })))
            .then_some(outbox)
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pulled_question_is_stored_once_and_answered_once() {
    let (api, host) = start().await;
    let customer = "wmCustomer0000000001";
    let msgid = api.customer_says(KF, customer, "我的快递到哪了");

    // The callback, then two redeliveries of it.
    let sync_token = api.issue_sync_token(KF);
    for _ in 0..3 {
        assert_eq!(wake_up_with(&sync_token, &host).await, 200);
    }

    api.wait_for_deliveries(1, Duration::from_secs(10))
        .await
        .unwrap();
    let conversation = format!("{KF}:{customer}");
    let outbox = eventually(
        "the answer to be recorded as delivered",
        Duration::from_secs(10),
        || {
            let outbox = host.outbox("demo-wecom", &conversation);
            outbox
                .iter()
                .all(|item| matches!(item.status, OutboxStatus::Delivered { .. }))
                .then_some(outbox)
        },
    )
    .await;
    let sent = api.sent_messages();
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!(sent[0].touser, customer);
    assert_eq!(sent[0].open_kfid, KF);
    assert_eq!(
        sent[0].text.as_deref(),
        Some(tongdao_e2e::harness::first_reply_for("logistics").as_str())
    );
    assert_eq!(outbox.len(), 1);
    assert_eq!(
        sent[0].msgid, outbox[0].action.idempotency_key,
        "the idempotency key is WeCom's client msgid"
    );
    host.settled().await;
    assert_eq!(api.sent_messages().len(), 1, "nothing more goes out");

    let history = host.history("demo-wecom", &conversation);
    let inbound: Vec<_> = history
        .iter()
        .filter(|e| e.event.platform_id == msgid)
        .collect();
    assert_eq!(inbound.len(), 1, "stored once: {history:#?}");
    let EventBody::Message(question) = &inbound[0].event.body else {
        panic!("a message")
    };
    assert_eq!(
        (question.role, question.direction),
        (AuthorRole::Customer, Direction::Inbound)
    );
    let pulls: Vec<_> = api
        .requests()
        .into_iter()
        .filter(|r| r.path == SYNC_MSG_PATH)
        .collect();
    assert!(!pulls.is_empty());
    assert!(
        pulls.iter().all(|pull| {
            let body = pull.body.as_ref().unwrap();
            body["token"] == sync_token.as_str() && body["open_kfid"] == KF && pull.errcode == 0
        }),
        "every pull carries the callback's sync token: {pulls:#?}"
    );

    // WeCom serves a page that overlaps the one already committed: the
    // repeated message is not stored or answered again.
    let before = api.request_count(SYNC_MSG_PATH);
    api.overlap_next_pull(1);
    assert_eq!(wake_up(&api, &host).await, 200);
    eventually("the overlapping pull", Duration::from_secs(10), || {
        (api.request_count(SYNC_MSG_PATH) > before).then_some(())
    })
    .await;
    host.settled().await;
    let history = host.history("demo-wecom", &conversation);
    assert_eq!(
        history
            .iter()
            .filter(|e| e.event.platform_id == msgid)
            .count(),
        1,
        "the overlap is deduplicated: {history:#?}"
    );
    assert_eq!(api.sent_messages().len(), 1, "and not answered twice");
    assert_eq!(host.outbox("demo-wecom", &conversation).len(), 1);
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_tokens_are_fetched_again_and_a_busy_send_is_retried() {
    let (api, host) = start().await;
    let customer = "wmCustomer0000000005";
    let conversation = format!("{KF}:{customer}");

    // The send is refused with 40001 (invalid credential): the token is
    // dropped, fetched again, and the message goes out.
    api.customer_says(KF, customer, "我的快递到哪了");
    api.fail_next(SEND_MSG_PATH, 1, 40001, "invalid credential");
    assert_eq!(wake_up(&api, &host).await, 200);
    delivered(&host, &conversation, 1).await;
    assert_eq!(api.request_count(GETTOKEN_PATH), 2, "{:#?}", api.requests());

    // The access token expires (42001 on the pull): fetched again, pulled.
    api.expire_current_token();
    api.customer_says(KF, customer, "我的快递到哪了");
    assert_eq!(wake_up(&api, &host).await, 200);
    delivered(&host, &conversation, 2).await;
    assert_eq!(api.request_count(GETTOKEN_PATH), 3);
    assert!(
        api.requests()
            .iter()
            .any(|r| r.path == SYNC_MSG_PATH && r.errcode == 42001),
        "the pull met the expired token"
    );

    // WeCom is busy (-1): the same message (same msgid) is sent again later.
    api.fail_next(SEND_MSG_PATH, 1, -1, "system busy");
    api.customer_says(KF, customer, "我的快递到哪了");
    assert_eq!(wake_up(&api, &host).await, 200);
    let outbox = delivered(&host, &conversation, 3).await;
    let sends: Vec<_> = api
        .requests()
        .into_iter()
        .filter(|r| r.path == SEND_MSG_PATH)
        .map(|r| (r.body.unwrap()["msgid"].clone(), r.errcode))
        .collect();
    let key = outbox[2].action.idempotency_key.as_str();
    assert_eq!(
        sends[sends.len() - 2..].to_vec(),
        vec![(serde_json::json!(key), -1), (serde_json::json!(key), 0)],
        "{sends:#?}"
    );
    let sent = api.sent_messages();
    assert_eq!(sent.len(), 3);
    let keys: Vec<_> = outbox
        .iter()
        .map(|i| i.action.idempotency_key.clone())
        .collect();
    assert_eq!(
        sent.iter().map(|m| m.msgid.clone()).collect::<Vec<_>>(),
        keys
    );
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entering_a_session_is_welcomed_with_the_event_code() {
    let (api, host) = start().await;
    let customer = "wmCustomer0000000002";
    let code = api.customer_enters(KF, customer, "123", "campaign_618");
    assert_eq!(wake_up(&api, &host).await, 200);
    api.wait_for_deliveries(1, Duration::from_secs(10))
        .await
        .unwrap();
    let replies = api.event_replies();
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].code, code);
    assert_eq!(replies[0].external_userid, customer);
    assert_eq!(replies[0].text.as_deref(), Some(WELCOME));
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_with_a_servicer_refuses_the_bot_and_that_is_recorded() {
    let (api, host) = start().await;
    let customer = "wmCustomer0000000003";
    api.add_servicer(KF, "zhangsan", true);
    api.customer_says(KF, customer, "可以开发票吗");
    api.servicer_takes_over(KF, customer, "zhangsan");
    assert_eq!(wake_up(&api, &host).await, 200);
    let conversation = format!("{KF}:{customer}");
    let failed = eventually("the send to be refused", Duration::from_secs(10), || {
        host.outbox("demo-wecom", &conversation)
            .into_iter()
            .find(|item| matches!(item.status, OutboxStatus::Failed { .. }))
    })
    .await;
    let OutboxStatus::Failed { kind, reason, .. } = &failed.status else {
        unreachable!()
    };
    assert_eq!(*kind, tongdao::model::FailureKind::WindowClosed);
    assert!(
        reason.contains("servicer") || reason.contains("state"),
        "{reason}"
    );
    assert!(api.sent_messages().is_empty());
    assert_eq!(
        api.request_count(SEND_MSG_PATH),
        1,
        "a closed window is not retried"
    );
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_is_answered_and_forged_or_stale_callbacks_are_refused() {
    let (api, host) = start().await;
    let client = reqwest::Client::new();
    let verify = callbacks()
        .verification(HOOK, "1616140317555161061", &CallbackOptions::default())
        .unwrap();
    let answer = verify.send(&client, &host.base_url).await.unwrap();
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (200, "1616140317555161061")
    );
    let stale_verify = callbacks()
        .verification(
            HOOK,
            "1616140317555161061",
            &CallbackOptions::stale_by(3600),
        )
        .unwrap();
    let refused = stale_verify.send(&client, &host.base_url).await.unwrap();
    assert_eq!(refused.status, 401);
    assert!(!refused.body.contains("1616140317555161061"));

    api.customer_says(KF, "wmCustomer0000000004", "你好");
    let sync_token = api.issue_sync_token(KF);
    let forged = callbacks()
        .kf_msg_or_event(HOOK, KF, &sync_token, &CallbackOptions::default())
        .unwrap()
        .forged_msg_signature();
    assert_eq!(
        forged.send(&client, &host.base_url).await.unwrap().status,
        401
    );
    let stale = callbacks()
        .kf_msg_or_event(HOOK, KF, &sync_token, &CallbackOptions::stale_by(3600))
        .unwrap();
    assert_eq!(
        stale.send(&client, &host.base_url).await.unwrap().status,
        401
    );
    let wrong_key = WecomCallbacks::new(TOKEN, CORP, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG")
        .kf_msg_or_event(HOOK, KF, &sync_token, &CallbackOptions::default())
        .unwrap();
    assert_eq!(
        wrong_key
            .send(&client, &host.base_url)
            .await
            .unwrap()
            .status,
        401
    );

    host.settled().await;
    assert_eq!(
        api.request_count(SYNC_MSG_PATH),
        0,
        "nothing is pulled for a refused callback"
    );
    assert!(
        host.history("demo-wecom", &format!("{KF}:wmCustomer0000000004"))
            .is_empty()
    );
    host.stop().await;
}
