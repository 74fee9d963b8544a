//! Plugins of both contract versions in one host, under load: the WeChat
//! plugin (`tongdao:channel@0.1.0`) and the signer test plugin
//! (`tongdao:channel@0.2.0`, typed secrets) serve many customers at once.
//! The 0.2.0 plugin's pushes are verified and its calls signed by the host
//! with secrets the plugin never reads: the emulator checks every signature
//! with its own code, and the plugin reports the credential names it was
//! given on every call. Each customer is answered exactly once on each
//! platform; forged and stale pushes are refused and store nothing. From a
//! marketplace, the 0.2.0 plugin installs on a running host and serves,
//! its prompt naming the secrets the host keeps, while a release for a
//! contract the host does not link is refused.

use std::collections::BTreeSet;
use std::time::Duration;
use tongdao::kb::KnowledgeBase;
use tongdao_e2e::harness::{
    TestHost, bot_entry, eventually, example_knowledge_base, plugin_component, plugin_entry,
    workspace,
};
use tongdao_emulator_signed::{Keys, SignedApi};
use tongdao_emulator_wechat::api::{WechatApiConfig, WechatApiEmulator};
use tongdao_emulator_wechat::signing::WechatPusher;
use tongdao_market::keys::SecretKey;
use tongdao_market::package::Package;
use tongdao_market::registry::Registry;

const APP_ID: &str = "wx2c2769f8efd9abc2";
const SECRET: &str = "demo-app-secret";
const CUSTOMERS: usize = 40;
const QUESTION: &str = "有点贵啊，我再考虑考虑";

fn keys() -> Keys {
    Keys {
        app_id: "ex-app-7".into(),
        signing_key: "push-signing-key-9f3a".into(),
        api_secret: "api-secret-51c0".into(),
    }
}

fn config(wechat: &WechatApiEmulator, signed: &SignedApi) -> String {
    let keys = keys();
    format!(
        "{bot}\n{wechat_plugin}\n[[plugins]]\nname = \"signer\"\ncomponent = \"{signer}\"\nmanifest = \"{signer_manifest}\"\n\n\
         [[shops]]\nid = \"demo-oa\"\nplugin = \"wechat\"\negress = [\"api.weixin.qq.com\"]\n\
         credentials = {{ app_id = \"{APP_ID}\", app_secret = \"{SECRET}\", token = \"spamtest\" }}\n\
         api_base = {{ \"api.weixin.qq.com\" = \"{wechat_base}\" }}\nallow_coupons = false\n\n\
         [[shops]]\nid = \"signed-shop\"\nplugin = \"signer\"\negress = [\"api.example.com\"]\n\
         credentials = {{ app_id = \"{app_id}\", signing_key = \"{signing_key}\", api_secret = \"{api_secret}\" }}\n\
         api_base = {{ \"api.example.com\" = \"{signed_base}\" }}\nallow_coupons = false\n",
        bot = bot_entry(),
        wechat_plugin = plugin_entry("wechat"),
        signer = plugin_component("signer").display(),
        signer_manifest = workspace()
            .join("tests/plugins/signer/tongdao-plugin.toml")
            .display(),
        wechat_base = wechat.base_url(),
        signed_base = signed.base_url(),
        app_id = keys.app_id,
        signing_key = keys.signing_key,
        api_secret = keys.api_secret,
    )
}

/// Pushes a signed message to the signer shop of the host at `base`.
async fn push_signed(
    client: &reqwest::Client,
    base: &str,
    (headers, body): (Vec<(String, String)>, Vec<u8>),
) -> u16 {
    let mut request = client.post(format!("{base}/hooks/signer/signed-shop"));
    for (name, value) in headers {
        request = request.header(name, value);
    }
    request.body(body).send().await.unwrap().status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugins_of_both_contract_versions_answer_many_customers_once_each() {
    let wechat = WechatApiEmulator::start(WechatApiConfig::new(APP_ID, SECRET))
        .await
        .unwrap();
    let signed = SignedApi::start(keys()).await.unwrap();
    let host = TestHost::start(&config(&wechat, &signed)).await;
    let answer = KnowledgeBase::load(&example_knowledge_base())
        .unwrap()
        .intent("hesitation")
        .unwrap()
        .answer
        .clone();

    // Every customer writes at once, on both platforms.
    let client = reqwest::Client::new();
    let now = tongdao::clock::now_ms() / 1000;
    let mut pushes = tokio::task::JoinSet::new();
    for i in 0..CUSTOMERS {
        let openid = format!("oBoth{i:015}");
        wechat.customer_wrote(&openid, now);
        let pusher = WechatPusher::new("spamtest", APP_ID, None);
        let push = pusher.plaintext(
            "/hooks/wechat/demo-oa",
            &pusher.text_xml_at(&openid, now, QUESTION, 7000 + i as u64),
        );
        let (wechat_client, base) = (client.clone(), host.base_url.clone());
        pushes.spawn(async move { push.send(&wechat_client, &base).await.unwrap().status });
        let signed_push = keys().push(&format!("m-{i}"), &format!("buyer-{i}"), QUESTION, now);
        let (signed_client, host_url) = (client.clone(), host.base_url.clone());
        pushes.spawn(async move { push_signed(&signed_client, &host_url, signed_push).await });
    }
    while let Some(status) = pushes.join_next().await {
        assert_eq!(status.unwrap(), 200);
    }

    wechat
        .wait_for_messages(CUSTOMERS, Duration::from_secs(60))
        .await
        .unwrap();
    eventually(
        "every signed customer to be answered",
        Duration::from_secs(60),
        || (signed.delivered().len() >= CUSTOMERS).then_some(()),
    )
    .await;
    host.settled().await;

    // Exactly one answer per customer on each platform.
    let sent = wechat.sent_messages();
    assert_eq!(sent.len(), CUSTOMERS, "WeChat: one answer each");
    let wechat_recipients: BTreeSet<_> = sent.iter().map(|m| m.touser.clone()).collect();
    assert_eq!(wechat_recipients.len(), CUSTOMERS);
    let delivered = signed.delivered();
    assert_eq!(delivered.len(), CUSTOMERS, "signer: one answer each");
    let recipients: BTreeSet<_> = delivered.iter().map(|m| m.to.clone()).collect();
    assert_eq!(recipients.len(), CUSTOMERS);
    assert!(delivered.iter().all(|m| m.text == answer), "{delivered:?}");
    // Every call was signed right, and the plugin was given only the
    // credential that is not secret.
    assert!(signed.refused().is_empty(), "{:?}", signed.refused());
    assert!(
        delivered.iter().all(|m| {
            let mut named: Vec<&str> = m.secrets_named.split(',').collect();
            named.sort();
            m.credentials_seen == "app_id" && named == ["api_secret", "signing_key"]
        }),
        "{delivered:?}"
    );

    // A push signed with another key, and one from ten minutes ago, are
    // refused and store nothing.
    let forged = Keys {
        signing_key: "guessed".into(),
        ..keys()
    };
    let status = push_signed(
        &client,
        &host.base_url,
        forged.push("m-f", "forger", QUESTION, now),
    )
    .await;
    assert_eq!(status, 401);
    let status = push_signed(
        &client,
        &host.base_url,
        keys().push("m-s", "late", QUESTION, now - 600),
    )
    .await;
    assert_eq!(status, 401);
    assert!(host.history("signed-shop", "forger").is_empty());
    assert!(host.history("signed-shop", "late").is_empty());
    assert_eq!(signed.delivered().len(), CUSTOMERS);
    host.stop().await;
}

const ADMIN_TOKEN: &str = "contract-versions-admin-token";

/// A signed release of the signer plugin: the built 0.2.0 component under
/// its manifest, with `edit` applied to the manifest.
fn signer_release(isv: &SecretKey, edit: impl Fn(String) -> String) -> Package {
    let manifest = edit(
        std::fs::read_to_string(workspace().join("tests/plugins/signer/tongdao-plugin.toml"))
            .unwrap(),
    );
    let component = std::fs::read(plugin_component("signer")).unwrap();
    let mut package = Package::pack(
        component,
        &manifest,
        b"# signer\n".to_vec(),
        b"Apache-2.0\n".to_vec(),
        None,
        tongdao::clock::now_ms(),
    )
    .unwrap();
    package.sign(isv).unwrap();
    package
}

async fn install(host: &TestHost, body: &str) -> (u16, serde_json::Value) {
    let response = reqwest::Client::new()
        .post(format!(
            "{}/admin/plugins/signed-shop/install",
            host.base_url
        ))
        .bearer_auth(ADMIN_TOKEN)
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_0_2_0_plugin_installs_from_a_marketplace_and_one_for_an_unlinked_contract_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let (dir, operator) = (work.path().join("market"), work.path().join("operator"));
    let now = tongdao::clock::now_ms();
    let root = Registry::init(&dir, &operator, now).unwrap();
    let registry = Registry::open(&dir, &operator).unwrap();
    let isv = SecretKey::generate();
    registry
        .add_publisher("tongdao", isv.public(), vec!["signer".into()], now)
        .unwrap();
    registry.publish(signer_release(&isv, |m| m), now).unwrap();
    // A newer release for a contract this host does not link.
    registry
        .publish(
            signer_release(&isv, |m| {
                m.replace("version = \"0.2.0\"", "version = \"0.3.0\"")
                    .replace("tongdao:channel@0.2.0", "tongdao:channel@0.3.0")
            }),
            now,
        )
        .unwrap();

    let wechat = WechatApiEmulator::start(WechatApiConfig::new(APP_ID, SECRET))
        .await
        .unwrap();
    let signed = SignedApi::start(keys()).await.unwrap();
    let config = format!(
        "[admin]\ntoken = \"{ADMIN_TOKEN}\"\n\n[market]\nsource = \"{}\"\nroots = [\"{root}\"]\n\n{}",
        dir.display(),
        config(&wechat, &signed)
    );
    let host = TestHost::start(&config).await;

    let (status, body) =
        install(&host, r#"{"name":"signer","version":"0.3.0","grant":true}"#).await;
    assert!((400..500).contains(&status), "{status} {body}");
    let refusal = body.to_string();
    assert!(
        refusal.contains("0.3.0 for tongdao:channel@0.3.0"),
        "{refusal}"
    );

    // The newest release it can link is offered; the prompt says which
    // secrets stay with the host.
    let (status, body) = install(&host, r#"{"name":"signer"}"#).await;
    assert_eq!(status, 409, "{body}");
    let prompt = body.to_string();
    assert!(
        prompt.contains("never shown to the plugin: signing_key") && prompt.contains("api_secret"),
        "{prompt}"
    );
    let (status, body) = install(&host, r#"{"name":"signer","grant":true}"#).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["installed"]["version"], "0.2.0");
    let listed: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/admin/plugins", host.base_url))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        listed["shops"]["signed-shop"]["serving"]["contract"], "tongdao:channel@0.2.0",
        "{listed}"
    );
    assert_eq!(
        listed["shops"]["demo-oa"]["serving"]["contract"], "tongdao:channel@0.1.0",
        "{listed}"
    );

    // The installed release serves: a signed push is answered through it.
    let now = tongdao::clock::now_ms() / 1000;
    let client = reqwest::Client::new();
    for i in 0..5 {
        let push = keys().push(
            &format!("mk-{i}"),
            &format!("market-buyer-{i}"),
            QUESTION,
            now,
        );
        assert_eq!(push_signed(&client, &host.base_url, push).await, 200);
    }
    eventually(
        "the installed 0.2.0 plugin to answer",
        Duration::from_secs(30),
        || (signed.delivered().len() >= 5).then_some(()),
    )
    .await;
    host.settled().await;
    let delivered = signed.delivered();
    assert_eq!(delivered.len(), 5);
    assert!(delivered.iter().all(|m| m.credentials_seen == "app_id"));
    assert!(signed.refused().is_empty(), "{:?}", signed.refused());
    host.stop().await;
}
