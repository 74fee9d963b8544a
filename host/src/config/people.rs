//! The people side of the config: the admin API (an optional break-glass
//! token, and how conversations are assigned), and the agents with their
//! role, the shops they serve and how many conversations each can hold at
//! once. Agents' own credentials are not here: `tongdao agent add` keeps
//! their argon2 hashes in the data directory.

use super::Builder;
use crate::config::raw::{RawAdmin, RawAgent, RawSecret, Spanned};
use std::collections::{BTreeMap, BTreeSet};

/// How waiting conversations are given to agents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assignment {
    /// To the agent with the fewest conversations (ties: config order).
    LeastLoaded,
    /// To the next agent in config order after the last one given one.
    RoundRobin,
    /// Only when an agent takes it through the admin API.
    Manual,
}

/// The admin API for agents.
#[derive(Clone)]
pub struct AdminConfig {
    /// A break-glass bearer token with the admin role (no agent's identity:
    /// it cannot act on conversations). Agents use their own credentials.
    pub token: Option<String>,
    /// How conversations are assigned.
    pub assignment: Assignment,
}

impl std::fmt::Debug for AdminConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminConfig")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("assignment", &self.assignment)
            .finish()
    }
}

/// What a person may do in the admin API and the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Serves the conversations of their own shops, as themselves.
    Agent,
    /// Also sees every shop, every agent, and links customers.
    Supervisor,
    /// Also reads the audit log.
    Admin,
}

impl Role {
    /// The role's name in config and output.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
        }
    }
}

/// A human agent.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentConfig {
    /// Stable id used in the admin API.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The shops whose conversations the agent handles.
    pub shops: BTreeSet<String>,
    /// How many conversations the agent holds at most.
    pub max_concurrent: u32,
    /// What the agent may do.
    pub role: Role,
}

impl Builder {
    pub(super) fn admin(
        &self,
        raw: Option<RawAdmin>,
    ) -> Result<Option<AdminConfig>, super::ConfigError> {
        let Some(raw) = raw else {
            return Ok(None);
        };
        let token = match &raw.token {
            None => None,
            Some(spanned) => {
                let token = match spanned.get_ref() {
                    RawSecret::Plain(text) => text.clone(),
                    RawSecret::FromEnv { env } => std::env::var(env).map_err(|_| {
                        self.error(
                            spanned,
                            "admin.token",
                            format!("environment variable `{env}` is not set"),
                        )
                    })?,
                };
                if token.len() < 16 {
                    return Err(self.error(
                        spanned,
                        "admin.token",
                        "must be at least 16 characters".into(),
                    ));
                }
                Some(token)
            }
        };
        let assignment = match &raw.assignment {
            None => Assignment::LeastLoaded,
            Some(value) => match value.get_ref().as_str() {
                "least-loaded" => Assignment::LeastLoaded,
                "round-robin" => Assignment::RoundRobin,
                "manual" => Assignment::Manual,
                other => {
                    return Err(self.error(
                        value,
                        "admin.assignment",
                        format!("`{other}` is not one of least-loaded, round-robin, manual"),
                    ));
                }
            },
        };
        Ok(Some(AdminConfig { token, assignment }))
    }

    pub(super) fn agents(
        &self,
        raw: Vec<Spanned<RawAgent>>,
        shops: &BTreeMap<String, super::ShopConfig>,
    ) -> Result<Vec<AgentConfig>, super::ConfigError> {
        let mut agents: Vec<AgentConfig> = Vec::new();
        for spanned in raw {
            let agent = spanned.get_ref();
            let id = agent.id.get_ref().clone();
            if !super::is_identifier(&id) {
                return Err(self.error(
                    &agent.id,
                    "agents.id",
                    format!("`{id}` must be letters, digits, `-` or `_`"),
                ));
            }
            if agents.iter().any(|a| a.id == id) {
                return Err(self.error(&agent.id, "agents.id", format!("`{id}` is defined twice")));
            }
            let mut served = BTreeSet::new();
            for shop in &agent.shops {
                if !shops.contains_key(shop.get_ref()) {
                    return Err(self.error(
                        shop,
                        &format!("agents.{id}.shops"),
                        format!("no shop `{}`", shop.get_ref()),
                    ));
                }
                served.insert(shop.get_ref().clone());
            }
            let max_concurrent = match &agent.max_concurrent {
                Some(n) if !(1..=1000).contains(n.get_ref()) => {
                    return Err(self.error(
                        n,
                        &format!("agents.{id}.max_concurrent"),
                        format!("{} is not within 1..=1000", n.get_ref()),
                    ));
                }
                Some(n) => *n.get_ref() as u32,
                None => 5,
            };
            let role = match &agent.role {
                None => Role::Agent,
                Some(value) => match value.get_ref().as_str() {
                    "agent" => Role::Agent,
                    "supervisor" => Role::Supervisor,
                    "admin" => Role::Admin,
                    other => {
                        return Err(self.error(
                            value,
                            &format!("agents.{id}.role"),
                            format!("`{other}` is not one of agent, supervisor, admin"),
                        ));
                    }
                },
            };
            agents.push(AgentConfig {
                name: agent.name.clone().unwrap_or_else(|| id.clone()),
                id,
                shops: served,
                max_concurrent,
                role,
            });
        }
        Ok(agents)
    }
}
