//! Backup while serving, and restore: customers keep writing while an admin
//! takes a backup over the admin API; the backup restores into a fresh data
//! directory as one consistent moment (every conversation with its events,
//! every event of an acknowledged push before the backup present), and a
//! host started on it serves the customers' history.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tongdao::store::{SledStore, Store};
use tongdao_e2e::harness::{TestHost, bot_entry, plugin_entry};
use tongdao_emulator_wechat::api::{WechatApiConfig, WechatApiEmulator};
use tongdao_emulator_wechat::signing::WechatPusher;

const APP_ID: &str = "wx2c2769f8efd9abc2";
const ADMIN_TOKEN: &str = "test-admin-token-0123456789";
const CUSTOMERS: usize = 40;

fn config(api: &WechatApiEmulator) -> String {
    format!(
        "{}\n{}\n[admin]\ntoken = \"{ADMIN_TOKEN}\"\n\n[[shops]]\nid = \"demo-oa\"\nplugin = \"wechat\"\negress = [\"api.weixin.qq.com\"]\ncredentials = {{ app_id = \"{APP_ID}\", app_secret = \"s\", token = \"spamtest\" }}\napi_base = {{ \"api.weixin.qq.com\" = \"{}\" }}\n",
        bot_entry(),
        plugin_entry("wechat"),
        api.base_url()
    )
}

fn customer(n: usize) -> String {
    format!("oBackupCustomer{n:08}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_serving_restores_one_consistent_moment() {
    let api = WechatApiEmulator::start(WechatApiConfig::new(APP_ID, "s"))
        .await
        .unwrap();
    let host = TestHost::start(&config(&api)).await;
    let base = host.base_url.clone();
    let client = reqwest::Client::new();

    // Customers write, each several messages, all through the backup.
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|writer| {
            let (client, base, stop) = (client.clone(), base.clone(), Arc::clone(&stop));
            tokio::spawn(async move {
                let pusher =
                    WechatPusher::new("spamtest", APP_ID, None).with_original_id("gh_10f6c3c3ac5a");
                let mut acknowledged = Vec::new();
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let who = customer(writer * 10 + (n as usize % 10));
                    let msg_id = 900_000 + writer as u64 * 100_000 + n;
                    let xml =
                        pusher.text_xml_at(&who, tongdao::clock::now_ms() / 1000, "在吗", msg_id);
                    let answer = pusher
                        .plaintext("/hooks/wechat/demo-oa", &xml)
                        .send(&client, &base)
                        .await
                        .unwrap();
                    assert_eq!(answer.status, 200);
                    acknowledged.push((tongdao::clock::now_ms(), who, msg_id));
                    n += 1;
                }
                acknowledged
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let asked_at = tongdao::clock::now_ms();
    let response = client
        .post(format!("{base}/admin/backup"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let answer: serde_json::Value = response.json().await.unwrap();
    let answered_at = tongdao::clock::now_ms();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop.store(true, Ordering::Relaxed);
    let mut acknowledged = Vec::new();
    for writer in writers {
        acknowledged.extend(writer.await.unwrap());
    }
    assert!(answer["entries"].as_u64().unwrap() > 0, "{answer}");
    // The host's data directory goes with it: keep the backup elsewhere.
    let fresh = tempfile::tempdir().unwrap();
    let backup = fresh.path().join("kept.tdbackup");
    std::fs::copy(answer["path"].as_str().unwrap(), &backup).unwrap();
    host.stop().await;

    // Restore into a fresh data directory.
    let store_dir = fresh.path().join("store");
    let summary = tongdao::store::backup::restore(&backup, &store_dir).unwrap();
    assert_eq!(Some(summary.entries), answer["entries"].as_u64());
    let restored = SledStore::open_with(&store_dir, None).unwrap();

    let mut restored_ids = std::collections::BTreeSet::new();
    for n in 0..CUSTOMERS {
        let who = customer(n);
        let events = restored.conversation_events("demo-oa", &who).unwrap();
        let conversation = restored.conversation("demo-oa", &who).unwrap();
        // A conversation and its events are written together: both or none.
        assert_eq!(conversation.is_some(), !events.is_empty(), "{who}");
        for event in events {
            restored_ids.insert(event.event.platform_id);
        }
    }
    // Every push acknowledged before the backup was asked for is in it;
    // nothing acknowledged after its answer is.
    for (at_ms, who, msg_id) in &acknowledged {
        let present = restored_ids.contains(&msg_id.to_string());
        if *at_ms < asked_at {
            assert!(
                present,
                "{who} {msg_id}, acknowledged before the backup, is missing"
            );
        }
        if *at_ms > answered_at + 500 {
            assert!(
                !present,
                "{who} {msg_id}, acknowledged after the backup, is in it"
            );
        }
    }
    assert!(
        acknowledged.iter().any(|(at, ..)| *at > answered_at + 500),
        "writes continued after the backup"
    );

    // A damaged backup is refused and leaves no store behind.
    let mut bytes = std::fs::read(&backup).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    let damaged = fresh.path().join("damaged.tdbackup");
    std::fs::write(&damaged, bytes).unwrap();
    let other = fresh.path().join("other-store");
    assert!(tongdao::store::backup::restore(&damaged, &other).is_err());
    assert!(!other.exists());
}
