//! The push endpoint against the vectors and against forged, stale and
//! malformed input.

use super::*;
use wechat_crypto::signature;

const TOKEN: &str = "spamtest";
const APP_ID: &str = "wx2c2769f8efd9abc2";
const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const TS: &str = "1714037059";
const NONCE: &str = "486452656";
const ENCRYPT: &str = "5I0ViYLQqCiDyNw9bygZh7gEi4RHDSU2anInfPXpuvj5reZOl+FzkzmhTo9j5JsmoYMhC7kq8/99VFGKoheRKg4kpSeXoHYG3VydghtGGj38vzKh5NbVxI7nJoZdlqp5pLHCBytvaLTrCYF83iHS2nd3d/DbpQgThWoSDX0rEDtBisBFPC5TS+WhjT8XmzdUsEr5QrcE6yno9D72BDdxG7W5ikLOtFTS8dh+mh0B7MtiBmyh3+oAdVzqhXH5K373umrpZn5xbUp0fp/KM7yKKirxgQjR2JarSheROvI9vJ56rxPt+ZlcrNenI6dJQ/nBe+S4zoFJAcY9OsJ/2Y/hLEtKPsDxwkASm1rU9EGC77Hj9z2rNwBIROwHAnOBJHPmG1lj6hgqa4hgjWLr4eQDRZrB5bqmIF/Vaj+BLZtPe04nqLQ+FneFHspcE1A/H9pDwOJdza5+XfP9onA0XKXXD9k9jmsaLANFacYanXSTja7v2TFCbyczh8kghD2KxF54";

fn ctx() -> ShopContext {
    ShopContext::for_test("demo-oa", 1_714_037_059_000)
        .with_credential("app_id", APP_ID)
        .with_credential("app_secret", "secret")
        .with_credential("token", TOKEN)
        .with_credential("encoding_aes_key", KEY)
}

/// A shop in plaintext mode (no EncodingAESKey).
fn plain_ctx() -> ShopContext {
    ShopContext::for_test("demo-oa", 1_714_037_059_000)
        .with_credential("app_id", APP_ID)
        .with_credential("app_secret", "secret")
        .with_credential("token", TOKEN)
}

fn signed_url(extra: &str) -> String {
    let sig = signature(&[TOKEN, TS, NONCE]);
    format!("/hooks/wechat/demo-oa?signature={sig}&timestamp={TS}&nonce={NONCE}{extra}")
}

fn text_xml(content: &str, msg_id: &str) -> Vec<u8> {
    format!("<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName><CreateTime>{TS}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>").into_bytes()
}

fn text_of(result: &PushResult) -> &str {
    match &result.events[0].body {
        EventBody::Message(Message {
            content: Content::Text(text),
            ..
        }) => text,
        other => panic!("not a text message: {other:?}"),
    }
}

#[test]
fn url_verification_echoes_echostr() {
    let request = HttpRequest::new("GET", &signed_url("&echostr=8761394921386712"), vec![]);
    let result = handle(&ctx(), &request).unwrap();
    assert_eq!(result.response.status, 200);
    assert_eq!(result.response.body, b"8761394921386712");
    assert!(result.events.is_empty());
}

#[test]
fn a_plaintext_message_is_acknowledged_with_success() {
    let request = HttpRequest::new(
        "POST",
        &signed_url("&openid=oyORnuP8q7ou2gfYjqLzSIWZf0rs"),
        text_xml("我的快递到哪了", "24612345678901234"),
    );
    let result = handle(&plain_ctx(), &request).unwrap();
    assert_eq!(result.response.status, 200);
    assert_eq!(result.response.body, b"success");
    assert_eq!(result.events.len(), 1);
    assert_eq!(result.events[0].platform_id, "24612345678901234");
    assert_eq!(text_of(&result), "我的快递到哪了");
}

#[test]
fn the_safe_mode_vector_is_verified_and_decrypted() {
    let msg_signature = "20d95789426261004812c49367eca5e21e100fdc";
    assert_eq!(
        signed_url(""),
        format!(
            "/hooks/wechat/demo-oa?signature=d12a808835472a789152a6d6b1b49b94dfc8dd66&timestamp={TS}&nonce={NONCE}"
        )
    );
    let url = signed_url(&format!("&encrypt_type=aes&msg_signature={msg_signature}"));
    let body = format!(
        "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><Encrypt><![CDATA[{ENCRYPT}]]></Encrypt></xml>"
    );
    let result = handle(&ctx(), &HttpRequest::new("POST", &url, body.into_bytes())).unwrap();
    assert_eq!(result.response.body, b"success");
    assert_eq!(result.events[0].platform_id, "24612345678901234");
    assert_eq!(text_of(&result), "你好，我的订单什么时候发货？!!!!!!!");
}

#[test]
fn a_forged_signature_is_refused_before_parsing() {
    let url = format!(
        "/hooks/wechat/demo-oa?signature={}&timestamp={TS}&nonce={NONCE}",
        "0".repeat(40)
    );
    let err = handle(
        &ctx(),
        &HttpRequest::new("POST", &url, b"not even xml".to_vec()),
    )
    .unwrap_err();
    assert!(
        matches!(err, PluginError::Unauthenticated(ref m) if m.contains("signature")),
        "{err:?}"
    );
    let unsigned = format!("/hooks/wechat/demo-oa?timestamp={TS}&nonce={NONCE}");
    assert!(matches!(
        handle(&ctx(), &HttpRequest::new("POST", &unsigned, vec![])),
        Err(PluginError::Unauthenticated(_))
    ));
}

#[test]
fn a_forged_msg_signature_is_refused() {
    let url = signed_url(&format!(
        "&encrypt_type=aes&msg_signature={}",
        "1".repeat(40)
    ));
    let body =
        format!("<xml><ToUserName>gh</ToUserName><Encrypt><![CDATA[{ENCRYPT}]]></Encrypt></xml>");
    let err = handle(&ctx(), &HttpRequest::new("POST", &url, body.into_bytes())).unwrap_err();
    assert!(
        matches!(err, PluginError::Unauthenticated(ref m) if m.contains("msg_signature")),
        "{err:?}"
    );
}

#[test]
fn a_tampered_payload_with_a_valid_msg_signature_is_refused() {
    // Someone who knows the token but not the AES key.
    let forged = "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=";
    let msg_signature = signature(&[TOKEN, TS, NONCE, forged]);
    let url = signed_url(&format!("&encrypt_type=aes&msg_signature={msg_signature}"));
    let body = format!("<xml><ToUserName>gh</ToUserName><Encrypt>{forged}</Encrypt></xml>");
    let err = handle(&ctx(), &HttpRequest::new("POST", &url, body.into_bytes())).unwrap_err();
    assert!(matches!(err, PluginError::Unauthenticated(_)), "{err:?}");
}

#[test]
fn safe_mode_without_a_key_is_a_configuration_error() {
    let ctx = ShopContext::for_test("demo-oa", 1_714_037_059_000)
        .with_credential("app_id", APP_ID)
        .with_credential("token", TOKEN);
    let url =
        signed_url("&encrypt_type=aes&msg_signature=20d95789426261004812c49367eca5e21e100fdc");
    let body = format!("<xml><Encrypt><![CDATA[{ENCRYPT}]]></Encrypt></xml>");
    let err = handle(&ctx, &HttpRequest::new("POST", &url, body.into_bytes())).unwrap_err();
    assert!(
        matches!(err, PluginError::Misconfigured(ref m) if m.contains("encoding_aes_key")),
        "{err:?}"
    );
}

#[test]
fn a_stale_timestamp_is_refused() {
    let late = ShopContext {
        now_ms: 1_714_037_059_000 + 301_000,
        ..plain_ctx()
    };
    let request = HttpRequest::new("POST", &signed_url(""), text_xml("hi", "1"));
    let err = handle(&late, &request).unwrap_err();
    assert!(
        matches!(err, PluginError::Stale(ref m) if m.contains("301 s")),
        "{err:?}"
    );
    // Within the tolerance is fine, and the tolerance is a setting.
    let in_time = ShopContext {
        now_ms: 1_714_037_059_000 + 299_000,
        ..plain_ctx()
    };
    assert!(handle(&in_time, &request).is_ok());
    let strict = in_time.with_setting("timestamp_tolerance_secs", "60");
    assert!(matches!(
        handle(&strict, &request),
        Err(PluginError::Stale(_))
    ));
}

#[test]
fn malformed_bodies_are_refused_after_authentication() {
    let request = HttpRequest::new("POST", &signed_url(""), b"<xml><ToUserName>gh".to_vec());
    assert!(matches!(
        handle(&plain_ctx(), &request),
        Err(PluginError::Malformed(_))
    ));
    let request = HttpRequest::new(
        "POST",
        &signed_url(""),
        b"<xml><ToUserName>gh</ToUserName></xml>".to_vec(),
    );
    assert!(
        matches!(handle(&plain_ctx(), &request), Err(PluginError::Malformed(m)) if m.contains("FromUserName"))
    );
}

#[test]
fn json_pushes_are_accepted() {
    let body = br#"{"ToUserName":"gh_97417a04a28d","FromUserName":"o9AgO5Kd5ggOC-bXrbNODIiE3bGY","CreateTime":1714037059,"MsgType":"text","Content":"hello","MsgId":"1234"}"#;
    let result = handle(
        &plain_ctx(),
        &HttpRequest::new("POST", &signed_url(""), body.to_vec()),
    )
    .unwrap();
    assert_eq!(text_of(&result), "hello");
}

#[test]
fn a_safe_mode_shop_refuses_a_plaintext_push_with_a_valid_signature() {
    // The outer signature covers only token, timestamp and nonce: with it
    // alone anyone holding one signed URL could post any body.
    let request = HttpRequest::new("POST", &signed_url(""), text_xml("假消息", "99"));
    let err = handle(&ctx(), &request).unwrap_err();
    assert!(
        matches!(err, PluginError::Unauthenticated(ref m) if m.contains("safe mode")),
        "{err:?}"
    );
    // 兼容模式 accepts it, where the shop's setting says so.
    let compatible = ctx().with_setting("message_mode", "compatible");
    assert_eq!(handle(&compatible, &request).unwrap().events.len(), 1);
    // An explicit `safe` with the key refuses it, a typo is a configuration error.
    let safe = ctx().with_setting("message_mode", "safe");
    assert!(matches!(
        handle(&safe, &request),
        Err(PluginError::Unauthenticated(_))
    ));
    let typo = ctx().with_setting("message_mode", "secure");
    assert!(matches!(
        handle(&typo, &request),
        Err(PluginError::Misconfigured(m)) if m.contains("message_mode")
    ));
}

#[test]
fn every_accepted_push_claims_its_signed_url_for_the_window() {
    let request = HttpRequest::new("POST", &signed_url(""), text_xml("hi", "1"));
    let result = handle(&plain_ctx(), &request).unwrap();
    let claims: Vec<&StateEntry> = result
        .state
        .iter()
        .filter_map(|change| match change {
            StateChange::Set(entry) if entry.key.starts_with(REPLAY_CLAIM_PREFIX) => Some(entry),
            _ => None,
        })
        .collect();
    assert_eq!(claims.len(), 1, "{:?}", result.state);
    let sig = signature(&[TOKEN, TS, NONCE]);
    assert!(claims[0].key.contains(&format!("{TS}:{NONCE}:{sig}")));
    // Kept until the timestamp leaves the tolerance window.
    let until = claims[0].expires_at_ms.unwrap();
    assert!(until > (1_714_037_059 + 300) * 1000, "{until}");
    // URL verification (a GET) has no effect to protect and claims nothing.
    let get = HttpRequest::new("GET", &signed_url("&echostr=1"), vec![]);
    assert!(handle(&plain_ctx(), &get).unwrap().state.is_empty());
}
