//! The evaluation sets stay apart from what the bot learns from: no
//! question or message in `examples/kb/eval/` or `examples/sentiment/eval/`
//! may equal or nearly equal (see `tongdao_bot::overlap`) the knowledge
//! base's examples, names and out-of-scope examples, its synonyms, the shipped lexicon or the
//! sentiment model's training data; and a later set (development →
//! validation → test) may not repeat an earlier one.

use std::path::{Path, PathBuf};
use tongdao_bot::KnowledgeBase;
use tongdao_bot::eval::{OUT_OF_SCOPE, read_labelled};
use tongdao_bot::lexicon::Lexicon;
use tongdao_bot::overlap::overlaps;
use tongdao_bot::sentiment::{TRAINING_DATA, labelled_rows};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn texts(path: &str) -> Vec<String> {
    read_labelled(&workspace().join(path))
        .unwrap_or_else(|err| panic!("{err}"))
        .into_iter()
        .map(|(_, text)| text)
        .collect()
}

/// Everything the bot learns from: examples, names, synonyms, lexicon
/// terms and the sentiment training data.
fn learned_from() -> Vec<String> {
    let kb = KnowledgeBase::load(&workspace().join("examples/kb/retail.toml")).unwrap();
    let mut learned: Vec<String> = Vec::new();
    for intent in kb.intents() {
        learned.extend(intent.examples.iter().cloned());
        learned.push(intent.name.clone());
    }
    learned.extend(kb.out_of_scope.iter().cloned());
    learned.extend(kb.synonyms.values().flatten().cloned());
    learned.extend(Lexicon::retail().terms().map(str::to_owned));
    learned.extend(
        labelled_rows(TRAINING_DATA)
            .into_iter()
            .map(|(_, text)| text.to_owned()),
    );
    learned
}

/// Fails with every overlap of `set` with `references`.
fn assert_apart(set: &str, evaluation: &[String], references: &[String], what: &str) {
    let found = overlaps(
        evaluation.iter().map(String::as_str),
        references.iter().map(String::as_str),
    );
    let listed: Vec<String> = found.iter().map(ToString::to_string).collect();
    assert!(
        found.is_empty(),
        "{set}: {} rows overlap {what}:\n{}",
        found.len(),
        listed.join("\n")
    );
}

fn assert_sets_apart(sets: &[&str]) {
    let learned = learned_from();
    let mut earlier: Vec<String> = Vec::new();
    for set in sets {
        let evaluation = texts(set);
        assert_apart(set, &evaluation, &learned, "what the bot learns from");
        assert_apart(set, &evaluation, &earlier, "an earlier evaluation set");
        earlier.extend(evaluation);
    }
}

#[test]
fn knowledge_base_evaluation_sets_are_apart_from_examples_synonyms_and_training_data() {
    assert_sets_apart(&[
        "examples/kb/eval/development.tsv",
        "examples/kb/eval/validation.tsv",
        "examples/kb/eval/test.tsv",
        "examples/kb/eval/test2.tsv",
    ]);
}

#[test]
fn sentiment_evaluation_sets_are_apart_from_the_training_data() {
    assert_sets_apart(&[
        "examples/sentiment/eval/development.tsv",
        "examples/sentiment/eval/validation.tsv",
        "examples/sentiment/eval/test.tsv",
        "examples/sentiment/eval/reviews-validation.tsv",
        "examples/sentiment/eval/reviews-test.tsv",
        "examples/sentiment/eval/questions-test.tsv",
    ]);
}

#[test]
fn knowledge_base_evaluation_labels_name_intents() {
    let kb = KnowledgeBase::load(&workspace().join("examples/kb/retail.toml")).unwrap();
    for set in ["development", "validation", "test", "test2"] {
        let path = workspace().join(format!("examples/kb/eval/{set}.tsv"));
        for (label, question) in read_labelled(&path).unwrap() {
            assert!(
                label == OUT_OF_SCOPE || kb.intent(&label).is_some(),
                "{set}: `{label}` ({question}) is neither an intent nor `{OUT_OF_SCOPE}`"
            );
        }
    }
}

#[test]
fn the_overlap_check_catches_a_copied_example() {
    let learned = learned_from();
    let copied = [
        format!("{}？", learned[0]),
        "完全无关的一句话测试".to_owned(),
    ];
    let found = overlaps(
        copied.iter().map(String::as_str),
        learned.iter().map(String::as_str),
    );
    assert_eq!(found.len(), 1, "{found:?}");
}
