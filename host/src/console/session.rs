//! Console sessions: an agent who signed in gets a random session id in an
//! HttpOnly, SameSite=Strict cookie (Secure behind TLS), and a CSRF token
//! that every form posts back. Sessions live in memory and expire after
//! [`IDLE_LIFETIME_MS`] without use or [`LIFETIME_MS`] in all; a restart
//! signs everyone out.

use crate::auth::Principal;
use std::collections::HashMap;
use std::sync::Mutex;
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

/// The sessions of one host.
#[derive(Debug, Default)]
pub struct Sessions {
    by_id: Mutex<HashMap<String, Session>>,
    /// Set when the host stops: live streams end so connections can drain.
    closing: std::sync::atomic::AtomicBool,
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source");
    hex::encode(bytes)
}

impl Sessions {
    /// Starts a session for `principal`; returns its id (for the cookie).
    pub fn start(&self, principal: Principal, now_ms: i64) -> String {
        let id = random_token();
        let session = Session {
            principal,
            csrf: random_token(),
            started_ms: now_ms,
            used_ms: now_ms,
        };
        let mut sessions = self.by_id.lock().unwrap_or_else(|e| e.into_inner());
        sessions.retain(|_, s| alive(s, now_ms));
        sessions.insert(id.clone(), session);
        id
    }

    /// The live session with this id, marked as used.
    pub fn get(&self, id: &str, now_ms: i64) -> Option<Session> {
        let mut sessions = self.by_id.lock().unwrap_or_else(|e| e.into_inner());
        let session = sessions.get_mut(id)?;
        if !alive(session, now_ms) {
            sessions.remove(id);
            return None;
        }
        session.used_ms = now_ms;
        Some(session.clone())
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
    }
}

fn alive(session: &Session, now_ms: i64) -> bool {
    now_ms - session.used_ms <= IDLE_LIFETIME_MS && now_ms - session.started_ms <= LIFETIME_MS
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
