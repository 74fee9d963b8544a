use super::*;
use wechat_crypto::signature;

const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const CORP: &str = "ww12345678910";
const TOKEN: &str = "wecomtoken";
const NOW: i64 = 1_700_000_000;

fn ctx() -> ShopContext {
    ShopContext::for_test("demo-wecom", NOW * 1000)
        .with_credential("corp_id", CORP)
        .with_credential("secret", "demo-kf-secret")
        .with_credential("token", TOKEN)
        .with_credential("encoding_aes_key", KEY)
}

fn sealed(plaintext: &str, corp: &str) -> String {
    MsgCrypt::new(KEY, corp)
        .unwrap()
        .encrypt(plaintext, [7; 16])
}

fn signed_url(encrypted: &str, timestamp: i64, extra: &str) -> String {
    let ts = timestamp.to_string();
    let sig = signature(&[TOKEN, &ts, "nonce1", encrypted]);
    format!("/hooks/wecom/demo-wecom?msg_signature={sig}&timestamp={ts}&nonce=nonce1{extra}")
}

fn callback(plaintext: &str, timestamp: i64) -> HttpRequest {
    let encrypted = sealed(plaintext, CORP);
    let body = format!(
        "<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt><AgentID><![CDATA[1000002]]></AgentID></xml>"
    );
    HttpRequest::new(
        "POST",
        &signed_url(&encrypted, timestamp, ""),
        body.into_bytes(),
    )
}

const WAKE_UP: &str = "<xml><ToUserName><![CDATA[ww12345678910]]></ToUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[kf_msg_or_event]]></Event><Token><![CDATA[ENCApHxnGDNAVNY4AaSJKj4Tb5mwsEMzxhFmHVGcra996NR]]></Token><OpenKfId><![CDATA[wkABCDEF]]></OpenKfId></xml>";

#[test]
fn url_verification_answers_the_decrypted_echostr() {
    let echostr = sealed("4897132184739278", CORP);
    let url = signed_url(
        &echostr,
        NOW,
        &format!(
            "&echostr={}",
            form_urlencoded::byte_serialize(echostr.as_bytes()).collect::<String>()
        ),
    );
    let result = handle(&ctx(), &HttpRequest::new("GET", &url, Vec::new())).unwrap();
    assert_eq!(result.response.status, 200);
    assert_eq!(result.response.body, b"4897132184739278");
    assert!(result.events.is_empty());
}

#[test]
fn a_wake_up_becomes_a_poll_hint_for_the_kf_account() {
    let result = handle(&ctx(), &callback(WAKE_UP, NOW)).unwrap();
    assert_eq!(result.response.status, 200);
    assert!(result.events.is_empty());
    assert_eq!(
        result.poll_hints,
        vec![PollHint {
            feed: "wkABCDEF".into(),
            token: Some("ENCApHxnGDNAVNY4AaSJKj4Tb5mwsEMzxhFmHVGcra996NR".into()),
        }]
    );
}

#[test]
fn forged_stale_and_foreign_callbacks_are_refused() {
    let mut forged = callback(WAKE_UP, NOW);
    forged.url = forged.url.replace("msg_signature=", "msg_signature=0");
    assert!(matches!(
        handle(&ctx(), &forged),
        Err(PluginError::Unauthenticated(_))
    ));

    let stale = callback(WAKE_UP, NOW - 3600);
    assert!(matches!(handle(&ctx(), &stale), Err(PluginError::Stale(_))));

    let encrypted = sealed(WAKE_UP, "wwSomeoneElse");
    let body = format!("<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>");
    let foreign = HttpRequest::new("POST", &signed_url(&encrypted, NOW, ""), body.into_bytes());
    let Err(PluginError::Unauthenticated(message)) = handle(&ctx(), &foreign) else {
        panic!("a payload sealed for another corp must be refused")
    };
    assert!(message.contains("another corp id"), "{message}");

    let unsigned = HttpRequest::new("POST", "/hooks/wecom/demo-wecom", b"<xml/>".to_vec());
    assert!(matches!(
        handle(&ctx(), &unsigned),
        Err(PluginError::Unauthenticated(_))
    ));
}

#[test]
fn a_missing_credential_is_named() {
    let ctx = ShopContext::for_test("demo-wecom", NOW * 1000).with_credential("corp_id", CORP);
    let Err(PluginError::Misconfigured(message)) = handle(&ctx, &callback(WAKE_UP, NOW)) else {
        panic!("a shop without a token cannot verify callbacks")
    };
    assert!(message.contains("token"), "{message}");
}
