//! 抖店 end to end: signed message pushes over real HTTP to the running host
//! with the real plugin → `{"code":0,"msg":"success"}` after commit → stored
//! once despite redelivery → the order look-up reaches the loopback gateway
//! emulator with a valid signature and a fresh access token, and its result
//! is recorded. Also: forged and tampered pushes are refused with nothing
//! stored, an expired access token is refreshed and the look-up retried,
//! and the push-URL verification message is answered.

use std::time::Duration;
use tongdao::model::{CommerceKind, EventBody, OutboxStatus};
use tongdao_e2e::harness::{TestHost, eventually, plugin_entry};
use tongdao_emulator_doudian::gateway::{DoudianGateway, GatewayConfig};
use tongdao_emulator_doudian::push::{DoudianPusher, PushMessage, SUCCESS_BODY};
use tongdao_emulator_doudian::signing::SignMethod;

const SHOP: &str = "demo-doudian";
const APP_KEY: &str = "7000000000000000001";
const SECRET: &str = "test_secret";
const SHOP_ID: u64 = 12345;
const HOOK: &str = "/hooks/douyin/demo-doudian";

async fn start_gateway() -> DoudianGateway {
    DoudianGateway::start(GatewayConfig::new(APP_KEY, SECRET, &SHOP_ID.to_string()))
        .await
        .unwrap()
}

fn config(gateway: &DoudianGateway) -> String {
    format!(
        "{}\n[[shops]]\nid = \"{SHOP}\"\nplugin = \"douyin\"\negress = [\"openapi-fxg.jinritemai.com\"]\ncredentials = {{ app_key = \"{APP_KEY}\", app_secret = \"{SECRET}\" }}\nsettings = {{ shop_id = \"{SHOP_ID}\" }}\napi_base = {{ \"openapi-fxg.jinritemai.com\" = \"{}\" }}\n",
        plugin_entry("douyin"),
        gateway.base_url(),
    )
}

fn pusher() -> DoudianPusher {
    DoudianPusher::new(APP_KEY, SECRET)
}

fn now_secs() -> i64 {
    tongdao::clock::now_ms() / 1000
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

/// The recorded result of the conversation's delivered look-up.
async fn delivered_look_up(host: &TestHost, conversation: &str) -> serde_json::Value {
    let item = eventually(
        "the look-up to be delivered",
        Duration::from_secs(15),
        || {
            host.outbox(SHOP, conversation)
                .into_iter()
                .find(|item| matches!(item.status, OutboxStatus::Delivered { .. }))
        },
    )
    .await;
    let OutboxStatus::Delivered { receipt, .. } = &item.status else {
        unreachable!()
    };
    serde_json::from_str(receipt.result_json.as_deref().unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paid_order_is_stored_once_and_looked_up_with_a_fresh_token() {
    let gateway = start_gateway().await;
    let p_id = 6900000000000000001u64;
    gateway.add_paid_order(&p_id.to_string(), 9900);
    let host = TestHost::start(&config(&gateway)).await;
    let conversation = format!("trade_{p_id}");
    let msg_id = "7300000000000000101";
    let push = pusher().push(
        HOOK,
        &[PushMessage::order_paid(
            msg_id,
            p_id,
            SHOP_ID,
            9900,
            now_secs(),
        )],
    );

    // The platform redelivers when it does not hear back in time: once more
    // at once, and twice at the same moment.
    let first = push.send(&client(), &host.base_url).await.unwrap();
    assert_eq!((first.status, first.body.as_str()), (200, SUCCESS_BODY));
    let (a, b) = (client(), client());
    let (second, third) =
        tokio::join!(push.send(&a, &host.base_url), push.send(&b, &host.base_url));
    for again in [second.unwrap(), third.unwrap()] {
        assert_eq!((again.status, again.body.as_str()), (200, SUCCESS_BODY));
    }

    let history = host.history(SHOP, &conversation);
    assert_eq!(history.len(), 1, "stored once: {history:#?}");
    let event = &history[0].event;
    assert_eq!(event.platform_id, msg_id);
    let EventBody::Commerce(commerce) = &event.body else {
        panic!("a commerce event")
    };
    assert_eq!(commerce.kind, CommerceKind::OrderPaid);
    assert_eq!(commerce.topic, "101");
    assert_eq!(commerce.business_key, conversation);
    assert_eq!(
        commerce.order_id.as_deref(),
        Some(p_id.to_string().as_str())
    );
    assert_eq!(commerce.amount.as_deref(), Some("99.00"));

    // The look-up went to the gateway with a signature it accepted and a
    // token it had just issued; its result is recorded with the action.
    let result = delivered_look_up(&host, &conversation).await;
    assert_eq!(result["order_id"], p_id.to_string());
    assert_eq!(result["state"], "paid");
    assert_eq!(result["amount"], "99.00");
    let creates = gateway.calls_of("token.create");
    assert_eq!(creates.len(), 1, "{creates:#?}");
    assert!(creates[0].succeeded(), "{creates:#?}");
    let lookups = gateway.calls_of("order.orderDetail");
    assert_eq!(lookups.len(), 1, "looked up once: {lookups:#?}");
    assert!(lookups[0].succeeded(), "{lookups:#?}");
    assert_eq!(lookups[0].param("sign_method"), Some("hmac-sha256"));
    assert!(gateway.is_live_access_token(lookups[0].param("access_token").unwrap()));
    assert_eq!(lookups[0].body, format!(r#"{{"shop_order_id":"{p_id}"}}"#));

    // Nothing more happens for the redeliveries.
    host.settled().await;
    assert_eq!(gateway.calls_of("order.orderDetail").len(), 1);
    assert_eq!(host.outbox(SHOP, &conversation).len(), 1);
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_and_tampered_pushes_are_refused_and_nothing_is_stored() {
    let gateway = start_gateway().await;
    let host = TestHost::start(&config(&gateway)).await;
    let p_id = 6900000000000000002u64;
    let push = pusher().push(
        HOOK,
        &[PushMessage::order_paid(
            "7300000000000000201",
            p_id,
            SHOP_ID,
            9900,
            now_secs(),
        )],
    );
    let other_secret = DoudianPusher::new(APP_KEY, "someone_elses_secret").push(
        HOOK,
        &[PushMessage::order_paid(
            "7300000000000000202",
            p_id,
            SHOP_ID,
            9900,
            now_secs(),
        )],
    );
    let tampered_body = String::from_utf8(push.body.clone())
        .unwrap()
        .replace("9900", "1");
    let refused = [
        ("forged signature", push.clone().forged()),
        ("tampered body", push.clone().with_body(tampered_body)),
        (
            "another app",
            push.clone().with_header("app-id", "7000000000000000002"),
        ),
        ("wrong secret", other_secret),
        (
            "md5 signature announced as hmac",
            push.clone().with_header("sign-method", "hmac-sha256"),
        ),
    ];
    for (what, request) in refused {
        let answer = request.send(&client(), &host.base_url).await.unwrap();
        assert_eq!(answer.status, 401, "{what}: {answer:?}");
        assert!(!answer.body.contains(SECRET), "{what}: {answer:?}");
    }
    host.settled().await;
    assert!(host.history(SHOP, &format!("trade_{p_id}")).is_empty());
    assert!(host.outbox(SHOP, &format!("trade_{p_id}")).is_empty());
    assert!(gateway.calls().is_empty(), "nothing was looked up");

    // The genuine push still goes through.
    let answer = push.send(&client(), &host.base_url).await.unwrap();
    assert_eq!((answer.status, answer.body.as_str()), (200, SUCCESS_BODY));
    assert_eq!(host.history(SHOP, &format!("trade_{p_id}")).len(), 1);
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_access_token_is_refreshed_and_the_look_up_retried() {
    let gateway = start_gateway().await;
    let (first_order, second_order) = (6900000000000000003u64, 6900000000000000004u64);
    gateway.add_paid_order(&first_order.to_string(), 9900);
    gateway.add_paid_order(&second_order.to_string(), 12900);
    let host = TestHost::start(&config(&gateway)).await;

    let paid = |msg_id: &str, p_id: u64, fen: i64| {
        pusher().push(
            HOOK,
            &[PushMessage::order_paid(
                msg_id,
                p_id,
                SHOP_ID,
                fen,
                now_secs(),
            )],
        )
    };
    let answer = paid("7300000000000000301", first_order, 9900)
        .send(&client(), &host.base_url)
        .await
        .unwrap();
    assert_eq!(answer.status, 200);
    delivered_look_up(&host, &format!("trade_{first_order}")).await;
    let first_token = gateway.calls_of("order.orderDetail")[0]
        .param("access_token")
        .unwrap()
        .to_string();

    // The platform expires the access token: the next look-up gets 40003
    // isv.access-token-expired, the plugin refreshes the token with
    // /token/refresh and the host sends the look-up again.
    gateway.expire_access_tokens();
    let answer = paid("7300000000000000302", second_order, 12900)
        .send(&client(), &host.base_url)
        .await
        .unwrap();
    assert_eq!(answer.status, 200);
    let result = delivered_look_up(&host, &format!("trade_{second_order}")).await;
    assert_eq!(result["amount"], "129.00");

    let steps: Vec<(String, i64, String)> = gateway
        .calls()
        .iter()
        .map(|c| (c.method().unwrap().to_string(), c.code, c.sub_code.clone()))
        .collect();
    let expected: Vec<(String, i64, String)> = [
        ("token.create", 10000, ""),
        ("order.orderDetail", 10000, ""),
        ("order.orderDetail", 40003, "isv.access-token-expired"),
        ("token.refresh", 10000, ""),
        ("order.orderDetail", 10000, ""),
    ]
    .iter()
    .map(|(m, c, s)| (m.to_string(), *c, s.to_string()))
    .collect();
    assert_eq!(steps, expected);
    let lookups = gateway.calls_of("order.orderDetail");
    let fresh = lookups[2].param("access_token").unwrap();
    assert_ne!(
        fresh, first_token,
        "looked up again with the refreshed token"
    );
    assert!(gateway.is_live_access_token(fresh));
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_verification_push_is_answered_and_refunds_are_stored() {
    let gateway = start_gateway().await;
    let host = TestHost::start(&config(&gateway)).await;

    let verify = pusher().push(HOOK, &[PushMessage::verification()]);
    let answer = verify.send(&client(), &host.base_url).await.unwrap();
    assert_eq!((answer.status, answer.body.as_str()), (200, SUCCESS_BODY));

    // A refund push signed with HMAC-SHA256 becomes a refund event keyed on
    // the after-sale.
    let (aftersale_id, p_id) = (7100000000000000001u64, 6900000000000000005u64);
    gateway.add_paid_order(&p_id.to_string(), 9900);
    let refund = pusher().signing_with(SignMethod::HmacSha256).push(
        HOOK,
        &[PushMessage::refund_created(
            "7300000000000000401",
            aftersale_id,
            p_id,
            SHOP_ID,
            9900,
            now_secs(),
        )],
    );
    let answer = refund.send(&client(), &host.base_url).await.unwrap();
    assert_eq!((answer.status, answer.body.as_str()), (200, SUCCESS_BODY));
    let conversation = format!("refund_{aftersale_id}");
    let history = host.history(SHOP, &conversation);
    assert_eq!(history.len(), 1, "{history:#?}");
    let EventBody::Commerce(commerce) = &history[0].event.body else {
        panic!("a commerce event")
    };
    assert_eq!(commerce.kind, CommerceKind::RefundCreated);
    assert_eq!(
        commerce.refund_id.as_deref(),
        Some(aftersale_id.to_string().as_str())
    );
    assert_eq!(
        commerce.order_id.as_deref(),
        Some(p_id.to_string().as_str())
    );
    assert_eq!(commerce.amount.as_deref(), Some("99.00"));
    // The refund names its order, so the order is looked up too.
    let result = delivered_look_up(&host, &conversation).await;
    assert_eq!(result["order_id"], p_id.to_string());
    host.stop().await;
}
