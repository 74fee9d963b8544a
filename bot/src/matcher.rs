//! Ranking a question against the knowledge base's intents. Each intent is
//! one BM25 document made of its name and example questions; the ranking
//! blends the intent's BM25 score (normalized by the best) with the cosine
//! similarity of the question to the intent's closest example, so an intent
//! wins both by covering the question's terms and by having one example
//! really like it. The decision turns the ranking into answer / clarify /
//! don't know, so the bot never answers a weak match confidently.

use crate::knowledge_base::{Intent, KnowledgeBase, MatchSettings};
use crate::lexicon::Lexicon;
use crate::text::{Analyzer, Features};
use std::collections::HashMap;

/// BM25 term-frequency saturation.
const BM25_K1: f64 = 1.2;
/// BM25 length normalization.
const BM25_B: f64 = 0.5;
/// Share of the BM25 part in the blended score (the rest is similarity).
const BM25_SHARE: f64 = 0.5;

/// One intent's score for a question.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored<'a> {
    /// The intent.
    pub intent: &'a Intent,
    /// Blended score, 0..=1.
    pub score: f64,
    /// Cosine similarity to the intent's closest example, 0..=1.
    pub similarity: f64,
}

/// What the bot should do with a question.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision<'a> {
    /// Confident: answer with this intent.
    Answer {
        /// The intent.
        intent: &'a Intent,
        /// Confidence, 0..=1.
        confidence: f64,
    },
    /// Unsure between a few intents: ask which one was meant.
    Clarify {
        /// The candidates, best first.
        candidates: Vec<&'a Intent>,
    },
    /// Nothing close: hand over or say so.
    Unknown,
}

struct Document {
    features: Features,
    length: f64,
}

/// The knowledge base, analyzed and indexed for matching.
pub struct Matcher {
    knowledge_base: KnowledgeBase,
    analyzer: Analyzer,
    documents: Vec<Document>,
    /// (intent index, example features, example norm)
    examples: Vec<(usize, Features, f64)>,
    document_frequency: HashMap<String, usize>,
    average_length: f64,
}

impl std::fmt::Debug for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Matcher")
            .field("intents", &self.knowledge_base.intents.len())
            .finish_non_exhaustive()
    }
}

impl Matcher {
    /// Indexes a knowledge base (with the shipped lexicon plus its synonyms).
    pub fn new(knowledge_base: KnowledgeBase) -> Matcher {
        let mut lexicon = Lexicon::retail();
        lexicon.extend(&knowledge_base.synonyms);
        let analyzer = Analyzer::new(lexicon);
        let mut documents = Vec::new();
        let mut examples = Vec::new();
        for (index, intent) in knowledge_base.intents.iter().enumerate() {
            let mut document = Features::new();
            let texts = intent.examples.iter().chain(std::iter::once(&intent.name));
            for text in texts.filter(|t| !t.is_empty()) {
                let features = analyzer.features(text);
                for (feature, weight) in &features {
                    *document.entry(feature.clone()).or_default() += weight;
                }
                examples.push((index, features, 0.0));
            }
            let length = document.values().map(|w| f64::from(*w)).sum();
            documents.push(Document {
                features: document,
                length,
            });
        }
        let mut document_frequency = HashMap::new();
        for document in &documents {
            for feature in document.features.keys() {
                *document_frequency.entry(feature.clone()).or_default() += 1;
            }
        }
        let average_length =
            documents.iter().map(|d| d.length).sum::<f64>() / documents.len().max(1) as f64;
        let mut matcher = Matcher {
            knowledge_base,
            analyzer,
            documents,
            examples: Vec::new(),
            document_frequency,
            average_length,
        };
        for (_, features, norm) in &mut examples {
            *norm = matcher.norm(features);
        }
        matcher.examples = examples;
        matcher
    }

    /// The knowledge base matched against.
    pub fn knowledge_base(&self) -> &KnowledgeBase {
        &self.knowledge_base
    }

    /// The analyzer (segmenter and lexicon) in use.
    pub fn analyzer(&self) -> &Analyzer {
        &self.analyzer
    }

    /// Every intent scored for the question, best first.
    pub fn rank(&self, question: &str) -> Vec<Scored<'_>> {
        let query = self.analyzer.features(question);
        let bm25: Vec<f64> = self
            .documents
            .iter()
            .map(|document| self.bm25(&query, document))
            .collect();
        let best_bm25 = bm25.iter().copied().fold(0.0, f64::max);
        let query_norm = self.norm(&query);
        let mut similarity = vec![0.0f64; self.documents.len()];
        for (index, example, example_norm) in &self.examples {
            let cosine = self.cosine(&query, query_norm, example, *example_norm);
            similarity[*index] = similarity[*index].max(cosine);
        }
        let mut scored: Vec<Scored<'_>> = self
            .knowledge_base
            .intents
            .iter()
            .enumerate()
            .map(|(index, intent)| {
                let relative_bm25 = if best_bm25 > 0.0 {
                    bm25[index] / best_bm25
                } else {
                    0.0
                };
                Scored {
                    intent,
                    score: BM25_SHARE * relative_bm25 + (1.0 - BM25_SHARE) * similarity[index],
                    similarity: similarity[index],
                }
            })
            .collect();
        scored.sort_by(|a, b| b.score.total_cmp(&a.score));
        scored
    }

    /// Answer, clarify or don't know, by the knowledge base's thresholds.
    pub fn decide(&self, question: &str) -> Decision<'_> {
        let settings: MatchSettings = self.knowledge_base.settings;
        let ranked = self.rank(question);
        let Some(best) = ranked.first() else {
            return Decision::Unknown;
        };
        let confidence = confidence(&ranked);
        if confidence >= settings.answer_threshold {
            Decision::Answer {
                intent: best.intent,
                confidence,
            }
        } else if best.similarity >= settings.clarify_threshold {
            Decision::Clarify {
                candidates: ranked
                    .iter()
                    .take(2)
                    .filter(|s| s.similarity >= settings.clarify_threshold)
                    .map(|s| s.intent)
                    .collect(),
            }
        } else {
            Decision::Unknown
        }
    }

    /// Inverse document frequency over the intents; features no intent has
    /// count as the rarest.
    fn idf(&self, feature: &str) -> f64 {
        let count = self.documents.len() as f64;
        let containing = self.document_frequency.get(feature).copied().unwrap_or(0) as f64;
        (1.0 + (count - containing + 0.5) / (containing + 0.5)).ln()
    }

    /// The weight of one occurrence of a feature in similarities: its kind's
    /// weight times its rarity, so generic words (哪里, 怎么) count little.
    fn feature_weight(&self, feature: &str) -> f64 {
        f64::from(kind_weight(feature)) * self.idf(feature)
    }

    fn norm(&self, features: &Features) -> f64 {
        features
            .iter()
            .map(|(feature, count)| {
                self.feature_weight(feature) * f64::from(*count) * f64::from(*count)
            })
            .sum::<f64>()
            .sqrt()
    }

    fn cosine(&self, a: &Features, a_norm: f64, b: &Features, b_norm: f64) -> f64 {
        if a_norm == 0.0 || b_norm == 0.0 {
            return 0.0;
        }
        let (small, large) = if a.len() <= b.len() { (a, b) } else { (b, a) };
        let dot: f64 = small
            .iter()
            .filter_map(|(feature, count)| {
                Some(
                    self.feature_weight(feature)
                        * f64::from(*count)
                        * f64::from(*large.get(feature)?),
                )
            })
            .sum();
        dot / (a_norm * b_norm)
    }

    fn bm25(&self, query: &Features, document: &Document) -> f64 {
        query
            .keys()
            .filter_map(|feature| {
                let frequency = f64::from(*document.features.get(feature)?);
                let idf = self.idf(feature);
                let saturation = frequency * (BM25_K1 + 1.0)
                    / (frequency
                        + BM25_K1
                            * (1.0 - BM25_B + BM25_B * document.length / self.average_length));
                Some(f64::from(kind_weight(feature)) * idf * saturation)
            })
            .sum()
    }
}

/// Confidence in the best intent: how similar the question is to its
/// closest example, discounted when the runner-up is nearly as good — by
/// blended score or by closeness to one of its own examples (退款 is as
/// much 退货退款 as 退款进度).
pub fn confidence(ranked: &[Scored<'_>]) -> f64 {
    let Some(best) = ranked.first() else {
        return 0.0;
    };
    let (runner_up_score, runner_up_similarity) = ranked
        .get(1)
        .map_or((0.0, 0.0), |s| (s.score, s.similarity));
    let margin = (best.score - runner_up_score).max(0.0);
    let similarity_gap = if best.similarity > 0.0 {
        ((best.similarity - runner_up_similarity) / best.similarity).max(0.0)
    } else {
        0.0
    };
    // A runner-up within a tenth of the best similarity is a tie.
    let separation = if similarity_gap < 0.1 {
        0.5
    } else {
        (0.5 + 2.0 * margin).min(0.5 + 4.0 * similarity_gap)
    };
    (best.similarity * separation).min(1.0)
}

/// How much a feature kind counts: a shared concept says most about what is
/// asked, a shared word less, a shared character bigram least.
fn kind_weight(feature: &str) -> f32 {
    match feature.as_bytes().first() {
        Some(b'c') => 3.0,
        Some(b'w') => 1.0,
        _ => 0.3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn matcher() -> Matcher {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/kb/retail.toml");
        Matcher::new(KnowledgeBase::load(&path).unwrap())
    }

    fn decided(matcher: &Matcher, question: &str) -> String {
        match matcher.decide(question) {
            Decision::Answer { intent, .. } => format!("answer {}", intent.id),
            Decision::Clarify { candidates } => {
                let ids: Vec<&str> = candidates.iter().map(|c| c.id.as_str()).collect();
                format!("clarify {}", ids.join(" "))
            }
            Decision::Unknown => "unknown".into(),
        }
    }

    #[test]
    fn clear_questions_are_answered_ties_clarified_and_strangers_left_alone() {
        let matcher = matcher();
        assert_eq!(decided(&matcher, "能发顺丰吗？？"), "answer courier");
        assert_eq!(decided(&matcher, "ＳＦ可以吗"), "answer courier");
        assert_eq!(
            decided(&matcher, "退款"),
            "clarify refund_progress return_refund"
        );
        assert_eq!(decided(&matcher, "我想买个冰箱"), "unknown");
    }

    #[test]
    fn every_example_ranks_its_own_intent_first() {
        let matcher = matcher();
        for intent in matcher.knowledge_base().intents() {
            for example in &intent.examples {
                assert_eq!(matcher.rank(example)[0].intent.id, intent.id, "{example}");
            }
        }
    }
}
