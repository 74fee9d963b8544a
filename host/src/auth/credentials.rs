//! Agents' own credentials: one secret per agent (a generated token or a
//! password), kept only as an argon2id hash in `credentials.json` in the
//! data directory, written by `tongdao agent add/passwd` and read by the
//! running host whenever the file changes. A request presents
//! `Authorization: Bearer <agent id>:<secret>` (or HTTP Basic with the
//! same pair); the acting agent is the one whose secret matched.

use anyhow::{Context, bail};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// The file, in the data directory, that holds the hashes.
pub const FILE_NAME: &str = "credentials.json";

/// How long a verified secret is remembered (as a SHA-256 of it), so an
/// agent's every request does not pay for argon2.
const REMEMBER_FOR: Duration = Duration::from_secs(600);

/// The shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// What the file holds.
#[derive(Debug, Default, Serialize, Deserialize)]
struct CredentialFile {
    /// Agent id → the hash of their secret, as a PHC string.
    agents: BTreeMap<String, StoredCredential>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredCredential {
    hash: String,
    /// When the secret was set (Unix ms).
    set_at_ms: i64,
}

fn path_in(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE_NAME)
}

fn read_file(path: &Path) -> anyhow::Result<CredentialFile> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not a credentials file", path.display())),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(CredentialFile::default()),
        Err(err) => Err(err).with_context(|| format!("reading {}", path.display())),
    }
}

/// Writes the file whole, readable by its owner only, through a rename so a
/// reader never sees half of it.
fn write_file(path: &Path, file: &CredentialFile) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .context("the credentials file has no directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let temporary = path.with_extension("json.tmp");
    let bytes = serde_json::to_vec_pretty(file)?;
    {
        use std::io::Write;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut out = options
            .open(&temporary)
            .with_context(|| format!("writing {}", temporary.display()))?;
        out.write_all(&bytes)?;
        out.sync_all()?;
    }
    std::fs::rename(&temporary, path).with_context(|| format!("replacing {}", path.display()))
}

fn hash(secret: &str) -> anyhow::Result<String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|err| anyhow::anyhow!("no randomness: {err}"))?;
    let salt = SaltString::encode_b64(&salt).map_err(|err| anyhow::anyhow!("{err}"))?;
    Ok(Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map_err(|err| anyhow::anyhow!("hashing failed: {err}"))?
        .to_string())
}

/// A new random token: 24 bytes, base64url.
fn new_token() -> anyhow::Result<String> {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).map_err(|err| anyhow::anyhow!("no randomness: {err}"))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// Sets `agent`'s secret: `password` if given (at least
/// [`MIN_PASSWORD_CHARS`] characters), else a new token, which is returned
/// (it is shown once and never stored).
pub fn set_secret(
    data_dir: &Path,
    agent: &str,
    password: Option<&str>,
) -> anyhow::Result<Option<String>> {
    let (secret, generated) = match password {
        Some(password) if password.chars().count() < MIN_PASSWORD_CHARS => {
            bail!("a password needs at least {MIN_PASSWORD_CHARS} characters")
        }
        Some(password) => (password.to_owned(), None),
        None => {
            let token = new_token()?;
            (token.clone(), Some(token))
        }
    };
    let path = path_in(data_dir);
    let mut file = read_file(&path)?;
    file.agents.insert(
        agent.to_owned(),
        StoredCredential {
            hash: hash(&secret)?,
            set_at_ms: crate::clock::now_ms(),
        },
    );
    write_file(&path, &file)?;
    Ok(generated)
}

/// Removes `agent`'s credential; whether there was one.
pub fn remove(data_dir: &Path, agent: &str) -> anyhow::Result<bool> {
    let path = path_in(data_dir);
    let mut file = read_file(&path)?;
    let removed = file.agents.remove(agent).is_some();
    if removed {
        write_file(&path, &file)?;
    }
    Ok(removed)
}

/// The agents that have a credential, with when it was set (Unix ms).
pub fn list(data_dir: &Path) -> anyhow::Result<Vec<(String, i64)>> {
    Ok(read_file(&path_in(data_dir))?
        .agents
        .into_iter()
        .map(|(id, credential)| (id, credential.set_at_ms))
        .collect())
}

/// Checks presented credentials against the file, re-reading it when it
/// changes, and remembering recent successes.
pub struct Verifier {
    path: PathBuf,
    state: Mutex<VerifierState>,
}

#[derive(Default)]
struct VerifierState {
    modified: Option<SystemTime>,
    agents: BTreeMap<String, StoredCredential>,
    /// SHA-256 of "id:secret" → when it was verified.
    remembered: HashMap<[u8; 32], Instant>,
}

impl Verifier {
    /// A verifier of the credentials in `data_dir`.
    pub fn new(data_dir: &Path) -> Verifier {
        Verifier {
            path: path_in(data_dir),
            state: Mutex::new(VerifierState::default()),
        }
    }

    /// Whether `secret` is `agent`'s. Costs an argon2 verification the
    /// first time (run it off the async workers).
    pub fn verify(&self, agent: &str, secret: &str) -> anyhow::Result<bool> {
        let digest: [u8; 32] = Sha256::digest(format!("{agent}:{secret}")).into();
        let stored = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            self.reload_if_changed(&mut state)?;
            if state
                .remembered
                .get(&digest)
                .is_some_and(|at| at.elapsed() < REMEMBER_FOR)
            {
                return Ok(true);
            }
            match state.agents.get(agent) {
                Some(stored) => stored.hash.clone(),
                None => return Ok(false),
            }
        };
        let parsed = PasswordHash::new(&stored)
            .map_err(|err| anyhow::anyhow!("corrupt hash for agent `{agent}`: {err}"))?;
        let good = Argon2::default()
            .verify_password(secret.as_bytes(), &parsed)
            .is_ok();
        if good {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            state.remembered.retain(|_, at| at.elapsed() < REMEMBER_FOR);
            state.remembered.insert(digest, Instant::now());
        }
        Ok(good)
    }

    fn reload_if_changed(&self, state: &mut VerifierState) -> anyhow::Result<()> {
        let modified = std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .ok();
        if modified != state.modified || modified.is_none() {
            state.agents = read_file(&self.path)?.agents;
            state.modified = modified;
            // A changed file may have revoked what was remembered.
            state.remembered.clear();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_agents_own_secret_verifies_and_only_a_hash_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let token = set_secret(dir.path(), "mei", None).unwrap().unwrap();
        set_secret(dir.path(), "lei", Some("a long enough password")).unwrap();
        let stored = std::fs::read_to_string(dir.path().join(FILE_NAME)).unwrap();
        assert!(!stored.contains(&token) && !stored.contains("a long enough password"));
        assert!(stored.contains("$argon2id$"));

        let verifier = Verifier::new(dir.path());
        assert!(verifier.verify("mei", &token).unwrap());
        assert!(verifier.verify("mei", &token).unwrap(), "remembered");
        assert!(!verifier.verify("lei", &token).unwrap(), "another's secret");
        assert!(verifier.verify("lei", "a long enough password").unwrap());
        assert!(!verifier.verify("nobody", &token).unwrap());

        // A new secret revokes the old one on the running verifier.
        std::thread::sleep(Duration::from_millis(20));
        let new_token = set_secret(dir.path(), "mei", None).unwrap().unwrap();
        assert!(!verifier.verify("mei", &token).unwrap());
        assert!(verifier.verify("mei", &new_token).unwrap());
        assert!(remove(dir.path(), "mei").unwrap());
        std::thread::sleep(Duration::from_millis(20));
        assert!(!verifier.verify("mei", &new_token).unwrap());
        assert!(set_secret(dir.path(), "x", Some("short")).is_err());
    }
}
