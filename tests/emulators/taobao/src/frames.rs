//! The server's own reading and writing of top-link frames (protocol
//! version 2, little-endian), written independently of the plugin: a
//! message is its type, the status/flag/token headers and the custom
//! headers with typed values.

use anyhow::{Context, bail};

/// CONNECT (client → server).
pub const CONNECT: u8 = 0;
/// CONNECTACK (server → client).
pub const CONNECTACK: u8 = 1;
/// SEND (either way).
pub const SEND: u8 = 2;

/// A custom header's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    /// Format 0.
    Void,
    /// Format 1.
    Text(String),
    /// Format 2.
    Byte(u8),
    /// Format 3.
    Short(i16),
    /// Format 4.
    Int(i32),
    /// Format 5.
    Long(i64),
    /// Format 6: Unix milliseconds.
    Date(i64),
    /// Format 7.
    Blob(Vec<u8>),
}

impl Field {
    /// The value as a number (strings of digits included).
    pub fn number(&self) -> Option<i64> {
        match self {
            Field::Byte(v) => Some(*v as i64),
            Field::Short(v) => Some(*v as i64),
            Field::Int(v) => Some(*v as i64),
            Field::Long(v) | Field::Date(v) => Some(*v),
            Field::Text(t) => t.parse().ok(),
            _ => None,
        }
    }

    /// The value as text.
    pub fn text(&self) -> Option<String> {
        match self {
            Field::Text(t) => Some(t.clone()),
            other => other.number().map(|n| n.to_string()),
        }
    }
}

/// A top-link message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frame {
    /// CONNECT, CONNECTACK, SEND or SENDACK.
    pub kind: u8,
    /// Header 2.
    pub status_code: Option<u32>,
    /// Header 3.
    pub status_phrase: Option<String>,
    /// Header 4.
    pub flag: Option<u32>,
    /// Header 5.
    pub token: Option<String>,
    /// Custom headers (type 1).
    pub fields: Vec<(String, Field)>,
}

impl Frame {
    /// A custom header's value.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// A custom header's value as text.
    pub fn text(&self, name: &str) -> Option<String> {
        self.field(name).and_then(Field::text)
    }

    /// The bytes on the wire.
    pub fn to_bytes(&self) -> Vec<u8> {
        fn string(out: &mut Vec<u8>, s: &[u8]) {
            out.extend((s.len() as u32).to_le_bytes());
            out.extend(s);
        }
        let mut out = vec![2, self.kind];
        if let Some(code) = self.status_code {
            out.extend(2u16.to_le_bytes());
            out.extend(code.to_le_bytes());
        }
        if let Some(phrase) = &self.status_phrase {
            out.extend(3u16.to_le_bytes());
            string(&mut out, phrase.as_bytes());
        }
        if let Some(flag) = self.flag {
            out.extend(4u16.to_le_bytes());
            out.extend(flag.to_le_bytes());
        }
        if let Some(token) = &self.token {
            out.extend(5u16.to_le_bytes());
            string(&mut out, token.as_bytes());
        }
        for (name, value) in &self.fields {
            out.extend(1u16.to_le_bytes());
            string(&mut out, name.as_bytes());
            match value {
                Field::Void => out.push(0),
                Field::Text(t) => {
                    out.push(1);
                    string(&mut out, t.as_bytes());
                }
                Field::Byte(b) => out.extend([2, *b]),
                Field::Short(v) => {
                    out.push(3);
                    out.extend(v.to_le_bytes());
                }
                Field::Int(v) => {
                    out.push(4);
                    out.extend(v.to_le_bytes());
                }
                Field::Long(v) => {
                    out.push(5);
                    out.extend(v.to_le_bytes());
                }
                Field::Date(v) => {
                    out.push(6);
                    out.extend(v.to_le_bytes());
                }
                Field::Blob(b) => {
                    out.push(7);
                    string(&mut out, b);
                }
            }
        }
        out.extend(0u16.to_le_bytes());
        out
    }

    /// Read a frame.
    pub fn parse(bytes: &[u8]) -> anyhow::Result<Frame> {
        let mut at = 0usize;
        let mut take = |n: usize| -> anyhow::Result<&[u8]> {
            let slice = bytes.get(at..at + n).context("the frame is truncated")?;
            at += n;
            Ok(slice)
        };
        if take(1)?[0] != 2 {
            bail!("not protocol version 2");
        }
        let mut frame = Frame {
            kind: take(1)?[0],
            ..Frame::default()
        };
        fn u32_of(b: &[u8]) -> u32 {
            u32::from_le_bytes([b[0], b[1], b[2], b[3]])
        }
        fn i64_of(b: &[u8]) -> i64 {
            let mut raw = [0u8; 8];
            raw.copy_from_slice(b);
            i64::from_le_bytes(raw)
        }
        loop {
            let header = take(2)?;
            match u16::from_le_bytes([header[0], header[1]]) {
                0 => break,
                1 => {
                    let len = u32_of(take(4)?) as usize;
                    let name = String::from_utf8(take(len)?.to_vec())?;
                    let value = match take(1)?[0] {
                        0 => Field::Void,
                        1 => {
                            let len = u32_of(take(4)?) as usize;
                            Field::Text(String::from_utf8(take(len)?.to_vec())?)
                        }
                        2 => Field::Byte(take(1)?[0]),
                        3 => {
                            let b = take(2)?;
                            Field::Short(i16::from_le_bytes([b[0], b[1]]))
                        }
                        4 => Field::Int(u32_of(take(4)?) as i32),
                        5 => Field::Long(i64_of(take(8)?)),
                        6 => Field::Date(i64_of(take(8)?)),
                        7 => {
                            let len = u32_of(take(4)?) as usize;
                            Field::Blob(take(len)?.to_vec())
                        }
                        other => bail!("unknown value format {other}"),
                    };
                    frame.fields.push((name, value));
                }
                2 => frame.status_code = Some(u32_of(take(4)?)),
                3 => {
                    let len = u32_of(take(4)?) as usize;
                    frame.status_phrase = Some(String::from_utf8(take(len)?.to_vec())?);
                }
                4 => frame.flag = Some(u32_of(take(4)?)),
                5 => {
                    let len = u32_of(take(4)?) as usize;
                    frame.token = Some(String::from_utf8(take(len)?.to_vec())?);
                }
                other => bail!("unknown header type {other}"),
            }
        }
        Ok(frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let frame = Frame {
            kind: SEND,
            status_code: Some(1),
            status_phrase: Some("x".into()),
            flag: Some(2),
            token: Some("t".into()),
            fields: vec![
                ("__kind".into(), Field::Byte(3)),
                ("id".into(), Field::Long(9)),
                ("time".into(), Field::Date(10)),
                ("s".into(), Field::Short(-1)),
                ("i".into(), Field::Int(5)),
                ("v".into(), Field::Void),
                ("b".into(), Field::Blob(vec![1])),
                ("topic".into(), Field::Text("主题".into())),
            ],
        };
        assert_eq!(Frame::parse(&frame.to_bytes()).unwrap(), frame);
        assert!(Frame::parse(&[2, 2, 1]).is_err());
        assert!(Frame::parse(&[3, 2, 0, 0]).is_err());
    }
}
