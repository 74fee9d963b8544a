//! A softmax (multinomial logistic-regression) classifier over the
//! matcher's features, trained on the knowledge base's examples when the
//! matcher is built. Where the nearest-example similarity asks "is there an
//! example like this question?", the classifier learns which features
//! separate an intent from the others, so a question phrased unlike every
//! example still lands on the intent whose distinctive words it uses. A
//! question made of features no example has gets near-uniform probabilities,
//! which is what keeps it from being answered.
//!
//! Training is full-batch gradient descent from zero weights over the
//! examples in knowledge-base order, so the same knowledge base always gives
//! the same model.

/// Passes over the examples.
const EPOCHS: usize = 400;
/// Step size.
const LEARNING_RATE: f64 = 8.0;
/// L2 penalty on the weights (per pass, scaled by the step).
const L2: f64 = 1e-4;

/// A sparse, L2-normalized feature vector: (feature index, value).
pub type Vector = Vec<(usize, f64)>;

/// The trained classifier.
#[derive(Debug, Clone)]
pub struct Classifier {
    /// Per feature index: one weight per class.
    weights: Vec<Vec<f64>>,
    biases: Vec<f64>,
}

/// Scales a vector to unit length (a question's length should not decide
/// how sure the classifier is).
pub fn normalized(mut vector: Vector) -> Vector {
    let norm = vector.iter().map(|(_, v)| v * v).sum::<f64>().sqrt();
    if norm > 0.0 {
        for (_, value) in &mut vector {
            *value /= norm;
        }
    }
    vector
}

impl Classifier {
    /// Trains on `(class, vector)` rows; `features` is the number of
    /// feature indices, `classes` the number of classes.
    pub fn train(rows: &[(usize, Vector)], features: usize, classes: usize) -> Classifier {
        let mut weights = vec![vec![0.0; classes]; features];
        let mut biases = vec![0.0; classes];
        if rows.is_empty() || classes == 0 {
            return Classifier { weights, biases };
        }
        let scale = LEARNING_RATE / rows.len() as f64;
        // Full batch: every feature of every row has a gradient each pass,
        // kept in one flat features × classes block, cleared per pass.
        let mut used = vec![false; features];
        for (_, vector) in rows {
            for (feature, _) in vector {
                used[*feature] = true;
            }
        }
        let used: Vec<usize> = (0..features).filter(|f| used[*f]).collect();
        let mut weight_gradient = vec![0.0; features * classes];
        let mut bias_gradient = vec![0.0; classes];
        let mut logits = vec![0.0; classes];
        for _ in 0..EPOCHS {
            weight_gradient.fill(0.0);
            bias_gradient.fill(0.0);
            for (class, vector) in rows {
                Self::logits_into(&weights, &biases, vector, &mut logits);
                softmax_in_place(&mut logits);
                logits[*class] -= 1.0;
                for (gradient, error) in bias_gradient.iter_mut().zip(&logits) {
                    *gradient += error;
                }
                for (feature, value) in vector {
                    let gradient = &mut weight_gradient[feature * classes..][..classes];
                    for (g, error) in gradient.iter_mut().zip(&logits) {
                        *g += error * value;
                    }
                }
            }
            for &feature in &used {
                let gradient = &weight_gradient[feature * classes..][..classes];
                for (weight, g) in weights[feature].iter_mut().zip(gradient) {
                    *weight -= scale * g + LEARNING_RATE * L2 * *weight;
                }
            }
            for (bias, g) in biases.iter_mut().zip(&bias_gradient) {
                *bias -= scale * g;
            }
        }
        Classifier { weights, biases }
    }

    fn logits_into(weights: &[Vec<f64>], biases: &[f64], vector: &Vector, logits: &mut [f64]) {
        logits.copy_from_slice(biases);
        for (feature, value) in vector {
            if let Some(row) = weights.get(*feature) {
                for (logit, weight) in logits.iter_mut().zip(row) {
                    *logit += weight * value;
                }
            }
        }
    }

    /// The probability of each class for a (normalized) vector.
    pub fn probabilities(&self, vector: &Vector) -> Vec<f64> {
        let mut logits = vec![0.0; self.biases.len()];
        Self::logits_into(&self.weights, &self.biases, vector, &mut logits);
        softmax_in_place(&mut logits);
        logits
    }
}

fn softmax_in_place(values: &mut [f64]) {
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut sum = 0.0;
    for value in values.iter_mut() {
        *value = (*value - max).exp();
        sum += *value;
    }
    if sum > 0.0 {
        values.iter_mut().for_each(|v| *v /= sum);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_the_distinctive_feature_and_stays_unsure_without_evidence() {
        // Class 0 is feature 0 (plus a shared feature 2), class 1 is feature 1.
        let rows = vec![
            (0, normalized(vec![(0, 1.0), (2, 1.0)])),
            (0, normalized(vec![(0, 1.0)])),
            (1, normalized(vec![(1, 1.0), (2, 1.0)])),
            (1, normalized(vec![(1, 1.0)])),
        ];
        let classifier = Classifier::train(&rows, 4, 2);
        let zero = classifier.probabilities(&normalized(vec![(0, 1.0), (3, 1.0)]));
        assert!(zero[0] > 0.8, "{zero:?}");
        let unknown = classifier.probabilities(&normalized(vec![(3, 1.0)]));
        assert!((unknown[0] - 0.5).abs() < 0.05, "{unknown:?}");
        let shared = classifier.probabilities(&normalized(vec![(2, 1.0)]));
        assert!((shared[0] - 0.5).abs() < 0.1, "{shared:?}");
    }
}
