//! What the bot says, end to end over the WeChat Official Account: the
//! knowledge base's answer in the shop's wording, a clarifying question when
//! two intents are close and the intent the customer's answer picks, and for
//! a hesitating customer a coupon — only in a shop whose config allows
//! coupons.

use std::time::Duration;
use tongdao::kb::KnowledgeBase;
use tongdao_e2e::harness::{TestHost, bot_entry, example_knowledge_base, plugin_entry};
use tongdao_emulator_wechat::api::{WechatApiConfig, WechatApiEmulator};
use tongdao_emulator_wechat::signing::WechatPusher;

const APP_ID: &str = "wx2c2769f8efd9abc2";
const SECRET: &str = "demo-app-secret";

async fn host_with(api: &WechatApiEmulator, coupons: &str) -> TestHost {
    let config = format!(
        "{}\n{}\n[[shops]]\nid = \"demo-oa\"\nplugin = \"wechat\"\negress = [\"api.weixin.qq.com\"]\ncredentials = {{ app_id = \"{APP_ID}\", app_secret = \"{SECRET}\", token = \"spamtest\" }}\napi_base = {{ \"api.weixin.qq.com\" = \"{}\" }}\n{coupons}\n",
        bot_entry(),
        plugin_entry("wechat"),
        api.base_url()
    );
    TestHost::start(&config).await
}

async fn say(host: &TestHost, api: &WechatApiEmulator, openid: &str, text: &str, msg_id: u64) {
    let now = tongdao::clock::now_ms() / 1000;
    api.customer_wrote(openid, now);
    let pusher = WechatPusher::new("spamtest", APP_ID, None);
    let push = pusher.plaintext(
        "/hooks/wechat/demo-oa",
        &pusher.text_xml_at(openid, now, text, msg_id),
    );
    let answer = push
        .send(&reqwest::Client::new(), &host.base_url)
        .await
        .unwrap();
    assert_eq!(answer.status, 200);
}

fn answer_for(intent: &str) -> String {
    let kb = KnowledgeBase::load(&example_knowledge_base()).unwrap();
    kb.intent(intent).unwrap().answer.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hesitating_customer_gets_a_coupon_where_the_shop_allows_it() {
    let api = WechatApiEmulator::start(WechatApiConfig::new(APP_ID, SECRET))
        .await
        .unwrap();
    let host = host_with(
        &api,
        "allow_coupons = true\ncoupon = { id = \"C-618-10\", title = \"满199减10元券\", url = \"https://shop.example/c/618\" }",
    )
    .await;
    say(
        &host,
        &api,
        "oHesitant00000000001",
        "有点贵啊，我再考虑考虑",
        3001,
    )
    .await;
    let sent = api
        .wait_for_messages(2, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(
        sent[0].text.as_deref(),
        Some(answer_for("hesitation").as_str())
    );
    assert_eq!(
        sent[1].text.as_deref(),
        Some("满199减10元券：https://shop.example/c/618"),
        "the coupon as text: WeChat custom messages have no coupon card"
    );
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_coupons_the_answer_goes_alone_and_close_intents_are_clarified() {
    let api = WechatApiEmulator::start(WechatApiConfig::new(APP_ID, SECRET))
        .await
        .unwrap();
    let host = host_with(&api, "allow_coupons = false").await;
    say(
        &host,
        &api,
        "oHesitant00000000002",
        "有点贵啊，我再考虑考虑",
        3002,
    )
    .await;
    let sent = api
        .wait_for_messages(1, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(
        sent[0].text.as_deref(),
        Some(answer_for("hesitation").as_str())
    );
    host.settled().await;
    assert_eq!(
        api.sent_messages().len(),
        1,
        "no coupon without allow_coupons"
    );

    // A question between two intents gets a question back, naming both.
    say(&host, &api, "oUnsure000000000001", "退款", 3003).await;
    let sent = api
        .wait_for_messages(2, Duration::from_secs(10))
        .await
        .unwrap();
    let text = sent[1].text.clone().unwrap();
    assert!(text.starts_with("亲，您是想咨询「"), "{text}");
    assert!(text.contains("还是"), "{text}");

    // The customer's answer settles it: 「第二个」 is the intent named second.
    let kb = KnowledgeBase::load(&example_knowledge_base()).unwrap();
    let second = kb
        .intents()
        .iter()
        .find(|intent| {
            let (_, after) = text.split_once("还是").unwrap();
            after.contains(&format!("「{}」", intent.name))
        })
        .unwrap();
    say(&host, &api, "oUnsure000000000001", "第二个", 3004).await;
    let sent = api
        .wait_for_messages(3, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(sent[2].text.as_deref(), Some(second.answer.as_str()));

    // Settled: the same reply later is a new question, not an answer.
    say(&host, &api, "oUnsure000000000001", "第二个", 3005).await;
    let sent = api
        .wait_for_messages(4, Duration::from_secs(10))
        .await
        .unwrap();
    assert_ne!(sent[3].text.as_deref(), Some(second.answer.as_str()));
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_agents_nothing_is_handed_over_and_the_bot_keeps_answering() {
    let api = WechatApiEmulator::start(WechatApiConfig::new(APP_ID, SECRET))
        .await
        .unwrap();
    let host = host_with(&api, "").await;
    let customer = "oAngryNoAgents000001";
    say(&host, &api, customer, "垃圾店，我要投诉！", 3101).await;
    let sent = api
        .wait_for_messages(1, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(
        sent[0].text.as_deref(),
        Some(tongdao::responder::SOOTHING_REPLY_UNATTENDED),
        "no promise of a person when no agent serves the shop"
    );
    assert!(
        host.state()
            .store
            .handoff("demo-oa", customer)
            .unwrap()
            .is_none()
    );
    say(&host, &api, customer, "我的快递到哪了", 3102).await;
    let sent = api
        .wait_for_messages(2, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(
        sent[1].text.as_deref(),
        Some(tongdao_e2e::harness::first_reply_for("logistics").as_str())
    );
    host.stop().await;
}
