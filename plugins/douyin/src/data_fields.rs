//! Reading a message's business JSON: ids as exact decimal text (抖店 ids
//! are 19-digit integers, beyond what a float holds), amounts in fen as yuan
//! with two decimals, and timestamps as Unix milliseconds.

use serde_json::{Map, Value};
use tongdao_sdk::money;

/// Timestamps below this are Unix seconds, at or above it milliseconds
/// (1e11 s is the year 5138; 1e11 ms is 1973).
const MILLISECONDS_FROM: u64 = 100_000_000_000;

/// The business JSON of one message, parsed (serde_json keeps integers up to
/// `u64::MAX` exact).
#[derive(Debug, Clone)]
pub struct DataFields(Map<String, Value>);

impl DataFields {
    /// Parse `data`, which must be a JSON object.
    pub fn parse(data: &str) -> Result<DataFields, String> {
        match serde_json::from_str::<Value>(data) {
            Ok(Value::Object(map)) => Ok(DataFields(map)),
            Ok(_) => Err("`data` is not a JSON object".into()),
            Err(err) => Err(format!("`data` is not JSON: {err}")),
        }
    }

    /// An id: a non-negative integer or a string of digits, as decimal text.
    /// `Ok(None)` when absent or null; an error for anything else (a float
    /// would have lost digits).
    pub fn id(&self, name: &str) -> Result<Option<String>, String> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) if n.is_u64() => Ok(Some(n.to_string())),
            Some(Value::String(s)) if is_digits(s.trim()) => Ok(Some(s.trim().to_string())),
            Some(other) => Err(format!("`{name}` is {other}, not an integer id")),
        }
    }

    /// An amount in fen as yuan with two decimals (`9900` → `99.00`).
    pub fn yuan(&self, name: &str) -> Result<Option<String>, String> {
        let fen: i64 = match self.0.get(name) {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .ok_or_else(|| format!("`{name}` is {n}, not a whole number of fen"))?,
            Some(Value::String(s)) => s
                .trim()
                .parse()
                .map_err(|_| format!("`{name}` is {s:?}, not a whole number of fen"))?,
            Some(other) => return Err(format!("`{name}` is {other}, not an amount")),
        };
        Ok(Some(money::yuan_from_fen(fen)))
    }

    /// A timestamp in Unix milliseconds. 抖店 writes Unix seconds; values
    /// that are already milliseconds are kept. `None` when absent, zero or
    /// not a number.
    pub fn time_ms(&self, name: &str) -> Option<i64> {
        let raw = match self.0.get(name)? {
            Value::Number(n) => n.as_u64()?,
            Value::String(s) => s.trim().parse().ok()?,
            _ => return None,
        };
        if raw == 0 {
            return None;
        }
        let ms = if raw < MILLISECONDS_FROM {
            raw.checked_mul(1000)?
        } else {
            raw
        };
        i64::try_from(ms).ok()
    }

    /// A scalar field as text (`order_status: 2` → `"2"`), for raw statuses.
    pub fn text(&self, name: &str) -> Option<String> {
        match self.0.get(name)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nineteen_digit_ids_stay_exact() {
        let data = DataFields::parse(
            r#"{"p_id":6900000000000000001,"big":18446744073709551615,"s":"4950000000000000123","f":6.9e18,"neg":-1}"#,
        )
        .unwrap();
        assert_eq!(
            data.id("p_id").unwrap().as_deref(),
            Some("6900000000000000001")
        );
        assert_eq!(
            data.id("big").unwrap().as_deref(),
            Some("18446744073709551615")
        );
        assert_eq!(
            data.id("s").unwrap().as_deref(),
            Some("4950000000000000123")
        );
        assert!(data.id("f").unwrap_err().contains("not an integer id"));
        assert!(data.id("neg").is_err());
        assert_eq!(data.id("missing").unwrap(), None);
        // Beyond u64 serde_json falls back to a float: refused, not rounded.
        let huge = DataFields::parse(r#"{"p_id":99999999999999999999}"#).unwrap();
        assert!(huge.id("p_id").is_err());
    }

    #[test]
    fn fen_fields_become_yuan() {
        let data = DataFields::parse(r#"{"a":9900,"b":"150","c":1.5,"d":true}"#).unwrap();
        assert_eq!(data.yuan("a").unwrap().as_deref(), Some("99.00"));
        assert_eq!(data.yuan("b").unwrap().as_deref(), Some("1.50"));
        assert!(data.yuan("c").is_err());
        assert!(data.yuan("d").is_err());
        assert_eq!(data.yuan("none").unwrap(), None);
    }

    #[test]
    fn times_become_milliseconds() {
        let data = DataFields::parse(
            r#"{"s":1700000000,"ms":1700000000123,"text":"1700000001","zero":0,"bad":"x"}"#,
        )
        .unwrap();
        assert_eq!(data.time_ms("s"), Some(1_700_000_000_000));
        assert_eq!(data.time_ms("ms"), Some(1_700_000_000_123));
        assert_eq!(data.time_ms("text"), Some(1_700_000_001_000));
        assert_eq!(data.time_ms("zero"), None);
        assert_eq!(data.time_ms("bad"), None);
        assert_eq!(data.time_ms("missing"), None);
    }

    #[test]
    fn only_objects_are_business_json() {
        assert!(DataFields::parse("[1]").is_err());
        assert!(DataFields::parse("{").is_err());
        let data = DataFields::parse(r#"{"order_status":2,"x":null}"#).unwrap();
        assert_eq!(data.text("order_status").as_deref(), Some("2"));
        assert_eq!(data.text("x"), None);
    }
}
