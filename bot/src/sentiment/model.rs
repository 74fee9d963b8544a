//! A logistic-regression model of an angry customer message, trained when
//! the detector is built from labelled customer-service messages
//! (`bot/data/sentiment-train.tsv`). Features: the character bigrams and
//! trigrams of the normalized text (with its start and end marked), its
//! words as jieba segments them, the question and exclamation marks it
//! carries, and how many cues of each kind the rules found. Training is plain stochastic gradient descent over the
//! rows in file order, so the same data always gives the same weights.

use super::cues::Cue;
use crate::text::normalize;
use std::collections::HashMap;

/// Passes over the training rows.
const EPOCHS: usize = 30;
/// Step size.
const LEARNING_RATE: f64 = 0.2;
/// L2 penalty on the weights a row touches.
const L2: f64 = 3e-3;

/// The features of one message, as (name, value); each name once. `words`
/// segments normalized text into words.
pub fn features(text: &str, cues: &[Cue], words: impl Fn(&str) -> Vec<&str>) -> Vec<(String, f64)> {
    let normalized = normalize(text);
    let marked: Vec<char> = std::iter::once('^')
        .chain(normalized.chars())
        .chain(std::iter::once('$'))
        .collect();
    let mut found: HashMap<String, f64> = HashMap::new();
    for word in words(&normalized) {
        if !word.trim().is_empty() {
            found.insert(format!("w:{word}"), 1.0);
        }
    }
    for width in [2, 3] {
        for gram in marked.windows(width) {
            found.insert(format!("c{width}:{}", gram.iter().collect::<String>()), 1.0);
        }
    }
    let marks = [
        ("p:?", text.contains(['?', '？'])),
        ("p:!", text.contains(['!', '！'])),
    ];
    for (name, present) in marks {
        if present {
            found.insert(name.to_owned(), 1.0);
        }
    }
    for cue in cues {
        *found.entry(format!("cue:{:?}", cue.kind)).or_default() += 1.0;
    }
    let mut features: Vec<(String, f64)> = found.into_iter().collect();
    features.sort_by(|a, b| a.0.cmp(&b.0));
    features
}

/// The trained weights.
#[derive(Debug, Clone)]
pub struct Model {
    weights: HashMap<String, f64>,
    bias: f64,
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z.clamp(-30.0, 30.0)).exp())
}

impl Model {
    /// Trains on `(is_negative, features)` rows.
    pub fn train(rows: &[(bool, Vec<(String, f64)>)]) -> Model {
        // Features become indices once, so the passes touch only vectors.
        let mut index: HashMap<&str, usize> = HashMap::new();
        let encoded: Vec<(f64, Vec<(usize, f64)>)> = rows
            .iter()
            .map(|(negative, features)| {
                let encoded = features
                    .iter()
                    .map(|(name, value)| {
                        let next = index.len();
                        (*index.entry(name.as_str()).or_insert(next), *value)
                    })
                    .collect();
                (if *negative { 1.0 } else { 0.0 }, encoded)
            })
            .collect();
        let mut weights = vec![0.0; index.len()];
        let mut bias = 0.0;
        for _ in 0..EPOCHS {
            for (label, features) in &encoded {
                let z = bias + features.iter().map(|(i, v)| weights[*i] * v).sum::<f64>();
                let gradient = sigmoid(z) - label;
                bias -= LEARNING_RATE * gradient;
                for (i, v) in features {
                    weights[*i] -= LEARNING_RATE * (gradient * v + L2 * weights[*i]);
                }
            }
        }
        Model {
            weights: index
                .into_iter()
                .map(|(name, i)| (name.to_owned(), weights[i]))
                .collect(),
            bias,
        }
    }

    /// The probability that a message with `features` is negative.
    pub fn probability(&self, features: &[(String, f64)]) -> f64 {
        let z = self.bias
            + features
                .iter()
                .map(|(name, value)| self.weights.get(name).copied().unwrap_or(0.0) * value)
                .sum::<f64>();
        sigmoid(z)
    }

    /// The features of `features` that pushed the hardest towards negative,
    /// strongest first (at most `n`).
    pub fn strongest(&self, features: &[(String, f64)], n: usize) -> Vec<(String, f64)> {
        let mut pushes: Vec<(String, f64)> = features
            .iter()
            .filter_map(|(name, value)| {
                let push = self.weights.get(name)? * value;
                (push > 0.0).then(|| (name.clone(), push))
            })
            .collect();
        pushes.sort_by(|a, b| b.1.total_cmp(&a.1));
        pushes.truncate(n);
        pushes
    }

    /// How many features the model knows.
    pub fn len(&self) -> usize {
        self.weights.len()
    }

    /// Whether the model knows no feature.
    pub fn is_empty(&self) -> bool {
        self.weights.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sentiment::cues::CueKind;

    fn cue(kind: CueKind) -> Cue {
        Cue {
            text: String::new(),
            weight: 1.0,
            kind,
        }
    }

    #[test]
    fn features_are_grams_marks_and_cue_counts() {
        let found = features(
            "气死！",
            &[cue(CueKind::Anger), cue(CueKind::Anger)],
            |t| vec![t],
        );
        let names: Vec<&str> = found.iter().map(|(n, _)| n.as_str()).collect();
        for expected in [
            "c2:^气",
            "c2:气死",
            "c2:死$",
            "c3:^气死",
            "c3:气死$",
            "p:!",
            "w:气死",
        ] {
            assert!(names.contains(&expected), "{expected} in {names:?}");
        }
        assert!(found.contains(&("cue:Anger".to_owned(), 2.0)));
        assert!(!names.contains(&"p:?"));
    }

    #[test]
    fn training_separates_what_it_is_shown_and_is_deterministic() {
        let rows: Vec<(bool, Vec<(String, f64)>)> = [
            (true, "气死我了"),
            (true, "气死了真的"),
            (false, "谢谢你"),
            (false, "谢谢亲"),
        ]
        .iter()
        .map(|(label, text)| (*label, features(text, &[], |_| Vec::new())))
        .collect();
        let model = Model::train(&rows);
        assert!(model.probability(&features("气死", &[], |_| Vec::new())) > 0.5);
        assert!(model.probability(&features("谢谢", &[], |_| Vec::new())) < 0.5);
        let again = Model::train(&rows);
        assert_eq!(
            model.probability(&features("气死", &[], |_| Vec::new())),
            again.probability(&features("气死", &[], |_| Vec::new()))
        );
        let strongest = model.strongest(&features("气死", &[], |_| Vec::new()), 2);
        assert!(strongest.iter().any(|(name, _)| name.contains("气死")));
    }
}
