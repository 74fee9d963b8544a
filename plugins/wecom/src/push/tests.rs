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

/// The URL-verification vector (derived with the WXBizMsgCrypt algorithm
/// and re-computed with Python's hashlib + cryptography): plaintext
/// `1616140317555161061`, token `wecomtoken`, corp `ww12345678910`, random
/// `aaaaaaaaaaaaaaaa`, timestamp 1714037059, nonce 486452656.
#[test]
fn the_verification_vector_opens() {
    let ctx = ShopContext {
        now_ms: 1_714_037_059_000,
        ..ctx()
    };
    let url = "/hooks/wecom/demo-wecom?msg_signature=aff094330b37e2b3eaad84be2ca7a249ab66e1fd&timestamp=1714037059&nonce=486452656&echostr=5I0ViYLQqCiDyNw9bygZh1ik8E4AnYxxFzcWkcnwt9GV97MdMGFY25QdIppwJDJbTSqP2IvBlhUF6Nki8pyCUg%3D%3D";
    let result = handle(&ctx, &HttpRequest::new("GET", url, Vec::new())).unwrap();
    assert_eq!(result.response.body, b"1616140317555161061");
}

#[test]
fn an_echostr_sent_with_raw_plus_signs_is_restored() {
    // A sealed echostr with a `+` in it, sent without escaping the `+`
    // (it arrives as a space after query decoding).
    let (plaintext, echostr) = (0..)
        .map(|n| {
            let plaintext = format!("echo{n}");
            let echostr = sealed(&plaintext, CORP);
            (plaintext, echostr)
        })
        .find(|(_, echostr)| echostr.contains('+'))
        .unwrap();
    let raw = echostr.replace('/', "%2F").replace('=', "%3D");
    let url = signed_url(&echostr, NOW, &format!("&echostr={raw}"));
    assert!(url.contains('+'));
    let result = handle(&ctx(), &HttpRequest::new("GET", &url, Vec::new())).unwrap();
    assert_eq!(result.response.body, plaintext.as_bytes());
}

/// protocols' [D] safe-mode vector (the pad-32 edge case): the plugin's
/// checks accept it for the corp id it was sealed for; it is not a kf
/// event, so it is acknowledged with an empty 200 and nothing else.
#[test]
fn the_padding_edge_vector_opens_and_is_ignored() {
    let ctx = ShopContext::for_test("demo", 1_714_037_059_000)
        .with_credential("corp_id", "wx2c2769f8efd9abc2")
        .with_credential("token", "spamtest")
        .with_credential("encoding_aes_key", KEY);
    let encrypted = "5I0ViYLQqCiDyNw9bygZh7gEi4RHDSU2anInfPXpuvj5reZOl+FzkzmhTo9j5JsmoYMhC7kq8/99VFGKoheRKg4kpSeXoHYG3VydghtGGj38vzKh5NbVxI7nJoZdlqp5pLHCBytvaLTrCYF83iHS2nd3d/DbpQgThWoSDX0rEDtBisBFPC5TS+WhjT8XmzdUsEr5QrcE6yno9D72BDdxG7W5ikLOtFTS8dh+mh0B7MtiBmyh3+oAdVzqhXH5K373umrpZn5xbUp0fp/KM7yKKirxgQjR2JarSheROvI9vJ56rxPt+ZlcrNenI6dJQ/nBe+S4zoFJAcY9OsJ/2Y/hLEtKPsDxwkASm1rU9EGC77Hj9z2rNwBIROwHAnOBJHPmG1lj6hgqa4hgjWLr4eQDRZrB5bqmIF/Vaj+BLZtPe04nqLQ+FneFHspcE1A/H9pDwOJdza5+XfP9onA0XKXXD9k9jmsaLANFacYanXSTja7v2TFCbyczh8kghD2KxF54";
    let body = format!(
        "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    );
    let url = "/hooks/wecom/demo?msg_signature=20d95789426261004812c49367eca5e21e100fdc&timestamp=1714037059&nonce=486452656";
    let result = handle(
        &ctx,
        &HttpRequest::new("POST", url, body.clone().into_bytes()),
    )
    .unwrap();
    assert_eq!(
        (result.response.status, result.response.body.len()),
        (200, 0)
    );
    assert!(result.events.is_empty() && result.poll_hints.is_empty());
    let tampered = body.replace("5I0ViYLQ", "5I0ViYLR");
    assert!(matches!(
        handle(&ctx, &HttpRequest::new("POST", url, tampered.into_bytes())),
        Err(PluginError::Unauthenticated(_))
    ));
}

#[test]
fn a_stale_or_tampered_verification_is_refused() {
    let echostr = sealed("4897132184739278", CORP);
    let query = format!(
        "&echostr={}",
        form_urlencoded::byte_serialize(echostr.as_bytes()).collect::<String>()
    );
    let stale = signed_url(&echostr, NOW - 301, &query);
    assert!(matches!(
        handle(&ctx(), &HttpRequest::new("GET", &stale, Vec::new())),
        Err(PluginError::Stale(_))
    ));
    let fresh_enough = signed_url(&echostr, NOW - 299, &query);
    assert!(handle(&ctx(), &HttpRequest::new("GET", &fresh_enough, Vec::new())).is_ok());
    // The signature covers the sealed echostr: another one does not pass.
    let other = sealed("1", CORP);
    let swapped = signed_url(&echostr, NOW, "").replace(
        "&nonce=nonce1",
        &format!(
            "&nonce=nonce1&echostr={}",
            form_urlencoded::byte_serialize(other.as_bytes()).collect::<String>()
        ),
    );
    assert!(matches!(
        handle(&ctx(), &HttpRequest::new("GET", &swapped, Vec::new())),
        Err(PluginError::Unauthenticated(_))
    ));
    let without = signed_url(&echostr, NOW, "");
    assert!(matches!(
        handle(&ctx(), &HttpRequest::new("GET", &without, Vec::new())),
        Err(PluginError::Malformed(_))
    ));
}

#[test]
fn other_callbacks_are_acknowledged_and_a_wake_up_needs_its_kf_account() {
    let other = "<xml><ToUserName><![CDATA[ww12345678910]]></ToUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_contact]]></Event></xml>";
    let result = handle(&ctx(), &callback(other, NOW)).unwrap();
    assert_eq!(
        (result.response.status, result.response.body.len()),
        (200, 0)
    );
    assert!(result.poll_hints.is_empty());
    let no_kfid = WAKE_UP.replace("<OpenKfId><![CDATA[wkABCDEF]]></OpenKfId>", "");
    let Err(PluginError::Malformed(message)) = handle(&ctx(), &callback(&no_kfid, NOW)) else {
        panic!("a wake-up without OpenKfId is malformed")
    };
    assert!(message.contains("OpenKfId"), "{message}");
    let put = HttpRequest::new("PUT", &signed_url("x", NOW, ""), Vec::new());
    assert!(matches!(
        handle(&ctx(), &put),
        Err(PluginError::Unsupported(_))
    ));
}
