//! One customer across channels: the identity graph's nodes are
//! platform-scoped identities (a customer's id in one shop); edges come from
//! hints platforms really give that are stable across apps (WeChat's
//! unionid links an Official Account openid with a WeCom external_userid of
//! the same person) and from links people make through the admin API (and
//! undo). Display names are never used: platforms mask them (张**), and two
//! 张** are not one person. A customer is the connected component around an
//! identity; their profile merges the history of all its conversations.

use crate::model::{KnownIdentity, ManualLink, StoredEvent};
use crate::store::{Store, StoreResult};
use serde::Serialize;
use std::collections::{BTreeSet, VecDeque};

/// Hint kinds that identify one person across apps and channels.
/// `wechat-unionid` is the documented merge key across an Open Platform
/// account's apps (OA, mini-program, WeCom 客服 when bound);
/// `doudian-union-id` is Douyin's cross-app user id.
pub const LINKING_HINTS: &[&str] = &["wechat-unionid", "doudian-union-id"];

/// The most identities one customer may have; the walk stops there (a
/// bad hint must not pull the whole store into one customer).
const MAX_IDENTITIES: usize = 64;

/// Why two identities are one customer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "by", rename_all = "kebab-case")]
pub enum LinkReason {
    /// Both carry the same cross-app hint.
    Hint {
        /// The hint kind, e.g. `wechat-unionid`.
        kind: String,
        /// Its value.
        value: String,
    },
    /// A person linked them.
    Manual(ManualLink),
}

/// An edge of the customer's component.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Link {
    /// One side: (shop, platform user id).
    pub a: (String, String),
    /// The other side.
    pub b: (String, String),
    /// Why.
    pub reason: LinkReason,
}

/// A customer: every identity linked to the one asked about.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Customer {
    /// The identities, the one asked about first.
    pub identities: Vec<KnownIdentity>,
    /// The links that join them.
    pub links: Vec<Link>,
}

/// The customer around `(shop, platform_user_id)`, or `None` if the graph
/// has never seen that identity.
pub fn customer(
    store: &dyn Store,
    shop: &str,
    platform_user_id: &str,
) -> StoreResult<Option<Customer>> {
    let Some(start) = store.known_identity(shop, platform_user_id)? else {
        return Ok(None);
    };
    customer_from(store, start).map(Some)
}

/// The customer around `start`, which need not be in the graph yet (an
/// identity met for the first time may already have manual links).
pub fn customer_from(store: &dyn Store, start: KnownIdentity) -> StoreResult<Customer> {
    let mut seen: BTreeSet<(String, String)> = BTreeSet::new();
    seen.insert((start.shop.clone(), start.platform_user_id.clone()));
    let mut queue = VecDeque::from([start]);
    let mut identities = Vec::new();
    let mut links = Vec::new();
    while let Some(identity) = queue.pop_front() {
        let here = (identity.shop.clone(), identity.platform_user_id.clone());
        let mut neighbours: Vec<((String, String), LinkReason)> = Vec::new();
        for hint in &identity.hints {
            if !LINKING_HINTS.contains(&hint.kind.as_str()) {
                continue;
            }
            for other in store.identities_with_hint(&hint.kind, &hint.value)? {
                neighbours.push((
                    other,
                    LinkReason::Hint {
                        kind: hint.kind.clone(),
                        value: hint.value.clone(),
                    },
                ));
            }
        }
        for link in store.manual_links(&identity.shop, &identity.platform_user_id)? {
            let other = if link.a == here {
                link.b.clone()
            } else {
                link.a.clone()
            };
            neighbours.push((other, LinkReason::Manual(link)));
        }
        for (other, reason) in neighbours {
            if other == here {
                continue;
            }
            let edge = Link {
                a: here.clone(),
                b: other.clone(),
                reason,
            };
            let already = links.iter().any(|l: &Link| {
                (l.a == edge.b && l.b == edge.a) || (l.a == edge.a && l.b == edge.b)
            });
            if !already {
                links.push(edge);
            }
            if seen.len() < MAX_IDENTITIES
                && seen.insert(other.clone())
                && let Some(found) = store.known_identity(&other.0, &other.1)?
            {
                queue.push_back(found);
            }
        }
        identities.push(identity);
    }
    Ok(Customer { identities, links })
}

/// Everything the customer said and was told, across their conversations
/// on every channel, oldest first.
pub fn history(store: &dyn Store, customer: &Customer) -> StoreResult<Vec<StoredEvent>> {
    let mut events = Vec::new();
    for identity in &customer.identities {
        for conversation in &identity.conversations {
            events.extend(store.conversation_events(&identity.shop, conversation)?);
        }
    }
    events.sort_by(|a, b| a.received_ms.cmp(&b.received_ms).then(a.id.cmp(&b.id)));
    events.dedup_by(|a, b| a.id == b.id);
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Identity, IdentityHint};
    use crate::store::{InboxOutcome, SledStore};

    fn seen(store: &SledStore, shop: &str, user: &str, name: Option<&str>, unionid: Option<&str>) {
        let identity = Identity {
            platform_user_id: user.into(),
            display_name: name.map(Into::into),
            hints: unionid
                .map(|value| IdentityHint {
                    kind: "wechat-unionid".into(),
                    value: value.into(),
                })
                .into_iter()
                .collect(),
        };
        let event_id = uuid::Uuid::now_v7().to_string();
        let outcome = InboxOutcome {
            shop,
            customer: Some((user, &identity)),
            ..InboxOutcome::default()
        };
        store.finish_inbox(&event_id, &outcome, 1_000).unwrap();
    }

    fn members(customer: &Customer) -> Vec<(String, String)> {
        let mut members: Vec<_> = customer
            .identities
            .iter()
            .map(|i| (i.shop.clone(), i.platform_user_id.clone()))
            .collect();
        members.sort();
        members
    }

    #[test]
    fn unionid_links_channels_and_manual_links_can_be_undone() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        seen(&store, "demo-oa", "oOpenid1", Some("张**"), Some("uUnion1"));
        seen(
            &store,
            "demo-wecom",
            "wmExternal1",
            Some("张**"),
            Some("uUnion1"),
        );
        // Same masked nickname, no shared hint: a different person.
        seen(&store, "demo-wecom", "wmExternal2", Some("张**"), None);
        seen(&store, "demo-jd", "jd_buyer_9", None, None);

        let found = super::customer(&store, "demo-oa", "oOpenid1")
            .unwrap()
            .unwrap();
        assert_eq!(
            members(&found),
            vec![
                ("demo-oa".to_string(), "oOpenid1".to_string()),
                ("demo-wecom".to_string(), "wmExternal1".to_string()),
            ]
        );
        assert!(matches!(found.links[0].reason, LinkReason::Hint { .. }));

        let link = ManualLink {
            a: ("demo-wecom".into(), "wmExternal1".into()),
            b: ("demo-jd".into(), "jd_buyer_9".into()),
            by: "mei".into(),
            note: Some("same phone number on the order".into()),
            at_ms: 2_000,
        };
        assert!(
            store
                .set_manual_link(
                    ("demo-wecom", "wmExternal1"),
                    ("demo-jd", "jd_buyer_9"),
                    Some(&link)
                )
                .unwrap()
        );
        let from_jd = super::customer(&store, "demo-jd", "jd_buyer_9")
            .unwrap()
            .unwrap();
        assert_eq!(members(&from_jd).len(), 3, "{from_jd:#?}");

        assert!(
            store
                .set_manual_link(
                    ("demo-jd", "jd_buyer_9"),
                    ("demo-wecom", "wmExternal1"),
                    None
                )
                .unwrap()
        );
        let alone = super::customer(&store, "demo-jd", "jd_buyer_9")
            .unwrap()
            .unwrap();
        assert_eq!(members(&alone).len(), 1);
        assert!(
            super::customer(&store, "demo-oa", "nobody")
                .unwrap()
                .is_none()
        );
    }
}
