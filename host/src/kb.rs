//! The knowledge base the bot answers from: scenario → intent → example
//! questions → answer. This first matcher compares character bigrams
//! (Dice coefficient) between the question and each intent's examples; it is
//! enough to answer questions close to the examples and to stay silent
//! otherwise.

use serde::Deserialize;
use std::collections::HashSet;
use std::path::Path;

/// One intent of the knowledge base.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Intent {
    /// Stable id, e.g. `logistics`.
    pub id: String,
    /// The scenario it belongs to (售前, 售中, 售后).
    #[serde(default)]
    pub scenario: String,
    /// Human-readable name.
    #[serde(default)]
    pub name: String,
    /// The answer the bot sends.
    pub answer: String,
    /// Example questions.
    pub examples: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct KnowledgeBaseFile {
    #[serde(rename = "intent")]
    intents: Vec<Intent>,
}

/// A match of a question against the knowledge base.
#[derive(Debug, Clone, PartialEq)]
pub struct Match<'a> {
    /// The intent matched.
    pub intent: &'a Intent,
    /// How well, 0..=1.
    pub score: f64,
}

/// A loaded knowledge base.
#[derive(Debug, Clone)]
pub struct KnowledgeBase {
    intents: Vec<Intent>,
    example_grams: Vec<Vec<HashSet<String>>>,
}

impl KnowledgeBase {
    /// Load a knowledge base file.
    pub fn load(path: &Path) -> anyhow::Result<KnowledgeBase> {
        let text = std::fs::read_to_string(path).map_err(|err| {
            anyhow::anyhow!("{}: cannot read the knowledge base: {err}", path.display())
        })?;
        Self::parse(&text).map_err(|err| anyhow::anyhow!("{}: {err}", path.display()))
    }

    /// Parse knowledge base TOML.
    pub fn parse(text: &str) -> anyhow::Result<KnowledgeBase> {
        let file: KnowledgeBaseFile = toml::from_str(text)?;
        if let Some(empty) = file
            .intents
            .iter()
            .find(|intent| intent.examples.is_empty())
        {
            anyhow::bail!("intent `{}` has no example questions", empty.id);
        }
        let example_grams = file
            .intents
            .iter()
            .map(|intent| intent.examples.iter().map(|e| bigrams(e)).collect())
            .collect();
        Ok(KnowledgeBase {
            intents: file.intents,
            example_grams,
        })
    }

    /// The intents.
    pub fn intents(&self) -> &[Intent] {
        &self.intents
    }

    /// The best-matching intent for `question`, if it scores at least `min_score`.
    pub fn best_match(&self, question: &str, min_score: f64) -> Option<Match<'_>> {
        let asked = bigrams(question);
        if asked.is_empty() {
            return None;
        }
        self.intents
            .iter()
            .zip(&self.example_grams)
            .map(|(intent, examples)| {
                let score = examples
                    .iter()
                    .map(|example| dice(&asked, example))
                    .fold(0.0, f64::max);
                Match { intent, score }
            })
            .filter(|m| m.score >= min_score)
            .max_by(|a, b| a.score.total_cmp(&b.score))
    }
}

/// Character bigrams of the question's letters and digits, lower-cased.
fn bigrams(text: &str) -> HashSet<String> {
    let chars: Vec<char> = text
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    if chars.len() == 1 {
        return std::iter::once(chars[0].to_string()).collect();
    }
    chars.windows(2).map(|w| w.iter().collect()).collect()
}

fn dice(a: &HashSet<String>, b: &HashSet<String>) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let shared = a.intersection(b).count();
    2.0 * shared as f64 / (a.len() + b.len()) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    const KB: &str = r#"
[[intent]]
id = "logistics"
answer = "您可以在订单详情里查看物流"
examples = ["我的快递到哪了", "查一下物流"]

[[intent]]
id = "invoice"
answer = "可以开发票"
examples = ["可以开发票吗"]
"#;

    #[test]
    fn close_questions_match_their_intent() {
        let kb = KnowledgeBase::parse(KB).unwrap();
        let hit = kb.best_match("我的快递到哪了？", 0.5).unwrap();
        assert_eq!(hit.intent.id, "logistics");
        assert!((hit.score - 1.0).abs() < 1e-9);
        assert_eq!(
            kb.best_match("能开发票吗", 0.5).unwrap().intent.id,
            "invoice"
        );
    }

    #[test]
    fn unrelated_questions_get_no_answer() {
        let kb = KnowledgeBase::parse(KB).unwrap();
        assert_eq!(kb.best_match("你们老板是谁", 0.5), None);
        assert_eq!(kb.best_match("？！", 0.5), None);
    }

    #[test]
    fn intents_without_examples_are_refused() {
        let err = KnowledgeBase::parse("[[intent]]\nid = \"x\"\nanswer = \"y\"\nexamples = []\n")
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("intent `x` has no example questions")
        );
    }
}
