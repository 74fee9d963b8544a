//! Who is asking: agents authenticate with their own credential (see
//! [`credentials`]), and what they may do follows from their role and the
//! shops they serve, never from anything they write in a request body.
//! What they do is recorded in the [`audit`] log.

pub mod audit;
pub mod credentials;

use crate::config::{AgentConfig, Role};
use base64::Engine;
use std::collections::BTreeSet;
use std::sync::Arc;
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

/// At most this many argon2 verifications run at once, so a flood of wrong
/// credentials costs a bounded share of the CPU.
const CONCURRENT_VERIFICATIONS: usize = 2;

/// The principal id of the config's break-glass admin token.
pub const ADMIN_TOKEN_PRINCIPAL: &str = "admin-token";

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The agent's id (or [`ADMIN_TOKEN_PRINCIPAL`]).
    pub id: String,
    /// What they may do.
    pub role: Role,
    /// The shops they serve (agents see only these).
    pub shops: BTreeSet<String>,
    /// Whether this is a configured agent, who can hold conversations.
    pub is_agent: bool,
}

impl Principal {
    /// Whether the principal may see and work in `shop`.
    pub fn serves(&self, shop: &str) -> bool {
        self.role >= Role::Supervisor || self.shops.contains(shop)
    }

    /// Whether the principal has at least `role`.
    pub fn has(&self, role: Role) -> bool {
        self.role >= role
    }
}

/// Why a request is not authenticated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No credential, or one that is not well formed.
    #[error("missing or malformed credential: send `Authorization: Bearer <agent>:<secret>`")]
    Missing,
    /// A credential that does not match.
    #[error("unknown agent or wrong secret")]
    Wrong,
    /// The credential store could not be read.
    #[error("the credential store is unavailable: {0}")]
    Unavailable(String),
}

/// Checks credentials: the break-glass admin token, or an agent's own.
pub struct Authenticator {
    admin_token: Option<String>,
    agents: Vec<AgentConfig>,
    verifier: Arc<credentials::Verifier>,
    verifications: Semaphore,
}

impl Authenticator {
    /// An authenticator for the configured agents, their credentials in
    /// `data_dir`, and the optional admin token.
    pub fn new(
        admin_token: Option<String>,
        agents: Vec<AgentConfig>,
        data_dir: &std::path::Path,
    ) -> Authenticator {
        Authenticator {
            admin_token,
            agents,
            verifier: Arc::new(credentials::Verifier::new(data_dir)),
            verifications: Semaphore::new(CONCURRENT_VERIFICATIONS),
        }
    }

    /// The caller behind an `Authorization` header value.
    pub async fn authenticate(&self, authorization: Option<&str>) -> Result<Principal, AuthError> {
        let (agent, secret): (String, String) = match parse(authorization.unwrap_or(""))? {
            Presented::Token(token) => {
                let admin = self
                    .admin_token
                    .as_deref()
                    .is_some_and(|admin| bool::from(token.as_bytes().ct_eq(admin.as_bytes())));
                if admin {
                    return Ok(Principal {
                        id: ADMIN_TOKEN_PRINCIPAL.into(),
                        role: Role::Admin,
                        shops: BTreeSet::new(),
                        is_agent: false,
                    });
                }
                let (agent, secret) = token.split_once(':').ok_or(AuthError::Wrong)?;
                (agent.to_owned(), secret.to_owned())
            }
            Presented::Pair(agent, secret) => (agent, secret),
        };
        self.verify_agent(&agent, &secret).await
    }

    /// An agent signing in with their own id and secret (the console's
    /// sign-in form).
    pub async fn verify_agent(&self, agent: &str, secret: &str) -> Result<Principal, AuthError> {
        let (agent, secret) = (agent.to_owned(), secret.to_owned());
        let Some(config) = self.agents.iter().find(|a| a.id == agent) else {
            return Err(AuthError::Wrong);
        };
        let _permit = self
            .verifications
            .acquire()
            .await
            .map_err(|_| AuthError::Unavailable("shutting down".into()))?;
        let verifier = Arc::clone(&self.verifier);
        let verified = tokio::task::spawn_blocking(move || verifier.verify(&agent, &secret))
            .await
            .map_err(|err| AuthError::Unavailable(err.to_string()))?
            .map_err(|err| AuthError::Unavailable(format!("{err:#}")))?;
        if !verified {
            return Err(AuthError::Wrong);
        }
        Ok(Principal {
            id: config.id.clone(),
            role: config.role,
            shops: config.shops.clone(),
            is_agent: true,
        })
    }
}

enum Presented<'a> {
    /// `Bearer <token>`: the admin token, or `<agent>:<secret>`.
    Token(&'a str),
    /// HTTP Basic.
    Pair(String, String),
}

fn parse(header: &str) -> Result<Presented<'_>, AuthError> {
    if let Some(token) = header.strip_prefix("Bearer ") {
        let token = token.trim();
        return if token.is_empty() {
            Err(AuthError::Missing)
        } else {
            Ok(Presented::Token(token))
        };
    }
    if let Some(encoded) = header.strip_prefix("Basic ") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|_| AuthError::Missing)?;
        let text = String::from_utf8(decoded).map_err(|_| AuthError::Missing)?;
        let (agent, secret) = text.split_once(':').ok_or(AuthError::Missing)?;
        return Ok(Presented::Pair(agent.to_owned(), secret.to_owned()));
    }
    Err(AuthError::Missing)
}
