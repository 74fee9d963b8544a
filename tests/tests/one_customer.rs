//! One customer across channels, end to end: a brand runs two WeChat
//! Official Accounts bound to one Open Platform account. The same person
//! writes to both (a different openid on each); the host looks each new
//! customer up through the plugin's `profile` feed (`user/info` on the
//! loopback API emulator), learns the shared unionid, and the admin API's
//! customer profile shows both identities and the history of both
//! conversations. A person links a third identity by hand and undoes it.
//! The same person on the Official Account and on WeCom 微信客服 is joined
//! the same way (`user/info` and `kf/customer/batchget` give one unionid).

use serde_json::{Value, json};
use std::time::Duration;
use tongdao_e2e::harness::{TestHost, bot_entry, eventually, plugin_entry};
use tongdao_emulator_wechat::api::{USER_INFO_PATH, WechatApiConfig, WechatApiEmulator};
use tongdao_emulator_wechat::signing::WechatPusher;

const ADMIN_TOKEN: &str = "test-admin-token-0123456789";
const MEI_PASSWORD: &str = "mei-password-0001";
/// The supervisor who looks customers up and links them.
const SUPERVISOR: &str = "[[agents]]\nid = \"mei\"\nrole = \"supervisor\"\n";
const UNIONID: &str = "oUnion_same_person_000001";

struct Account {
    shop: &'static str,
    app_id: &'static str,
    secret: &'static str,
    api: WechatApiEmulator,
}

impl Account {
    async fn start(shop: &'static str, app_id: &'static str, secret: &'static str) -> Account {
        let api = WechatApiEmulator::start(WechatApiConfig::new(app_id, secret))
            .await
            .unwrap();
        Account {
            shop,
            app_id,
            secret,
            api,
        }
    }

    fn shop_config(&self) -> String {
        format!(
            "[[shops]]\nid = \"{}\"\nplugin = \"wechat\"\negress = [\"api.weixin.qq.com\"]\nlook_up_profiles = true\ncredentials = {{ app_id = \"{}\", app_secret = \"{}\", token = \"spamtest\" }}\napi_base = {{ \"api.weixin.qq.com\" = \"{}\" }}\n",
            self.shop,
            self.app_id,
            self.secret,
            self.api.base_url()
        )
    }

    async fn customer_says(&self, host: &TestHost, openid: &str, text: &str, msg_id: u64) {
        let now = tongdao::clock::now_ms() / 1000;
        self.api.customer_wrote(openid, now);
        let pusher = WechatPusher::new("spamtest", self.app_id, None);
        let hook = format!("/hooks/wechat/{}", self.shop);
        let push = pusher.plaintext(&hook, &pusher.text_xml_at(openid, now, text, msg_id));
        let answer = push
            .send(&reqwest::Client::new(), &host.base_url)
            .await
            .unwrap();
        assert_eq!((answer.status, answer.body.as_str()), (200, "success"));
    }
}

async fn admin(host: &TestHost, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    // Signed in as the supervisor `mei`, with her own password.
    tongdao_e2e::harness::admin_as(host, "mei", MEI_PASSWORD, method, path, body).await
}

fn identities(profile: &Value) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = profile["identities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["shop"].as_str().unwrap().to_owned(),
                i["platform_user_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    found.sort();
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unionid_joins_one_persons_conversations_on_two_accounts() {
    let service = Account::start("demo-oa", "wx2c2769f8efd9abc2", "demo-app-secret").await;
    let subscription = Account::start("demo-oa-news", "wx5f0a1b2c3d4e5f60", "news-secret").await;
    let config = format!(
        "{}\n{}\n[admin]\ntoken = \"{ADMIN_TOKEN}\"\n\n{SUPERVISOR}\n{}\n{}",
        bot_entry(),
        plugin_entry("wechat"),
        service.shop_config(),
        subscription.shop_config()
    );
    let host = TestHost::start(&config).await;

    // The same person: one openid per account, one unionid for both.
    service.api.bind_unionid("oServiceOpenid0001", UNIONID);
    subscription.api.bind_unionid("oNewsOpenid000001", UNIONID);
    service
        .customer_says(&host, "oServiceOpenid0001", "我的快递到哪了", 2001)
        .await;
    subscription
        .customer_says(&host, "oNewsOpenid000001", "可以开发票吗", 2002)
        .await;
    // Someone else, with no unionid.
    service
        .customer_says(&host, "oSomeoneElse00001", "你好", 2003)
        .await;

    let profile = eventually(
        "both accounts to be linked",
        Duration::from_secs(15),
        || {
            let customer = tongdao::identity::customer(
                host.state().store.as_ref(),
                "demo-oa",
                "oServiceOpenid0001",
            )
            .unwrap()?;
            (customer.identities.len() == 2).then_some(customer)
        },
    )
    .await;
    assert!(
        matches!(
            &profile.links[0].reason,
            tongdao::identity::LinkReason::Hint { kind, value } if kind == "wechat-unionid" && value == UNIONID
        ),
        "{profile:#?}"
    );
    // The service account has two new customers: the second look-up may
    // still be on its way when the first links the accounts.
    eventually(
        "a look-up of each new customer",
        Duration::from_secs(15),
        || (service.api.request_count(USER_INFO_PATH) >= 2).then_some(()),
    )
    .await;
    host.settled().await;
    assert_eq!(
        service.api.request_count(USER_INFO_PATH),
        2,
        "one look-up per new customer"
    );

    // The admin profile: both identities, both conversations' history.
    let (status, view) = admin(
        &host,
        "GET",
        "customers/demo-oa-news/oNewsOpenid000001",
        None,
    )
    .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(
        identities(&view),
        vec![
            ("demo-oa".to_string(), "oServiceOpenid0001".to_string()),
            ("demo-oa-news".to_string(), "oNewsOpenid000001".to_string()),
        ]
    );
    let texts: Vec<&str> = view["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["event"]["body"]["Message"]["content"]["Text"].as_str())
        .collect();
    assert!(texts.contains(&"我的快递到哪了"), "{texts:?}");
    assert!(texts.contains(&"可以开发票吗"), "{texts:?}");
    assert!(
        !texts.contains(&"你好"),
        "another person's message: {texts:?}"
    );

    // A person links the third identity by hand, then undoes it.
    let link = json!({
        "a": ["demo-oa", "oServiceOpenid0001"],
        "b": ["demo-oa", "oSomeoneElse00001"],
        "by": "mei",
        "note": "same order phone number",
    });
    let (status, made) = admin(&host, "POST", "customers/links", Some(link.clone())).await;
    assert_eq!((status, &made["changed"]), (200, &json!(true)), "{made}");
    let (_, linked) = admin(&host, "GET", "customers/demo-oa/oSomeoneElse00001", None).await;
    assert_eq!(identities(&linked).len(), 3, "{linked}");
    let (status, undone) = admin(&host, "DELETE", "customers/links", Some(link)).await;
    assert_eq!(
        (status, &undone["changed"]),
        (200, &json!(true)),
        "{undone}"
    );
    let (_, alone) = admin(&host, "GET", "customers/demo-oa/oSomeoneElse00001", None).await;
    assert_eq!(identities(&alone).len(), 1, "{alone}");

    // Unknown identities are not linked.
    let (status, refused) = admin(
        &host,
        "POST",
        "customers/links",
        Some(json!({ "a": ["demo-oa", "oServiceOpenid0001"], "b": ["demo-oa", "nobody"], "by": "mei" })),
    )
    .await;
    assert_eq!(status, 404, "{refused}");
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unionid_joins_the_official_account_and_wecom_kf() {
    use tongdao_emulator_wecom::api::{CUSTOMER_BATCHGET_PATH, WecomApiConfig, WecomApiEmulator};
    use tongdao_emulator_wecom::callbacks::WecomCallbacks;

    const CORP: &str = "ww12345678910";
    const KF: &str = "wkDEMOkf000000001";
    const AES: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
    let oa = Account::start("demo-oa", "wx2c2769f8efd9abc2", "demo-app-secret").await;
    let kf = WecomApiEmulator::start(WecomApiConfig::new(CORP, "demo-kf-secret"))
        .await
        .unwrap();
    kf.add_account(KF);
    let config = format!(
        "{}\n{}\n{}\n[admin]\ntoken = \"{ADMIN_TOKEN}\"\n\n{SUPERVISOR}\n{}\n[[shops]]\nid = \"demo-wecom\"\nplugin = \"wecom\"\negress = [\"qyapi.weixin.qq.com\"]\nlook_up_profiles = true\ncredentials = {{ corp_id = \"{CORP}\", secret = \"demo-kf-secret\", token = \"wecomtoken\", encoding_aes_key = \"{AES}\" }}\napi_base = {{ \"qyapi.weixin.qq.com\" = \"{}\" }}\n",
        bot_entry(),
        plugin_entry("wechat"),
        plugin_entry("wecom"),
        oa.shop_config(),
        kf.base_url()
    );
    let host = TestHost::start(&config).await;

    // The person follows the Official Account and also chats on 微信客服.
    oa.api.bind_unionid("oServiceOpenid0001", UNIONID);
    kf.bind_unionid("wmExternalUser0001", UNIONID);
    oa.customer_says(&host, "oServiceOpenid0001", "我的快递到哪了", 4001)
        .await;
    kf.customer_says(KF, "wmExternalUser0001", "可以开发票吗");
    let callbacks = WecomCallbacks::new("wecomtoken", CORP, AES);
    tongdao_e2e::harness::wake_wecom(&host, &kf, &callbacks, "demo-wecom", KF).await;

    eventually("the channels to be linked", Duration::from_secs(15), || {
        let customer = tongdao::identity::customer(
            host.state().store.as_ref(),
            "demo-wecom",
            "wmExternalUser0001",
        )
        .unwrap()?;
        (customer.identities.len() == 2).then_some(())
    })
    .await;
    assert_eq!(kf.request_count(CUSTOMER_BATCHGET_PATH), 1);
    let (status, view) = admin(&host, "GET", "customers/demo-oa/oServiceOpenid0001", None).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(
        identities(&view),
        vec![
            ("demo-oa".to_string(), "oServiceOpenid0001".to_string()),
            ("demo-wecom".to_string(), "wmExternalUser0001".to_string()),
        ]
    );
    let texts: Vec<&str> = view["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["event"]["body"]["Message"]["content"]["Text"].as_str())
        .collect();
    assert!(texts.contains(&"我的快递到哪了"), "{texts:?}");
    assert!(texts.contains(&"可以开发票吗"), "{texts:?}");
    host.stop().await;
}
