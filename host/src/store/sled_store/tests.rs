//! The sled store: dedupe, atomic commits, inbox → outbox, delivery records,
//! and durability across reopening.

use super::*;
use crate::model::{Action, Content, DeliveryReceipt, Pair};

fn text_event(platform_id: &str, conversation: &str, text: &str, at_ms: i64) -> Event {
    Event {
        platform_id: platform_id.into(),
        conversation_id: conversation.into(),
        platform_time_ms: at_ms,
        route: vec![Pair {
            name: "account".into(),
            value: "gh_1".into(),
        }],
        body: EventBody::Message(Message {
            author: Identity {
                platform_user_id: conversation.into(),
                display_name: None,
                hints: vec![],
            },
            role: AuthorRole::Customer,
            direction: Direction::Inbound,
            content: Content::Text(text.into()),
        }),
    }
}

fn batch<'a>(shop: &'a str, events: &'a [Event], state: &'a [StateChange]) -> IngestBatch<'a> {
    IngestBatch {
        shop,
        plugin: "wechat",
        received_ms: 1_000,
        events,
        state,
        cursor: None,
        dedupe_until_ms: 10_000,
    }
}

fn reply(shop: &str, key: &str, conversation: &str) -> NewAction {
    NewAction {
        shop: shop.into(),
        action: Action {
            idempotency_key: key.into(),
            conversation_id: conversation.into(),
            recipient: conversation.into(),
            route: vec![],
            kind: ActionKind::SendMessage(Content::Text("hi".into())),
            attempt: 0,
        },
        sent_by: None,
    }
}

#[test]
fn redeliveries_are_stored_once_per_shop() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let events = [text_event("m1", "u1", "hello", 500)];
    let first = store.commit_ingest(&batch("a", &events, &[])).unwrap();
    assert_eq!(first.stored.len(), 1);
    for _ in 0..2 {
        let again = store.commit_ingest(&batch("a", &events, &[])).unwrap();
        assert_eq!(
            again,
            IngestReceipt {
                stored: vec![],
                duplicates: 1,
                replayed: false,
            }
        );
    }
    // The same platform id in another shop is another message.
    let other = store.commit_ingest(&batch("b", &events, &[])).unwrap();
    assert_eq!(other.stored.len(), 1);
    // A duplicate inside one batch is also caught.
    let twice = [
        text_event("m2", "u1", "x", 600),
        text_event("m2", "u1", "x", 600),
    ];
    let receipt = store.commit_ingest(&batch("a", &twice, &[])).unwrap();
    assert_eq!((receipt.stored.len(), receipt.duplicates), (1, 1));
    assert_eq!(store.conversation_events("a", "u1").unwrap().len(), 2);
    assert_eq!(store.pending_inbox(10).unwrap().len(), 3);
}

#[test]
fn conversations_track_the_customer_and_reply_window() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let events = [text_event("m1", "u1", "hello", 500)];
    store.commit_ingest(&batch("a", &events, &[])).unwrap();
    let conversation = store.conversation("a", "u1").unwrap().unwrap();
    assert_eq!(conversation.last_inbound_ms, Some(500));
    assert_eq!(conversation.customer.unwrap().platform_user_id, "u1");
    assert_eq!(conversation.route[0].value, "gh_1");
}

#[test]
fn state_and_cursor_commit_with_the_events() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let state = [
        StateChange::Set(StateEntry {
            key: "access_token".into(),
            value: "t1".into(),
            expires_at_ms: Some(5_000),
        }),
        StateChange::Set(StateEntry {
            key: "flag".into(),
            value: "1".into(),
            expires_at_ms: None,
        }),
    ];
    let mut with_cursor = batch("a", &[], &state);
    with_cursor.cursor = Some(("feed-1", "c42"));
    store.commit_ingest(&with_cursor).unwrap();
    assert_eq!(store.cursor("a", "feed-1").unwrap().as_deref(), Some("c42"));
    assert_eq!(store.plugin_state("a", 1_000).unwrap().len(), 2);
    // Expired entries are not handed out.
    let live = store.plugin_state("a", 6_000).unwrap();
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].key, "flag");
    store
        .apply_state("a", &[StateChange::Remove("flag".into())])
        .unwrap();
    assert!(store.plugin_state("a", 6_000).unwrap().is_empty());
    // State is per shop.
    assert!(store.plugin_state("b", 0).unwrap().is_empty());
}

#[test]
fn the_inbox_hands_over_to_the_outbox_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let events = [text_event("m1", "u1", "hello", 500)];
    let receipt = store.commit_ingest(&batch("a", &events, &[])).unwrap();
    let event_id = &receipt.stored[0];
    assert_eq!(store.pending_inbox(10).unwrap(), vec![event_id.clone()]);

    let queued = store
        .finish_inbox(
            event_id,
            &InboxOutcome {
                shop: "a",
                actions: &[reply("a", "reply:1", "u1")],
                ..InboxOutcome::default()
            },
            2_000,
        )
        .unwrap();
    assert_eq!(queued.len(), 1);
    assert!(store.pending_inbox(10).unwrap().is_empty());
    // The same idempotency key is not queued twice.
    let again = store
        .finish_inbox(
            event_id,
            &InboxOutcome {
                shop: "a",
                actions: &[reply("a", "reply:1", "u1")],
                ..InboxOutcome::default()
            },
            2_000,
        )
        .unwrap();
    assert!(again.is_empty());

    assert!(store.due_outbox(1_999, 10).unwrap().is_empty());
    let due = store.due_outbox(2_000, 10).unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].status, OutboxStatus::Pending);
    assert_eq!(store.next_due_ms().unwrap(), Some(2_000));

    store.reschedule(queued[0], 1, 9_000, "busy").unwrap();
    assert!(store.due_outbox(8_999, 10).unwrap().is_empty());
    let item = store.outbox_item(queued[0]).unwrap().unwrap();
    assert_eq!(
        (item.action.attempt, item.last_error.as_deref()),
        (1, Some("busy"))
    );

    let receipt = DeliveryReceipt {
        platform_id: None,
        result_json: None,
    };
    store
        .finish_delivery(queued[0], DeliveryEnd::Delivered(receipt), &[], 9_500)
        .unwrap();
    assert!(store.due_outbox(i64::MAX, 10).unwrap().is_empty());
    assert_eq!(store.next_due_ms().unwrap(), None);
    let recorded = store.conversation_outbox("a", "u1").unwrap();
    assert_eq!(recorded.len(), 1);
    assert!(matches!(
        recorded[0].status,
        OutboxStatus::Delivered { at_ms: 9_500, .. }
    ));
    assert!(store.conversation_outbox("a", "u2").unwrap().is_empty());
    assert!(store.conversation_outbox("b", "u1").unwrap().is_empty());
    let conversation = store.conversation("a", "u1").unwrap().unwrap();
    assert_eq!(conversation.replies_since_inbound, 1);
    let history = store.conversation_events("a", "u1").unwrap();
    assert_eq!(history.len(), 2);
    let EventBody::Message(reply) = &history[1].event.body else {
        panic!("a message")
    };
    assert_eq!(
        (reply.role, reply.direction),
        (AuthorRole::Bot, Direction::Outbound)
    );
}

/// Queues one reply per conversation `u0..un` of shop `a`, each caused by
/// its own event; returns their seqs.
fn queue_replies(store: &SledStore, conversations: usize) -> Vec<u64> {
    let mut seqs = Vec::new();
    for n in 0..conversations {
        let conversation = format!("u{n}");
        let events = [text_event(&format!("m{n}"), &conversation, "hi", 500)];
        let receipt = store.commit_ingest(&batch("a", &events, &[])).unwrap();
        seqs.extend(
            store
                .finish_inbox(
                    &receipt.stored[0],
                    &InboxOutcome {
                        shop: "a",
                        actions: &[reply("a", &format!("k{n}"), &conversation)],
                        ..InboxOutcome::default()
                    },
                    1_000,
                )
                .unwrap(),
        );
    }
    seqs
}

#[test]
fn a_claimed_item_is_not_claimed_again_until_it_is_rescheduled() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let seqs = queue_replies(&store, 3);
    let never = |_: &OutboxItem| false;
    assert!(store.claim_due(999, 10, &never).unwrap().is_empty());
    let first = store.claim_due(1_000, 2, &never).unwrap();
    assert_eq!(
        first.iter().map(|i| i.seq).collect::<Vec<_>>(),
        seqs[..2].to_vec()
    );
    assert!(
        first
            .iter()
            .all(|i| i.status == OutboxStatus::InFlight { since_ms: 1_000 })
    );
    // Claimed items are neither due nor claimable again.
    let rest = store.claim_due(5_000, 10, &never).unwrap();
    assert_eq!(
        rest.iter().map(|i| i.seq).collect::<Vec<_>>(),
        vec![seqs[2]]
    );
    assert!(store.claim_due(5_000, 10, &never).unwrap().is_empty());
    assert!(store.due_outbox(i64::MAX, 10).unwrap().is_empty());
    // A failed attempt makes it pending again, due later.
    store.reschedule(seqs[0], 1, 9_000, "busy").unwrap();
    assert!(store.claim_due(8_999, 10, &never).unwrap().is_empty());
    let again = store.claim_due(9_000, 10, &never).unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].seq, again[0].action.attempt), (seqs[0], 1));
}

#[test]
fn claims_skip_busy_conversations_and_take_one_action_per_conversation() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let seqs = queue_replies(&store, 2);
    let second = store
        .queue_actions(&[reply("a", "k-second", "u0")], 1_000)
        .unwrap();
    let busy_u1 = |item: &OutboxItem| item.action.conversation_id == "u1";
    let claimed = store.claim_due(1_000, 10, &busy_u1).unwrap();
    // u0's first action only: its second waits for it; u1 is busy.
    assert_eq!(
        claimed.iter().map(|i| i.seq).collect::<Vec<_>>(),
        vec![seqs[0]]
    );
    let receipt = DeliveryReceipt {
        platform_id: None,
        result_json: None,
    };
    store
        .finish_delivery(seqs[0], DeliveryEnd::Delivered(receipt), &[], 1_100)
        .unwrap();
    let never = |_: &OutboxItem| false;
    let next = store.claim_due(1_100, 10, &never).unwrap();
    assert_eq!(
        next.iter().map(|i| i.seq).collect::<Vec<_>>(),
        vec![seqs[1], second[0]]
    );
}

#[test]
fn items_in_flight_at_a_crash_are_resent_once_unless_the_channel_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    queue_replies(&store, 2);
    let never = |_: &OutboxItem| false;
    assert_eq!(store.claim_due(1_000, 10, &never).unwrap().len(), 2);
    // Shop `a` cannot drop a repeat: each item is resent once, counted.
    let not_idempotent = |_: &OutboxItem| false;
    let found = store.recover_in_flight(2_000, &not_idempotent).unwrap();
    assert_eq!(found.len(), 2);
    assert!(found.iter().all(|item| item.status == OutboxStatus::Pending
        && item.uncertain_resends == 1
        && item.next_attempt_ms == 2_000));
    assert!(
        store
            .recover_in_flight(2_000, &not_idempotent)
            .unwrap()
            .is_empty()
    );
    // In flight at a second crash: dead-lettered, not sent a third time.
    assert_eq!(store.claim_due(2_000, 10, &never).unwrap().len(), 2);
    let found = store.recover_in_flight(3_000, &not_idempotent).unwrap();
    assert!(found.iter().all(|item| matches!(
        &item.status,
        OutboxStatus::Failed {
            kind: crate::model::FailureKind::Uncertain,
            ..
        }
    )));
    assert!(store.claim_due(i64::MAX, 10, &never).unwrap().is_empty());

    // Where the platform drops repeated idempotency keys, resends are free.
    let more = store
        .queue_actions(&[reply("a", "k-wecom", "u9")], 4_000)
        .unwrap();
    let idempotent = |_: &OutboxItem| true;
    for round in 0..3 {
        let claimed = store.claim_due(i64::MAX, 10, &never).unwrap();
        assert_eq!(claimed.len(), 1, "round {round}");
        let found = store.recover_in_flight(5_000, &idempotent).unwrap();
        assert_eq!(
            (found[0].seq, &found[0].status, found[0].uncertain_resends),
            (more[0], &OutboxStatus::Pending, 0)
        );
    }
}

#[test]
fn failed_deliveries_are_dead_lettered() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let events = [text_event("m1", "u1", "hello", 500)];
    let receipt = store.commit_ingest(&batch("a", &events, &[])).unwrap();
    let seq = store
        .finish_inbox(
            &receipt.stored[0],
            &InboxOutcome {
                shop: "a",
                actions: &[reply("a", "k", "u1")],
                ..InboxOutcome::default()
            },
            0,
        )
        .unwrap()[0];
    store
        .finish_delivery(
            seq,
            DeliveryEnd::Failed {
                kind: crate::model::FailureKind::Permanent,
                reason: "40003 invalid openid".into(),
            },
            &[],
            10,
        )
        .unwrap();
    let item = store.outbox_item(seq).unwrap().unwrap();
    assert!(matches!(
        item.status,
        OutboxStatus::Failed {
            kind: crate::model::FailureKind::Permanent,
            ..
        }
    ));
    assert!(store.due_outbox(i64::MAX, 10).unwrap().is_empty());
    assert_eq!(
        store
            .conversation("a", "u1")
            .unwrap()
            .unwrap()
            .replies_since_inbound,
        0
    );
}

#[test]
fn expired_dedupe_keys_are_swept() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let events = [text_event("m1", "u1", "hello", 500)];
    store.commit_ingest(&batch("a", &events, &[])).unwrap();
    assert_eq!(store.sweep_dedupe(9_999).unwrap(), 0);
    assert_eq!(store.sweep_dedupe(10_001).unwrap(), 1);
    // After expiry the platform id is accepted again.
    let receipt = store.commit_ingest(&batch("a", &events, &[])).unwrap();
    assert_eq!(receipt.stored.len(), 1);
}

#[test]
fn a_replay_claim_is_taken_once_until_it_expires() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let claim = |fingerprint: &str, until_ms| {
        StateChange::Set(StateEntry {
            key: "once:push:1714037059:486452656:sig".into(),
            value: fingerprint.into(),
            expires_at_ms: Some(until_ms),
        })
    };
    let set = |value: &str| {
        StateChange::Set(StateEntry {
            key: "k".into(),
            value: value.into(),
            expires_at_ms: None,
        })
    };
    let state = [claim("body-1", 5_000), set("v")];
    let first = [text_event("m1", "u1", "hello", 500)];
    let receipt = store.commit_ingest(&batch("a", &first, &state)).unwrap();
    assert_eq!((receipt.stored.len(), receipt.replayed), (1, false));
    // The claim is not plugin state; the other change is.
    let visible = store.plugin_state("a", 1_000).unwrap();
    assert_eq!(visible.len(), 1, "{visible:?}");
    assert_eq!(visible[0].key, "k");

    // The same request redelivered passes, its event a duplicate.
    let again = store.commit_ingest(&batch("a", &first, &state)).unwrap();
    assert_eq!((again.duplicates, again.replayed), (1, false));

    // The same signed request with another body: refused whole.
    let forged = [text_event("m2", "u1", "forged", 600)];
    let other_state = [claim("body-2", 5_000), set("forged")];
    let receipt = store
        .commit_ingest(&batch("a", &forged, &other_state))
        .unwrap();
    assert!(receipt.replayed);
    assert!(receipt.stored.is_empty());
    assert_eq!(store.plugin_state("a", 1_000).unwrap()[0].value, "v");
    assert_eq!(store.conversation_events("a", "u1").unwrap().len(), 1);
    // Another shop's claims are its own.
    let receipt = store
        .commit_ingest(&batch("b", &forged, &other_state))
        .unwrap();
    assert!(!receipt.replayed);

    // Once expired, the claim can be taken again; the sweep removes it.
    let late = IngestBatch {
        received_ms: 5_001,
        ..batch("a", &forged, &other_state)
    };
    assert!(!store.commit_ingest(&late).unwrap().replayed);
    assert!(store.sweep_dedupe(i64::MAX).unwrap() >= 2);
}

/// Where the child process of [`flushed_writes_survive_sigkill`] keeps its store.
const CHILD_STORE_ENV: &str = "TONGDAO_TEST_CHILD_STORE";

/// Run by [`flushed_writes_survive_sigkill`] in a child process: commit an
/// event, flush, say so, and wait to be killed.
fn child_commits_flushes_and_waits(dir: &str) -> ! {
    use std::io::Write;
    let store = SledStore::open_with(Path::new(dir), None).unwrap();
    let events = [text_event("m1", "u1", "hello", 500)];
    let receipt = store.commit_ingest(&batch("a", &events, &[])).unwrap();
    store.flush().unwrap();
    println!("flushed {}", receipt.stored[0]);
    std::io::stdout().flush().unwrap();
    loop {
        std::thread::sleep(std::time::Duration::from_secs(60));
    }
}

#[test]
fn flushed_writes_survive_sigkill() {
    use std::io::BufRead;
    if let Ok(dir) = std::env::var(CHILD_STORE_ENV) {
        child_commits_flushes_and_waits(&dir);
    }
    // The child runs this test again with the store directory set; sled's
    // background flusher is off there, so only `flush` can have put the
    // event on disk before SIGKILL (which drops sled's own buffers, unlike
    // dropping the store, which flushes).
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "store::sled_store::tests::flushed_writes_survive_sigkill",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_STORE_ENV, dir.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let event_id = loop {
        let line = lines.next().expect("the child said it flushed").unwrap();
        // libtest may print the test's name on the same line first.
        if let Some((_, id)) = line.split_once("flushed ") {
            break id.trim().to_owned();
        }
    };
    child.kill().unwrap();
    child.wait().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let stored = store.event(&event_id).unwrap().expect("the flushed event");
    assert_eq!(stored.event.platform_id, "m1");
    assert_eq!(store.pending_inbox(10).unwrap(), vec![event_id]);
    let events = [text_event("m1", "u1", "hello", 500)];
    assert_eq!(
        store
            .commit_ingest(&batch("a", &events, &[]))
            .unwrap()
            .duplicates,
        1
    );
}

#[test]
fn retention_removes_old_history_finished_actions_and_expired_state_only() {
    use crate::store::{Retention, SweepReport};
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let now = crate::clock::now_ms();
    let events = [
        text_event("m1", "u1", "old and handled", 500),
        text_event("m2", "u2", "old and handled", 500),
        text_event("m3", "u2", "old, not handled yet", 500),
    ];
    let receipt = store.commit_ingest(&batch("a", &events, &[])).unwrap();
    for id in &receipt.stored[..2] {
        store
            .finish_inbox(
                id,
                &InboxOutcome {
                    shop: "a",
                    ..InboxOutcome::default()
                },
                now,
            )
            .unwrap();
    }
    let seqs = store
        .queue_actions(
            &[reply("a", "k-sent", "u1"), reply("a", "k-dead", "u1")],
            now,
        )
        .unwrap();
    let receipt = DeliveryReceipt {
        platform_id: None,
        result_json: None,
    };
    store
        .finish_delivery(seqs[0], DeliveryEnd::Delivered(receipt), &[], now)
        .unwrap();
    store
        .finish_delivery(
            seqs[1],
            DeliveryEnd::Failed {
                kind: crate::model::FailureKind::Permanent,
                reason: "no".into(),
            },
            &[],
            now,
        )
        .unwrap();
    store
        .apply_state(
            "a",
            &[
                StateChange::Set(StateEntry {
                    key: "token".into(),
                    value: "expired".into(),
                    expires_at_ms: Some(now + 30_000),
                }),
                StateChange::Set(StateEntry {
                    key: "cursor".into(),
                    value: "kept".into(),
                    expires_at_ms: None,
                }),
            ],
        )
        .unwrap();

    // Nothing is due under the default retention.
    let report = store
        .sweep_expired(&Retention::default(), now, 100)
        .unwrap();
    assert_eq!(report, SweepReport::default());

    // Past a short retention for events and delivered actions (dead
    // letters kept a day), a little later:
    let short = Retention {
        events: Duration::from_millis(1),
        delivered: Duration::from_millis(1),
        dead_letters: Duration::from_secs(86_400),
        identities: None,
    };
    let later = now + 60_000;
    // A budget of one removes one record and says more is left.
    let first = store.sweep_expired(&short, later, 1).unwrap();
    assert_eq!((first.events, first.more), (1, true));
    let rest = store.sweep_expired(&short, later, 100).unwrap();
    // The other handled message and the delivered reply (history too); the
    // event still in the inbox stays.
    assert_eq!(rest.events, 2);
    assert_eq!(store.pending_inbox(10).unwrap().len(), 1);
    assert_eq!(
        rest.actions, 1,
        "the delivered action; the dead letter stays"
    );
    assert_eq!(rest.state_entries, 1);
    assert!(!rest.more);
    assert_eq!(
        first.conversations + rest.conversations,
        1,
        "u1 has no events left; u2 has one"
    );
    assert!(store.conversation("a", "u1").unwrap().is_none());
    assert_eq!(store.conversation_events("a", "u2").unwrap().len(), 1);
    assert!(store.outbox_item(seqs[0]).unwrap().is_none());
    assert!(store.outbox_item(seqs[1]).unwrap().is_some());
    let state = store.plugin_state("a", 0).unwrap();
    assert_eq!(state.len(), 1);
    assert_eq!(state[0].key, "cursor");
}

#[test]
fn identities_are_kept_unless_a_retention_is_set_for_them() {
    use crate::store::Retention;
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let now = crate::clock::now_ms();
    let events = [text_event("m1", "u1", "hi", 500)];
    let receipt = store.commit_ingest(&batch("a", &events, &[])).unwrap();
    let customer = Identity {
        platform_user_id: "u1".into(),
        display_name: None,
        hints: vec![crate::model::IdentityHint {
            kind: "unionid".into(),
            value: "o-union-1".into(),
        }],
    };
    let outcome = InboxOutcome {
        shop: "a",
        customer: Some(("u1", &customer)),
        ..InboxOutcome::default()
    };
    store
        .finish_inbox(&receipt.stored[0], &outcome, now)
        .unwrap();
    let known = store.known_identity("a", "u1").unwrap().unwrap();
    assert_eq!(known.conversations, ["u1"]);
    let later = now + 60_000;
    store
        .sweep_expired(&Retention::default(), later, 100)
        .unwrap();
    assert!(
        store.known_identity("a", "u1").unwrap().is_some(),
        "kept by default"
    );
    let short = Retention {
        identities: Some(Duration::from_millis(1)),
        ..Retention::default()
    };
    let report = store.sweep_expired(&short, later, 100).unwrap();
    assert_eq!(report.identities, 1);
    assert!(store.known_identity("a", "u1").unwrap().is_none());
    assert!(
        store
            .identities_with_hint("unionid", "o-union-1")
            .unwrap()
            .is_empty()
    );
}

#[test]
fn the_bots_context_and_unanswered_questions_are_kept_with_the_decision() {
    use crate::model::{BotContext, ContextUpdate, UnansweredQuestion};
    use crate::store::Retention;
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let now = crate::clock::now_ms();
    let events = [
        text_event("m1", "u1", "退款", 500),
        text_event("m2", "u2", "是纯棉的吗", 500),
    ];
    let receipt = store.commit_ingest(&batch("a", &events, &[])).unwrap();
    let asked = ContextUpdate::Set(BotContext::Clarifying {
        candidates: vec!["refund_progress".into(), "return_refund".into()],
        asked_ms: now,
    });
    let question = UnansweredQuestion {
        shop: "a".into(),
        conversation: "u2".into(),
        event: receipt.stored[1].clone(),
        question: "是纯棉的吗".into(),
        received_ms: now,
    };
    let outcomes = [
        (
            receipt.stored[0].as_str(),
            InboxOutcome {
                shop: "a",
                context: Some(("u1", &asked)),
                ..InboxOutcome::default()
            },
        ),
        (
            receipt.stored[1].as_str(),
            InboxOutcome {
                shop: "a",
                unanswered: Some(&question),
                ..InboxOutcome::default()
            },
        ),
    ];
    store.finish_inbox_all(&outcomes, now).unwrap();
    assert!(matches!(
        store.bot_context("a", "u1").unwrap(),
        Some(BotContext::Clarifying { .. })
    ));
    assert_eq!(store.bot_context("a", "u2").unwrap(), None);
    assert_eq!(store.unanswered(0, 10).unwrap(), vec![question.clone()]);
    assert!(store.unanswered(now + 1, 10).unwrap().is_empty());

    // They go with their events.
    let short = Retention {
        events: Duration::from_millis(1),
        ..Retention::default()
    };
    let report = store.sweep_expired(&short, now + 60_000, 100).unwrap();
    assert_eq!(report.unanswered, 1);
    assert!(store.unanswered(0, 10).unwrap().is_empty());
    assert_eq!(store.bot_context("a", "u1").unwrap(), None);
}

#[test]
fn an_event_that_cannot_be_read_is_corrupt_and_can_be_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let events = [
        text_event("m1", "u1", "garbled on disk", 500),
        text_event("m2", "u2", "fine", 500),
    ];
    let receipt = store.commit_ingest(&batch("a", &events, &[])).unwrap();
    let bad = &receipt.stored[0];
    store
        .events
        .insert(event_key(bad).unwrap(), &b"\x01\xff\xff not a record"[..])
        .unwrap();
    let err = store.event(bad).unwrap_err();
    assert!(
        matches!(
            crate::store::StoreError::find(&err),
            Some(crate::store::StoreError::Corrupt { .. })
        ),
        "{err:#}"
    );
    store.quarantine_inbox(bad, "unreadable", 1_000).unwrap();
    assert_eq!(
        store.pending_inbox(10).unwrap(),
        vec![receipt.stored[1].clone()]
    );
    assert_eq!(
        store.quarantined().unwrap(),
        vec![(bad.clone(), "unreadable".to_string())]
    );
}

#[test]
fn figures_count_for_the_day_the_message_arrived() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let decision = BotDecision {
        decision: "intent ship_time".into(),
        outcome: crate::model::BotOutcome::Settled,
    };
    let voc = VocTally {
        messages: 1,
        ..VocTally::default()
    };
    // 23:59 and 00:01 in Beijing, decided together a minute later.
    let midnight = crate::report::day_start_ms(crate::report::parse_day("2026-11-12").unwrap());
    let (late, early) = (
        uuid::Uuid::now_v7().to_string(),
        uuid::Uuid::now_v7().to_string(),
    );
    let outcome = |arrived_ms| InboxOutcome {
        shop: "demo-oa",
        decision: Some(&decision),
        voc: Some(&voc),
        arrived_ms,
        ..InboxOutcome::default()
    };
    store
        .finish_inbox_all(
            &[
                (late.as_str(), outcome(midnight - 60_000)),
                (early.as_str(), outcome(midnight + 60_000)),
            ],
            midnight + 120_000,
        )
        .unwrap();
    let day = crate::model::day_of(midnight);
    for (day, expected) in [(day - 1, 1), (day, 1)] {
        let figures = store.day_figures(day).unwrap();
        assert_eq!(figures.shops[0].1.questions, expected, "day {day}");
        assert_eq!(figures.voc[0].1.messages, expected, "day {day}");
    }
}

fn care_watch(order: &str, due_ms: i64) -> crate::model::CareWatch {
    crate::model::CareWatch {
        shop: "tmall".into(),
        order: order.into(),
        customer: "buyer".into(),
        due_ms,
        fields: vec![],
    }
}

fn care_send(order: &str, rule: &str, due_ms: i64) -> crate::model::CareSend {
    crate::model::CareSend {
        shop: "tmall".into(),
        order: order.into(),
        rule: rule.into(),
        message: Ok((
            reply("oa", &format!("care:{order}:{rule}"), "o1"),
            ("oa".into(), "o1".into()),
        )),
        due_ms,
        most_per_customer: 2,
        cap_window_ms: 10_000,
    }
}

/// Commits care's changes with an event of its own.
fn commit_care(store: &SledStore, n: u32, changes: crate::model::CareChanges) -> Vec<u64> {
    let events = [text_event(&format!("c{n}"), "u1", "x", 500)];
    let receipt = store.commit_ingest(&batch("tmall", &events, &[])).unwrap();
    store
        .finish_inbox(
            &receipt.stored[0],
            &InboxOutcome {
                shop: "tmall",
                care: Some(&changes),
                ..InboxOutcome::default()
            },
            2_000,
        )
        .unwrap()
}

#[test]
fn a_care_rule_fires_once_per_order_within_the_cap_and_never_after_an_opt_out() {
    use crate::model::{CareChanges, CareOutcome};
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let sends = |sends: Vec<crate::model::CareSend>| CareChanges {
        sends,
        ..CareChanges::default()
    };
    // Two orders and the first again, in one commit: the cap (2) holds
    // both orders; the repeat is not a third.
    let queued = commit_care(
        &store,
        1,
        sends(vec![
            care_send("o-1", "thanks", 5_000),
            care_send("o-1", "thanks", 5_000),
            care_send("o-2", "thanks", 5_000),
        ]),
    );
    assert_eq!(queued.len(), 2);
    let first = store.outbox_item(queued[0]).unwrap().unwrap();
    assert_eq!(first.next_attempt_ms, 5_000, "held until it is due");
    // A third order within the window is over the cap: skipped for good.
    assert!(commit_care(&store, 2, sends(vec![care_send("o-3", "thanks", 6_000)])).is_empty());
    let records = store.care_records("tmall", "o-3").unwrap();
    assert!(
        matches!(&records[0].outcome, CareOutcome::Skipped { reason } if reason.contains("already had 2")),
        "{records:?}"
    );
    // Past the window, the cap has room again; an opt-out skips it.
    assert_eq!(
        commit_care(&store, 3, sends(vec![care_send("o-4", "thanks", 16_000)])).len(),
        1
    );
    let opt_out = CareChanges {
        opt_out: Some(("o1".into(), true)),
        ..CareChanges::default()
    };
    let events = [text_event("c4", "o1", "退订", 500)];
    let receipt = store.commit_ingest(&batch("oa", &events, &[])).unwrap();
    store
        .finish_inbox(
            &receipt.stored[0],
            &InboxOutcome {
                shop: "oa",
                care: Some(&opt_out),
                ..InboxOutcome::default()
            },
            2_000,
        )
        .unwrap();
    assert!(store.care_opted_out("oa", "o1").unwrap());
    assert!(commit_care(&store, 5, sends(vec![care_send("o-5", "thanks", 40_000)])).is_empty());
    let records = store.care_records("tmall", "o-5").unwrap();
    assert!(
        matches!(&records[0].outcome, CareOutcome::Skipped { reason } if reason.contains("opted out"))
    );
    // The same order and rule never fire again, whatever comes.
    assert!(commit_care(&store, 6, sends(vec![care_send("o-1", "thanks", 90_000)])).is_empty());
    assert_eq!(store.care_records("tmall", "o-1").unwrap().len(), 1);
}

#[test]
fn a_stuck_parcel_watch_moves_with_updates_and_stops_for_good_once_signed_for() {
    use crate::model::{CareChanges, WatchChange};
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let watch = |change| CareChanges {
        watch: Some(change),
        ..CareChanges::default()
    };
    commit_care(&store, 1, watch(WatchChange::Set(care_watch("o-1", 5_000))));
    commit_care(&store, 2, watch(WatchChange::Set(care_watch("o-2", 6_000))));
    assert_eq!(store.due_care_watches(5_999, 10).unwrap().len(), 1);
    // An update that names no buyer moves the watch.
    commit_care(
        &store,
        3,
        watch(WatchChange::PushBack {
            shop: "tmall".into(),
            order: "o-1".into(),
            due_ms: 9_000,
        }),
    );
    let due = store.due_care_watches(9_000, 10).unwrap();
    assert_eq!(
        due.iter()
            .map(|w| (w.order.as_str(), w.due_ms))
            .collect::<Vec<_>>(),
        [("o-2", 6_000), ("o-1", 9_000)]
    );
    // A watch read before it moved does not fire.
    let stale = care_watch("o-1", 5_000);
    assert_eq!(
        store
            .fire_care_watch(&stale, Some(&care_send("o-1", "sorry", 9_000)), 9_000)
            .unwrap(),
        None
    );
    // Signed for: stopped, and a shipping update arriving late, out of
    // order, does not start it again.
    commit_care(
        &store,
        4,
        watch(WatchChange::Cancel {
            shop: "tmall".into(),
            order: "o-1".into(),
        }),
    );
    commit_care(
        &store,
        5,
        watch(WatchChange::Set(care_watch("o-1", 20_000))),
    );
    let due = store.due_care_watches(i64::MAX, 10).unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].order, "o-2");
    // Firing queues the apology once and ends the watch.
    let fired = store
        .fire_care_watch(&due[0], Some(&care_send("o-2", "sorry", 9_000)), 9_000)
        .unwrap();
    assert!(fired.is_some());
    assert!(store.due_care_watches(i64::MAX, 10).unwrap().is_empty());
}

#[test]
fn care_records_go_with_the_events_retention_and_opt_outs_stay() {
    use crate::model::CareChanges;
    use crate::store::Retention;
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    commit_care(
        &store,
        1,
        CareChanges {
            sends: vec![care_send("o-1", "thanks", 5_000)],
            opt_out: Some(("o9".into(), true)),
            ..CareChanges::default()
        },
    );
    assert_eq!(store.care_records("tmall", "o-1").unwrap().len(), 1);
    commit_care(
        &store,
        2,
        CareChanges {
            watch: Some(crate::model::WatchChange::Cancel {
                shop: "tmall".into(),
                order: "o-1".into(),
            }),
            ..CareChanges::default()
        },
    );
    // Kept at least 180 days, however short the events' retention.
    let short = Retention {
        events: Duration::from_secs(60),
        ..Retention::default()
    };
    let day = 86_400_000;
    let report = store.sweep_expired(&short, 179 * day, 100).unwrap();
    assert_eq!(report.care_records, 0);
    assert_eq!(store.care_records("tmall", "o-1").unwrap().len(), 1);
    // Past that, the rule's record, the send times and the closed watch
    // go; the opt-out stays.
    let report = store.sweep_expired(&short, 181 * day, 100).unwrap();
    assert_eq!(report.care_records, 3, "{report:?}");
    assert!(store.care_records("tmall", "o-1").unwrap().is_empty());
    assert!(store.care_opted_out("tmall", "o9").unwrap());
}
