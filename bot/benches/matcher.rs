//! How fast the bot decides: questions matched per second against the
//! example knowledge base, how long the sentiment model takes to train, and
//! messages assessed per second by the sentiment detector, single-threaded.
//! `cargo bench -p tongdao-bot`.

use std::path::Path;
use std::time::Instant;
use tongdao_bot::eval::read_labelled;
use tongdao_bot::{KnowledgeBase, Matcher, SentimentDetector};

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let started = Instant::now();
    let matcher = Matcher::new(KnowledgeBase::load(&root.join("examples/kb/retail.toml")).unwrap());
    println!(
        "matcher built (jieba dictionary, lexicon, index) in {:?}",
        started.elapsed()
    );
    let mut questions = read_labelled(&root.join("examples/kb/eval/development.tsv")).unwrap();
    questions.extend(read_labelled(&root.join("examples/kb/eval/validation.tsv")).unwrap());
    let texts: Vec<&str> = questions.iter().map(|(_, q)| q.as_str()).collect();

    let rounds = 40;
    let started = Instant::now();
    let mut answered = 0usize;
    for _ in 0..rounds {
        for text in &texts {
            if matches!(matcher.decide(text), tongdao_bot::Decision::Answer { .. }) {
                answered += 1;
            }
        }
    }
    let elapsed = started.elapsed();
    let n = rounds * texts.len();
    println!(
        "decide: {n} questions in {elapsed:?}: {:.1} µs per question, {:.0} questions/s ({answered} answers)",
        elapsed.as_secs_f64() * 1e6 / n as f64,
        n as f64 / elapsed.as_secs_f64()
    );

    let started = Instant::now();
    let detector = SentimentDetector::new();
    println!(
        "sentiment detector built (rules compiled, model trained on {} messages) in {:?}",
        tongdao_bot::sentiment::labelled_rows(tongdao_bot::sentiment::TRAINING_DATA).len(),
        started.elapsed()
    );
    let mut messages =
        read_labelled(&root.join("examples/sentiment/eval/development.tsv")).unwrap();
    messages.extend(read_labelled(&root.join("examples/sentiment/eval/validation.tsv")).unwrap());
    let started = Instant::now();
    let mut negative = 0usize;
    for _ in 0..rounds * 4 {
        for (_, text) in &messages {
            negative += usize::from(detector.assess(text).is_negative());
        }
    }
    let elapsed = started.elapsed();
    let n = rounds * 4 * messages.len();
    println!(
        "assess: {n} messages in {elapsed:?}: {:.1} µs per message ({negative} negative)",
        elapsed.as_secs_f64() * 1e6 / n as f64
    );
}
