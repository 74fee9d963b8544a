//! Editing a knowledge-base file in place, keeping its comments and layout
//! (`toml_edit`): adding example questions to an intent, or a new intent.
//! An out-of-scope question equal (after normalization) to one added leaves
//! the `[out_of_scope]` list: a question may not be both.
//! The edited text is parsed as a knowledge base before it is written, and
//! written atomically (a temporary file renamed over the old one), so a
//! running host never reads half a file and a bad edit never lands.

use crate::knowledge_base::KnowledgeBase;
use crate::text::normalize;
use std::collections::HashSet;
use std::path::Path;
use toml_edit::{Array, ArrayOfTables, DocumentMut, Item, Table, value};

/// An edit that cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// The file cannot be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not TOML.
    #[error("{path}: {message}")]
    Syntax {
        /// The file.
        path: String,
        /// The parser's message.
        message: String,
    },
    /// The edit makes no sense for this knowledge base.
    #[error("{0}")]
    Invalid(String),
}

/// A change to a knowledge base.
#[derive(Debug, Clone, PartialEq)]
pub enum KnowledgeBaseEdit {
    /// Add example questions to an existing intent.
    AddExamples {
        /// The intent's id.
        intent: String,
        /// The questions (ones it already has are skipped).
        questions: Vec<String>,
    },
    /// Add an intent.
    AddIntent {
        /// Its id (must be new).
        id: String,
        /// Its scenario (售前, 售中, 售后, 通用).
        scenario: String,
        /// Its name.
        name: String,
        /// Its answer.
        answer: String,
        /// Its example questions.
        examples: Vec<String>,
    },
}

/// Applies `edit` to the knowledge base at `path` and returns the knowledge
/// base as it now reads.
pub fn apply(path: &Path, edit: &KnowledgeBaseEdit) -> Result<KnowledgeBase, EditError> {
    let io = |source| EditError::Io {
        path: path.display().to_string(),
        source,
    };
    let text = std::fs::read_to_string(path).map_err(io)?;
    let mut document: DocumentMut =
        text.parse()
            .map_err(|err: toml_edit::TomlError| EditError::Syntax {
                path: path.display().to_string(),
                message: err.to_string(),
            })?;
    edit_document(&mut document, edit)?;
    let edited = document.to_string();
    let knowledge_base = KnowledgeBase::parse(path, &edited)
        .map_err(|err| EditError::Invalid(format!("the edit would break the file: {err}")))?;
    let temporary = path.with_extension("toml.editing");
    std::fs::write(&temporary, &edited).map_err(io)?;
    std::fs::rename(&temporary, path).map_err(io)?;
    Ok(knowledge_base)
}

fn edit_document(document: &mut DocumentMut, edit: &KnowledgeBaseEdit) -> Result<(), EditError> {
    let added = match edit {
        KnowledgeBaseEdit::AddExamples { questions, .. } => questions,
        KnowledgeBaseEdit::AddIntent { examples, .. } => examples,
    };
    release_from_out_of_scope(document, added);
    let intents = document
        .entry("intent")
        .or_insert(Item::ArrayOfTables(ArrayOfTables::new()))
        .as_array_of_tables_mut()
        .ok_or_else(|| EditError::Invalid("`intent` is not an array of tables".into()))?;
    let find = |intents: &mut ArrayOfTables, id: &str| -> Option<usize> {
        intents
            .iter()
            .position(|table| table.get("id").and_then(|v| v.as_str()) == Some(id))
    };
    match edit {
        KnowledgeBaseEdit::AddExamples { intent, questions } => {
            let index = find(intents, intent)
                .ok_or_else(|| EditError::Invalid(format!("no intent `{intent}`")))?;
            let table = intents.get_mut(index).expect("found above");
            let examples = table
                .get_mut("examples")
                .and_then(|item| item.as_array_mut())
                .ok_or_else(|| EditError::Invalid(format!("intent `{intent}` has no examples")))?;
            let multi_line = examples.iter().any(|v| {
                v.decor()
                    .prefix()
                    .and_then(|p| p.as_str())
                    .is_some_and(|p| p.contains('\n'))
            });
            for question in questions {
                let question = question.trim();
                if question.is_empty() || examples.iter().any(|v| v.as_str() == Some(question)) {
                    continue;
                }
                examples.push(question);
                if multi_line && let Some(last) = examples.iter_mut().last() {
                    last.decor_mut().set_prefix("\n    ");
                }
            }
            if multi_line {
                examples.set_trailing("\n");
                examples.set_trailing_comma(true);
            }
        }
        KnowledgeBaseEdit::AddIntent {
            id,
            scenario,
            name,
            answer,
            examples,
        } => {
            if find(intents, id).is_some() {
                return Err(EditError::Invalid(format!("intent `{id}` exists already")));
            }
            let mut table = Table::new();
            table.insert("id", value(id.as_str()));
            table.insert("scenario", value(scenario.as_str()));
            table.insert("name", value(name.as_str()));
            table.insert("answer", value(answer.as_str()));
            let mut list = Array::new();
            for example in examples {
                list.push(example.trim());
            }
            table.insert("examples", value(list));
            intents.push(table);
        }
    }
    Ok(())
}

/// Removes from `[out_of_scope].examples` every question equal, after
/// normalization, to one of `added` (an example may not be both).
fn release_from_out_of_scope(document: &mut DocumentMut, added: &[String]) {
    let Some(examples) = document
        .get_mut("out_of_scope")
        .and_then(|item| item.get_mut("examples"))
        .and_then(|item| item.as_array_mut())
    else {
        return;
    };
    let added: HashSet<String> = added.iter().map(|q| normalize(q)).collect();
    examples.retain(|value| {
        value
            .as_str()
            .is_none_or(|text| !added.contains(&normalize(text)))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"# Our knowledge base.
[settings]
answer_threshold = 0.3   # tuned on our chats

[[intent]]
id = "ship_time"
name = "发货时间"
answer = "48小时内发货"
# keep these short
examples = [
    "什么时候发货",
    "几天发货",
]

[out_of_scope]
examples = [
    "是纯棉的吗？",
    "你们招人吗",
]
"#;

    #[test]
    fn examples_and_intents_are_added_keeping_comments_and_layout() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kb.toml");
        std::fs::write(&path, FILE).unwrap();
        let kb = apply(
            &path,
            &KnowledgeBaseEdit::AddExamples {
                intent: "ship_time".into(),
                questions: vec!["啥时候发".into(), "几天发货".into()],
            },
        )
        .unwrap();
        assert_eq!(kb.intent("ship_time").unwrap().examples.len(), 3);
        let kb = apply(
            &path,
            &KnowledgeBaseEdit::AddIntent {
                id: "fabric".into(),
                scenario: "售前".into(),
                name: "面料材质".into(),
                answer: "亲，这款是纯棉的～".into(),
                examples: vec!["是纯棉的吗".into()],
            },
        )
        .unwrap();
        assert_eq!(kb.intent("fabric").unwrap().answer, "亲，这款是纯棉的～");
        assert_eq!(
            kb.out_of_scope,
            ["你们招人吗"],
            "released to the new intent"
        );
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("# Our knowledge base.\n"), "{text}");
        assert!(
            text.contains("answer_threshold = 0.3   # tuned on our chats"),
            "{text}"
        );
        assert!(text.contains("# keep these short"), "{text}");
        assert!(
            text.contains("    \"几天发货\",\n    \"啥时候发\",\n]"),
            "{text}"
        );
    }

    #[test]
    fn a_bad_edit_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kb.toml");
        std::fs::write(&path, FILE).unwrap();
        let unknown = apply(
            &path,
            &KnowledgeBaseEdit::AddExamples {
                intent: "nope".into(),
                questions: vec!["x".into()],
            },
        );
        assert!(
            unknown
                .unwrap_err()
                .to_string()
                .contains("no intent `nope`")
        );
        let empty_answer = apply(
            &path,
            &KnowledgeBaseEdit::AddIntent {
                id: "blank".into(),
                scenario: String::new(),
                name: String::new(),
                answer: String::new(),
                examples: vec!["问题".into()],
            },
        );
        assert!(empty_answer.is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), FILE);
    }
}
