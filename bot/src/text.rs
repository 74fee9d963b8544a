//! Turning a customer's message into features the matcher can compare:
//! normalization (full-width → half-width, case, punctuation and emoji
//! dropped, long order numbers dropped), jieba word segmentation taught the
//! lexicon's terms, lexicon concepts, character bigrams as a fallback for
//! typos and words the segmenter splits differently, and the pinyin and
//! initials of character pairs for homophone typos and abbreviations.

use crate::lexicon::Lexicon;
use jieba_rs::Jieba;
use std::collections::HashMap;
use unicode_normalization::UnicodeNormalization;

/// Words that carry no meaning for matching (particles, pronouns, politeness).
const STOP_WORDS: &[&str] = &[
    "的",
    "了",
    "吗",
    "呢",
    "啊",
    "吧",
    "呀",
    "哦",
    "嘛",
    "么",
    "我",
    "你",
    "您",
    "他",
    "她",
    "它",
    "我们",
    "你们",
    "这",
    "那",
    "这个",
    "那个",
    "一下",
    "帮",
    "帮我",
    "给",
    "给我",
    "请",
    "请问",
    "能",
    "能不能",
    "可以",
    "可不可以",
    "是",
    "是不是",
    "有没有",
    "就",
    "还",
    "都",
    "也",
    "和",
    "跟",
    "把",
    "被",
    "要",
    "想",
    "会",
    "不会",
    "一个",
    "个",
    "下",
    "又",
    "再",
    "还是",
    "啦",
    "哈",
    "嗯",
    "呃",
    "喔",
    "哎",
    "唉",
    "诶",
    "滴",
    "得",
    "地",
    "着",
    "过",
    "让",
    "咱",
    "俺",
];

/// How much one occurrence of each kind of feature counts, before the
/// matcher's per-kind weights.
pub mod count {
    /// A lexicon concept matched by a term of two or more characters.
    pub const CONCEPT: f32 = 1.0;
    /// A lexicon concept matched by a single character (more ambiguous).
    pub const CONCEPT_SINGLE_CHAR: f32 = 0.5;
    /// A segmented word.
    pub const WORD: f32 = 1.0;
    /// A character bigram.
    pub const BIGRAM: f32 = 1.0;
    /// A pinyin or initials feature.
    pub const SOUND: f32 = 1.0;
}

/// Digit runs at least this long are order or tracking numbers: they say
/// nothing about what is asked.
const LONG_NUMBER_DIGITS: usize = 8;

/// Normalizes text for matching: NFKC (full-width letters and digits become
/// ASCII), lower case, everything but letters and digits becomes a space,
/// long digit runs are dropped, spaces collapse.
pub fn normalize(text: &str) -> String {
    let folded: String = text
        .nfkc()
        .flat_map(char::to_lowercase)
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect();
    folded
        .split_whitespace()
        .flat_map(split_digit_runs)
        .filter(|piece| !is_long_number(piece))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Splits a token where digits meet other characters, so 订单2024052012345
/// gives 订单 and the number.
fn split_digit_runs(token: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut previous_digit: Option<bool> = None;
    for (at, c) in token.char_indices() {
        let digit = c.is_ascii_digit();
        if previous_digit.is_some_and(|p| p != digit) {
            pieces.push(&token[start..at]);
            start = at;
        }
        previous_digit = Some(digit);
    }
    pieces.push(&token[start..]);
    pieces
}

/// Order or tracking numbers in a message: digit runs of
/// [`LONG_NUMBER_DIGITS`] or more (full-width digits included).
pub fn order_numbers(text: &str) -> Vec<String> {
    let folded: String = text.nfkc().collect();
    let mut numbers = Vec::new();
    let mut run = String::new();
    for c in folded.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_digit() {
            run.push(c);
        } else {
            if is_long_number(&run) {
                numbers.push(std::mem::take(&mut run));
            }
            run.clear();
        }
    }
    numbers
}

fn is_long_number(piece: &str) -> bool {
    piece.len() >= LONG_NUMBER_DIGITS && piece.bytes().all(|b| b.is_ascii_digit())
}

/// A bag of counted features: `c:` concepts (`n:` when negated), `w:`
/// words, `b:` bigrams,
/// `y:` pinyin of character pairs, `i:` initials.
pub type Features = HashMap<String, f32>;

/// Segments and featurizes text; built once, shared by all questions.
pub struct Analyzer {
    jieba: Jieba,
    lexicon: Lexicon,
}

impl std::fmt::Debug for Analyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Analyzer").finish_non_exhaustive()
    }
}

impl Analyzer {
    /// An analyzer whose segmenter knows the lexicon's terms as words.
    pub fn new(lexicon: Lexicon) -> Analyzer {
        let mut jieba = Jieba::new();
        for term in lexicon.terms() {
            if term.chars().count() > 1 {
                jieba.add_word(term, Some(2000), None);
            }
        }
        Analyzer { jieba, lexicon }
    }

    /// The lexicon in use.
    pub fn lexicon(&self) -> &Lexicon {
        &self.lexicon
    }

    /// The segmenter's words of normalized text, stop words removed.
    pub fn words(&self, normalized: &str) -> Vec<String> {
        self.jieba
            .cut(normalized, true)
            .into_iter()
            .map(|token| token.word.trim())
            .filter(|w| !w.is_empty() && !STOP_WORDS.contains(w))
            .map(str::to_owned)
            .collect()
    }

    /// The features of a text.
    pub fn features(&self, text: &str) -> Features {
        let normalized = normalize(text);
        let chars: Vec<char> = normalized.chars().collect();
        let mut features = Features::new();
        for hit in self.lexicon.scan(&normalized) {
            let weight = if hit.chars == 1 {
                count::CONCEPT_SINGLE_CHAR
            } else {
                count::CONCEPT
            };
            // 不要退款，只想换个颜色 is not about a refund: a negated concept
            // becomes a feature of its own.
            let prefix = if negated(&chars[..hit.start]) {
                "n:"
            } else {
                "c:"
            };
            for concept in hit.concepts {
                *features.entry(format!("{prefix}{concept}")).or_default() += weight;
            }
        }
        for word in self.words(&normalized) {
            *features.entry(format!("w:{word}")).or_default() += count::WORD;
        }
        let chars: Vec<char> = normalized.chars().filter(|c| *c != ' ').collect();
        for pair in chars.windows(2) {
            *features
                .entry(format!("b:{}{}", pair[0], pair[1]))
                .or_default() += count::BIGRAM;
        }
        add_sound_features(&normalized, &mut features);
        features
    }
}

/// Words that, right before a concept, say the customer does not want it
/// (不要退款, 别发顺丰, 不是要退货). Plain 不 and 没 are left out on purpose:
/// 不能退吗 and 没收到 still ask about returns and missing parcels.
const NEGATORS: &[&str] = &[
    "不要",
    "不用",
    "不想",
    "不是",
    "不需要",
    "无需",
    "别",
    "不必",
];

/// Whether the text before a concept ends with a negator. An A-not-A
/// question (是不是卖完了, 要不要退) asks; it does not negate.
fn negated(before: &[char]) -> bool {
    let before: String = before.iter().collect();
    let before = before.trim_end();
    NEGATORS.iter().any(|negator| {
        let Some(rest) = before.strip_suffix(negator) else {
            return false;
        };
        let mut negator_chars = negator.chars();
        let asks = negator_chars.next() == Some('不')
            && rest
                .chars()
                .last()
                .is_some_and(|c| negator_chars.next() == Some(c));
        !asks
    })
}

/// Features of how a text sounds and is abbreviated, for typos made with
/// pinyin input and for letters typed instead of characters: each pair of
/// adjacent Chinese characters gives its toneless pinyin (`y:fahuo`, so
/// 发火 typed for 发货 still meets it) and its initials (`i:fh`); a run of
/// two to four Latin letters gives itself as initials (`kd` meets 快递).
fn add_sound_features(normalized: &str, features: &mut Features) {
    use pinyin::ToPinyin;
    for token in normalized.split(' ') {
        if (2..=4).contains(&token.len()) && token.bytes().all(|b| b.is_ascii_lowercase()) {
            *features.entry(format!("i:{token}")).or_default() += count::SOUND;
            continue;
        }
        let sounds: Vec<Option<&str>> = token
            .to_pinyin()
            .map(|sound| sound.map(|s| s.plain()))
            .collect();
        for pair in sounds.windows(2) {
            if let [Some(first), Some(second)] = pair {
                *features.entry(format!("y:{first}{second}")).or_default() += count::SOUND;
                let initials: String = first
                    .chars()
                    .take(1)
                    .chain(second.chars().take(1))
                    .collect();
                *features.entry(format!("i:{initials}")).or_default() += count::SOUND;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalization_folds_width_case_punctuation_and_order_numbers() {
        assert_eq!(normalize("ＳＦ顺丰？？？😭"), "sf顺丰");
        assert_eq!(normalize("订单2024052012345退款呢~~"), "订单 退款呢");
        assert_eq!(normalize("身高170 体重60"), "身高 170 体重 60");
    }

    #[test]
    fn order_numbers_are_long_digit_runs() {
        assert_eq!(
            order_numbers("订单２０２４０５２０１２３４５到哪了，电话123"),
            vec!["2024052012345".to_string()]
        );
        assert!(order_numbers("身高170").is_empty());
    }

    #[test]
    fn features_carry_concepts_words_and_bigrams() {
        let analyzer = Analyzer::new(Lexicon::retail());
        let features = analyzer.features("我的快递到哪了");
        assert!(features.contains_key("c:parcel"), "{features:?}");
        assert!(features.contains_key("w:快递"), "{features:?}");
        assert!(features.contains_key("b:快递"), "{features:?}");
        assert!(!features.contains_key("w:的"), "stop words are dropped");
    }

    #[test]
    fn a_concept_the_customer_does_not_want_is_marked_negated() {
        let analyzer = Analyzer::new(Lexicon::retail());
        let features = analyzer.features("不要退款，只想换个颜色");
        assert!(features.contains_key("n:refund"), "{features:?}");
        assert!(!features.contains_key("c:refund"), "{features:?}");
        assert!(features.contains_key("c:exchange"), "{features:?}");
        let question = analyzer.features("是不是卖完了");
        assert!(question.contains_key("c:stock"), "{question:?}");
        let asking = analyzer.features("不能退吗");
        assert!(asking.contains_key("c:return"), "{asking:?}");
    }
}
