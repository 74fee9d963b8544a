//! The top-link binary frame format TMC speaks over its WebSocket
//! (protocol version 2, little-endian): `u8 version ‖ u8 message type ‖
//! headers ‖ end-of-headers`. Each header is a `u16` type followed by its
//! value; custom headers carry a name and a typed value. Strings are
//! `u32 length ‖ UTF-8`.

/// The protocol version this codec speaks.
pub const PROTOCOL_VERSION: u8 = 2;

/// The largest string or byte array a frame may declare (guards against
/// absurd lengths in a corrupt frame).
const MAX_VALUE_BYTES: usize = 16 * 1024 * 1024;

/// Message types.
pub mod message_type {
    /// Client → server: open a session.
    pub const CONNECT: u8 = 0;
    /// Server → client: the answer to CONNECT.
    pub const CONNECTACK: u8 = 1;
    /// Either way: a message.
    pub const SEND: u8 = 2;
    /// Either way: the answer to a SEND that asked for one.
    pub const SENDACK: u8 = 3;
}

mod header_type {
    pub const END: u16 = 0;
    pub const CUSTOM: u16 = 1;
    pub const STATUS_CODE: u16 = 2;
    pub const STATUS_PHRASE: u16 = 3;
    pub const FLAG: u16 = 4;
    pub const TOKEN: u16 = 5;
}

mod value_format {
    pub const VOID: u8 = 0;
    pub const STRING: u8 = 1;
    pub const BYTE: u8 = 2;
    pub const INT16: u8 = 3;
    pub const INT32: u8 = 4;
    pub const INT64: u8 = 5;
    pub const DATE: u8 = 6;
    pub const BYTES: u8 = 7;
}

/// The value of a custom header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// No value.
    Void,
    /// A string.
    Str(String),
    /// One byte.
    Byte(u8),
    /// A 16-bit integer.
    I16(i16),
    /// A 32-bit integer.
    I32(i32),
    /// A 64-bit integer.
    I64(i64),
    /// A time, Unix milliseconds.
    Date(i64),
    /// Raw bytes.
    Bytes(Vec<u8>),
}

impl Value {
    /// The value as an integer, if it is one (or a string of digits).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Byte(v) => Some(i64::from(*v)),
            Value::I16(v) => Some(i64::from(*v)),
            Value::I32(v) => Some(i64::from(*v)),
            Value::I64(v) | Value::Date(v) => Some(*v),
            Value::Str(s) => s.trim().parse().ok(),
            Value::Void | Value::Bytes(_) => None,
        }
    }

    /// The value as text: strings as they are, numbers in decimal, bytes if
    /// they are UTF-8.
    pub fn as_text(&self) -> Option<String> {
        match self {
            Value::Str(s) => Some(s.clone()),
            Value::Bytes(b) => String::from_utf8(b.clone()).ok(),
            Value::Void => None,
            other => other.as_i64().map(|v| v.to_string()),
        }
    }
}

/// One top-link message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    /// One of [`message_type`].
    pub message_type: u8,
    /// The status code (CONNECTACK: 0 = accepted).
    pub status_code: Option<u32>,
    /// The status phrase that explains a non-zero status.
    pub status_phrase: Option<String>,
    /// The flag header.
    pub flag: Option<u32>,
    /// The session token.
    pub token: Option<String>,
    /// The custom headers, in order.
    pub content: Vec<(String, Value)>,
}

impl Message {
    /// A message of `message_type` with no headers.
    pub fn new(message_type: u8) -> Message {
        Message {
            message_type,
            ..Message::default()
        }
    }

    /// Add a custom header (builder style).
    pub fn with(mut self, name: &str, value: Value) -> Message {
        self.content.push((name.to_string(), value));
        self
    }

    /// The first custom header called `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.content
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value)
    }

    /// The frame's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![PROTOCOL_VERSION, self.message_type];
        if let Some(code) = self.status_code {
            out.extend_from_slice(&header_type::STATUS_CODE.to_le_bytes());
            out.extend_from_slice(&code.to_le_bytes());
        }
        if let Some(phrase) = &self.status_phrase {
            out.extend_from_slice(&header_type::STATUS_PHRASE.to_le_bytes());
            put_string(&mut out, phrase);
        }
        if let Some(flag) = self.flag {
            out.extend_from_slice(&header_type::FLAG.to_le_bytes());
            out.extend_from_slice(&flag.to_le_bytes());
        }
        if let Some(token) = &self.token {
            out.extend_from_slice(&header_type::TOKEN.to_le_bytes());
            put_string(&mut out, token);
        }
        for (name, value) in &self.content {
            out.extend_from_slice(&header_type::CUSTOM.to_le_bytes());
            put_string(&mut out, name);
            put_value(&mut out, value);
        }
        out.extend_from_slice(&header_type::END.to_le_bytes());
        out
    }

    /// Read a frame; the error says what is wrong with it.
    pub fn decode(bytes: &[u8]) -> Result<Message, String> {
        let mut reader = Reader { bytes, at: 0 };
        let version = reader.u8("the protocol version")?;
        if version != PROTOCOL_VERSION {
            return Err(format!(
                "protocol version {version} is not the supported {PROTOCOL_VERSION}"
            ));
        }
        let mut message = Message::new(reader.u8("the message type")?);
        if message.message_type > message_type::SENDACK {
            return Err(format!("unknown message type {}", message.message_type));
        }
        loop {
            match reader.u16("a header type")? {
                header_type::END => break,
                header_type::CUSTOM => {
                    let name = reader.string("a custom header name")?;
                    let value = reader.value(&name)?;
                    message.content.push((name, value));
                }
                header_type::STATUS_CODE => {
                    message.status_code = Some(reader.u32("the status code")?)
                }
                header_type::STATUS_PHRASE => {
                    message.status_phrase = Some(reader.string("the status phrase")?)
                }
                header_type::FLAG => message.flag = Some(reader.u32("the flag")?),
                header_type::TOKEN => message.token = Some(reader.string("the token")?),
                other => return Err(format!("unknown header type {other}")),
            }
        }
        if reader.at != bytes.len() {
            return Err(format!(
                "{} bytes follow the end of the headers",
                bytes.len() - reader.at
            ));
        }
        Ok(message)
    }
}

fn put_string(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(&(text.len() as u32).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
}

fn put_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Void => out.push(value_format::VOID),
        Value::Str(s) => {
            out.push(value_format::STRING);
            put_string(out, s);
        }
        Value::Byte(v) => out.extend_from_slice(&[value_format::BYTE, *v]),
        Value::I16(v) => {
            out.push(value_format::INT16);
            out.extend_from_slice(&v.to_le_bytes());
        }
        Value::I32(v) => {
            out.push(value_format::INT32);
            out.extend_from_slice(&v.to_le_bytes());
        }
        Value::I64(v) => {
            out.push(value_format::INT64);
            out.extend_from_slice(&v.to_le_bytes());
        }
        Value::Date(v) => {
            out.push(value_format::DATE);
            out.extend_from_slice(&v.to_le_bytes());
        }
        Value::Bytes(b) => {
            out.push(value_format::BYTES);
            out.extend_from_slice(&(b.len() as u32).to_le_bytes());
            out.extend_from_slice(b);
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize, what: &str) -> Result<&[u8], String> {
        let end = self
            .at
            .checked_add(n)
            .filter(|end| *end <= self.bytes.len())
            .ok_or_else(|| format!("the frame ends inside {what} (at byte {})", self.at))?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn u8(&mut self, what: &str) -> Result<u8, String> {
        Ok(self.take(1, what)?[0])
    }

    fn u16(&mut self, what: &str) -> Result<u16, String> {
        let b = self.take(2, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self, what: &str) -> Result<u32, String> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn i64(&mut self, what: &str) -> Result<i64, String> {
        let b = self.take(8, what)?;
        let mut raw = [0u8; 8];
        raw.copy_from_slice(b);
        Ok(i64::from_le_bytes(raw))
    }

    fn bytes(&mut self, what: &str) -> Result<Vec<u8>, String> {
        let len = self.u32(what)? as usize;
        if len > MAX_VALUE_BYTES {
            return Err(format!("{what} declares {len} bytes"));
        }
        Ok(self.take(len, what)?.to_vec())
    }

    fn string(&mut self, what: &str) -> Result<String, String> {
        String::from_utf8(self.bytes(what)?).map_err(|_| format!("{what} is not UTF-8"))
    }

    fn value(&mut self, name: &str) -> Result<Value, String> {
        let what = format!("the value of `{name}`");
        Ok(match self.u8(&what)? {
            value_format::VOID => Value::Void,
            value_format::STRING => Value::Str(self.string(&what)?),
            value_format::BYTE => Value::Byte(self.u8(&what)?),
            value_format::INT16 => Value::I16(self.u16(&what)? as i16),
            value_format::INT32 => Value::I32(self.u32(&what)? as i32),
            value_format::INT64 => Value::I64(self.i64(&what)?),
            value_format::DATE => Value::Date(self.i64(&what)?),
            value_format::BYTES => Value::Bytes(self.bytes(&what)?),
            other => return Err(format!("{what} has unknown format {other}")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_confirm_is_laid_out_as_the_protocol_says() {
        let mut confirm = Message::new(message_type::SEND)
            .with("__kind", Value::Byte(2))
            .with("id", Value::I64(7));
        confirm.token = Some("tk".into());
        let bytes = confirm.encode();
        let expected: Vec<u8> = [
            &[2u8, 2][..],
            &[5, 0, 2, 0, 0, 0, b't', b'k'],
            &[1, 0, 6, 0, 0, 0],
            b"__kind",
            &[2, 2],
            &[1, 0, 2, 0, 0, 0, b'i', b'd', 5, 7, 0, 0, 0, 0, 0, 0, 0],
            &[0, 0],
        ]
        .concat();
        assert_eq!(bytes, expected);
        assert_eq!(Message::decode(&bytes).unwrap(), confirm);
    }

    #[test]
    fn every_header_and_value_round_trips() {
        let message = Message {
            message_type: message_type::CONNECTACK,
            status_code: Some(3),
            status_phrase: Some("签名错误".into()),
            flag: Some(9),
            token: Some("t".into()),
            content: vec![
                ("v".into(), Value::Void),
                ("s".into(), Value::Str("文字".into())),
                ("b".into(), Value::Byte(200)),
                ("h".into(), Value::I16(-3)),
                ("i".into(), Value::I32(-70_000)),
                ("l".into(), Value::I64(4_380_000_000_000_001)),
                ("d".into(), Value::Date(1_714_037_059_000)),
                ("x".into(), Value::Bytes(vec![0, 1, 2])),
            ],
        };
        assert_eq!(Message::decode(&message.encode()).unwrap(), message);
    }

    #[test]
    fn broken_frames_are_described() {
        assert!(
            Message::decode(&[])
                .unwrap_err()
                .contains("protocol version")
        );
        assert!(
            Message::decode(&[1, 2, 0, 0])
                .unwrap_err()
                .contains("version 1")
        );
        assert!(
            Message::decode(&[2, 9, 0, 0])
                .unwrap_err()
                .contains("message type 9")
        );
        assert!(
            Message::decode(&[2, 2, 1, 0, 200, 0])
                .unwrap_err()
                .contains("ends inside")
        );
        assert!(
            Message::decode(&[2, 2, 7, 0])
                .unwrap_err()
                .contains("header type 7")
        );
        assert!(
            Message::decode(&[2, 2, 0, 0, 1])
                .unwrap_err()
                .contains("follow")
        );
        let bad_format = [&[2u8, 2, 1, 0, 1, 0, 0, 0, b'a', 9][..], &[0, 0]].concat();
        assert!(
            Message::decode(&bad_format)
                .unwrap_err()
                .contains("format 9")
        );
    }

    #[test]
    fn values_read_as_numbers_and_text() {
        assert_eq!(Value::Str(" 42".into()).as_i64(), Some(42));
        assert_eq!(Value::Byte(3).as_i64(), Some(3));
        assert_eq!(Value::I64(5).as_text().as_deref(), Some("5"));
        assert_eq!(
            Value::Bytes(b"{}".to_vec()).as_text().as_deref(),
            Some("{}")
        );
        assert_eq!(Value::Void.as_text(), None);
    }
}
