//! Keeping evaluation data apart from what the bot learns from. An
//! evaluation set measures nothing if its texts are the knowledge base's
//! examples, its synonyms or the sentiment model's training data, or close
//! copies of them. Two texts are near-duplicates when, after the matcher's
//! normalization (width, case, punctuation and emoji folded), their
//! character-bigram sets have a Jaccard similarity of at least
//! [`JACCARD_LIMIT`], or their edit distance is at most [`EDIT_LIMIT`]
//! (less than the shorter text's length, so that two unrelated
//! two-character texts, or a word and a one-character term, are not near).

use std::collections::HashSet;

/// Character-bigram Jaccard similarity at or above which two texts are near.
pub const JACCARD_LIMIT: f64 = 0.8;
/// Edit distance (in characters) at or below which two texts are near.
pub const EDIT_LIMIT: usize = 2;

/// A text prepared for comparison.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The text as given.
    pub original: String,
    chars: Vec<char>,
    bigrams: HashSet<(char, char)>,
}

impl Prepared {
    /// Normalizes and indexes a text.
    pub fn new(text: &str) -> Prepared {
        let chars: Vec<char> = crate::text::normalize(text)
            .chars()
            .filter(|c| *c != ' ')
            .collect();
        let bigrams = chars.windows(2).map(|w| (w[0], w[1])).collect();
        Prepared {
            original: text.to_owned(),
            chars,
            bigrams,
        }
    }

    /// Whether the normalized text is empty (nothing to compare).
    pub fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }
}

/// Why two texts count as near-duplicates.
#[derive(Debug, Clone, PartialEq)]
pub enum Nearness {
    /// The same after normalization.
    Equal,
    /// Bigram Jaccard similarity at or above the limit.
    Jaccard(f64),
    /// Edit distance at or below the limit.
    Edit(usize),
}

impl std::fmt::Display for Nearness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Nearness::Equal => write!(f, "equal after normalization"),
            Nearness::Jaccard(j) => write!(f, "bigram Jaccard {j:.2}"),
            Nearness::Edit(d) => write!(f, "edit distance {d}"),
        }
    }
}

/// Whether two prepared texts are near-duplicates, and why.
pub fn nearness(a: &Prepared, b: &Prepared) -> Option<Nearness> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    if a.chars == b.chars {
        return Some(Nearness::Equal);
    }
    let shorter = a.chars.len().min(b.chars.len());
    let edit_limit = EDIT_LIMIT.min(shorter.saturating_sub(1));
    if a.chars.len().abs_diff(b.chars.len()) <= edit_limit {
        let distance = strsim::generic_levenshtein(&a.chars, &b.chars);
        if distance <= edit_limit {
            return Some(Nearness::Edit(distance));
        }
    }
    let (small, large) = if a.bigrams.len() <= b.bigrams.len() {
        (&a.bigrams, &b.bigrams)
    } else {
        (&b.bigrams, &a.bigrams)
    };
    // Jaccard ≤ |small| / |large|: skip pairs that cannot reach the limit.
    if large.is_empty() || (small.len() as f64) < JACCARD_LIMIT * large.len() as f64 {
        return None;
    }
    let shared = small.iter().filter(|g| large.contains(g)).count();
    let jaccard = shared as f64 / (small.len() + large.len() - shared) as f64;
    (jaccard >= JACCARD_LIMIT).then_some(Nearness::Jaccard(jaccard))
}

/// One evaluation text too close to a reference text.
#[derive(Debug, Clone, PartialEq)]
pub struct Overlap {
    /// The evaluation text.
    pub text: String,
    /// The reference text it is close to.
    pub reference: String,
    /// How close.
    pub nearness: Nearness,
}

impl std::fmt::Display for Overlap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "「{}」 is too close to 「{}」 ({})",
            self.text, self.reference, self.nearness
        )
    }
}

/// Every evaluation text that is a near-duplicate of some reference text
/// (the first reference found for each).
pub fn overlaps<'a>(
    evaluation: impl IntoIterator<Item = &'a str>,
    references: impl IntoIterator<Item = &'a str>,
) -> Vec<Overlap> {
    let references: Vec<Prepared> = references.into_iter().map(Prepared::new).collect();
    let mut found = Vec::new();
    for text in evaluation {
        let text = Prepared::new(text);
        let near = references
            .iter()
            .find_map(|reference| nearness(&text, reference).map(|n| (reference, n)));
        if let Some((reference, nearness)) = near {
            found.push(Overlap {
                text: text.original.clone(),
                reference: reference.original.clone(),
                nearness,
            });
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn near(a: &str, b: &str) -> Option<Nearness> {
        nearness(&Prepared::new(a), &Prepared::new(b))
    }

    #[test]
    fn punctuation_case_and_width_do_not_hide_a_copy() {
        assert_eq!(
            near("什么时候发货？？", "什么时候发货"),
            Some(Nearness::Equal)
        );
        assert_eq!(near("ＳＦ包邮吗", "sf包邮吗!"), Some(Nearness::Equal));
    }

    #[test]
    fn small_edits_and_shared_bigrams_are_near() {
        assert_eq!(
            near("什么时候发货呀亲", "什么时候发货"),
            Some(Nearness::Edit(2))
        );
        assert_eq!(near("在么", "在吗"), Some(Nearness::Edit(1)));
        let long_a = "我买的那件外套什么时候可以给我发出来呢";
        let long_b = "我买的那件外套什么时候可以给我发出来呢谢谢啦亲";
        assert!(matches!(near(long_a, long_b), Some(Nearness::Jaccard(j)) if j >= 0.8));
    }

    #[test]
    fn different_questions_are_not() {
        assert_eq!(near("kd", "在吗"), None, "two short texts two edits apart");
        assert_eq!(near("发货", "发"), None, "a word and a one-character term");
        assert_eq!(near("退款多久到账", "什么时候发货"), None);
        assert_eq!(near("能开专票吗", "能开普票吗公司报销用的"), None);
    }

    #[test]
    fn overlaps_name_the_text_and_its_reference() {
        let found = overlaps(["我要退货！", "发票怎么开"], ["我要退货", "物流到哪了"]);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].text, "我要退货！");
        assert_eq!(found[0].reference, "我要退货");
    }
}
