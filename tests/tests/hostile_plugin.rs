//! A hostile plugin (infinite loop, unbounded memory growth, trap, oversized
//! output) behind real webhooks: each call fails with a clear error status,
//! nothing is stored or acknowledged, webhook faults do not pause the shop
//! (anyone can send a webhook, so they would let anyone pause it) — and the
//! host keeps answering another shop's webhooks meanwhile.

use std::time::{Duration, Instant};
use tongdao_e2e::harness::{TestHost, bot_entry, plugin_entry};
use tongdao_emulator_wechat::api::{WechatApiConfig, WechatApiEmulator};
use tongdao_emulator_wechat::signing::WechatPusher;

const APP_ID: &str = "wx2c2769f8efd9abc2";

fn config(api: &WechatApiEmulator) -> String {
    let mut text = format!(
        "[limits]\ncall_timeout_ms = 300\nplugin_memory_bytes = 33554432\nmax_output_bytes = 1048576\nbreaker_failures = 3\nbreaker_cooldown_secs = 60\n\n{}\n{}\n{}\n[[shops]]\nid = \"demo-oa\"\nplugin = \"wechat\"\negress = [\"api.weixin.qq.com\"]\ncredentials = {{ app_id = \"{APP_ID}\", app_secret = \"s\", token = \"spamtest\" }}\napi_base = {{ \"api.weixin.qq.com\" = \"{}\" }}\n",
        bot_entry(),
        plugin_entry("wechat"),
        plugin_entry("hostile"),
        api.base_url()
    );
    for mode in ["loop", "grow", "trap", "big"] {
        text.push_str(&format!(
            "\n[[shops]]\nid = \"hostile-{mode}\"\nplugin = \"hostile\"\nsettings = {{ mode = \"{mode}\" }}\n"
        ));
    }
    text
}

fn account() -> WechatPusher {
    WechatPusher::new("spamtest", APP_ID, None).with_original_id("gh_10f6c3c3ac5a")
}

async fn post(client: &reqwest::Client, url: &str) -> (u16, String, Duration) {
    let started = Instant::now();
    let response = client
        .post(url)
        .body("hello")
        .send()
        .await
        .expect("the host answers");
    let status = response.status().as_u16();
    (
        status,
        response.text().await.unwrap_or_default(),
        started.elapsed(),
    )
}

fn now_secs() -> i64 {
    tongdao::clock::now_ms() / 1000
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_misbehaviour_fails_its_own_call_and_other_shops_are_served() {
    let api = WechatApiEmulator::start(WechatApiConfig::new(APP_ID, "s"))
        .await
        .unwrap();
    let host = TestHost::start(&config(&api)).await;
    let client = reqwest::Client::new();
    let hook = |shop: &str| format!("{}/hooks/hostile/{shop}", host.base_url);

    // Each misbehaviour fails with 500 and is counted as a plugin fault.
    for shop in [
        "hostile-loop",
        "hostile-grow",
        "hostile-trap",
        "hostile-big",
    ] {
        let (status, body, took) = post(&client, &hook(shop)).await;
        assert_eq!((status, body.as_str()), (500, "plugin failed"), "{shop}");
        assert!(took < Duration::from_secs(3), "{shop} took {took:?}");
    }
    let metrics = host.state().metrics.render();
    assert!(
        metrics.contains("tongdao_plugin_faults_total 4"),
        "{metrics}"
    );

    // While looping calls keep the hostile plugin busy, the WeChat shop's
    // webhooks are answered promptly and its customers get their answers.
    let looping: Vec<_> = (0..4)
        .map(|_| {
            let (client, url) = (client.clone(), hook("hostile-loop"));
            tokio::spawn(async move { post(&client, &url).await })
        })
        .collect();
    for n in 0..5u64 {
        let openid = format!("oCustomer00000000000000{n:02}");
        api.customer_wrote(&openid, now_secs());
        let push = account().plaintext(
            "/hooks/wechat/demo-oa",
            &account().text_xml_at(&openid, now_secs(), "我的快递到哪了", 7000 + n),
        );
        let started = Instant::now();
        let delivered = push.send(&client, &host.base_url).await.unwrap();
        assert_eq!(
            (delivered.status, delivered.body.as_str()),
            (200, "success")
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "a healthy shop waited {:?}",
            started.elapsed()
        );
    }
    api.wait_for_messages(5, Duration::from_secs(10))
        .await
        .unwrap();
    for call in looping {
        let (status, _, _) = call.await.unwrap();
        assert_eq!(status, 500, "failed in the sandbox");
    }

    // However many faults, the shop's webhooks are not paused: each still
    // reaches the plugin and fails within the call's deadline.
    for _ in 0..2 {
        let started = Instant::now();
        let (status, _, _) = post(&client, &hook("hostile-loop")).await;
        assert_eq!(status, 500);
        assert!(
            started.elapsed() >= Duration::from_millis(300),
            "the plugin was called"
        );
    }

    // Nothing from the hostile shops was stored.
    assert!(host.state().store.pending_inbox(100).unwrap().is_empty());
    assert!(
        host.state()
            .store
            .conversation("hostile-big", "huge")
            .unwrap()
            .is_none()
    );
    host.stop().await;
}
