//! How records are encoded in sled: a version byte, then postcard (compact,
//! positional) for what the host writes now; records without the byte are
//! the JSON earlier versions wrote, and still read. Positional means enum
//! variants and fields are only ever appended, never reordered or removed,
//! or a new encoding version is introduced.
//!
//! Hand-offs stay JSON: their compare-and-swap compares encoded bytes, and
//! one of their enums is internally tagged, which postcard cannot read.

use serde::{Serialize, de::DeserializeOwned};

/// The first byte of a postcard record, version 1. JSON never starts with it.
const POSTCARD_V1: u8 = 0x01;

/// A record as written now.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, String> {
    let mut bytes = postcard::to_allocvec(value).map_err(|err| err.to_string())?;
    bytes.insert(0, POSTCARD_V1);
    Ok(bytes)
}

/// A record as written by any version.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    match bytes.split_first() {
        Some((&POSTCARD_V1, rest)) => postcard::from_bytes(rest).map_err(|err| err.to_string()),
        _ => serde_json::from_slice(bytes).map_err(|err| err.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{FailureKind, OutboxStatus};

    #[test]
    fn both_encodings_read_and_the_compact_one_is_written() {
        let status = OutboxStatus::Failed {
            kind: FailureKind::WindowClosed,
            reason: "48 h passed".into(),
            at_ms: 1,
        };
        let json = serde_json::to_vec(&status).unwrap();
        let compact = encode(&status).unwrap();
        assert!(compact.len() < json.len());
        assert_eq!(decode::<OutboxStatus>(&json).unwrap(), status);
        assert_eq!(decode::<OutboxStatus>(&compact).unwrap(), status);
    }
}
