//! Sessions of customers with kf accounts: the service state machine
//! (0 new, 1 bot, 2 pool, 3 servicer, 4 ended) and the reply window (48 h
//! and 5 API messages since the customer's last message).

use std::collections::HashMap;

/// A session's service state (`service_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionState {
    /// 0 未处理: the customer wrote, nobody handles it yet.
    New,
    /// 1 由智能助手接待: handled through the API (the bot).
    Bot,
    /// 2 待接入池排队中: waiting in the pool for a servicer.
    Pool,
    /// 3 由人工接待: with a servicer.
    Human,
    /// 4 已结束/未开始: ended, or not started.
    Ended,
}

impl SessionState {
    /// The wire value.
    pub fn code(self) -> i64 {
        match self {
            SessionState::New => 0,
            SessionState::Bot => 1,
            SessionState::Pool => 2,
            SessionState::Human => 3,
            SessionState::Ended => 4,
        }
    }

    /// The state for a wire value.
    pub fn from_code(code: i64) -> Option<SessionState> {
        Some(match code {
            0 => SessionState::New,
            1 => SessionState::Bot,
            2 => SessionState::Pool,
            3 => SessionState::Human,
            4 => SessionState::Ended,
            _ => return None,
        })
    }

    /// Whether the API may move a session from this state to `to`: new →
    /// bot, pool, servicer or ended; bot → pool, servicer or ended; pool →
    /// servicer or ended; servicer → another servicer or ended; an ended
    /// session changes only when the customer writes again.
    pub fn may_become(self, to: SessionState) -> bool {
        use SessionState::*;
        matches!(
            (self, to),
            (New, Bot | Pool | Human | Ended)
                | (Bot, Pool | Human | Ended)
                | (Pool, Human | Ended)
                | (Human, Human | Ended)
        )
    }

    /// Whether `send_msg` is accepted in this state (0 and 1 only).
    pub fn accepts_api_messages(self) -> bool {
        matches!(self, SessionState::New | SessionState::Bot)
    }
}

/// One customer's session with one kf account.
#[derive(Debug, Clone)]
pub struct Session {
    /// The service state.
    pub state: SessionState,
    /// The servicer in state 3.
    pub servicer: Option<String>,
    /// When the customer last wrote.
    pub last_customer_message: Option<i64>,
    /// API messages sent since then.
    pub replies: u32,
}

impl Default for Session {
    fn default() -> Session {
        Session {
            state: SessionState::Ended,
            servicer: None,
            last_customer_message: None,
            replies: 0,
        }
    }
}

/// All sessions, by (open_kfid, external_userid).
#[derive(Debug, Default)]
pub struct Sessions(HashMap<(String, String), Session>);

impl Sessions {
    fn key(open_kfid: &str, external_userid: &str) -> (String, String) {
        (open_kfid.to_string(), external_userid.to_string())
    }

    /// The session (an ended one if none exists).
    pub fn get(&self, open_kfid: &str, external_userid: &str) -> Session {
        self.0
            .get(&Self::key(open_kfid, external_userid))
            .cloned()
            .unwrap_or_default()
    }

    /// The session's state.
    pub fn state(&self, open_kfid: &str, external_userid: &str) -> SessionState {
        self.get(open_kfid, external_userid).state
    }

    /// The session, created ended if it does not exist, for changing.
    pub fn get_mut(&mut self, open_kfid: &str, external_userid: &str) -> &mut Session {
        self.0
            .entry(Self::key(open_kfid, external_userid))
            .or_default()
    }

    /// The customer wrote at `now`: an ended session starts again (state
    /// 0) and the reply window opens with a fresh quota.
    pub fn customer_wrote(&mut self, open_kfid: &str, external_userid: &str, now: i64) {
        let session = self.get_mut(open_kfid, external_userid);
        if session.state == SessionState::Ended {
            session.state = SessionState::New;
            session.servicer = None;
        }
        session.last_customer_message = Some(now);
        session.replies = 0;
    }

    /// Set the state (and servicer) directly, as a servicer's action does.
    pub fn set(
        &mut self,
        open_kfid: &str,
        external_userid: &str,
        state: SessionState,
        servicer: Option<String>,
    ) {
        let session = self.get_mut(open_kfid, external_userid);
        session.state = state;
        session.servicer = servicer;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use SessionState::*;

    #[test]
    fn transitions_follow_the_documented_flow() {
        for (from, allowed) in [
            (New, vec![Bot, Pool, Human, Ended]),
            (Bot, vec![Pool, Human, Ended]),
            (Pool, vec![Human, Ended]),
            (Human, vec![Human, Ended]),
            (Ended, vec![]),
        ] {
            for to in [New, Bot, Pool, Human, Ended] {
                assert_eq!(
                    from.may_become(to),
                    allowed.contains(&to),
                    "{from:?} → {to:?}"
                );
            }
        }
        assert!(New.accepts_api_messages() && Bot.accepts_api_messages());
        assert!(
            !Pool.accepts_api_messages()
                && !Human.accepts_api_messages()
                && !Ended.accepts_api_messages()
        );
        for code in 0..=4 {
            assert_eq!(SessionState::from_code(code).unwrap().code(), code);
        }
        assert_eq!(SessionState::from_code(5), None);
    }

    #[test]
    fn writing_reopens_an_ended_session_and_resets_the_quota() {
        let mut sessions = Sessions::default();
        assert_eq!(sessions.state("wk", "wm"), Ended);
        sessions.customer_wrote("wk", "wm", 100);
        assert_eq!(sessions.state("wk", "wm"), New);
        sessions.get_mut("wk", "wm").replies = 5;
        sessions.set("wk", "wm", Human, Some("zhangsan".into()));
        sessions.customer_wrote("wk", "wm", 200);
        let session = sessions.get("wk", "wm");
        assert_eq!(
            (
                session.state,
                session.replies,
                session.last_customer_message
            ),
            (Human, 0, Some(200))
        );
    }
}
