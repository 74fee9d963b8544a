//! Amounts as the common model writes them: yuan with two decimals
//! (`99.00`), whether the platform gave yuan as text or fen as an integer.

/// An amount given in yuan as yuan with two decimals (`99` → `99.00`,
/// `99.5` → `99.50`); `None` for anything that is not a plain decimal with
/// at most two places.
pub fn yuan(amount: &str) -> Option<String> {
    let amount = amount.trim();
    let (whole, fraction) = amount.split_once('.').unwrap_or((amount, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) || fraction.len() > 2 {
        return None;
    }
    Some(format!("{whole}.{fraction:0<2}"))
}

/// An amount given in fen as yuan with two decimals (`9900` → `99.00`,
/// `-5` → `-0.05`).
pub fn yuan_from_fen(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let abs = fen.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuan_get_two_decimals() {
        assert_eq!(yuan("99").as_deref(), Some("99.00"));
        assert_eq!(yuan("99.5").as_deref(), Some("99.50"));
        assert_eq!(yuan(" 0.01 ").as_deref(), Some("0.01"));
        assert_eq!(yuan("9.999"), None);
        assert_eq!(yuan("-1"), None);
        assert_eq!(yuan("1e3"), None);
        assert_eq!(yuan(""), None);
    }

    #[test]
    fn fen_become_yuan() {
        assert_eq!(yuan_from_fen(9900), "99.00");
        assert_eq!(yuan_from_fen(1), "0.01");
        assert_eq!(yuan_from_fen(0), "0.00");
        assert_eq!(yuan_from_fen(123456), "1234.56");
        assert_eq!(yuan_from_fen(-5), "-0.05");
    }
}
