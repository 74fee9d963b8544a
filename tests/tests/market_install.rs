//! Plugins from a marketplace on a running host, under traffic: a local
//! marketplace publishes the WeChat plugin signed by its publisher; while
//! customers keep writing to the shop, the brand installs it over the
//! admin API (the prompt first, then the grant), an upgrade that asks for
//! nothing new applies by itself, one that reads more data waits for a new
//! grant, a downgrade is refused without `rollback`, and a rollback goes
//! back; the other shop keeps its own build (a canary). No message is lost
//! or answered twice through the swaps. After a restart the installed
//! release serves again, verified again; a package altered at rest stops
//! the host with the reason.
//!
//! The releases share the built component and differ in their manifests
//! (`0.1.0`, `0.1.0+r2` repackaged, `0.1.0+r3` reading orders too): the
//! swap, the checks and the bookkeeping are what is under test.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use tongdao_e2e::harness::{
    CONSOLE_WECHAT, TestHost, bot_entry, eventually, plugin_entry, workspace,
};
use tongdao_emulator_wechat::api::{WechatApiConfig, WechatApiEmulator};
use tongdao_emulator_wechat::signing::WechatPusher;
use tongdao_market::keys::SecretKey;
use tongdao_market::package::Package;
use tongdao_market::registry::Registry;

const TOKEN: &str = "0123456789abcdef0123";

fn release(isv: &SecretKey, version: &str, reads: &str) -> Package {
    let manifest = std::fs::read_to_string(workspace().join("plugins/wechat/tongdao-plugin.toml"))
        .unwrap()
        .replace("version = \"0.1.0\"", &format!("version = \"{version}\""))
        .replace(
            "reads = [\"messages\", \"customer-identity\"]",
            &format!("reads = {reads}"),
        );
    let component = std::fs::read(workspace().join("target/plugins/wechat.wasm")).unwrap();
    let mut package = Package::pack(
        component,
        &manifest,
        b"# wechat\n".to_vec(),
        b"Apache-2.0\n".to_vec(),
        None,
        tongdao::clock::now_ms(),
    )
    .unwrap();
    package.sign(isv).unwrap();
    package
}

/// A local marketplace where publisher `tongdao` may publish `wechat`.
struct Market {
    /// Holds the marketplace's directory and the operator's keys.
    _work: tempfile::TempDir,
    dir: std::path::PathBuf,
    root: tongdao_market::keys::PublicKey,
    registry: Registry,
    isv: SecretKey,
}

impl Market {
    fn new() -> Market {
        let work = tempfile::tempdir().unwrap();
        let (dir, keys) = (work.path().join("market"), work.path().join("operator"));
        let root = Registry::init(&dir, &keys, tongdao::clock::now_ms()).unwrap();
        let registry = Registry::open(&dir, &keys).unwrap();
        let isv = SecretKey::generate();
        registry
            .add_publisher(
                "tongdao",
                isv.public(),
                vec!["wechat".into()],
                tongdao::clock::now_ms(),
            )
            .unwrap();
        Market {
            _work: work,
            dir,
            root,
            registry,
            isv,
        }
    }

    /// Publishes WeChat `version`, reading `reads`.
    fn publish(&self, version: &str, reads: &str) {
        self.registry
            .publish(release(&self.isv, version, reads), tongdao::clock::now_ms())
            .unwrap();
    }

    /// The config's `[market]` section.
    fn section(&self) -> String {
        format!(
            "[market]\nsource = \"{}\"\nroots = [\"{}\"]\n\n",
            self.dir.display(),
            self.root
        )
    }
}

/// The reads of the bundled WeChat manifest.
const READS: &str = "[\"messages\", \"customer-identity\"]";

async fn admin(
    host: &TestHost,
    method: reqwest::Method,
    path: &str,
    body: &str,
) -> (u16, serde_json::Value) {
    let response = reqwest::Client::new()
        .request(method, format!("{}/admin/{path}", host.base_url))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (
        status,
        response.json().await.unwrap_or(serde_json::Value::Null),
    )
}

async fn post(host: &TestHost, path: &str, body: &str) -> (u16, serde_json::Value) {
    admin(host, reqwest::Method::POST, path, body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_upgrade_and_rollback_while_customers_write_lose_and_double_nothing() {
    let (app_id, secret, token) = CONSOLE_WECHAT;
    let api = Arc::new(
        WechatApiEmulator::start(WechatApiConfig::new(app_id, secret))
            .await
            .unwrap(),
    );
    let market = Market::new();
    market.publish("0.1.0", READS);

    let shop = |id: &str, app: &str, secret: &str, token: &str| {
        format!(
            "[[shops]]\nid = \"{id}\"\nplugin = \"wechat\"\negress = [\"api.weixin.qq.com\"]\ncredentials = {{ app_id = \"{app}\", app_secret = \"{secret}\", token = \"{token}\" }}\napi_base = {{ \"api.weixin.qq.com\" = \"{}\" }}\n\n",
            api.base_url()
        )
    };
    let config = format!(
        "{}\n{}\n[admin]\ntoken = \"{TOKEN}\"\n\n{}{}{}",
        bot_entry(),
        plugin_entry("wechat"),
        market.section(),
        shop("demo-oa", app_id, secret, token),
        shop(
            "canary-oa",
            "wx0000000000other",
            "other-secret",
            "othertoken"
        ),
    );
    let host = TestHost::start(&config).await;

    // Customers write to demo-oa all along, each once.
    let sent = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = {
        let (sent, stop, base, api) = (
            Arc::clone(&sent),
            Arc::clone(&stop),
            host.base_url.clone(),
            Arc::clone(&api),
        );
        tokio::spawn(async move {
            let pusher = WechatPusher::new(token, app_id, None);
            let client = reqwest::Client::new();
            let mut n = 0u64;
            while !stop.load(Ordering::SeqCst) {
                let customer = format!("oMarketCustomer{n:08}");
                let now = tongdao::clock::now_ms() / 1000;
                api.customer_wrote(&customer, now);
                let push = pusher.plaintext(
                    "/hooks/wechat/demo-oa",
                    &pusher.text_xml_at(&customer, now, "今天能发货吗", 70_000 + n),
                );
                let answer = push.send(&client, &base).await.unwrap();
                assert_eq!(answer.status, 200, "every push acknowledged");
                sent.fetch_add(1, Ordering::SeqCst);
                n += 1;
                tokio::time::sleep(Duration::from_millis(15)).await;
            }
        })
    };
    let until = |count: usize| {
        let sent = Arc::clone(&sent);
        async move {
            eventually("more traffic", Duration::from_secs(20), || {
                (sent.load(Ordering::SeqCst) >= count).then_some(())
            })
            .await
        }
    };
    until(20).await;

    // Install: the prompt first, then the grant.
    let (status, body) = post(&host, "plugins/demo-oa/install", r#"{"name":"wechat"}"#).await;
    assert_eq!(status, 409, "{body}");
    let prompt = body.to_string();
    assert!(
        prompt.contains("api.weixin.qq.com") && prompt.contains("客户昵称"),
        "{prompt}"
    );
    let (status, body) = post(
        &host,
        "plugins/demo-oa/install",
        r#"{"name":"wechat","grant":true}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["installed"]["version"], "0.1.0");
    until(60).await;

    // An upgrade that asks for nothing new applies by itself.
    market.publish("0.1.0+r2", READS);
    let (status, body) = post(&host, "plugins/demo-oa/upgrade", "{}").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["installed"]["version"], "0.1.0+r2");
    until(100).await;

    // One that reads more waits for a new grant.
    market.publish(
        "0.1.0+r3",
        "[\"messages\", \"customer-identity\", \"orders\"]",
    );
    let (status, body) = post(&host, "plugins/demo-oa/upgrade", "{}").await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body.to_string().contains("reads orders and amounts"),
        "{body}"
    );
    let (status, body) = post(&host, "plugins/demo-oa/upgrade", r#"{"grant":true}"#).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["installed"]["version"], "0.1.0+r3");
    until(140).await;

    // A downgrade needs rollback; rollback goes back at once.
    let (status, body) = post(
        &host,
        "plugins/demo-oa/install",
        r#"{"name":"wechat","version":"0.1.0","grant":true}"#,
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert!(body.to_string().contains("needs `rollback`"), "{body}");
    let (status, body) = post(
        &host,
        "plugins/demo-oa/rollback",
        r#"{"version":"0.1.0+r2"}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["installed"]["version"], "0.1.0+r2");
    until(180).await;
    stop.store(true, Ordering::SeqCst);
    traffic.await.unwrap();

    // The canary: canary-oa still runs its own build; demo-oa the release.
    let (_, listed) = admin(&host, reqwest::Method::GET, "plugins", "").await;
    assert_eq!(
        listed["shops"]["canary-oa"]["installed"],
        serde_json::Value::Null,
        "{listed}"
    );
    assert_eq!(
        listed["shops"]["demo-oa"]["installed"]["current"]["version"], "0.1.0+r2",
        "{listed}"
    );
    let previous: Vec<String> = listed["shops"]["demo-oa"]["installed"]["previous"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["version"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(previous, ["0.1.0+r3", "0.1.0"], "{listed}");

    // Every customer answered exactly once through the swaps.
    let total = sent.load(Ordering::SeqCst);
    let replies = eventually("every reply", Duration::from_secs(30), || {
        let mut per_customer: BTreeMap<String, usize> = BTreeMap::new();
        for message in api.sent_messages() {
            *per_customer.entry(message.touser).or_default() += 1;
        }
        (per_customer.len() >= total).then_some(per_customer)
    })
    .await;
    assert_eq!(replies.len(), total, "each customer answered");
    assert!(replies.values().all(|&n| n == 1), "none twice: {replies:?}");
    for n in 0..total as u64 {
        let customer = format!("oMarketCustomer{n:08}");
        let said = host
            .history("demo-oa", &customer)
            .iter()
            .filter(|stored| {
                matches!(&stored.event.body, tongdao::model::EventBody::Message(m)
                    if m.role == tongdao::model::AuthorRole::Customer)
            })
            .count();
        assert_eq!(said, 1, "stored once: {customer}");
    }

    // After a restart the installed release serves again, verified again.
    let host = host.restart().await;
    let (_, listed) = admin(&host, reqwest::Method::GET, "plugins", "").await;
    assert_eq!(
        listed["shops"]["demo-oa"]["installed"]["current"]["version"],
        "0.1.0+r2"
    );

    // A package altered at rest is refused at the next load.
    let installed = listed["shops"]["demo-oa"]["installed"]["current"]["package_sha256"]
        .as_str()
        .unwrap()
        .to_owned();
    let err = host
        .restart_refused(|data| {
            let path = data.join(format!("market/packages/{installed}.tdpkg"));
            let mut bytes = std::fs::read(&path).unwrap();
            let middle = bytes.len() / 2;
            bytes[middle] ^= 0xff;
            std::fs::write(&path, bytes).unwrap();
        })
        .await;
    assert!(err.contains("tampered") && err.contains("demo-oa"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reload_serves_what_was_installed_while_the_host_ran() {
    let (app_id, secret, token) = CONSOLE_WECHAT;
    let api = WechatApiEmulator::start(WechatApiConfig::new(app_id, secret))
        .await
        .unwrap();
    let market = Market::new();
    market.publish("0.1.0+r2", READS);
    let config = format!(
        "{}\n{}\n[admin]\ntoken = \"{TOKEN}\"\n\n{}[[shops]]\nid = \"demo-oa\"\nplugin = \"wechat\"\negress = [\"api.weixin.qq.com\"]\ncredentials = {{ app_id = \"{app_id}\", app_secret = \"{secret}\", token = \"{token}\" }}\napi_base = {{ \"api.weixin.qq.com\" = \"{}\" }}\n",
        bot_entry(),
        plugin_entry("wechat"),
        market.section(),
        api.base_url()
    );
    let host = TestHost::start(&config).await;
    assert!(host.reload().await.is_empty(), "nothing changed yet");

    // Installed beside the running host (as `tongdao plugin install` does
    // with the host stopped, or an operator restoring installed.json).
    let parsed =
        tongdao::config::Config::load(&host.data_dir().parent().unwrap().join("brand.toml"))
            .unwrap();
    let market = tongdao::installs::Market::new(
        tongdao::marketplace::Source::parse(market.dir.to_str().unwrap()).unwrap(),
        parsed.market.as_ref().unwrap().trust_roots(),
        host.data_dir().join("market"),
    );
    let runtime =
        tongdao::runtime::Runtime::new(tongdao::runtime::RuntimeLimits::from(&parsed.limits), None)
            .unwrap();
    market
        .apply(
            &runtime,
            &parsed.shops["demo-oa"],
            tongdao::installs::Operation::Install {
                name: "wechat".into(),
                version: tongdao::installs::Wanted::parse("*").unwrap(),
                grant: true,
            },
        )
        .await
        .unwrap();
    let (_, before) = admin(&host, reqwest::Method::GET, "plugins", "").await;
    assert_eq!(
        before["shops"]["demo-oa"]["serving"]["source"],
        "[[plugins]] wechat 0.1.0"
    );

    assert_eq!(
        host.reload().await,
        ["demo-oa: wechat 0.1.0+r2 (installed)"]
    );
    assert!(
        host.reload().await.is_empty(),
        "a second reload changes nothing"
    );
    let (_, after) = admin(&host, reqwest::Method::GET, "plugins", "").await;
    assert_eq!(
        after["shops"]["demo-oa"]["serving"]["source"],
        "wechat 0.1.0+r2 (installed)"
    );

    // The reloaded plugin serves: a customer's question is answered once.
    let customer = "oReloadedCustomer0001";
    let now = tongdao::clock::now_ms() / 1000;
    api.customer_wrote(customer, now);
    let pusher = WechatPusher::new(token, app_id, None);
    let push = pusher.plaintext(
        "/hooks/wechat/demo-oa",
        &pusher.text_xml_at(customer, now, "今天能发货吗", 99_001),
    );
    assert_eq!(
        push.send(&reqwest::Client::new(), &host.base_url)
            .await
            .unwrap()
            .status,
        200
    );
    eventually("the answer", Duration::from_secs(10), || {
        (api.sent_messages()
            .iter()
            .filter(|m| m.touser == customer)
            .count()
            == 1)
            .then_some(())
    })
    .await;
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn installs_on_two_shops_at_once_are_both_kept() {
    let (app_id, secret, token) = CONSOLE_WECHAT;
    let api = WechatApiEmulator::start(WechatApiConfig::new(app_id, secret))
        .await
        .unwrap();
    let market = Market::new();
    market.publish("0.1.0", READS);
    let shops: String = ["one-oa", "two-oa"]
        .iter()
        .map(|id| {
            format!(
                "[[shops]]\nid = \"{id}\"\nplugin = \"wechat\"\negress = [\"api.weixin.qq.com\"]\ncredentials = {{ app_id = \"{app_id}\", app_secret = \"{secret}\", token = \"{token}\" }}\napi_base = {{ \"api.weixin.qq.com\" = \"{}\" }}\n\n",
                api.base_url()
            )
        })
        .collect();
    let config = format!(
        "{}\n[admin]\ntoken = \"{TOKEN}\"\n\n{}{shops}",
        plugin_entry("wechat"),
        market.section(),
    );
    let host = TestHost::start(&config).await;
    let install = r#"{"name":"wechat","grant":true}"#;
    let (one, two) = tokio::join!(
        post(&host, "plugins/one-oa/install", install),
        post(&host, "plugins/two-oa/install", install)
    );
    assert_eq!((one.0, two.0), (200, 200), "{one:?} {two:?}");
    let host = host.restart().await;
    let (_, listed) = admin(&host, reqwest::Method::GET, "plugins", "").await;
    for shop in ["one-oa", "two-oa"] {
        assert_eq!(
            listed["shops"][shop]["serving"]["source"], "wechat 0.1.0 (installed)",
            "{listed}"
        );
    }
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mirror_serving_an_older_signed_package_as_a_newer_one_is_refused() {
    let market = Market::new();
    market.publish("0.1.0", READS);
    market.publish("0.1.0+r2", READS);
    let config = format!(
        "{}\n[admin]\ntoken = \"{TOKEN}\"\n\n{}[[shops]]\nid = \"demo-oa\"\nplugin = \"wechat\"\negress = [\"api.weixin.qq.com\"]\ncredentials = {{ app_id = \"wx1\", app_secret = \"s\", token = \"t\" }}\n",
        plugin_entry("wechat"),
        market.section(),
    );
    let host = TestHost::start(&config).await;
    let (status, body) = post(
        &host,
        "plugins/demo-oa/install",
        r#"{"name":"wechat","version":"0.1.0","grant":true}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // The mirror (the index is not signed) serves 0.1.0's signed package,
    // and its digest, as 0.1.0+r2.
    let packages = market.dir.join("packages/wechat");
    let old = std::fs::read(packages.join("wechat-0.1.0.tdpkg")).unwrap();
    std::fs::write(packages.join("wechat-0.1.0+r2.tdpkg"), &old).unwrap();
    let index = market.dir.join("index/we/ch/wechat");
    let lines: Vec<String> = std::fs::read_to_string(&index)
        .unwrap()
        .lines()
        .map(|line| {
            let mut entry: serde_json::Value = serde_json::from_str(line).unwrap();
            if entry["vers"] == "0.1.0+r2" {
                entry["sha256"] = tongdao_market::sha256_hex(&old).into();
                entry["size"] = old.len().into();
            }
            entry.to_string()
        })
        .collect();
    std::fs::write(&index, lines.join("\n") + "\n").unwrap();
    let (status, body) = post(&host, "plugins/demo-oa/upgrade", "{}").await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body.to_string()
            .contains("served wechat 0.1.0 for version 0.1.0+r2"),
        "{body}"
    );
    host.stop().await;
}
