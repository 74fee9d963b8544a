//! The platform's side of JOS signatures, written independently of the
//! plugin: `upper(md5(secret + Σ sorted name+value + secret))` over every
//! parameter but `sign`, and JOS's GMT+8 times, `yyyy-MM-dd HH:mm:ss` with an
//! optional `.SSS` and `+0800`.

use md5::{Digest, Md5};
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset, macros::format_description};

/// The `sign` JOS expects for `params`.
pub fn expected_sign(secret: &str, params: &[(String, String)]) -> String {
    let mut pairs: Vec<&(String, String)> =
        params.iter().filter(|(name, _)| name != "sign").collect();
    pairs.sort();
    let mut joined = String::from(secret);
    for (name, value) in pairs {
        joined.push_str(name);
        joined.push_str(value);
    }
    joined.push_str(secret);
    hex::encode(Md5::digest(joined.as_bytes())).to_uppercase()
}

fn gmt8() -> UtcOffset {
    UtcOffset::from_hms(8, 0, 0).expect("valid offset")
}

/// Unix milliseconds of a JOS time, or `None`.
pub fn parse_time(text: &str) -> Option<i64> {
    let text = text.trim();
    let text = text.strip_suffix("+0800").unwrap_or(text);
    let (text, millis) = match text.split_once('.') {
        Some((whole, fraction)) if fraction.len() == 3 => (whole, fraction.parse::<i64>().ok()?),
        Some(_) => return None,
        None => (text, 0),
    };
    let format = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    let at = PrimitiveDateTime::parse(text, format).ok()?;
    Some(at.assume_offset(gmt8()).unix_timestamp() * 1000 + millis)
}

/// `yyyy-MM-dd HH:mm:ss` in GMT+8 for Unix milliseconds.
pub fn format_time(ms: i64) -> String {
    let format = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .to_offset(gmt8())
        .format(format)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_developer_guide_example_verifies() {
        let params: Vec<(String, String)> = [
            ("v", "2.0"),
            ("timestamp", "2021-05-07 09:20:39.683+0800"),
            ("method", "jingdong.pop.order.search"),
            ("app_key", "yourappkey"),
            ("access_token", "yourtoken"),
            ("360buy_param_json", r#"{"end_date":null,"optional_fields":null,"order_state":"WAIT_SELLER_STOCK_OUT","page":"1","page_size":"200","start_date":null}"#),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(
            expected_sign("yourappSecret", &params),
            "D70825340F4084360B9362B60DFD7930"
        );
    }

    #[test]
    fn times_are_read_in_both_forms() {
        assert_eq!(
            parse_time("2021-05-07 09:20:39.683+0800"),
            Some(1_620_350_439_683)
        );
        assert_eq!(parse_time("2021-05-07 09:20:39"), Some(1_620_350_439_000));
        assert_eq!(parse_time("2021-05-07T09:20:39"), None);
        assert_eq!(format_time(1_620_350_439_683), "2021-05-07 09:20:39");
    }
}
