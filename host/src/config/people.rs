//! The people side of the config: the admin API's access token and how
//! conversations are assigned, and the agents with the shops they serve and
//! how many conversations each can hold at once.

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
#[derive(Debug, Clone)]
pub struct AdminConfig {
    /// The bearer token every admin request must carry.
    pub token: String,
    /// How conversations are assigned.
    pub assignment: Assignment,
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
}

impl Builder {
    pub(super) fn admin(
        &self,
        raw: Option<RawAdmin>,
    ) -> Result<Option<AdminConfig>, super::ConfigError> {
        let Some(raw) = raw else {
            return Ok(None);
        };
        let token = match raw.token.get_ref() {
            RawSecret::Plain(text) => text.clone(),
            RawSecret::FromEnv { env } => std::env::var(env).map_err(|_| {
                self.error(
                    &raw.token,
                    "admin.token",
                    format!("environment variable `{env}` is not set"),
                )
            })?,
        };
        if token.len() < 16 {
            return Err(self.error(
                &raw.token,
                "admin.token",
                "must be at least 16 characters".into(),
            ));
        }
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
            agents.push(AgentConfig {
                name: agent.name.clone().unwrap_or_else(|| id.clone()),
                id,
                shops: served,
                max_concurrent,
            });
        }
        Ok(agents)
    }
}
