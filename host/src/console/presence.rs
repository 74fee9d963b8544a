//! Who is connected to the console right now, in memory: each live event
//! stream registers its agent and the conversation its tab shows. From this
//! the thread shows the colleagues viewing the same conversation, and the
//! host finds agents whose every connection has been gone too long (their
//! conversations go back to the queue). Presence is not stored: after a
//! restart it fills again as browsers reconnect.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// A conversation: (shop, conversation id).
pub type ConversationKey = (String, String);

/// One agent's connections.
#[derive(Debug, Default)]
struct Connections {
    /// Streams open now.
    open: usize,
    /// When the last one closed, while none is open.
    lost_since_ms: Option<i64>,
}

#[derive(Debug, Default)]
struct State {
    /// Streams per (conversation, agent).
    viewers: HashMap<ConversationKey, HashMap<String, usize>>,
    agents: HashMap<String, Connections>,
}

/// The console's live connections.
#[derive(Debug)]
pub struct Presence {
    state: Mutex<State>,
    /// Bumped on every change; streams watch it to send `presence` events.
    version: watch::Sender<u64>,
}

impl Default for Presence {
    fn default() -> Self {
        Presence {
            state: Mutex::new(State::default()),
            version: watch::channel(0).0,
        }
    }
}

/// Held by a live stream; dropping it (the stream ended) unregisters it.
#[derive(Debug)]
pub struct Connected {
    presence: Arc<Presence>,
    agent: String,
    viewing: Option<ConversationKey>,
}

impl Presence {
    /// Registers a stream of `agent`, showing `viewing` if a conversation.
    pub fn connect(self: &Arc<Self>, agent: &str, viewing: Option<ConversationKey>) -> Connected {
        {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let connections = state.agents.entry(agent.to_owned()).or_default();
            connections.open += 1;
            connections.lost_since_ms = None;
            if let Some(key) = &viewing {
                *state
                    .viewers
                    .entry(key.clone())
                    .or_default()
                    .entry(agent.to_owned())
                    .or_default() += 1;
            }
        }
        self.version.send_modify(|v| *v += 1);
        Connected {
            presence: Arc::clone(self),
            agent: agent.to_owned(),
            viewing,
        }
    }

    /// The agents viewing a conversation now.
    pub fn viewers(&self, shop: &str, conversation: &str) -> BTreeSet<String> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state
            .viewers
            .get(&(shop.to_owned(), conversation.to_owned()))
            .map(|agents| agents.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Agents who had the console open and have had no connection for at
    /// least `after_ms`; each is reported once (until they connect again).
    pub fn take_lost(&self, after_ms: i64, now_ms: i64) -> Vec<String> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let lost: Vec<String> = state
            .agents
            .iter()
            .filter(|(_, c)| c.open == 0 && c.lost_since_ms.is_some_and(|t| now_ms - t >= after_ms))
            .map(|(agent, _)| agent.clone())
            .collect();
        for agent in &lost {
            state.agents.remove(agent);
        }
        lost
    }

    /// Whether `agent` has a stream open now.
    pub fn is_connected(&self, agent: &str) -> bool {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.agents.get(agent).is_some_and(|c| c.open > 0)
    }

    /// A receiver that changes whenever anyone connects or leaves.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }

    fn disconnect(&self, agent: &str, viewing: Option<&ConversationKey>, now_ms: i64) {
        {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(connections) = state.agents.get_mut(agent) {
                connections.open = connections.open.saturating_sub(1);
                if connections.open == 0 {
                    connections.lost_since_ms = Some(now_ms);
                }
            }
            if let Some(key) = viewing
                && let Some(agents) = state.viewers.get_mut(key)
            {
                if let Some(count) = agents.get_mut(agent) {
                    *count -= 1;
                    if *count == 0 {
                        agents.remove(agent);
                    }
                }
                if agents.is_empty() {
                    state.viewers.remove(key);
                }
            }
        }
        self.version.send_modify(|v| *v += 1);
    }
}

impl Drop for Connected {
    fn drop(&mut self) {
        self.presence
            .disconnect(&self.agent, self.viewing.as_ref(), crate::clock::now_ms());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(conversation: &str) -> Option<ConversationKey> {
        Some(("demo-oa".to_owned(), conversation.to_owned()))
    }

    #[test]
    fn viewers_come_and_go_with_their_streams() {
        let presence = Arc::new(Presence::default());
        let mei = presence.connect("mei", key("o1"));
        let lei = presence.connect("lei", key("o1"));
        let lei_again = presence.connect("lei", key("o1"));
        assert_eq!(
            presence
                .viewers("demo-oa", "o1")
                .into_iter()
                .collect::<Vec<_>>(),
            ["lei", "mei"]
        );
        drop(lei);
        assert!(
            presence.viewers("demo-oa", "o1").contains("lei"),
            "one tab left"
        );
        drop(lei_again);
        drop(mei);
        assert!(presence.viewers("demo-oa", "o1").is_empty());
    }

    #[test]
    fn an_agent_is_lost_only_after_every_stream_has_been_gone_long_enough() {
        let presence = Arc::new(Presence::default());
        let list = presence.connect("mei", None);
        let thread = presence.connect("mei", key("o1"));
        drop(list);
        assert!(presence.is_connected("mei"));
        assert!(presence.take_lost(0, i64::MAX).is_empty(), "a tab is open");
        drop(thread);
        let now = crate::clock::now_ms();
        assert!(presence.take_lost(60_000, now).is_empty(), "not yet");
        assert_eq!(presence.take_lost(60_000, now + 60_000), ["mei"]);
        assert!(
            presence.take_lost(60_000, now + 120_000).is_empty(),
            "reported once"
        );
        let _back = presence.connect("mei", None);
        assert!(presence.take_lost(0, i64::MAX).is_empty());
    }
}
