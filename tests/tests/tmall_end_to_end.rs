//! Taobao / Tmall end to end: the real host holds the TMC socket of the
//! loopback Taobao emulator with the real plugin → a paid order is committed
//! once although the platform redelivers it after a reconnect → its confirm
//! reaches the platform only after the commit → the order look-up reaches
//! the TOP router with a valid signature and its result is recorded. Also: a
//! refused handshake stores nothing, and the HTTP consume/confirm fallback
//! commits, confirms and classifies an expired session as permanent.

use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tongdao::model::{CommerceKind, EventBody, OutboxStatus};
use tongdao_e2e::harness::{TestHost, eventually, plugin_entry};
use tongdao_emulator_taobao::{TaobaoConfig, TaobaoEmulator, Via};

const SHOP: &str = "demo-tmall";

async fn start_taobao() -> TaobaoEmulator {
    TaobaoEmulator::start(TaobaoConfig::new("12345678", "helloworld", "demo-session"))
        .await
        .unwrap()
}

fn config(taobao: &TaobaoEmulator, secret: &str, ingestion: &str) -> String {
    format!(
        "{}\n[[shops]]\nid = \"{SHOP}\"\nplugin = \"tmall\"\negress = [\"gw.api.taobao.com\", \"mc.api.taobao.com\"]\ncredentials = {{ app_key = \"12345678\", app_secret = \"{secret}\", session = \"demo-session\" }}\napi_base = {{ \"gw.api.taobao.com\" = \"{}\", \"mc.api.taobao.com\" = \"{}\" }}\n{ingestion}\n",
        plugin_entry("tmall"),
        taobao.api_base_url(),
        taobao.stream_url(),
    )
}

fn paid(tid: &str) -> String {
    json!({
        "tid": tid.parse::<u64>().unwrap(), "oid": tid.parse::<u64>().unwrap(),
        "buyer_nick": "t**1", "buyer_open_uid": "AAGM90gYAAjcqSrFKsJi7Izh",
        "payment": "99.00", "status": "WAIT_SELLER_SEND_GOODS",
        "type": "guarantee_trade", "seller_nick": "demo_shop"
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paid_order_is_committed_once_confirmed_after_commit_and_looked_up() {
    let taobao = start_taobao().await;
    let tid = "3000000000000000001";
    taobao.add_trade(
        tid,
        json!({"tid": 3000000000000000001u64, "status": "WAIT_SELLER_SEND_GOODS", "payment": "99.00"}),
    );
    let host = TestHost::start(&config(&taobao, "helloworld", "")).await;
    let conversation = format!("trade_{tid}");

    // At each confirm, note how many events of the order the host holds.
    let seen_at_confirm = Arc::new(Mutex::new(Vec::new()));
    {
        let state = Arc::clone(host.state());
        let seen = Arc::clone(&seen_at_confirm);
        let conversation = conversation.clone();
        taobao.on_confirm(move |confirm| {
            let stored = state
                .store
                .conversation_events(SHOP, &conversation)
                .unwrap()
                .len();
            seen.lock().unwrap().push((confirm.id, stored));
        });
    }

    // The platform pushes, then the connection breaks before the confirm:
    // the message comes again on the next connection.
    taobao.drop_after_next_push();
    let id = taobao.enqueue("taobao_trade_TradeBuyerPay", &paid(tid));
    let confirms = taobao
        .wait_for_confirms(1, Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(confirms[0].id, id);
    assert_eq!(confirms[0].via, Via::Stream);
    assert!(
        confirms[0].token_valid,
        "confirmed with the session token of its connection"
    );
    assert!(taobao.is_confirmed(id));
    let deliveries = taobao.deliveries();
    assert!(deliveries.len() >= 2, "redelivered: {deliveries:?}");
    assert!(deliveries[1].connection > deliveries[0].connection);
    assert_eq!(
        seen_at_confirm.lock().unwrap()[0],
        (id, 1),
        "the event was committed before the platform heard the confirm"
    );

    let history = host.history(SHOP, &conversation);
    assert_eq!(history.len(), 1, "stored once: {history:#?}");
    let event = &history[0].event;
    assert_eq!(
        event.platform_id,
        format!("taobao_trade_TradeBuyerPay:{id}")
    );
    let EventBody::Commerce(commerce) = &event.body else {
        panic!("a commerce event")
    };
    assert_eq!(commerce.kind, CommerceKind::OrderPaid);
    assert_eq!(commerce.amount.as_deref(), Some("99.00"));
    assert_eq!(commerce.order_id.as_deref(), Some(tid));
    assert_eq!(
        commerce.customer.as_ref().unwrap().platform_user_id,
        "AAGM90gYAAjcqSrFKsJi7Izh"
    );

    // The order look-up went to the router with a valid signature and the
    // seller's session, and its result is recorded with the action.
    let item = eventually(
        "the look-up to be delivered",
        Duration::from_secs(15),
        || {
            host.outbox(SHOP, &conversation)
                .into_iter()
                .find(|item| matches!(item.status, OutboxStatus::Delivered { .. }))
        },
    )
    .await;
    let OutboxStatus::Delivered { receipt, .. } = &item.status else {
        unreachable!()
    };
    let result: serde_json::Value =
        serde_json::from_str(receipt.result_json.as_deref().unwrap()).unwrap();
    assert_eq!(result["order_id"], tid);
    assert_eq!(result["state"], "paid");
    assert_eq!(result["amount"], "99.00");
    let lookups = taobao.calls_of("taobao.trade.fullinfo.get");
    assert_eq!(lookups.len(), 1, "{lookups:#?}");
    assert_eq!(
        lookups[0].error_code, None,
        "signature and session accepted"
    );
    assert_eq!(lookups[0].param("session"), Some("demo-session"));
    assert_eq!(lookups[0].param("tid"), Some(tid));
    assert_eq!(lookups[0].param("sign_method"), Some("hmac-sha256"));

    let metrics = host.metrics();
    assert!(
        metrics.contains("tongdao_events_total{result=\"duplicate\"} 1"),
        "{metrics}"
    );
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_handshake_stores_and_confirms_nothing() {
    let taobao = start_taobao().await;
    taobao.enqueue("taobao_trade_TradeBuyerPay", &paid("3000000000000000002"));
    // The shop's secret is wrong: TMC refuses the signature.
    let host = TestHost::start(&config(&taobao, "not-the-secret", "")).await;
    // The host tries again after a refusal: every try is refused.
    eventually("two refused handshakes", Duration::from_secs(15), || {
        (taobao.handshakes().len() >= 2).then_some(())
    })
    .await;
    let handshakes = taobao.handshakes();
    assert!(
        handshakes
            .iter()
            .all(|h| !h.accepted && h.status == 401 && h.phrase == "invalid sign"),
        "{handshakes:?}"
    );
    assert!(taobao.deliveries().is_empty());
    assert!(taobao.confirms().is_empty());
    assert!(
        host.history(SHOP, "trade_3000000000000000002").is_empty(),
        "nothing stored"
    );
    let metrics = host.metrics();
    assert!(
        metrics.contains("tongdao_events_total{result=\"stored\"} 0"),
        "{metrics}"
    );
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_poll_fallback_commits_confirms_and_reports_an_expired_session() {
    let taobao = start_taobao().await;
    let tid = "3000000000000000003";
    taobao.add_trade(
        tid,
        json!({"tid": 3000000000000000003u64, "status": "WAIT_SELLER_SEND_GOODS", "payment": "99.00"}),
    );
    // The seller's session has expired on the platform's side.
    taobao.fail_next(
        "taobao.trade.fullinfo.get",
        1,
        "27",
        "Invalid session",
        Some("invalid-sessionkey"),
        Some("SessionKey非法"),
    );
    let id = taobao.enqueue("taobao_trade_TradeBuyerPay", &paid(tid));
    let host = TestHost::start(&config(
        &taobao,
        "helloworld",
        "stream = false\npoll_feeds = [\"tmc\"]\npoll_interval_ms = 200",
    ))
    .await;
    let confirms = taobao
        .wait_for_confirms(1, Duration::from_secs(15))
        .await
        .unwrap();
    assert_eq!((confirms[0].id, confirms[0].via), (id, Via::Http));
    assert_eq!(taobao.connections(), 0, "no stream was opened");
    let consumes = taobao.calls_of("taobao.tmc.messages.consume");
    assert!(consumes.iter().all(|c| c.error_code.is_none()));
    assert_eq!(consumes[0].param("group_name"), Some("default"));
    let confirm_calls = taobao.calls_of("taobao.tmc.messages.confirm");
    assert_eq!(
        confirm_calls[0].param("s_message_ids"),
        Some(id.to_string().as_str())
    );

    let conversation = format!("trade_{tid}");
    // Later consumes find nothing new: still one event.
    let consumed = taobao.calls_of("taobao.tmc.messages.consume").len();
    eventually("two more consumes", Duration::from_secs(15), || {
        (taobao.calls_of("taobao.tmc.messages.consume").len() >= consumed + 2).then_some(())
    })
    .await;
    host.settled().await;
    let history = host.history(SHOP, &conversation);
    assert_eq!(history.len(), 1);
    assert_eq!(
        history[0].event.platform_id,
        format!("taobao_trade_TradeBuyerPay:{id}")
    );

    let item = eventually("the look-up to fail", Duration::from_secs(15), || {
        host.outbox(SHOP, &conversation)
            .into_iter()
            .find(|item| matches!(item.status, OutboxStatus::Failed { .. }))
    })
    .await;
    let OutboxStatus::Failed { kind, reason, .. } = &item.status else {
        unreachable!()
    };
    assert_eq!(*kind, tongdao::model::FailureKind::Permanent, "{reason}");
    assert!(reason.contains("re-authorise"), "{reason}");
    assert!(!reason.contains("demo-session"), "no secret in the reason");
    assert_eq!(
        taobao.calls_of("taobao.trade.fullinfo.get").len(),
        1,
        "an expired session is not retried"
    );
    host.stop().await;
}
