//! The audit log: one JSON line per admin action (who, with which role,
//! what, when, in which shop and conversation), appended to `audit.log` in
//! the data directory and flushed before the action's answer. Nothing ever
//! rewrites or truncates it.

use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The file, in the data directory.
pub const FILE_NAME: &str = "audit.log";

/// One audited action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// When (Unix ms).
    pub at_ms: i64,
    /// Who acted (an agent id, or `admin-token`).
    pub who: String,
    /// Their role.
    pub role: String,
    /// What they did: `take`, `reply`, `transfer`, `close`, `hand-back`,
    /// `link`, `unlink`.
    pub action: String,
    /// The shop, where the action has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shop: Option<String>,
    /// The conversation, where the action has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversation: Option<String>,
    /// Anything else worth knowing (the agent transferred to, the
    /// identities linked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The append-only log.
pub struct AuditLog {
    path: PathBuf,
    file: Mutex<std::fs::File>,
}

impl AuditLog {
    /// Opens (or creates) the log in `data_dir`.
    pub fn open(data_dir: &Path) -> anyhow::Result<AuditLog> {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("creating {}", data_dir.display()))?;
        let path = data_dir.join(FILE_NAME);
        let mut options = std::fs::OpenOptions::new();
        options.append(true).create(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = options
            .open(&path)
            .with_context(|| format!("opening the audit log {}", path.display()))?;
        Ok(AuditLog {
            path,
            file: Mutex::new(file),
        })
    }

    /// Appends an entry and syncs it to disk.
    pub fn record(&self, entry: &AuditEntry) -> anyhow::Result<()> {
        let mut line = serde_json::to_vec(entry)?;
        line.push(b'\n');
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        file.write_all(&line)
            .and_then(|()| file.sync_data())
            .with_context(|| format!("appending to the audit log {}", self.path.display()))
    }

    /// The last `limit` entries, oldest first.
    pub fn tail(&self, limit: usize) -> anyhow::Result<Vec<AuditEntry>> {
        let file = std::fs::File::open(&self.path)
            .with_context(|| format!("reading the audit log {}", self.path.display()))?;
        let mut entries = std::collections::VecDeque::with_capacity(limit.min(1024));
        for line in std::io::BufReader::new(file).lines() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            let entry: AuditEntry = serde_json::from_str(&line)
                .with_context(|| format!("a corrupt line in {}", self.path.display()))?;
            if entries.len() == limit {
                entries.pop_front();
            }
            entries.push_back(entry);
        }
        Ok(entries.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_appended_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let entry = |n: i64| AuditEntry {
            at_ms: n,
            who: "mei".into(),
            role: "agent".into(),
            action: "take".into(),
            shop: Some("demo-oa".into()),
            conversation: Some(format!("c{n}")),
            detail: None,
        };
        let log = AuditLog::open(dir.path()).unwrap();
        for n in 0..3 {
            log.record(&entry(n)).unwrap();
        }
        drop(log);
        let log = AuditLog::open(dir.path()).unwrap();
        log.record(&entry(3)).unwrap();
        assert_eq!(log.tail(2).unwrap(), vec![entry(2), entry(3)]);
        assert_eq!(log.tail(10).unwrap().len(), 4);
    }
}
