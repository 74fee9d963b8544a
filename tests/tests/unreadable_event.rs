//! One inbox event that cannot be read (damaged on disk) must not stall the
//! bot for everyone: the pipeline sets it aside, counts it, and answers the
//! next customer.

use std::time::Duration;
use tongdao::store::Store;
use tongdao_e2e::harness::{TestHost, bot_entry, plugin_entry};
use tongdao_emulator_wechat::api::{WechatApiConfig, WechatApiEmulator};
use tongdao_emulator_wechat::signing::WechatPusher;

const APP_ID: &str = "wx2c2769f8efd9abc2";

fn config(api: &WechatApiEmulator) -> String {
    format!(
        "{}\n{}\n[[shops]]\nid = \"demo-oa\"\nplugin = \"wechat\"\negress = [\"api.weixin.qq.com\"]\ncredentials = {{ app_id = \"{APP_ID}\", app_secret = \"s\", token = \"spamtest\" }}\napi_base = {{ \"api.weixin.qq.com\" = \"{}\" }}\n",
        bot_entry(),
        plugin_entry("wechat"),
        api.base_url()
    )
}

async fn customer_says(host: &TestHost, who: &str, text: &str, msg_id: u64) {
    let pusher = WechatPusher::new("spamtest", APP_ID, None).with_original_id("gh_10f6c3c3ac5a");
    let xml = pusher.text_xml_at(who, tongdao::clock::now_ms() / 1000, text, msg_id);
    let answer = pusher
        .plaintext("/hooks/wechat/demo-oa", &xml)
        .send(&reqwest::Client::new(), &host.base_url)
        .await
        .unwrap();
    assert_eq!(answer.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_inbox_event_is_set_aside_and_the_next_customer_is_answered() {
    let api = WechatApiEmulator::start(WechatApiConfig::new(APP_ID, "s"))
        .await
        .unwrap();
    let host = TestHost::start(&config(&api)).await;
    // While the host is down, an event waits in its inbox, damaged on disk.
    let host = host
        .restart_after(|data| {
            let store = tongdao::store::SledStore::open(&data.join("store")).unwrap();
            let stuck = tongdao::model::Event {
                platform_id: "stuck-1".into(),
                conversation_id: "oDamaged0000000000000001".into(),
                platform_time_ms: 1,
                route: vec![],
                body: tongdao::model::EventBody::Message(tongdao::model::Message {
                    author: tongdao::model::Identity {
                        platform_user_id: "oDamaged0000000000000001".into(),
                        display_name: None,
                        hints: vec![],
                    },
                    role: tongdao::model::AuthorRole::Customer,
                    direction: tongdao::model::Direction::Inbound,
                    content: tongdao::model::Content::Text("我的快递到哪了".into()),
                }),
            };
            let events = [stuck];
            let receipt = store
                .commit_ingest(&tongdao::store::IngestBatch {
                    shop: "demo-oa",
                    plugin: "wechat",
                    received_ms: 1,
                    events: &events,
                    state: &[],
                    cursor: None,
                    dedupe_until_ms: i64::MAX,
                })
                .unwrap();
            drop(store);
            let db = sled::open(data.join("store")).unwrap();
            let key = hex_uuid(&receipt.stored[0]);
            db.open_tree("events")
                .unwrap()
                .insert(key, &b"\x01\xff\xfe damaged"[..])
                .unwrap();
            db.flush().unwrap();
        })
        .await;
    api.customer_wrote("oHealthy0000000000000001", tongdao::clock::now_ms() / 1000);
    customer_says(&host, "oHealthy0000000000000001", "我的快递到哪了", 4001).await;
    let sent = api
        .wait_for_messages(1, Duration::from_secs(10))
        .await
        .expect("the next customer is answered");
    assert_eq!(sent[0].touser, "oHealthy0000000000000001");
    let quarantined = host.state().store.quarantined().unwrap();
    assert_eq!(quarantined.len(), 1, "{quarantined:?}");
    assert!(
        quarantined[0].1.contains("corrupt event"),
        "{quarantined:?}"
    );
    assert!(
        host.metrics()
            .contains("tongdao_events_total{result=\"quarantined\"} 1")
    );
    host.stop().await;
}

/// The 16 bytes of a UUID written as text.
fn hex_uuid(text: &str) -> Vec<u8> {
    let hex: String = text.chars().filter(|c| *c != '-').collect();
    (0..16)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}
