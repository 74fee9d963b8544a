//! The gateway's answer envelope: `{"code", "msg", "sub_code", "sub_msg",
//! "log_id", "data"}` (success is `code == 10000`), with the older
//! `{"err_no", "message"}` form understood too. `data` is kept as raw text so
//! ids inside it are never rounded.

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

/// The `code` of a successful call.
pub const SUCCESS: i64 = 10000;

/// A parsed answer.
#[derive(Debug)]
pub struct Answer<'a> {
    /// `code` (sent as a number, sometimes as a string).
    pub code: Option<i64>,
    /// `msg`.
    pub msg: String,
    /// `sub_code`, e.g. `isv.access-token-expired`.
    pub sub_code: String,
    /// `sub_msg`.
    pub sub_msg: String,
    /// `err_no` of the older envelope.
    pub err_no: Option<i64>,
    /// `message` of the older envelope.
    pub message: String,
    /// `data`, as the platform wrote it.
    pub data: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct RawAnswer<'a> {
    #[serde(default)]
    code: Option<Value>,
    #[serde(default)]
    msg: Option<Value>,
    #[serde(default)]
    sub_code: Option<Value>,
    #[serde(default)]
    sub_msg: Option<Value>,
    #[serde(default)]
    err_no: Option<Value>,
    #[serde(default)]
    message: Option<Value>,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
}

impl<'a> Answer<'a> {
    /// Parse a response body; `None` if it is not a JSON object.
    pub fn parse(body: &'a [u8]) -> Option<Answer<'a>> {
        let raw: RawAnswer<'a> = serde_json::from_slice(body).ok()?;
        Some(Answer {
            code: raw.code.as_ref().and_then(integer),
            msg: text(raw.msg),
            sub_code: text(raw.sub_code),
            sub_msg: text(raw.sub_msg),
            err_no: raw.err_no.as_ref().and_then(integer),
            message: text(raw.message),
            data: raw.data.filter(|d| d.get() != "null"),
        })
    }

    /// Whether the call succeeded.
    pub fn is_success(&self) -> bool {
        match self.code {
            Some(code) => code == SUCCESS,
            None => self.err_no == Some(0),
        }
    }

    /// The most specific code: `sub_code` when present, else `code` (or
    /// `err_no`).
    pub fn failure_code(&self) -> String {
        if !self.sub_code.is_empty() {
            self.sub_code.clone()
        } else if let Some(code) = self.code {
            code.to_string()
        } else {
            self.err_no.map(|n| n.to_string()).unwrap_or_default()
        }
    }

    /// The platform's own words: `code msg; sub_code: sub_msg`.
    pub fn platform_words(&self) -> String {
        let main = match (self.code, self.err_no) {
            (Some(code), _) => format!("{code} {}", self.msg),
            (None, Some(err_no)) => format!("err_no {err_no} {}", self.message),
            (None, None) => "no code".to_string(),
        };
        let main = main.trim().to_string();
        if self.sub_code.is_empty() && self.sub_msg.is_empty() {
            main
        } else {
            format!("{main}; {}: {}", self.sub_code, self.sub_msg)
        }
    }

    /// `data` parsed, if any.
    pub fn data_value(&self) -> Option<Value> {
        self.data.and_then(|d| serde_json::from_str(d.get()).ok())
    }
}

fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn text(value: Option<Value>) -> String {
    match value {
        Some(Value::String(s)) => s,
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn current_envelope() {
        let body = br#"{"code":10000,"msg":"success","sub_code":"","sub_msg":"","log_id":"x","data":{"shop_order_detail":{"order_id":"6900000000000000001","pay_amount":9900}}}"#;
        let answer = Answer::parse(body).unwrap();
        assert!(answer.is_success());
        assert_eq!(
            answer.data.unwrap().get(),
            r#"{"shop_order_detail":{"order_id":"6900000000000000001","pay_amount":9900}}"#
        );
        let failed = Answer::parse(
            r#"{"code":"40003","msg":"非法的参数","sub_code":"isv.access-token-expired","sub_msg":"access_token已过期"}"#.as_bytes(),
        )
        .unwrap();
        assert!(!failed.is_success());
        assert_eq!(failed.code, Some(40003));
        assert_eq!(failed.failure_code(), "isv.access-token-expired");
        assert_eq!(
            failed.platform_words(),
            "40003 非法的参数; isv.access-token-expired: access_token已过期"
        );
    }

    #[test]
    fn older_envelope_and_junk() {
        let ok = Answer::parse(br#"{"err_no":0,"message":"success","data":{"a":1}}"#).unwrap();
        assert!(ok.is_success());
        let bad =
            Answer::parse(br#"{"err_no":30001,"message":"no permission","data":null}"#).unwrap();
        assert!(!bad.is_success());
        assert!(bad.data.is_none());
        assert_eq!(bad.failure_code(), "30001");
        assert_eq!(bad.platform_words(), "err_no 30001 no permission");
        assert!(Answer::parse(b"<html>").is_none());
        assert!(!Answer::parse(b"{}").unwrap().is_success());
    }
}
