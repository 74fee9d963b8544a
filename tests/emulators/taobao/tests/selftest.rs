//! The emulator over real loopback HTTP and WebSocket: TOP's checks and
//! codes on the router, and the TMC handshake, push, redelivery and confirm
//! on the socket.

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use tongdao_emulator_taobao::frames::{CONNECT, CONNECTACK, Field, Frame, SEND};
use tongdao_emulator_taobao::signing::{connect_sign, expected_sign, format_timestamp};
use tongdao_emulator_taobao::{TaobaoConfig, TaobaoEmulator, Via};

const KEY: &str = "12345678";
const SECRET: &str = "helloworld";

async fn start() -> TaobaoEmulator {
    TaobaoEmulator::start(TaobaoConfig::new(KEY, SECRET, "demo-session"))
        .await
        .unwrap()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A signed router call; `tamper` may change the parameters after signing.
async fn call(
    emulator: &TaobaoEmulator,
    sign_method: &str,
    method: &str,
    extra: &[(&str, &str)],
    tamper: impl FnOnce(&mut Vec<(String, String)>),
) -> Value {
    let mut params: Vec<(String, String)> = [
        ("method", method),
        ("app_key", KEY),
        ("format", "json"),
        ("v", "2.0"),
        ("sign_method", sign_method),
    ]
    .iter()
    .chain(extra.iter())
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    params.push(("timestamp".into(), format_timestamp(now_ms())));
    let sign = expected_sign(sign_method, SECRET, &params).unwrap_or_default();
    params.push(("sign".into(), sign));
    tamper(&mut params);
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params.iter())
        .finish();
    let text = reqwest::Client::new()
        .post(format!("{}/router/rest", emulator.api_base_url()))
        .header(
            "content-type",
            "application/x-www-form-urlencoded;charset=utf-8",
        )
        .body(body)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    serde_json::from_str(&text).unwrap()
}

fn code(answer: &Value) -> Option<i64> {
    answer["error_response"]["code"].as_i64()
}

#[tokio::test]
async fn the_router_checks_signatures_timestamps_and_sessions() {
    let emulator = start().await;
    for method in ["md5", "hmac", "hmac-sha256"] {
        let answer = call(
            &emulator,
            method,
            "taobao.tmc.messages.consume",
            &[],
            |_| {},
        )
        .await;
        assert!(
            answer.get("tmc_messages_consume_response").is_some(),
            "{method}: {answer}"
        );
    }
    let forged = call(
        &emulator,
        "md5",
        "taobao.tmc.messages.consume",
        &[("quantity", "5")],
        |p| p.iter_mut().find(|(k, _)| k == "quantity").unwrap().1 = "6".into(),
    )
    .await;
    assert_eq!(code(&forged), Some(25));
    let stale = call(&emulator, "md5", "taobao.tmc.messages.consume", &[], |p| {
        p.retain(|(k, _)| k != "timestamp" && k != "sign");
        p.push(("timestamp".into(), format_timestamp(now_ms() - 3_600_000)));
        let sign = expected_sign("md5", SECRET, p).unwrap();
        p.push(("sign".into(), sign));
    })
    .await;
    assert_eq!(code(&stale), Some(31));
    let unknown = call(&emulator, "hmac", "taobao.item.get", &[], |_| {}).await;
    assert_eq!(code(&unknown), Some(22));

    emulator.add_trade(
        "1001",
        json!({"tid": 1001, "status": "WAIT_SELLER_SEND_GOODS", "payment": "99.00"}),
    );
    let fields = ("fields", "tid,status");
    let missing = call(
        &emulator,
        "hmac",
        "taobao.trade.fullinfo.get",
        &[("tid", "1001"), fields],
        |_| {},
    )
    .await;
    assert_eq!(code(&missing), Some(26));
    let wrong = call(
        &emulator,
        "hmac",
        "taobao.trade.fullinfo.get",
        &[("tid", "1001"), fields, ("session", "old")],
        |_| {},
    )
    .await;
    assert_eq!(code(&wrong), Some(27));
    let found = call(
        &emulator,
        "hmac-sha256",
        "taobao.trade.fullinfo.get",
        &[("tid", "1001"), fields, ("session", "demo-session")],
        |_| {},
    )
    .await;
    assert_eq!(
        found["trade_fullinfo_get_response"]["trade"]["payment"],
        "99.00"
    );
    let absent = call(
        &emulator,
        "hmac-sha256",
        "taobao.trade.fullinfo.get",
        &[("tid", "9"), fields, ("session", "demo-session")],
        |_| {},
    )
    .await;
    assert_eq!(absent["error_response"]["sub_code"], "isv.trade-not-exist");

    emulator.fail_next(
        "taobao.trade.fullinfo.get",
        1,
        "15",
        "Remote service error",
        Some("isp.remote-service-timeout"),
        Some("timeout"),
    );
    let injected = call(
        &emulator,
        "md5",
        "taobao.trade.fullinfo.get",
        &[("tid", "1001"), fields, ("session", "demo-session")],
        |_| {},
    )
    .await;
    assert_eq!(
        injected["error_response"]["sub_code"],
        "isp.remote-service-timeout"
    );
    emulator.limit_calls("taobao.trade.fullinfo.get", 1);
    let allowed = call(
        &emulator,
        "md5",
        "taobao.trade.fullinfo.get",
        &[("tid", "1001"), fields, ("session", "demo-session")],
        |_| {},
    )
    .await;
    assert!(allowed.get("trade_fullinfo_get_response").is_some());
    let limited = call(
        &emulator,
        "md5",
        "taobao.trade.fullinfo.get",
        &[("tid", "1001"), fields, ("session", "demo-session")],
        |_| {},
    )
    .await;
    assert_eq!(code(&limited), Some(7));

    let log = emulator.calls_of("taobao.trade.fullinfo.get");
    assert_eq!(log.len(), 7);
    assert_eq!(log[2].error_code, None);
    assert_eq!(log[3].error_code.as_deref(), Some("15"));
    assert_eq!(log[6].error_code.as_deref(), Some("7"));
}

#[tokio::test]
async fn consume_and_confirm_share_the_queue() {
    let emulator = start().await;
    let first = emulator.enqueue(
        "taobao_trade_TradeBuyerPay",
        r#"{"tid":1,"payment":"99.00"}"#,
    );
    let second = emulator.enqueue("taobao_refund_RefundCreated", r#"{"refund_id":2,"tid":1}"#);
    let page = call(
        &emulator,
        "md5",
        "taobao.tmc.messages.consume",
        &[("quantity", "1")],
        |_| {},
    )
    .await;
    let messages = &page["tmc_messages_consume_response"]["messages"]["tmc_message"];
    assert_eq!(messages.as_array().unwrap().len(), 1);
    assert_eq!(messages[0]["id"], first);
    let page = call(&emulator, "md5", "taobao.tmc.messages.consume", &[], |_| {}).await;
    let messages = &page["tmc_messages_consume_response"]["messages"]["tmc_message"];
    assert_eq!(messages[0]["id"], second, "the first is in flight");
    let ids = format!("{first},{second}");
    let confirmed = call(
        &emulator,
        "md5",
        "taobao.tmc.messages.confirm",
        &[("s_message_ids", &ids)],
        |_| {},
    )
    .await;
    assert_eq!(
        confirmed["tmc_messages_confirm_response"]["is_success"],
        true
    );
    assert!(emulator.is_confirmed(first) && emulator.is_confirmed(second));
    assert!(emulator.confirms().iter().all(|c| c.via == Via::Http));
    // Unconfirmed messages come back after the redelivery delay.
    let third = emulator.enqueue("taobao_trade_TradeCreate", r#"{"tid":3}"#);
    emulator.set_redeliver_after(Duration::from_millis(50));
    let _ = call(&emulator, "md5", "taobao.tmc.messages.consume", &[], |_| {}).await;
    tokio::time::sleep(Duration::from_millis(80)).await;
    let again = call(&emulator, "md5", "taobao.tmc.messages.consume", &[], |_| {}).await;
    assert_eq!(
        again["tmc_messages_consume_response"]["messages"]["tmc_message"][0]["id"],
        third
    );
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(emulator: &TaobaoEmulator, secret: &str) -> (Ws, Frame) {
    let (mut ws, _) = tokio_tungstenite::connect_async(emulator.stream_url())
        .await
        .unwrap();
    let ts = now_ms().to_string();
    let connect = Frame {
        kind: CONNECT,
        fields: vec![
            ("app_key".into(), Field::Text(KEY.into())),
            ("group_name".into(), Field::Text("default".into())),
            ("timestamp".into(), Field::Text(ts.clone())),
            (
                "sign".into(),
                Field::Text(connect_sign(KEY, secret, "default", &ts)),
            ),
            ("sdk".into(), Field::Text("selftest".into())),
        ],
        ..Frame::default()
    };
    ws.send(Message::Binary(connect.to_bytes().into()))
        .await
        .unwrap();
    let ack = next_frame(&mut ws).await.unwrap();
    (ws, ack)
}

async fn next_frame(ws: &mut Ws) -> Option<Frame> {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .ok()??
        {
            Ok(Message::Binary(bytes)) => return Some(Frame::parse(&bytes).unwrap()),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => continue,
        }
    }
}

fn confirm(token: &str, id: i64) -> Message {
    let frame = Frame {
        kind: SEND,
        token: Some(token.into()),
        fields: vec![
            ("__kind".into(), Field::Byte(2)),
            ("id".into(), Field::Long(id)),
        ],
        ..Frame::default()
    };
    Message::Binary(frame.to_bytes().into())
}

#[tokio::test]
async fn the_socket_authenticates_pushes_redelivers_and_records_confirms() {
    let emulator = start().await;
    let (mut refused, ack) = connect(&emulator, "wrong-secret").await;
    assert_eq!(ack.kind, CONNECTACK);
    assert_eq!(ack.status_code, Some(401));
    assert_eq!(ack.status_phrase.as_deref(), Some("invalid sign"));
    assert!(
        next_frame(&mut refused).await.is_none(),
        "closed after refusing"
    );

    let (mut ws, ack) = connect(&emulator, SECRET).await;
    assert_eq!(ack.status_code, None);
    let token = ack.token.clone().unwrap();
    let id = emulator.enqueue(
        "taobao_trade_TradeBuyerPay",
        r#"{"tid":1,"payment":"99.00"}"#,
    );
    let data = next_frame(&mut ws).await.unwrap();
    assert_eq!(data.field("__kind"), Some(&Field::Byte(3)));
    assert_eq!(data.field("id"), Some(&Field::Long(id)));
    assert_eq!(
        data.text("topic").as_deref(),
        Some("taobao_trade_TradeBuyerPay")
    );

    // Not confirmed, the connection goes: the next one gets it again.
    emulator.drop_connections();
    assert!(next_frame(&mut ws).await.is_none());
    let (mut ws, ack) = connect(&emulator, SECRET).await;
    let token2 = ack.token.unwrap();
    assert_ne!(token, token2);
    let again = next_frame(&mut ws).await.unwrap();
    assert_eq!(again.field("id"), Some(&Field::Long(id)));
    ws.send(confirm(&token2, id)).await.unwrap();
    let confirms = emulator
        .wait_for_confirms(1, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(confirms[0].id, id);
    assert!(confirms[0].token_valid);
    assert!(emulator.is_confirmed(id));
    let deliveries = emulator.deliveries();
    assert_eq!(deliveries.len(), 2);
    assert_eq!((deliveries[0].connection, deliveries[1].connection), (2, 3));

    // Dropped right after a push, before the confirm is read.
    emulator.drop_after_next_push();
    let id2 = emulator.enqueue("taobao_trade_TradeSuccess", r#"{"tid":1}"#);
    let pushed = next_frame(&mut ws).await.unwrap();
    assert_eq!(pushed.field("id"), Some(&Field::Long(id2)));
    let _ = ws.send(confirm(&token2, id2)).await;
    assert!(next_frame(&mut ws).await.is_none());
    assert!(!emulator.is_confirmed(id2));
    let handshakes = emulator.handshakes();
    assert_eq!(handshakes.iter().filter(|h| h.accepted).count(), 2);
    assert!(!handshakes[0].accepted);
}

#[tokio::test]
async fn a_connect_from_a_skewed_clock_or_a_stranger_is_refused() {
    let emulator = start().await;
    emulator.set_clock_ms(Some(now_ms() + 3_600_000));
    let (_, ack) = connect(&emulator, SECRET).await;
    assert_eq!(ack.status_code, Some(401));
    assert_eq!(ack.status_phrase.as_deref(), Some("timestamp out of range"));
    emulator.set_clock_ms(None);
    emulator.refuse_next_connect(503, "service unavailable");
    let (_, ack) = connect(&emulator, SECRET).await;
    assert_eq!(ack.status_code, Some(503));
    let (_, ack) = connect(&emulator, SECRET).await;
    assert!(ack.token.is_some(), "accepted again");
    assert_eq!(emulator.connections(), 3);
}
