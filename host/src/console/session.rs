//! Console sessions: an agent who signed in gets a random session id in an
//! HttpOnly, SameSite=Strict cookie (Secure behind TLS), and a CSRF token
//! that every form posts back. Sessions expire after [`IDLE_LIFETIME_MS`]
//! without use or [`LIFETIME_MS`] in all. They are kept in memory and, when
//! the host has a store, in it too (by the SHA-256 of the id), so a restart
//! or an upgrade does not sign agents out; the agent's role and shops are
//! read from the config each time a stored session is picked up.

use crate::auth::Principal;
use crate::config::AgentConfig;
use crate::model::ConsoleSession;
use crate::store::Store;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use subtle::ConstantTimeEq;

/// The session cookie's name.
pub const COOKIE: &str = "tongdao_session";
/// A session unused this long expires.
pub const IDLE_LIFETIME_MS: i64 = 2 * 3600 * 1000;
/// No session lives longer than this (a working day).
pub const LIFETIME_MS: i64 = 12 * 3600 * 1000;

/// One signed-in agent.
#[derive(Debug, Clone)]
pub struct Session {
    /// Who signed in.
    pub principal: Principal,
    /// The token forms must carry.
    pub csrf: String,
    /// When the session began, Unix milliseconds.
    pub started_ms: i64,
    /// When it was last used.
    pub used_ms: i64,
}

/// A stored session's last use is rewritten once it is this stale.
const USE_GRANULARITY_MS: i64 = 5 * 60 * 1000;

/// The sessions of one host.
#[derive(Default)]
pub struct Sessions {
    by_id: Mutex<HashMap<String, Session>>,
    /// Where sessions outlive the process, and the agents they resolve to.
    kept: Option<(Arc<dyn Store>, Vec<AgentConfig>)>,
    /// Set when the host stops: live streams end so connections can drain.
    closing: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("stored", &self.kept.is_some())
            .finish_non_exhaustive()
    }
}

/// The key a session is stored under: the SHA-256 of its id.
fn stored_key(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source");
    hex::encode(bytes)
}

impl Sessions {
    /// Sessions kept in `store` as well as in memory, for `agents`; those
    /// already over are removed.
    pub fn stored(store: Arc<dyn Store>, agents: Vec<AgentConfig>, now_ms: i64) -> Sessions {
        let over = |s: &ConsoleSession| !alive_between(s.started_ms, s.used_ms, now_ms);
        match store.sweep_console_sessions(&over) {
            Ok(0) => {}
            Ok(removed) => tracing::debug!(removed, "expired console sessions removed"),
            Err(err) => {
                tracing::warn!(error = %format!("{err:#}"), "expired console sessions could not be removed")
            }
        }
        Sessions {
            kept: Some((store, agents)),
            ..Sessions::default()
        }
    }

    /// Starts a session for `principal`; returns its id (for the cookie).
    pub fn start(&self, principal: Principal, now_ms: i64) -> String {
        let id = random_token();
        let session = Session {
            principal,
            csrf: random_token(),
            started_ms: now_ms,
            used_ms: now_ms,
        };
        self.keep(&id, &session);
        let mut sessions = self.by_id.lock().unwrap_or_else(|e| e.into_inner());
        sessions.retain(|_, s| alive(s, now_ms));
        sessions.insert(id.clone(), session);
        id
    }

    /// The live session with this id, marked as used.
    pub fn get(&self, id: &str, now_ms: i64) -> Option<Session> {
        let mut sessions = self.by_id.lock().unwrap_or_else(|e| e.into_inner());
        if !sessions.contains_key(id)
            && let Some(session) = self.pick_up(id)
        {
            sessions.insert(id.to_owned(), session);
        }
        let session = sessions.get_mut(id)?;
        if !alive(session, now_ms) {
            sessions.remove(id);
            drop(sessions);
            self.forget(id);
            return None;
        }
        let stale = now_ms - session.used_ms >= USE_GRANULARITY_MS;
        session.used_ms = now_ms;
        let session = session.clone();
        drop(sessions);
        if stale {
            self.keep(id, &session);
        }
        Some(session)
    }

    /// A session from the store, for an agent still in the config.
    fn pick_up(&self, id: &str) -> Option<Session> {
        let (store, agents) = self.kept.as_ref()?;
        let stored = match store.console_session(&stored_key(id)) {
            Ok(stored) => stored?,
            Err(err) => {
                tracing::warn!(error = %format!("{err:#}"), "a console session could not be read");
                return None;
            }
        };
        let agent = agents.iter().find(|a| a.id == stored.agent)?;
        Some(Session {
            principal: Principal {
                id: agent.id.clone(),
                role: agent.role,
                shops: agent.shops.clone(),
                is_agent: true,
            },
            csrf: stored.csrf,
            started_ms: stored.started_ms,
            used_ms: stored.used_ms,
        })
    }

    fn keep(&self, id: &str, session: &Session) {
        let Some((store, _)) = &self.kept else {
            return;
        };
        let stored = ConsoleSession {
            agent: session.principal.id.clone(),
            csrf: session.csrf.clone(),
            started_ms: session.started_ms,
            used_ms: session.used_ms,
        };
        if let Err(err) = store.put_console_session(&stored_key(id), Some(&stored)) {
            tracing::warn!(error = %format!("{err:#}"), "a console session could not be stored; it lasts until the host restarts");
        }
    }

    fn forget(&self, id: &str) {
        if let Some((store, _)) = &self.kept
            && let Err(err) = store.put_console_session(&stored_key(id), None)
        {
            tracing::warn!(error = %format!("{err:#}"), "a console session could not be removed from the store");
        }
    }

    /// Ends every live stream (the host is stopping).
    pub fn close_streams(&self) {
        self.closing
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Whether the host is stopping.
    pub fn closing(&self) -> bool {
        self.closing.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Ends a session.
    pub fn end(&self, id: &str) {
        self.by_id
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
        self.forget(id);
    }
}

fn alive(session: &Session, now_ms: i64) -> bool {
    alive_between(session.started_ms, session.used_ms, now_ms)
}

fn alive_between(started_ms: i64, used_ms: i64, now_ms: i64) -> bool {
    now_ms - used_ms <= IDLE_LIFETIME_MS && now_ms - started_ms <= LIFETIME_MS
}

/// Whether a posted CSRF token is the session's (in constant time).
pub fn csrf_matches(session: &Session, posted: Option<&str>) -> bool {
    posted.is_some_and(|posted| bool::from(posted.as_bytes().ct_eq(session.csrf.as_bytes())))
}

/// The session id in a `Cookie` header, if any.
pub fn session_id(cookie_header: Option<&str>) -> Option<String> {
    cookie_header?
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
}

/// The signed-in session of a request, with its id, if it has a live one.
pub fn signed_in(
    sessions: &Sessions,
    headers: &hyper::HeaderMap,
    now_ms: i64,
) -> Option<(String, Session)> {
    let id = session_id(
        headers
            .get(hyper::header::COOKIE)
            .and_then(|v| v.to_str().ok()),
    )?;
    let session = sessions.get(&id, now_ms)?;
    Some((id, session))
}

/// The `Set-Cookie` value that starts a session (`secure` behind TLS).
pub fn set_cookie(id: &str, secure: bool) -> String {
    format!(
        "{COOKIE}={id}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={}{}",
        LIFETIME_MS / 1000,
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that ends it.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Role;
    use std::collections::BTreeSet;

    fn mei() -> Principal {
        Principal {
            id: "mei".into(),
            role: Role::Agent,
            shops: BTreeSet::from(["demo-oa".to_owned()]),
            is_agent: true,
        }
    }

    #[test]
    fn a_session_is_found_by_its_cookie_until_it_idles_out_or_ends() {
        let sessions = Sessions::default();
        let id = sessions.start(mei(), 0);
        let header = format!("theme=dark; {COOKIE}={id}");
        assert_eq!(session_id(Some(&header)).as_deref(), Some(id.as_str()));
        let session = sessions.get(&id, 1_000).unwrap();
        assert_eq!(session.principal.id, "mei");
        assert!(csrf_matches(&session, Some(&session.csrf)));
        assert!(!csrf_matches(&session, Some("forged")));
        assert!(!csrf_matches(&session, None));
        assert!(sessions.get(&id, 1_000 + IDLE_LIFETIME_MS + 1).is_none());
        let again = sessions.start(mei(), 0);
        sessions.end(&again);
        assert!(sessions.get(&again, 1).is_none());
        assert!(sessions.get("guessed", 1).is_none());
    }

    #[test]
    fn cookies_are_http_only_and_strict() {
        let cookie = set_cookie("abc", true);
        assert!(cookie.contains("HttpOnly"));
        assert!(cookie.contains("SameSite=Strict"));
        assert!(cookie.ends_with("; Secure"));
        assert!(!set_cookie("abc", false).contains("Secure"));
    }
}
