//! Key encoding for the sled trees: each string part is length-prefixed so
//! prefixes are unambiguous whatever bytes the parts contain, and numbers are
//! big-endian so keys sort in numeric order.

/// Append a length-prefixed string part.
pub fn push_part(key: &mut Vec<u8>, part: &str) {
    key.extend_from_slice(&(part.len() as u32).to_be_bytes());
    key.extend_from_slice(part.as_bytes());
}

/// The string parts of a key made by [`parts`]; `None` if it is not one.
pub fn split(mut key: &[u8]) -> Option<Vec<String>> {
    let mut parts = Vec::new();
    while !key.is_empty() {
        let len = u32::from_be_bytes(key.get(..4)?.try_into().ok()?) as usize;
        let part = key.get(4..4 + len)?;
        parts.push(String::from_utf8(part.to_vec()).ok()?);
        key = &key[4 + len..];
    }
    Some(parts)
}

/// A key of length-prefixed string parts.
pub fn parts(parts: &[&str]) -> Vec<u8> {
    let mut key = Vec::with_capacity(parts.iter().map(|p| p.len() + 4).sum());
    for part in parts {
        push_part(&mut key, part);
    }
    key
}

/// An `i64` that sorts correctly as bytes (sign bit flipped, big-endian).
pub fn time(ms: i64) -> [u8; 8] {
    ((ms as u64) ^ (1 << 63)).to_be_bytes()
}

/// Decode [`time`].
pub fn decode_time(bytes: &[u8]) -> Option<i64> {
    let array: [u8; 8] = bytes.get(..8)?.try_into().ok()?;
    Some((u64::from_be_bytes(array) ^ (1 << 63)) as i64)
}

/// A `u64` sequence number as a sortable key.
pub fn seq(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

/// The outbox's due-index key: due time, then seq, so items sort by when
/// they are due and then in outbox order.
pub fn due(ms: i64, seq_number: u64) -> [u8; 16] {
    let mut key = [0; 16];
    key[..8].copy_from_slice(&time(ms));
    key[8..].copy_from_slice(&seq(seq_number));
    key
}

/// Decode [`seq`].
pub fn decode_seq(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_prefix_free() {
        assert_ne!(parts(&["ab", "c"]), parts(&["a", "bc"]));
        assert!(parts(&["shop", "conv", "x"]).starts_with(&parts(&["shop", "conv"])));
        assert!(!parts(&["shop", "conv2"]).starts_with(&parts(&["shop", "conv"])));
    }

    #[test]
    fn times_sort_numerically() {
        let mut values = vec![5i64, -3, 0, 1_700_000_000_000, i64::MIN, i64::MAX];
        let mut keys: Vec<[u8; 8]> = values.iter().map(|&v| time(v)).collect();
        values.sort();
        keys.sort();
        let decoded: Vec<i64> = keys.iter().map(|k| decode_time(k).unwrap()).collect();
        assert_eq!(decoded, values);
    }
}
