//! The envelope against the pad-32 vector of protocols research ([D]: derived
//! with the algorithm that reproduces the published vectors), plus tampering.

use super::*;

const TOKEN: &str = "spamtest";
const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const APP_ID: &str = "wx2c2769f8efd9abc2";
const TIMESTAMP: &str = "1714037059";
const NONCE: &str = "486452656";
const PLAINTEXT: &str = "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName><CreateTime>1714037059</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[你好，我的订单什么时候发货？!!!!!!!]]></Content><MsgId>24612345678901234</MsgId></xml>";
const ENCRYPT: &str = "5I0ViYLQqCiDyNw9bygZh7gEi4RHDSU2anInfPXpuvj5reZOl+FzkzmhTo9j5JsmoYMhC7kq8/99VFGKoheRKg4kpSeXoHYG3VydghtGGj38vzKh5NbVxI7nJoZdlqp5pLHCBytvaLTrCYF83iHS2nd3d/DbpQgThWoSDX0rEDtBisBFPC5TS+WhjT8XmzdUsEr5QrcE6yno9D72BDdxG7W5ikLOtFTS8dh+mh0B7MtiBmyh3+oAdVzqhXH5K373umrpZn5xbUp0fp/KM7yKKirxgQjR2JarSheROvI9vJ56rxPt+ZlcrNenI6dJQ/nBe+S4zoFJAcY9OsJ/2Y/hLEtKPsDxwkASm1rU9EGC77Hj9z2rNwBIROwHAnOBJHPmG1lj6hgqa4hgjWLr4eQDRZrB5bqmIF/Vaj+BLZtPe04nqLQ+FneFHspcE1A/H9pDwOJdza5+XfP9onA0XKXXD9k9jmsaLANFacYanXSTja7v2TFCbyczh8kghD2KxF54";

fn crypt() -> MsgCrypt {
    MsgCrypt::new(KEY, APP_ID).unwrap()
}

#[test]
fn the_pad_32_vector_decrypts_to_the_exact_plaintext() {
    assert_eq!(crypt().decrypt(ENCRYPT).unwrap(), PLAINTEXT);
}

#[test]
fn encrypting_with_the_vector_random_reproduces_it() {
    assert_eq!(crypt().encrypt(PLAINTEXT, *b"aaaaaaaaaaaaaaaa"), ENCRYPT);
}

#[test]
fn the_vector_signatures_match() {
    assert_eq!(
        crate::signature(&[TOKEN, TIMESTAMP, NONCE, ENCRYPT]),
        "20d95789426261004812c49367eca5e21e100fdc"
    );
    assert_eq!(
        crate::signature(&[TOKEN, TIMESTAMP, NONCE]),
        "d12a808835472a789152a6d6b1b49b94dfc8dd66"
    );
}

#[test]
fn a_payload_for_another_account_is_refused() {
    let other = MsgCrypt::new(KEY, "wx0000000000000000").unwrap();
    assert_eq!(other.decrypt(ENCRYPT), Err(CryptoError::ReceiveIdMismatch));
}

#[test]
fn tampering_is_detected() {
    // Flip a byte of the last block: the padding no longer checks out.
    let mut bytes = STANDARD.decode(ENCRYPT).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x55;
    let err = crypt().decrypt(&STANDARD.encode(&bytes)).unwrap_err();
    assert!(
        matches!(
            err,
            CryptoError::InvalidPadding
                | CryptoError::InvalidMessageLength
                | CryptoError::ReceiveIdMismatch
        ),
        "{err:?}"
    );
    // A wrong key garbles everything.
    let wrong = MsgCrypt::new("bbcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", APP_ID).unwrap();
    assert!(wrong.decrypt(ENCRYPT).is_err());
}

#[test]
fn malformed_payloads_are_refused() {
    assert_eq!(
        crypt().decrypt("not base64!!"),
        Err(CryptoError::InvalidBase64)
    );
    assert_eq!(crypt().decrypt(""), Err(CryptoError::InvalidLength(0)));
    assert_eq!(
        crypt().decrypt(&STANDARD.encode([0u8; 20])),
        Err(CryptoError::InvalidLength(20))
    );
    let truncated = &STANDARD.decode(ENCRYPT).unwrap()[..32];
    assert!(crypt().decrypt(&STANDARD.encode(truncated)).is_err());
}

#[test]
fn keys_are_validated() {
    assert!(matches!(
        MsgCrypt::new("short", APP_ID),
        Err(CryptoError::InvalidKey(_))
    ));
    assert!(matches!(
        MsgCrypt::new("abcdefghijklmnopqrstuvwxyz0123456789ABCDEF!", APP_ID),
        Err(CryptoError::InvalidKey(_))
    ));
    // The key never shows in debug output.
    assert!(!format!("{:?}", crypt()).contains("abcdefgh"));
}

#[test]
fn round_trips_at_every_padding_length() {
    let crypt = crypt();
    for len in 0..100 {
        let message: String = "消息x".chars().cycle().take(len).collect();
        let sealed = crypt.encrypt(&message, [7u8; 16]);
        assert_eq!(crypt.decrypt(&sealed).unwrap(), message, "length {len}");
        assert_eq!(STANDARD.decode(&sealed).unwrap().len() % 32, 0);
    }
}

#[test]
fn reply_xml_is_signed() {
    let xml = crypt().reply_xml("ENC", TOKEN, TIMESTAMP, NONCE);
    let expected = crate::signature(&[TOKEN, TIMESTAMP, NONCE, "ENC"]);
    assert!(xml.contains(&format!(
        "<MsgSignature><![CDATA[{expected}]]></MsgSignature>"
    )));
    assert!(xml.contains("<TimeStamp>1714037059</TimeStamp>"));
}
