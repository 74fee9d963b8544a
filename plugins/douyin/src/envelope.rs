//! The push body: a JSON array of `{"tag", "msg_id", "data"}` elements.
//!
//! SDKs disagree on two details, so both spellings are accepted: the message
//! id is `msg_id` (most code) or `msgId` (one .NET SDK), and `data` is the
//! business JSON either as a string (most code) or inline as an object. The
//! business JSON is kept as the exact text the platform sent, so 19-digit
//! ids never pass through a float.

use serde::Deserialize;
use serde_json::value::RawValue;
use tongdao_sdk::PluginError;

/// The tag of the push-URL verification message.
pub const VERIFICATION_TAG: &str = "0";

/// One element of a push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushMessage {
    /// The message type, e.g. `100` (order created), as text.
    pub tag: String,
    /// The platform's id for the message: the dedupe key.
    pub msg_id: String,
    /// The business JSON as the platform wrote it (for a string `data`, the
    /// string's content).
    pub data: String,
}

#[derive(Deserialize)]
struct RawElement<'a> {
    #[serde(borrow, default)]
    tag: Option<&'a RawValue>,
    #[serde(borrow, default)]
    msg_id: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "msgId")]
    msg_id_camel: Option<&'a RawValue>,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
}

/// Parse a push body. Any element that is not a well-formed message makes
/// the whole push malformed, so nothing of it is stored.
pub fn parse(body: &[u8]) -> Result<Vec<PushMessage>, PluginError> {
    let elements: Vec<RawElement<'_>> = serde_json::from_slice(body).map_err(|err| {
        PluginError::Malformed(format!(
            "the push body is not a JSON array of message objects: {err}"
        ))
    })?;
    elements
        .iter()
        .enumerate()
        .map(|(index, element)| {
            message(element).map_err(|problem| {
                PluginError::Malformed(format!("push element {index}: {problem}"))
            })
        })
        .collect()
}

fn message(element: &RawElement<'_>) -> Result<PushMessage, String> {
    let tag = scalar(element.tag, "tag")?;
    let msg_id = match (element.msg_id, element.msg_id_camel) {
        (Some(snake), Some(camel)) => {
            let (snake, camel) = (
                scalar(Some(snake), "msg_id")?,
                scalar(Some(camel), "msgId")?,
            );
            if snake != camel {
                return Err(format!("`msg_id` ({snake}) and `msgId` ({camel}) disagree"));
            }
            snake
        }
        (Some(id), None) => scalar(Some(id), "msg_id")?,
        (None, Some(id)) => scalar(Some(id), "msgId")?,
        (None, None) => return Err("no `msg_id` (or `msgId`)".into()),
    };
    let data = match element.data {
        None => return Err("no `data`".into()),
        Some(raw) => data_text(raw)?,
    };
    Ok(PushMessage { tag, msg_id, data })
}

/// A non-empty string or an integer, as text (integers keep their digits).
fn scalar(raw: Option<&RawValue>, name: &str) -> Result<String, String> {
    let raw = raw.ok_or_else(|| format!("no `{name}`"))?;
    let text = raw.get().trim();
    let value = if text.starts_with('"') {
        serde_json::from_str::<String>(text).map_err(|err| format!("`{name}`: {err}"))?
    } else if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        text.to_string()
    } else {
        return Err(format!("`{name}` is {text}, not a string or an integer"));
    };
    let value = value.trim().to_string();
    if value.is_empty() {
        return Err(format!("`{name}` is empty"));
    }
    Ok(value)
}

/// The business JSON: a string's content, or an object's exact text.
fn data_text(raw: &RawValue) -> Result<String, String> {
    let text = raw.get().trim();
    if text.starts_with('"') {
        serde_json::from_str::<String>(text).map_err(|err| format!("`data`: {err}"))
    } else if text.starts_with('{') {
        Ok(text.to_string())
    } else {
        Err(format!(
            "`data` is neither a JSON string nor an object (it starts with `{}`)",
            text.chars().next().unwrap_or(' ')
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_shape() {
        let body = br#"[{"tag":"100","msg_id":"7000000000000000000:100:1700000000","data":"{\"p_id\":6900000000000000000,\"shop_id\":12345,\"order_status\":1}"}]"#;
        let messages = parse(body).unwrap();
        assert_eq!(
            messages,
            vec![PushMessage {
                tag: "100".into(),
                msg_id: "7000000000000000000:100:1700000000".into(),
                data: r#"{"p_id":6900000000000000000,"shop_id":12345,"order_status":1}"#.into(),
            }]
        );
    }

    #[test]
    fn msg_id_spellings_and_data_forms() {
        let body = br#"[
            {"tag":101,"msgId":"m1","data":{"p_id":6900000000000000001,"pay_amount":9900}},
            {"tag":"102","msg_id":7300000000000000123,"data":"{}"},
            {"tag":"103","msg_id":"m3","msgId":"m3","data":{}}
        ]"#;
        let messages = parse(body).unwrap();
        assert_eq!(messages[0].tag, "101");
        assert_eq!(messages[0].msg_id, "m1");
        assert_eq!(
            messages[0].data,
            r#"{"p_id":6900000000000000001,"pay_amount":9900}"#
        );
        assert_eq!(messages[1].msg_id, "7300000000000000123");
        assert_eq!(messages[1].data, "{}");
        assert_eq!(messages[2].msg_id, "m3");
        assert!(parse(b"[]").unwrap().is_empty());
    }

    #[test]
    fn malformed_elements_refuse_the_push() {
        let cases: &[(&[u8], &str)] = &[
            (b"{\"tag\":\"100\"}", "not a JSON array"),
            (b"not json", "not a JSON array"),
            (b"[1]", "not a JSON array"),
            (br#"[{"msg_id":"1","data":"{}"}]"#, "no `tag`"),
            (br#"[{"tag":"100","data":"{}"}]"#, "no `msg_id`"),
            (br#"[{"tag":"100","msg_id":"1"}]"#, "no `data`"),
            (br#"[{"tag":"100","msg_id":"","data":"{}"}]"#, "empty"),
            (
                br#"[{"tag":"100","msg_id":1.5,"data":"{}"}]"#,
                "not a string or an integer",
            ),
            (
                br#"[{"tag":"100","msg_id":"1","data":[1]}]"#,
                "neither a JSON string nor an object",
            ),
            (
                br#"[{"tag":"100","msg_id":"1","msgId":"2","data":"{}"}]"#,
                "disagree",
            ),
            (
                br#"[{"tag":"100","msg_id":"1","data":"{}"},{"tag":"101","data":"{}"}]"#,
                "element 1",
            ),
        ];
        for (body, expected) in cases {
            match parse(body) {
                Err(PluginError::Malformed(reason)) => assert!(
                    reason.contains(expected),
                    "{}: {reason}",
                    String::from_utf8_lossy(body)
                ),
                other => panic!("{}: {other:?}", String::from_utf8_lossy(body)),
            }
        }
    }
}
