//! The callback builder against fixed vectors ([D]: derived with the
//! WXBizMsgCrypt algorithm that reproduces the published WeChat vectors, and
//! re-computed independently with Python's `hashlib` + `cryptography`), and
//! its forging, ageing and opening.

use super::*;

const TOKEN: &str = "wecomtoken";
const CORP_ID: &str = "ww12345678910";
const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const PATH: &str = "/hooks/wecom/demo-wecom";
const OPEN_KFID: &str = "wkAJ2GCAAASSm4_FhToWMFea0xAFfd3Q";
const SYNC_TOKEN: &str = "ENCApHxnGDNAVNY4AaSJKj4Tb5mwsEMzxhFmHVGcra996NR";

/// The sealed `echostr` for plaintext `1616140317555161061`.
pub const ECHOSTR: &str =
    "5I0ViYLQqCiDyNw9bygZh1ik8E4AnYxxFzcWkcnwt9GV97MdMGFY25QdIppwJDJbTSqP2IvBlhUF6Nki8pyCUg==";
const ECHOSTR_SIGNATURE: &str = "aff094330b37e2b3eaad84be2ca7a249ab66e1fd";
const KF_EVENT_SIGNATURE: &str = "3031c5be03688f41f6015cab1285d564894b7fd4";

fn callbacks() -> WecomCallbacks {
    WecomCallbacks::new(TOKEN, CORP_ID, KEY)
}

fn fixed() -> CallbackOptions {
    CallbackOptions::fixed(1714037059, "486452656", *b"aaaaaaaaaaaaaaaa")
}

#[test]
fn the_verification_get_reproduces_the_vector() {
    let request = callbacks()
        .verification(PATH, "1616140317555161061", &fixed())
        .unwrap();
    assert_eq!(request.method, "GET");
    assert_eq!(
        request.path_and_query(),
        format!(
            "{PATH}?msg_signature={ECHOSTR_SIGNATURE}&timestamp=1714037059&nonce=486452656&echostr=5I0ViYLQqCiDyNw9bygZh1ik8E4AnYxxFzcWkcnwt9GV97MdMGFY25QdIppwJDJbTSqP2IvBlhUF6Nki8pyCUg%3D%3D"
        )
    );
    assert_eq!(request.query_param("echostr"), Some(ECHOSTR));
    assert_eq!(callbacks().open(&request).unwrap(), "1616140317555161061");
}

#[test]
fn the_kf_event_post_reproduces_the_vector() {
    let request = callbacks()
        .kf_msg_or_event(PATH, OPEN_KFID, SYNC_TOKEN, &fixed())
        .unwrap();
    assert_eq!(request.method, "POST");
    assert_eq!(
        request.query_param("msg_signature"),
        Some(KF_EVENT_SIGNATURE)
    );
    let body = String::from_utf8(request.body.clone()).unwrap();
    assert!(body.starts_with("<xml><ToUserName><![CDATA[ww12345678910]]></ToUserName><Encrypt><![CDATA[5I0ViYLQqCiDyNw9bygZh2Q1J0Ddclh0F7nxbiZ1"), "{body}");
    let inner = callbacks().open(&request).unwrap();
    assert_eq!(
        inner,
        format!(
            "<xml><ToUserName><![CDATA[ww12345678910]]></ToUserName><CreateTime>1714037059</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[kf_msg_or_event]]></Event><Token><![CDATA[{SYNC_TOKEN}]]></Token><OpenKfId><![CDATA[{OPEN_KFID}]]></OpenKfId></xml>"
        )
    );
}

#[test]
fn forged_tampered_and_foreign_callbacks_do_not_open() {
    let honest = callbacks()
        .kf_msg_or_event(PATH, OPEN_KFID, SYNC_TOKEN, &CallbackOptions::default())
        .unwrap();
    assert!(callbacks().open(&honest).is_ok());
    assert!(callbacks().open(&honest.clone().forged()).is_err());
    let tampered = honest.clone().with_body(
        String::from_utf8(honest.body.clone())
            .unwrap()
            .replace("<Encrypt><![CDATA[", "<Encrypt><![CDATA[AAAA"),
    );
    assert!(callbacks().open(&tampered).is_err());
    // Sealed for another corp: the signature is fine, the receive id is not.
    let foreign = WecomCallbacks::new(TOKEN, "ww0000000000", KEY)
        .kf_msg_or_event(PATH, OPEN_KFID, SYNC_TOKEN, &CallbackOptions::default())
        .unwrap();
    let err = callbacks().open(&foreign).unwrap_err().to_string();
    assert!(err.contains("ww0000000000"), "{err}");
}

#[test]
fn stale_callbacks_carry_an_old_signed_timestamp() {
    let stale = callbacks()
        .kf_msg_or_event(
            PATH,
            OPEN_KFID,
            SYNC_TOKEN,
            &CallbackOptions::stale_by(3600),
        )
        .unwrap();
    let timestamp: i64 = stale.query_param("timestamp").unwrap().parse().unwrap();
    assert!((signing::now_secs() - 3600 - timestamp).abs() <= 2);
    assert!(callbacks().open(&stale).is_ok(), "still correctly signed");
}

/// protocols' [D] safe-mode vector (the pad-32 edge case: the payload is
/// already a multiple of 32 bytes), sealed through the callback builder.
#[test]
fn the_padding_edge_vector_is_reproduced() {
    let xml = "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName><CreateTime>1714037059</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[你好，我的订单什么时候发货？!!!!!!!]]></Content><MsgId>24612345678901234</MsgId></xml>";
    let sender = WecomCallbacks::new("spamtest", "wx2c2769f8efd9abc2", KEY);
    let request = sender.callback(PATH, xml, &fixed()).unwrap();
    assert_eq!(
        request.query_param("msg_signature"),
        Some("20d95789426261004812c49367eca5e21e100fdc")
    );
    let body = String::from_utf8(request.body.clone()).unwrap();
    assert!(body.contains("<Encrypt><![CDATA[5I0ViYLQqCiDyNw9bygZh7gEi4RHDSU2anInfPXpuvj5reZOl+FzkzmhTo9j5JsmoYMhC7kq8/99VFGKoheRKg4kpSeXoHYG3VydghtGGj38vzKh5NbVxI7nJoZdlqp5pLHCBytvaLTrCYF83iHS2nd3d/DbpQgThWoSDX0rEDtBisBFPC5TS+WhjT8XmzdUsEr5QrcE6yno9D72BDdxG7W5ikLOtFTS8dh+mh0B7MtiBmyh3+oAdVzqhXH5K373umrpZn5xbUp0fp/KM7yKKirxgQjR2JarSheROvI9vJ56rxPt+ZlcrNenI6dJQ/nBe+S4zoFJAcY9OsJ/2Y/hLEtKPsDxwkASm1rU9EGC77Hj9z2rNwBIROwHAnOBJHPmG1lj6hgqa4hgjWLr4eQDRZrB5bqmIF/Vaj+BLZtPe04nqLQ+FneFHspcE1A/H9pDwOJdza5+XfP9onA0XKXXD9k9jmsaLANFacYanXSTja7v2TFCbyczh8kghD2KxF54]]></Encrypt>"), "{body}");
    assert_eq!(sender.open(&request).unwrap(), xml);
}
