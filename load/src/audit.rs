//! After a run, with the host stopped: read its store and the stand-in's
//! record, and count per message whether it was stored once and answered
//! once, and whether a second reply is one the host owned up to (an item in
//! flight at a crash, resent as uncertain).

use crate::driver::Driven;
use crate::platform::SHOP;
use crate::platform::Side;
use crate::sends::Sends;
use anyhow::Context;
use serde::Serialize;
use std::path::Path;
use tongdao::model::{Direction, EventBody};
use tongdao::store::{SledStore, Store};

/// What the audit found.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Audit {
    /// Acknowledged messages not in the store.
    pub lost: usize,
    /// Messages stored more than once.
    pub stored_twice: usize,
    /// Acknowledged messages with no reply at the platform.
    pub unanswered: usize,
    /// Messages answered more than once.
    pub answered_twice: usize,
    /// Of those, answered twice although the host recorded no uncertain
    /// resend for them: a broken promise.
    pub answered_twice_unexplained: usize,
    /// Messages answered three times or more.
    pub answered_thrice: usize,
    /// Replies the host resent after a crash without knowing whether the
    /// first went out (its own count, from the store).
    pub uncertain_resends: usize,
    /// Messages the store holds that were never acknowledged (sent, then
    /// the host died before answering): harmless, the platform resends.
    pub stored_unacknowledged: usize,
    /// Messages old enough that the host's retention may have removed
    /// their history: audited for their replies only.
    pub past_retention: usize,
    /// Acknowledged complaint threats (runs that send them) whose
    /// conversation raised no risk alert.
    pub threats_unalerted: usize,
    /// Conversations with more than one alert of a kind.
    pub alerts_twice: usize,
    /// TMC: confirmed paid orders care never thanked.
    pub unthanked: usize,
    /// TMC: paid orders thanked more than once (at the platform, after
    /// WeChat dropped repeats of a `client_msg_id`).
    pub thanked_twice: usize,
    /// TMC: thank-yous sent again (uncertain resends after kills) that
    /// WeChat dropped as repeats of a `client_msg_id`.
    pub thanks_repeated: usize,
}

/// Audit the store in `store_dir` against what the driver and stand-in saw.
pub fn audit(
    store_dir: &Path,
    side: &Side,
    driven: &Driven,
    sends: &Sends,
    audited_from_micros: Option<u64>,
) -> anyhow::Result<Audit> {
    let store = SledStore::open(store_dir)
        .with_context(|| format!("opening the host's store in {}", store_dir.display()))?;
    let mut audit = Audit::default();
    // Risk alerts per (conversation, kind): each threat raises one.
    let mut alerts: std::collections::HashMap<(String, &'static str), usize> =
        std::collections::HashMap::new();
    for alert in store.risk_alerts(usize::MAX)? {
        *alerts
            .entry((alert.conversation, alert.kind.as_str()))
            .or_default() += 1;
    }
    audit.alerts_twice = alerts.values().filter(|&&n| n > 1).count();
    let thanks = side.care_wechat().map(crate::care::thanks_per_order);
    audit.thanks_repeated = side
        .care_wechat()
        .map_or(0, |wechat| wechat.notice_repeats());
    for index in 0..driven.issued {
        if let Some(thanks) = &thanks {
            match thanks.get(&crate::tmc::tid(index)).copied().unwrap_or(0) {
                0 if driven.acked[index] => audit.unthanked += 1,
                n if n > 1 => audit.thanked_twice += 1,
                _ => {}
            }
        }
        if driven.acked[index]
            && side.is_threat(index)
            && !alerts.contains_key(&(side.conversation(index), "complaint-threat"))
        {
            audit.threats_unalerted += 1;
        }
        if audited_from_micros.is_some_and(|from| driven.first_due_micros[index] < from) {
            audit.past_retention += 1;
            if driven.acked[index] && sends.count(index) == 0 {
                audit.unanswered += 1;
            }
            continue;
        }
        let conversation = side.conversation(index);
        let inbound = store
            .conversation_events(SHOP, &conversation)?
            .iter()
            .filter(|stored| {
                !matches!(&stored.event.body, EventBody::Message(m) if m.direction == Direction::Outbound)
            })
            .count();
        let uncertain = store
            .conversation_outbox(SHOP, &conversation)?
            .iter()
            .map(|item| item.uncertain_resends as usize)
            .sum::<usize>();
        let acked = driven.acked[index];
        let replies = sends.count(index);
        audit.uncertain_resends += uncertain;
        match (acked, inbound) {
            (true, 0) => audit.lost += 1,
            (false, n) if n > 0 => audit.stored_unacknowledged += 1,
            _ => {}
        }
        if inbound > 1 {
            audit.stored_twice += 1;
        }
        if acked && replies == 0 {
            audit.unanswered += 1;
        }
        if replies > 1 {
            audit.answered_twice += 1;
            if uncertain == 0 {
                audit.answered_twice_unexplained += 1;
            }
        }
        if replies > 2 {
            audit.answered_thrice += 1;
        }
    }
    Ok(audit)
}
