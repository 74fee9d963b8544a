//! The host's planes and admission, against the real gateway with the
//! hostile test plugin: the admin plane on its own listener, bodies that
//! never finish, the connection cap, a webhook flood at one shop (rate
//! limited, and no harm to another shop), and webhook faults that must not
//! pause a shop.

use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tongdao_e2e::harness::{TestHost, plugin_entry};

/// Two hostile-plugin shops: `flooded` in `mode`, and `calm`, which behaves.
fn config(mode: &str, limits: &str) -> String {
    format!(
        "[limits]\n{limits}\n\n{}\n[[shops]]\nid = \"flooded\"\nplugin = \"hostile\"\nsettings = {{ mode = \"{mode}\" }}\n\n[[shops]]\nid = \"calm\"\nplugin = \"hostile\"\n",
        plugin_entry("hostile")
    )
}

async fn post(client: &reqwest::Client, base: &str, path: &str) -> reqwest::Response {
    client
        .post(format!("{base}{path}"))
        .body("hello")
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_plane_listens_apart_from_webhooks() {
    let host = TestHost::start_with_server(
        "admin_listen = \"127.0.0.1:0\"",
        &format!("[admin]\n\n{}", config("ok", "")),
    )
    .await;
    let admin = host.admin_url().expect("an admin listener");
    let client = reqwest::Client::new();
    let status = |response: reqwest::Response| response.status().as_u16();

    // The public listener: webhooks, no metrics, no admin API.
    assert_eq!(
        status(post(&client, &host.base_url, "/hooks/hostile/calm").await),
        200
    );
    for path in ["/metrics", "/admin/me"] {
        let response = client
            .get(format!("{}{path}", host.base_url))
            .send()
            .await
            .unwrap();
        assert_eq!(status(response), 404, "{path} on the public listener");
    }
    // The admin listener: metrics and the API, no webhooks.
    let metrics = client.get(format!("{admin}/metrics")).send().await.unwrap();
    assert_eq!(metrics.status(), 200);
    assert!(
        metrics
            .text()
            .await
            .unwrap()
            .contains("tongdao_webhooks_total")
    );
    let me = client
        .get(format!("{admin}/admin/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(status(me), 401, "the admin API, asking for a credential");
    assert_eq!(
        status(post(&client, &admin, "/hooks/hostile/calm").await),
        404
    );
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_never_finishes_gets_408() {
    let host = TestHost::start(&config("ok", "body_read_timeout_ms = 300")).await;
    let address = host.base_url.trim_start_matches("http://").to_owned();
    let mut socket = TcpStream::connect(&address).await.unwrap();
    socket
        .write_all(b"POST /hooks/hostile/calm HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\nonly ten b")
        .await
        .unwrap();
    let mut answer = Vec::new();
    // The host answers and closes on its own; the outer timeout only keeps
    // a broken host from hanging the test.
    tokio::time::timeout(Duration::from_secs(10), socket.read_to_end(&mut answer))
        .await
        .expect("the host answers a stalled body")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_wait_for_a_free_slot() {
    let host = TestHost::start(&config("ok", "max_connections = 2")).await;
    let address = host.base_url.trim_start_matches("http://").to_owned();
    // Two idle connections take both slots.
    let first = TcpStream::connect(&address).await.unwrap();
    let _second = TcpStream::connect(&address).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let client = reqwest::Client::new();
    let url = format!("{}/healthz", host.base_url);
    let waiting = tokio::spawn({
        let client = client.clone();
        async move { client.get(url).send().await.map(|r| r.status().as_u16()) }
    });
    // A served request would answer in milliseconds; it must not.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !waiting.is_finished(),
        "a third connection was served past the cap"
    );
    // Freed slot, served.
    drop(first);
    let status = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("served once a slot is free")
        .unwrap()
        .unwrap();
    assert_eq!(status, 200);
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_flood_is_rate_limited_per_shop_and_spares_the_others() {
    let host = TestHost::start(&config("ok", "webhooks_per_second_per_shop = 20")).await;
    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    for _ in 0..100 {
        let response = post(&client, &host.base_url, "/hooks/hostile/flooded").await;
        if response.status() == 429 {
            assert!(response.headers().contains_key("retry-after"));
        }
        statuses.push(response.status().as_u16());
    }
    let throttled = statuses.iter().filter(|s| **s == 429).count();
    assert!(
        throttled >= 50,
        "{throttled} of 100 throttled: {statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 429),
        "{statuses:?}"
    );
    // The other shop's budget is its own.
    for _ in 0..15 {
        assert_eq!(
            post(&client, &host.base_url, "/hooks/hostile/calm")
                .await
                .status(),
            200
        );
    }
    assert!(
        host.metrics()
            .contains("tongdao_webhooks_total{result=\"throttled\"}")
    );
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_that_crash_the_plugin_do_not_pause_the_shop() {
    // Anyone can post to a webhook URL: a body that makes the plugin trap
    // must not open the shop's breaker (3 faults would, for other calls).
    let host = TestHost::start(&config("trap", "breaker_failures = 3")).await;
    let client = reqwest::Client::new();
    for n in 0..10 {
        let response = post(&client, &host.base_url, "/hooks/hostile/flooded").await;
        assert_eq!(response.status(), 500, "push {n} reached the plugin");
    }
    host.stop().await;
}
