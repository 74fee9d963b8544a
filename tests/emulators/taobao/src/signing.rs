//! The platform's side of TOP signatures, written independently of the
//! plugin: REST `sign` (md5, hmac = HMAC-MD5, hmac-sha256; uppercase hex
//! over the sorted name+value pairs), the TMC CONNECT `sign`, and TOP's
//! GMT+8 `yyyy-MM-dd HH:mm:ss` timestamps.

use hmac::{Hmac, KeyInit, Mac};
use md5::{Digest, Md5};
use sha2::Sha256;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset, macros::format_description};

/// The `sign` TOP expects for `params` signed with `sign_method`, or `None`
/// for a method TOP does not know.
pub fn expected_sign(
    sign_method: &str,
    secret: &str,
    params: &[(String, String)],
) -> Option<String> {
    let mut pairs: Vec<&(String, String)> = params
        .iter()
        .filter(|(name, value)| name != "sign" && !name.is_empty() && !value.is_empty())
        .collect();
    pairs.sort();
    let mut joined = String::new();
    for (name, value) in pairs {
        joined.push_str(name);
        joined.push_str(value);
    }
    let digest: Vec<u8> = match sign_method {
        "md5" => Md5::digest(format!("{secret}{joined}{secret}").as_bytes()).to_vec(),
        "hmac" => {
            let mut mac = <Hmac<Md5> as KeyInit>::new_from_slice(secret.as_bytes()).ok()?;
            mac.update(joined.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        "hmac-sha256" => {
            let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).ok()?;
            mac.update(joined.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        _ => return None,
    };
    Some(hex::encode(digest).to_uppercase())
}

/// The `sign` a TMC CONNECT must carry.
pub fn connect_sign(app_key: &str, secret: &str, group: &str, timestamp: &str) -> String {
    let plain = format!("{secret}app_key{app_key}group_name{group}timestamp{timestamp}{secret}");
    hex::encode(Md5::digest(plain.as_bytes())).to_uppercase()
}

fn gmt8() -> UtcOffset {
    UtcOffset::from_hms(8, 0, 0).expect("valid offset")
}

/// Unix milliseconds of a TOP timestamp, or `None`.
pub fn parse_timestamp(text: &str) -> Option<i64> {
    let format = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    let at = PrimitiveDateTime::parse(text, format).ok()?;
    Some(at.assume_offset(gmt8()).unix_timestamp() * 1000)
}

/// The TOP timestamp of Unix milliseconds `ms`.
pub fn format_timestamp(ms: i64) -> String {
    let format = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    OffsetDateTime::from_unix_timestamp(ms / 1000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .to_offset(gmt8())
        .format(format)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guide(sign_method: &str) -> Vec<(String, String)> {
        [
            ("method", "taobao.item.seller.get"),
            ("app_key", "12345678"),
            ("session", "test"),
            ("timestamp", "2016-01-01 12:00:00"),
            ("format", "json"),
            ("v", "2.0"),
            ("sign_method", sign_method),
            ("fields", "num_iid,title,nick,price,num"),
            ("num_iid", "11223344"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn top_vectors() {
        assert_eq!(
            expected_sign("hmac", "helloworld", &guide("hmac")).unwrap(),
            "D56D7858309C31B6251083A874D48273"
        );
        assert_eq!(
            expected_sign("hmac-sha256", "helloworld", &guide("hmac-sha256")).unwrap(),
            "04DB15AD0774D5CFCE2C837DE43E3FCEA9011ED74F3038FB6AB5F3C4CEA119E8"
        );
        let plain = "helloworldapp_key12345678fieldsnum_iid,title,nick,price,numformatjsonmethodtaobao.item.seller.getnum_iid11223344sessiontestsign_methodmd5timestamp2016-01-01 12:00:00v2.0helloworld";
        assert_eq!(
            expected_sign("md5", "helloworld", &guide("md5")).unwrap(),
            hex::encode(Md5::digest(plain.as_bytes())).to_uppercase()
        );
        assert_eq!(expected_sign("sha1", "x", &guide("sha1")), None);
    }

    #[test]
    fn connect_vector() {
        assert_eq!(
            connect_sign("12345678", "helloworld", "default", "1700000000000"),
            "C86848D198760FA334AA309207C72ECD"
        );
    }

    #[test]
    fn timestamps() {
        assert_eq!(
            parse_timestamp("2016-01-01 12:00:00"),
            Some(1_451_620_800_000)
        );
        assert_eq!(format_timestamp(1_451_620_800_999), "2016-01-01 12:00:00");
        assert_eq!(parse_timestamp("2016-01-01T12:00:00"), None);
    }
}
