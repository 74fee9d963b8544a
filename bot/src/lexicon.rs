//! Concept lexicon: groups of words shoppers use for the same thing (快递,
//! 包裹, 物流 → parcel). The bot ships a retail lexicon; a knowledge base adds
//! groups of its own. Text is scanned for the longest lexicon term at each
//! position, so 收货地址 counts as {address} once, not as 收货 and 地址.

use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};

/// The lexicon shipped with the bot (bot/lexicon/retail.toml).
const RETAIL: &str = include_str!("../lexicon/retail.toml");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LexiconFile {
    concepts: BTreeMap<String, Vec<String>>,
}

/// A term found in a text, with the concepts it stands for.
#[derive(Debug, Clone, PartialEq)]
pub struct TermHit<'a> {
    /// Where the term starts in the scanned text, in characters.
    pub start: usize,
    /// The term as listed in the lexicon (normalized).
    pub term: &'a str,
    /// Length of the term in characters.
    pub chars: usize,
    /// The concepts it belongs to.
    pub concepts: &'a [String],
}

/// Concept groups, searchable by longest match.
#[derive(Debug, Clone, Default)]
pub struct Lexicon {
    concepts_by_term: HashMap<String, Vec<String>>,
    longest_term_chars: usize,
}

impl Lexicon {
    /// The retail lexicon shipped with the bot.
    pub fn retail() -> Lexicon {
        let file: LexiconFile =
            toml::from_str(RETAIL).expect("the shipped retail lexicon is valid TOML");
        let mut lexicon = Lexicon::default();
        lexicon.extend(&file.concepts);
        lexicon
    }

    /// Adds concept groups (concept → terms); terms are normalized the way
    /// questions are.
    pub fn extend(&mut self, groups: &BTreeMap<String, Vec<String>>) {
        for (concept, terms) in groups {
            for term in terms {
                let term = crate::text::normalize(term);
                if term.is_empty() {
                    continue;
                }
                self.longest_term_chars = self.longest_term_chars.max(term.chars().count());
                let concepts = self.concepts_by_term.entry(term).or_default();
                if !concepts.contains(concept) {
                    concepts.push(concept.clone());
                }
            }
        }
    }

    /// Every term of the lexicon (for teaching the segmenter).
    pub fn terms(&self) -> impl Iterator<Item = &str> {
        self.concepts_by_term.keys().map(String::as_str)
    }

    /// Scans normalized text left to right, taking the longest term at each
    /// position; characters not starting a term are skipped. A term's Latin
    /// letters or digits at its edges must not run on into the text's (hi is
    /// not found in shipping, nor ok in look, nor dd in address).
    pub fn scan<'a>(&'a self, text: &str) -> Vec<TermHit<'a>> {
        let chars: Vec<char> = text.chars().collect();
        let latin = |c: Option<&char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
        let mut hits = Vec::new();
        let mut at = 0;
        while at < chars.len() {
            let longest = self.longest_term_chars.min(chars.len() - at);
            let runs_on_before = at > 0 && latin(chars.get(at)) && latin(chars.get(at - 1));
            let found = (1..=longest).rev().find_map(|len| {
                let end = at + len;
                let runs_on_after = latin(chars.get(end - 1)) && latin(chars.get(end));
                if runs_on_before || runs_on_after {
                    return None;
                }
                let candidate: String = chars[at..end].iter().collect();
                self.concepts_by_term
                    .get_key_value(&candidate)
                    .map(|(term, concepts)| TermHit {
                        start: at,
                        term: term.as_str(),
                        chars: len,
                        concepts: concepts.as_slice(),
                    })
            });
            match found {
                Some(hit) => {
                    at += hit.chars;
                    hits.push(hit);
                }
                None => at += 1,
            }
        }
        hits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_term_wins() {
        let lexicon = Lexicon::retail();
        let hits = lexicon.scan("我想改收货地址");
        let terms: Vec<&str> = hits.iter().map(|h| h.term).collect();
        assert!(terms.contains(&"收货地址"), "{terms:?}");
        assert!(!terms.contains(&"地址"), "{terms:?}");
    }

    #[test]
    fn latin_terms_are_whole_words() {
        let lexicon = Lexicon::retail();
        let terms = |text: &str| -> Vec<String> {
            lexicon
                .scan(text)
                .iter()
                .map(|h| h.term.to_owned())
                .collect()
        };
        assert!(!terms("this shipping address").contains(&"hi".to_owned()));
        assert!(!terms("look").contains(&"ok".to_owned()));
        assert!(terms("kd到哪了").contains(&"kd".to_owned()));
        assert!(terms("hi 在吗").contains(&"hi".to_owned()));
    }

    #[test]
    fn groups_from_a_knowledge_base_extend_the_shipped_ones() {
        let mut lexicon = Lexicon::retail();
        let mut groups = BTreeMap::new();
        groups.insert("parcel".to_string(), vec!["小包裹儿".to_string()]);
        lexicon.extend(&groups);
        let hits = lexicon.scan("小包裹儿呢");
        assert_eq!(hits[0].term, "小包裹儿");
        assert_eq!(hits[0].concepts, ["parcel".to_string()]);
    }
}
