//! Ranking a question against the knowledge base's intents. Each class (an
//! intent, or the out-of-scope questions) is one BM25 document made of its
//! examples (and an intent's name); the ranking blends the class's BM25
//! score (normalized by the best) with the cosine similarity of the question
//! to the class's closest example and a classifier's probability, so an intent
//! wins both by covering the question's terms and by having one example
//! really like it. The decision turns the ranking into answer / clarify /
//! don't know, so the bot never answers a weak match confidently.
//!
//! The knowledge base's out-of-scope examples (questions to leave to people)
//! are one more class, ranked like an intent but never answered: a question
//! closest to them is left to people, and one nearly as close to them as to
//! an intent loses the confidence to be answered. A question that is one
//! class's example word for word (after normalization) is decided for that
//! class outright.

use crate::classifier::{Classifier, Vector, normalized};
use crate::knowledge_base::{Intent, KnowledgeBase, MatchSettings};
use crate::lexicon::Lexicon;
use crate::text::{Analyzer, Features, normalize};
use std::collections::HashMap;

/// BM25 term-frequency saturation.
const BM25_K1: f64 = 1.2;
/// BM25 length normalization.
const BM25_B: f64 = 0.5;
/// Share of the BM25 part in the lexical score (the rest is similarity).
const BM25_SHARE: f64 = 0.5;
/// Similarity to the closest example from which two intents can tie.
const TIE_SIMILARITY: f64 = 0.6;
/// A runner-up this close (as a share of the best's similarity) ties.
const TIE_RATIO: f64 = 0.9;
/// How much a pinyin or initials feature counts (a shared bigram counts 0.3).
const SOUND_WEIGHT: f32 = 0.4;
/// Share of the classifier's probability in the blended score (the rest is
/// the lexical score).
const CLASSIFIER_SHARE: f64 = 0.3;

/// One intent's score for a question.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored<'a> {
    /// The intent.
    pub intent: &'a Intent,
    /// Blended score, 0..=1.
    pub score: f64,
    /// Cosine similarity to the intent's closest example, 0..=1.
    pub similarity: f64,
    /// The classifier's probability of the intent, 0..=1.
    pub probability: f64,
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

/// One feature's place in the index: its weight in similarities and
/// BM25 (kind weight times rarity) and where it occurs.
struct Posting {
    /// The feature's index in the classifier.
    index: usize,
    weight: f64,
    /// (class index, BM25 saturation of the feature's frequency there)
    documents: Vec<(usize, f64)>,
    /// (example index, the feature's count in the example)
    examples: Vec<(usize, f32)>,
}

/// The knowledge base, analyzed and indexed for matching. Scoring walks
/// only the postings of the question's own features, so a decision costs
/// in proportion to the question, not to the knowledge base.
pub struct Matcher {
    knowledge_base: KnowledgeBase,
    analyzer: Analyzer,
    postings: HashMap<String, Posting>,
    /// Per example: (class index, norm).
    examples: Vec<(usize, f64)>,
    /// Number of classes (BM25 documents): the intents, then the
    /// out-of-scope class if there is one.
    document_count: usize,
    /// Trained on the examples: which class a question's features point to.
    classifier: Classifier,
    /// The class of the out-of-scope examples (after the intents), if any.
    out_of_scope: Option<usize>,
    /// Normalized example text → its class, for examples only one class has.
    verbatim: HashMap<String, usize>,
}

/// One class's score: an intent's (by index) or the out-of-scope class's.
#[derive(Debug, Clone, Copy)]
struct ClassScore {
    class: usize,
    score: f64,
    similarity: f64,
    probability: f64,
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
        let mut documents: Vec<Features> = Vec::new();
        let mut examples: Vec<(usize, Features)> = Vec::new();
        let mut add_class = |texts: &mut dyn Iterator<Item = &String>| {
            let class = documents.len();
            let mut document = Features::new();
            for text in texts.filter(|t| !t.is_empty()) {
                let features = analyzer.features(text);
                for (feature, weight) in &features {
                    *document.entry(feature.clone()).or_default() += weight;
                }
                examples.push((class, features));
            }
            documents.push(document);
            class
        };
        for intent in &knowledge_base.intents {
            add_class(&mut intent.examples.iter().chain(std::iter::once(&intent.name)));
        }
        let out_of_scope = (!knowledge_base.out_of_scope.is_empty())
            .then(|| add_class(&mut knowledge_base.out_of_scope.iter()));
        let document_count = documents.len();
        let verbatim = verbatim_examples(&knowledge_base);
        let lengths: Vec<f64> = documents
            .iter()
            .map(|d| d.values().map(|w| f64::from(*w)).sum())
            .collect();
        let average_length = lengths.iter().sum::<f64>() / document_count.max(1) as f64;
        let mut postings: HashMap<String, Posting> = HashMap::new();
        for (index, document) in documents.iter().enumerate() {
            let length_factor = 1.0 - BM25_B + BM25_B * lengths[index] / average_length;
            for (feature, frequency) in document {
                let frequency = f64::from(*frequency);
                let saturation =
                    frequency * (BM25_K1 + 1.0) / (frequency + BM25_K1 * length_factor);
                postings
                    .entry(feature.clone())
                    .or_insert_with(|| Posting {
                        index: 0,
                        weight: 0.0,
                        documents: Vec::new(),
                        examples: Vec::new(),
                    })
                    .documents
                    .push((index, saturation));
            }
        }
        let mut names: Vec<&String> = postings.keys().collect();
        names.sort();
        let indices: HashMap<String, usize> = names
            .into_iter()
            .enumerate()
            .map(|(index, name)| (name.clone(), index))
            .collect();
        for (feature, posting) in &mut postings {
            posting.weight = feature_weight(feature, document_count, posting.documents.len());
            posting.index = indices[feature];
        }
        let training: Vec<(usize, Vector)> = examples
            .iter()
            .map(|(intent, features)| (*intent, vector_of(&postings, features, document_count)))
            .collect();
        let classifier = Classifier::train(&training, postings.len(), document_count);
        let mut example_norms = Vec::with_capacity(examples.len());
        for (example, (intent, features)) in examples.iter().enumerate() {
            let mut squares = 0.0;
            for (feature, count) in features {
                // Every example feature is in its intent's document.
                let posting = postings
                    .get_mut(feature)
                    .expect("indexed with its document");
                squares += posting.weight * f64::from(*count) * f64::from(*count);
                posting.examples.push((example, *count));
            }
            example_norms.push((*intent, squares.sqrt()));
        }
        Matcher {
            knowledge_base,
            analyzer,
            postings,
            examples: example_norms,
            document_count,
            classifier,
            out_of_scope,
            verbatim,
        }
    }

    /// The knowledge base matched against.
    pub fn knowledge_base(&self) -> &KnowledgeBase {
        &self.knowledge_base
    }

    /// The analyzer (segmenter and lexicon) in use.
    pub fn analyzer(&self) -> &Analyzer {
        &self.analyzer
    }

    /// Every intent scored for the question, best first (the out-of-scope
    /// class is not listed).
    pub fn rank(&self, question: &str) -> Vec<Scored<'_>> {
        let intents = &self.knowledge_base.intents;
        self.scores(question)
            .into_iter()
            .filter_map(|scored| {
                intents.get(scored.class).map(|intent| Scored {
                    intent,
                    score: scored.score,
                    similarity: scored.similarity,
                    probability: scored.probability,
                })
            })
            .collect()
    }

    /// Every class (intents, then the out-of-scope class) scored for the
    /// question, best first.
    fn scores(&self, question: &str) -> Vec<ClassScore> {
        let query = self.analyzer.features(question);
        let mut bm25 = vec![0.0f64; self.document_count];
        let mut dots = vec![0.0f64; self.examples.len()];
        let mut query_squares = 0.0;
        for (feature, count) in &query {
            let count = f64::from(*count);
            let Some(posting) = self.postings.get(feature) else {
                // Unknown features count as the rarest, in the norm only.
                query_squares += feature_weight(feature, self.document_count, 0) * count * count;
                continue;
            };
            query_squares += posting.weight * count * count;
            for (document, saturation) in &posting.documents {
                bm25[*document] += posting.weight * saturation;
            }
            for (example, example_count) in &posting.examples {
                dots[*example] += posting.weight * count * f64::from(*example_count);
            }
        }
        let probabilities =
            self.classifier
                .probabilities(&vector_of(&self.postings, &query, self.document_count));
        let best_bm25 = bm25.iter().copied().fold(0.0, f64::max);
        let query_norm = query_squares.sqrt();
        let mut similarity = vec![0.0f64; self.document_count];
        if query_norm > 0.0 {
            for ((class, example_norm), dot) in self.examples.iter().zip(&dots) {
                if *example_norm > 0.0 {
                    let cosine = dot / (query_norm * example_norm);
                    similarity[*class] = similarity[*class].max(cosine);
                }
            }
        }
        let mut scored: Vec<ClassScore> = (0..self.document_count)
            .map(|class| {
                let relative_bm25 = if best_bm25 > 0.0 {
                    bm25[class] / best_bm25
                } else {
                    0.0
                };
                let lexical = BM25_SHARE * relative_bm25 + (1.0 - BM25_SHARE) * similarity[class];
                ClassScore {
                    class,
                    score: (1.0 - CLASSIFIER_SHARE) * lexical
                        + CLASSIFIER_SHARE * probabilities[class],
                    similarity: similarity[class],
                    probability: probabilities[class],
                }
            })
            .collect();
        scored.sort_by(|a, b| b.score.total_cmp(&a.score));
        scored
    }

    /// The class the question is decided for, with the confidence, and
    /// every class's score (best first): the class the brand wrote this very
    /// question under, with full confidence, else the best-scored one.
    fn decided_class(&self, question: &str) -> Option<(ClassScore, f64, Vec<ClassScore>)> {
        let scored = self.scores(question);
        let verbatim = self.verbatim.get(&normalize(question));
        if let Some(hit) = verbatim.and_then(|class| scored.iter().find(|s| s.class == *class)) {
            return Some((*hit, 1.0, scored));
        }
        let best = *scored.first()?;
        let confidence = confidence_of(&best, scored.get(1));
        Some((best, confidence, scored))
    }

    /// Whether the question is left to people as out of scope: it is
    /// closest to the knowledge base's out-of-scope questions.
    pub fn is_out_of_scope(&self, question: &str) -> bool {
        self.decided_class(question)
            .is_some_and(|(best, _, _)| Some(best.class) == self.out_of_scope)
    }

    /// Answer, clarify or don't know, by the knowledge base's thresholds.
    /// A question closest to the out-of-scope examples is not known.
    pub fn decide(&self, question: &str) -> Decision<'_> {
        let settings: MatchSettings = self.knowledge_base.settings;
        let Some((best, confidence, scored)) = self.decided_class(question) else {
            return Decision::Unknown;
        };
        if Some(best.class) == self.out_of_scope {
            return Decision::Unknown;
        }
        let intents = &self.knowledge_base.intents;
        if confidence >= settings.answer_threshold {
            Decision::Answer {
                intent: &intents[best.class],
                confidence,
            }
        } else if best.similarity >= settings.clarify_threshold {
            Decision::Clarify {
                candidates: scored
                    .iter()
                    .filter(|s| Some(s.class) != self.out_of_scope)
                    .take(2)
                    .filter(|s| s.similarity >= settings.clarify_threshold)
                    .map(|s| &intents[s.class])
                    .collect(),
            }
        } else {
            Decision::Unknown
        }
    }

    /// How confident the bot is in its best intent for the question (the
    /// number [`Matcher::decide`] compares with the answer threshold).
    pub fn confidence(&self, question: &str) -> f64 {
        match self.decided_class(question) {
            Some((best, confidence, _)) if Some(best.class) != self.out_of_scope => confidence,
            _ => 0.0,
        }
    }
}

/// Each example's normalized text → its class (intents by index, then the
/// out-of-scope class); a text two classes share belongs to neither.
fn verbatim_examples(knowledge_base: &KnowledgeBase) -> HashMap<String, usize> {
    let intents = knowledge_base.intents.iter().map(|i| &i.examples);
    let classes = intents.chain(std::iter::once(&knowledge_base.out_of_scope));
    let mut verbatim: HashMap<String, Option<usize>> = HashMap::new();
    for (class, examples) in classes.enumerate() {
        for example in examples {
            let text = normalize(example);
            if text.is_empty() {
                continue;
            }
            let entry = verbatim.entry(text).or_insert(Some(class));
            if *entry != Some(class) {
                *entry = None;
            }
        }
    }
    verbatim
        .into_iter()
        .filter_map(|(text, class)| class.map(|class| (text, class)))
        .collect()
}

/// A text's features as the classifier's unit-length vector: each known
/// feature's count times its weight; unknown features add to the length
/// only, so a question mostly about something else gets a weak vector.
fn vector_of(postings: &HashMap<String, Posting>, features: &Features, documents: usize) -> Vector {
    let mut unknown_squares = 0.0;
    let mut vector: Vector = Vec::with_capacity(features.len());
    for (feature, count) in features {
        match postings.get(feature) {
            Some(posting) => vector.push((posting.index, f64::from(*count) * posting.weight)),
            None => {
                let weight = f64::from(*count) * feature_weight(feature, documents, 0);
                unknown_squares += weight * weight;
            }
        }
    }
    let known_squares: f64 = vector.iter().map(|(_, v)| v * v).sum();
    let norm = (known_squares + unknown_squares).sqrt();
    if norm > 0.0 && known_squares > 0.0 {
        let shrink = known_squares.sqrt() / norm;
        vector = normalized(vector);
        vector.iter_mut().for_each(|(_, v)| *v *= shrink);
    }
    vector
}

/// The weight of one occurrence of a feature in similarities and BM25: its
/// kind's weight times its inverse document frequency over the classes, so
/// generic words (哪里, 怎么) count little; a feature no class has counts as
/// the rarest.
fn feature_weight(feature: &str, documents: usize, containing: usize) -> f64 {
    let (count, containing) = (documents as f64, containing as f64);
    let idf = (1.0 + (count - containing + 0.5) / (containing + 0.5)).ln();
    f64::from(kind_weight(feature)) * idf
}

/// Confidence in the best class: the geometric mean of how far it leads
/// the runner-up (in blended score) and how similar the question is to its
/// closest example. Both must be there: a clear lead on a question like no
/// example is a guess. And when the question is close to an example of the
/// runner-up as well, about as close as to the best's, it is a tie whatever
/// the lead (退款 is as much 退货退款 as 退款进度): confidence 0.
fn confidence_of(best: &ClassScore, runner_up: Option<&ClassScore>) -> f64 {
    let (runner_up_score, runner_up_similarity) =
        runner_up.map_or((0.0, 0.0), |s| (s.score, s.similarity));
    if best.similarity >= TIE_SIMILARITY && runner_up_similarity >= TIE_RATIO * best.similarity {
        return 0.0;
    }
    let lead = (best.score - runner_up_score).max(0.0);
    (lead * best.similarity).sqrt().min(1.0)
}

/// How much a feature kind counts: a shared concept says most about what is
/// asked, a shared word less, a shared character bigram least.
fn kind_weight(feature: &str) -> f32 {
    match feature.as_bytes().first() {
        Some(b'c') | Some(b'n') => 3.0,
        Some(b'w') => 1.0,
        Some(b'y') | Some(b'i') => SOUND_WEIGHT,
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
        assert_eq!(decided(&matcher, "kd到哪了"), "answer logistics");
        assert_eq!(
            decided(&matcher, "啥时候发火"),
            "answer ship_time",
            "a homophone typo"
        );
        assert_eq!(
            decided(&matcher, "退款"),
            "clarify refund_progress return_refund"
        );
        assert_eq!(decided(&matcher, "我想买个冰箱"), "unknown");
    }

    #[test]
    fn every_example_is_answered_with_its_own_intent_and_out_of_scope_left_alone() {
        let matcher = matcher();
        for intent in matcher.knowledge_base().intents() {
            for example in &intent.examples {
                let expected = format!("answer {}", intent.id);
                assert_eq!(decided(&matcher, example), expected, "{example}");
            }
        }
        for question in &matcher.knowledge_base().out_of_scope {
            assert_eq!(decided(&matcher, question), "unknown", "{question}");
            assert!(matcher.is_out_of_scope(question), "{question}");
        }
        assert!(!matcher.is_out_of_scope("什么时候发货"));
    }
}
