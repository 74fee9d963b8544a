//! 退订: a customer on a channel that carries care messages opts out by
//! writing 「退订」 (or TD, the SMS habit) alone, and back in with 「订阅」.
//! The host answers either, and the bot does not see them.

/// What a message says about care, if it says anything.
pub fn wish(text: &str) -> Option<bool> {
    let word = text
        .trim()
        .trim_matches(|c: char| c.is_ascii_punctuation() || "。！!，,".contains(c))
        .to_lowercase();
    match word.as_str() {
        "退订" | "td" | "取消订阅" | "不要再发了" => Some(true),
        "订阅" | "恢复订阅" => Some(false),
        _ => None,
    }
}

/// The answer to an opt-out.
pub const OPTED_OUT: &str = "已为您退订关怀消息，之后不再主动打扰。回复「订阅」可恢复。";
/// The answer to opting back in.
pub const OPTED_IN: &str = "已恢复关怀消息：发货、签收等进展会及时告诉您。回复「退订」可随时退订。";

#[cfg(test)]
mod tests {
    use super::wish;

    #[test]
    fn only_the_word_alone_opts_out_or_in() {
        assert_eq!(wish("退订"), Some(true));
        assert_eq!(wish(" TD "), Some(true));
        assert_eq!(wish("退订。"), Some(true));
        assert_eq!(wish("订阅"), Some(false));
        assert_eq!(wish("怎么退订会员"), None);
        assert_eq!(wish("我要退货"), None);
        assert_eq!(wish("td是什么意思"), None);
    }
}
