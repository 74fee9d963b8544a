//! Proactive care (主动关怀) end to end: Tmall orders arrive over the
//! loopback Taobao emulator's TMC stream; the host's care rules answer
//! them through the real WeChat plugin as template and subscription
//! messages the WeChat emulator checks (template ids, followers,
//! subscriptions, fields), or through WeCom inside the customer's session
//! window. Every rule kind fires once per (order, rule) for many orders at
//! once, through redelivered events and a restart; quiet hours hold a
//! message back until they end; the cap and an opt-out (退订) skip what
//! would go over them, and each rule's outcome is visible per order.

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;
use tongdao_e2e::harness::{TestHost, bot_entry, eventually, plugin_entry, wake_wecom};
use tongdao_emulator_taobao::{TaobaoConfig, TaobaoEmulator};
use tongdao_emulator_wechat::api::{WechatApiConfig, WechatApiEmulator};
use tongdao_emulator_wechat::notices::{NoticeApi, SentNotice};
use tongdao_emulator_wechat::signing::WechatPusher;

const TMALL: &str = "demo-tmall";
const OA: &str = "demo-oa";
const APP_ID: &str = "wx2c2769f8efd9abc2";
const SECRET: &str = "demo-app-secret";
const ADMIN_TOKEN: &str = "test-admin-token-0123456789";
const MEI_PASSWORD: &str = "mei-password-0001";

/// The rules every test's Tmall shop has, after `[shops.care]`'s limits.
const RULES: &str = r#"
[[shops.care.rules]]
name = "thanks"
on = "paid"
text = "感谢下单！订单{order_id}（{amount}元）我们会尽快发出。回复「退订」不再接收。"
wechat_template = "TPL_PAID"
url = "https://shop.example/orders"
fields = { keyword1 = "{order_id}", keyword2 = "{amount}" }

[[shops.care.rules]]
name = "shipped"
on = "shipped"
text = "订单{order_id}已发货，运单号{waybill}"
wechat_template = "TPL_SHIPPED"
fields = { keyword1 = "{order_id}", keyword2 = "{waybill}" }

[[shops.care.rules]]
name = "survey"
on = "signed-for"
text = "订单{order_id}已签收，用得还好吗？"
wechat_subscription = "SUB_SURVEY"
fields = { thing1 = "订单{order_id}已签收" }

[[shops.care.rules]]
name = "refunded"
on = "refund-approved"
text = "订单{order_id}的退款{amount}元已同意"
wechat_template = "TPL_REFUND"
fields = { keyword1 = "{order_id}", keyword2 = "{amount}" }

[[shops.care.rules]]
name = "sorry"
on = "stuck"
stuck_after_secs = 4
text = "订单{order_id}的包裹有几天没动静了，我们正在催快递，抱歉！"
wechat_template = "TPL_SORRY"
fields = { keyword1 = "{order_id}" }
"#;

/// How far an order got.
#[derive(Clone, Copy)]
enum Step {
    Paid,
    Shipped,
    SignedFor,
    Refunded,
}

/// A Tmall shop whose care goes through the Official Account, the OA
/// itself, and a supervisor for the admin API.
struct World {
    taobao: TaobaoEmulator,
    wechat: WechatApiEmulator,
    host: TestHost,
}

fn tmall_shop(taobao: &TaobaoEmulator, care: &str) -> String {
    format!(
        "[[shops]]\nid = \"{TMALL}\"\nplugin = \"tmall\"\nlook_up_orders = false\negress = [\"gw.api.taobao.com\", \"mc.api.taobao.com\"]\ncredentials = {{ app_key = \"12345678\", app_secret = \"helloworld\", session = \"demo-session\" }}\napi_base = {{ \"gw.api.taobao.com\" = \"{}\", \"mc.api.taobao.com\" = \"{}\" }}\n{care}\n",
        taobao.api_base_url(),
        taobao.stream_url(),
    )
}

fn oa_shop(wechat: &WechatApiEmulator) -> String {
    format!(
        "[[shops]]\nid = \"{OA}\"\nplugin = \"wechat\"\negress = [\"api.weixin.qq.com\"]\ncredentials = {{ app_id = \"{APP_ID}\", app_secret = \"{SECRET}\", token = \"spamtest\" }}\napi_base = {{ \"api.weixin.qq.com\" = \"{}\" }}\n",
        wechat.base_url()
    )
}

fn preamble(plugins: &[&str]) -> String {
    let mut text = format!(
        "{}\n[admin]\ntoken = \"{ADMIN_TOKEN}\"\n\n[[agents]]\nid = \"mei\"\nrole = \"supervisor\"\n",
        bot_entry()
    );
    for plugin in plugins {
        text.push_str(&plugin_entry(plugin));
    }
    text
}

impl World {
    async fn start(limits: &str) -> World {
        let taobao =
            TaobaoEmulator::start(TaobaoConfig::new("12345678", "helloworld", "demo-session"))
                .await
                .unwrap();
        let wechat = WechatApiEmulator::start(WechatApiConfig::new(APP_ID, SECRET))
            .await
            .unwrap();
        for template in [
            "TPL_PAID",
            "TPL_SHIPPED",
            "SUB_SURVEY",
            "TPL_REFUND",
            "TPL_SORRY",
        ] {
            wechat.add_template(template);
        }
        let care = format!("[shops.care]\nvia = [\"{OA}\"]\n{limits}\n{RULES}");
        let config = format!(
            "{}\n{}\n{}",
            preamble(&["tmall", "wechat"]),
            tmall_shop(&taobao, &care),
            oa_shop(&wechat)
        );
        let host = TestHost::start(&config).await;
        World {
            taobao,
            wechat,
            host,
        }
    }

    /// The buyer's Tmall order is created (the host meets the buyer), the
    /// follower `openid` follows the account (the host meets them), and a
    /// supervisor links the two, as a brand's membership binding does.
    async fn linked_buyer(&self, buyer: &str, openid: &str, tid: &str) {
        self.order_event(
            "taobao_trade_TradeCreate",
            tid,
            buyer,
            json!({"status": "WAIT_BUYER_PAY"}),
        );
        self.wechat.follow(openid);
        self.wechat_push(openid, &pusher().subscribe_xml(openid, now_secs()))
            .await;
        let store = &self.host.state().store;
        eventually(
            "both identities to be known",
            Duration::from_secs(15),
            || {
                (store.known_identity(TMALL, buyer).unwrap().is_some()
                    && store.known_identity(OA, openid).unwrap().is_some())
                .then_some(())
            },
        )
        .await;
        let (status, made) = admin(
            &self.host,
            "POST",
            "customers/links",
            Some(json!({"a": [TMALL, buyer], "b": [OA, openid], "note": "会员绑定"})),
        )
        .await;
        assert_eq!(status, 200, "{made}");
    }

    fn order_event(&self, topic: &str, tid: &str, buyer: &str, extra: Value) -> i64 {
        let mut content = json!({
            "tid": tid.parse::<u64>().unwrap(),
            "buyer_open_uid": buyer,
            "payment": "99.00",
            "seller_nick": "demo_shop",
        });
        for (name, value) in extra.as_object().unwrap() {
            content[name] = value.clone();
        }
        self.taobao.enqueue(topic, &content.to_string())
    }

    fn paid(&self, tid: &str, buyer: &str) -> i64 {
        self.step(Step::Paid, tid, buyer)
    }

    /// The platform's message that order `tid` of `buyer` reached `step`.
    fn step(&self, step: Step, tid: &str, buyer: &str) -> i64 {
        let (topic, extra) = match step {
            Step::Paid => (
                "taobao_trade_TradeBuyerPay",
                json!({"status": "WAIT_SELLER_SEND_GOODS"}),
            ),
            Step::Shipped => (
                "taobao_trade_TradeSellerShip",
                json!({"status": "WAIT_BUYER_CONFIRM_GOODS", "out_sid": waybill(tid)}),
            ),
            Step::SignedFor => (
                "taobao_trade_TradeSuccess",
                json!({"status": "TRADE_FINISHED"}),
            ),
            Step::Refunded => (
                "taobao_refund_RefundSuccess",
                json!({"refund_id": format!("9{tid}"), "refund_fee": "20.00", "status": "SUCCESS"}),
            ),
        };
        self.order_event(topic, tid, buyer, extra)
    }

    /// Waits until the host has committed every event in `ids` (TMC
    /// confirms only after the commit) and decided about all of them.
    async fn committed(&self, ids: &[i64]) {
        eventually(
            "the events to be confirmed",
            Duration::from_secs(20),
            || {
                ids.iter()
                    .all(|id| self.taobao.is_confirmed(*id))
                    .then_some(())
            },
        )
        .await;
        self.host.decided().await;
    }

    async fn wechat_push(&self, openid: &str, xml: &str) {
        let push = pusher().plaintext(&format!("/hooks/wechat/{OA}"), xml);
        let _ = openid;
        let answer = push
            .send(&reqwest::Client::new(), &self.host.base_url)
            .await
            .unwrap();
        assert_eq!(answer.status, 200, "{}", answer.body);
    }

    /// The customer writes `text` to the Official Account.
    async fn says(&self, openid: &str, text: &str, msg_id: u64) {
        let now = now_secs();
        self.wechat.customer_wrote(openid, now);
        self.wechat_push(openid, &pusher().text_xml_at(openid, now, text, msg_id))
            .await;
    }

    /// What each rule did about `tid`, by rule: `queued` or the reason it
    /// was skipped; waits until `rules` rules have an outcome.
    async fn outcomes(&self, tid: &str, rules: usize) -> BTreeMap<String, Value> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let (status, body) = admin(
                &self.host,
                "GET",
                &format!("shops/{TMALL}/orders/{tid}/care"),
                None,
            )
            .await;
            assert_eq!(status, 200, "{body}");
            let found: BTreeMap<String, Value> = body["rules"]
                .as_array()
                .unwrap()
                .iter()
                .map(|record| (record["rule"].as_str().unwrap().to_owned(), record.clone()))
                .collect();
            if found.len() >= rules {
                return found;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "order {tid}: {found:#?}, expected {rules} rules"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn pusher() -> WechatPusher {
    WechatPusher::new("spamtest", APP_ID, None).with_original_id("gh_10f6c3c3ac5a")
}

fn now_secs() -> i64 {
    tongdao::clock::now_ms() / 1000
}

fn waybill(tid: &str) -> String {
    format!("SF{}", &tid[tid.len() - 6..])
}

async fn admin(host: &TestHost, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    // Signed in as the supervisor `mei`, with her own password.
    tongdao_e2e::harness::admin_as(host, "mei", MEI_PASSWORD, method, path, body).await
}

fn notices_by_template(notices: &[SentNotice]) -> BTreeMap<(String, String), Vec<SentNotice>> {
    let mut grouped: BTreeMap<(String, String), Vec<SentNotice>> = BTreeMap::new();
    for notice in notices {
        grouped
            .entry((notice.touser.clone(), notice.template_id.clone()))
            .or_default()
            .push(notice.clone());
    }
    grouped
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rule_fires_once_per_order_for_many_orders_through_redelivery_and_restart() {
    let world = World::start("most_per_customer = 10\n").await;
    const BUYERS: usize = 12;
    let buyer = |i: usize| format!("AAGbuyer{i:02}open0uid0000");
    let openid = |i: usize| format!("oFollower{i:02}xxxxxxxxxxxxxx");
    let tid = |i: usize| format!("30000000000000{i:05}");
    for i in 0..BUYERS {
        world.linked_buyer(&buyer(i), &openid(i), &tid(i)).await;
        // Odd customers subscribed to the survey once (一次性订阅).
        if i % 2 == 1 {
            world.wechat.subscribe(&openid(i), "SUB_SURVEY");
        }
    }

    // Every order is paid and shipped at once; the platform delivers each
    // payment twice (as TMC does after a lost confirm). Odd orders are then
    // signed for; even ones never move again. The first three are refunded.
    for i in 0..BUYERS {
        world.paid(&tid(i), &buyer(i));
        world.paid(&tid(i), &buyer(i));
        world.step(Step::Shipped, &tid(i), &buyer(i));
    }
    for i in 0..BUYERS {
        if i % 2 == 1 {
            world.step(Step::SignedFor, &tid(i), &buyer(i));
        }
        if i < 3 {
            world.step(Step::Refunded, &tid(i), &buyer(i));
        }
    }

    // thanks + shipped for all, the survey for the odd, the apology for
    // the even (stuck), the refund for three.
    let expected = BUYERS * 2 + BUYERS / 2 + BUYERS / 2 + 3;
    world
        .wechat
        .wait_for_accepted(expected, Duration::from_secs(30))
        .await
        .unwrap();
    world.host.settled().await;
    let notices = world.wechat.notices();
    assert_eq!(notices.len(), expected, "{notices:#?}");
    assert_eq!(world.wechat.notice_repeats(), 0);
    let grouped = notices_by_template(&notices);
    for i in 0..BUYERS {
        let to = |template: &str| grouped.get(&(openid(i), template.to_owned()));
        let thanks = to("TPL_PAID").expect("a thank-you");
        assert_eq!(thanks.len(), 1, "one thank-you for order {}", tid(i));
        assert_eq!(thanks[0].api, NoticeApi::Template);
        assert_eq!(thanks[0].fields["keyword1"], tid(i));
        assert_eq!(thanks[0].fields["keyword2"], "99.00");
        assert_eq!(
            thanks[0].link.as_deref(),
            Some("https://shop.example/orders")
        );
        let shipped = to("TPL_SHIPPED").expect("a shipping notice");
        assert_eq!(shipped.len(), 1);
        assert_eq!(shipped[0].fields["keyword2"], waybill(&tid(i)));
        let (survey, sorry) = (to("SUB_SURVEY"), to("TPL_SORRY"));
        if i % 2 == 1 {
            let survey = survey.expect("a survey once signed for");
            assert_eq!(survey.len(), 1);
            assert_eq!(survey[0].api, NoticeApi::Subscription);
            assert_eq!(survey[0].fields["thing1"], format!("订单{}已签收", tid(i)));
            assert!(sorry.is_none(), "a parcel signed for is not stuck");
        } else {
            assert!(survey.is_none());
            assert_eq!(sorry.expect("an apology for a stuck parcel").len(), 1);
        }
        let refund = to("TPL_REFUND");
        if i < 3 {
            let refund = refund.expect("a refund confirmation");
            assert_eq!(refund[0].fields["keyword2"], "20.00");
        } else {
            assert!(refund.is_none());
        }
    }
    // Each rule's outcome is recorded per order.
    let outcomes = world.outcomes(&tid(0), 4).await;
    for rule in ["thanks", "shipped", "refunded", "sorry"] {
        let queued = &outcomes[rule]["outcome"]["queued"];
        assert_eq!(queued["via"], OA, "{outcomes:#?}");
        assert_eq!(queued["recipient"], openid(0));
    }

    // After a restart the platform delivers everything again under new
    // message ids, and every parcel ships again (a new stuck watch): no
    // rule fires twice for an order.
    let World {
        taobao,
        wechat,
        host,
    } = world;
    let host = host.restart().await;
    let world = World {
        taobao,
        wechat,
        host,
    };
    let mut again = Vec::new();
    for i in 0..BUYERS {
        again.push(world.paid(&tid(i), &buyer(i)));
        again.push(world.step(Step::Shipped, &tid(i), &buyer(i)));
        if i % 2 == 1 {
            world.wechat.subscribe(&openid(i), "SUB_SURVEY");
            again.push(world.step(Step::SignedFor, &tid(i), &buyer(i)));
        }
        if i < 3 {
            again.push(world.step(Step::Refunded, &tid(i), &buyer(i)));
        }
    }
    world.committed(&again).await;
    // The even parcels are watched again; wait for those watches to come
    // due and be fired.
    let store = std::sync::Arc::clone(&world.host.state().store);
    eventually("every watch to have fired", Duration::from_secs(30), || {
        store
            .due_care_watches(i64::MAX, 1)
            .unwrap()
            .is_empty()
            .then_some(())
    })
    .await;
    world.host.settled().await;
    assert_eq!(
        world.wechat.notices().len(),
        expected,
        "nothing was sent twice"
    );
    assert_eq!(
        world.wechat.notice_repeats(),
        0,
        "nothing was even queued twice (WeChat would have dropped a repeated client_msg_id)"
    );
    world.host.stop().await;
}

/// `HH:MM:SS` in Beijing time.
fn beijing(ms: i64) -> String {
    let secs = (ms / 1000 + 8 * 3600).rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

fn skipped_reason(record: &Value) -> String {
    record["outcome"]["skipped"]["reason"]
        .as_str()
        .unwrap_or_else(|| panic!("not skipped: {record}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_hours_hold_messages_back_and_the_cap_and_an_opt_out_skip_them() {
    // Quiet from a minute ago until 15 s from now (a whole second).
    let started = tongdao::clock::now_ms();
    let quiet_end_ms = (started / 1000 + 15) * 1000;
    let limits = format!(
        "quiet_hours = \"{}-{}\"\nmost_per_customer = 1\ncap_window_secs = 3600\n",
        beijing(started - 60_000),
        beijing(quiet_end_ms)
    );
    let world = World::start(&limits).await;
    let (buyer_a, open_a) = ("AAGbuyerAopen0uid0000", "oFollowerAxxxxxxxxxxxxxxxx");
    let (buyer_b, open_b) = ("AAGbuyerBopen0uid0000", "oFollowerBxxxxxxxxxxxxxxxx");
    let (a1, a2, b1, b2) = (
        "3100000000000000001",
        "3100000000000000002",
        "3100000000000000003",
        "3100000000000000004",
    );
    world.linked_buyer(buyer_a, open_a, a1).await;
    world.linked_buyer(buyer_b, open_b, b1).await;

    // B opts out on the Official Account, and is told so at once (a chat
    // reply is not care: quiet hours do not hold it).
    world.says(open_b, "退订", 7001).await;
    let sent = world
        .wechat
        .wait_for_messages(1, Duration::from_secs(15))
        .await
        .unwrap();
    assert_eq!(sent[0].touser, open_b);
    assert_eq!(
        sent[0].text.as_deref(),
        Some(tongdao::care::opt_out::OPTED_OUT)
    );

    // A pays for two orders at once, B for one.
    let ids = [
        world.paid(a1, buyer_a),
        world.paid(a2, buyer_a),
        world.paid(b1, buyer_b),
    ];
    world.committed(&ids).await;
    let (first, second) = (world.outcomes(a1, 1).await, world.outcomes(a2, 1).await);
    let mut records = [&first["thanks"], &second["thanks"]];
    records.sort_by_key(|record| record["outcome"].get("queued").is_none());
    let queued = &records[0]["outcome"]["queued"];
    assert_eq!(
        queued["due_ms"],
        json!(quiet_end_ms),
        "held until the quiet hours end: {records:#?}"
    );
    assert_eq!(queued["recipient"], open_a);
    assert!(
        skipped_reason(records[1]).contains("already had 1 care message"),
        "the cap skips the second: {records:#?}"
    );
    let b_thanks = &world.outcomes(b1, 1).await["thanks"];
    assert!(
        skipped_reason(b_thanks).contains("opted out"),
        "{b_thanks:#}"
    );
    assert!(
        tongdao::clock::now_ms() < quiet_end_ms,
        "the test set up too slowly to see the quiet hours"
    );
    assert!(
        world.wechat.notices().is_empty(),
        "nothing goes out in quiet hours"
    );

    // B opts back in; their next order is cared for.
    world.says(open_b, "订阅", 7002).await;
    let sent = world
        .wechat
        .wait_for_messages(2, Duration::from_secs(15))
        .await
        .unwrap();
    assert_eq!(
        sent[1].text.as_deref(),
        Some(tongdao::care::opt_out::OPTED_IN)
    );
    let id = world.paid(b2, buyer_b);
    world.committed(&[id]).await;
    assert!(world.outcomes(b2, 1).await["thanks"]["outcome"]["queued"].is_object());

    world
        .wechat
        .wait_for_accepted(4, Duration::from_secs(30))
        .await
        .unwrap();
    world.host.settled().await;
    let notices = world.wechat.notices();
    assert_eq!(notices.len(), 2, "{notices:#?}");
    let mut to: Vec<&str> = notices.iter().map(|n| n.touser.as_str()).collect();
    to.sort();
    assert_eq!(to, [open_a, open_b]);
    for notice in &notices {
        assert!(
            notice.at >= quiet_end_ms / 1000,
            "sent at {} before the quiet hours ended at {}",
            notice.at,
            quiet_end_ms / 1000
        );
    }
    world.host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wecom_carries_care_inside_the_session_window_and_unreachable_customers_are_skipped() {
    use tongdao_emulator_wecom::api::{WecomApiConfig, WecomApiEmulator};
    use tongdao_emulator_wecom::callbacks::WecomCallbacks;
    const CORP: &str = "ww12345678910";
    const KF: &str = "wkDEMOkf000000001";
    const AES: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
    let taobao = TaobaoEmulator::start(TaobaoConfig::new("12345678", "helloworld", "demo-session"))
        .await
        .unwrap();
    let wecom = WecomApiEmulator::start(WecomApiConfig::new(CORP, "demo-kf-secret"))
        .await
        .unwrap();
    wecom.add_account(KF);
    // No WeChat template on the rule: text, where a chat window is open.
    let care = "[shops.care]\nvia = [\"demo-wecom\"]\n[[shops.care.rules]]\nname = \"thanks\"\non = \"paid\"\ntext = \"感谢下单！订单{order_id}我们会尽快发出。\"\n";
    let config = format!(
        "{}\n{}\n[[shops]]\nid = \"demo-wecom\"\nplugin = \"wecom\"\negress = [\"qyapi.weixin.qq.com\"]\ncredentials = {{ corp_id = \"{CORP}\", secret = \"demo-kf-secret\", token = \"wecomtoken\", encoding_aes_key = \"{AES}\" }}\napi_base = {{ \"qyapi.weixin.qq.com\" = \"{}\" }}\n",
        preamble(&["tmall", "wecom"]),
        tmall_shop(&taobao, care),
        wecom.base_url()
    );
    let host = TestHost::start(&config).await;

    // Customer C asks something on WeCom (their window opens; the bot
    // answers), and has a Tmall order; D only has an order.
    let external = "wmCustomerC000000001";
    wecom.customer_says(KF, external, "你好，在吗");
    let callbacks = WecomCallbacks::new("wecomtoken", CORP, AES);
    wake_wecom(&host, &wecom, &callbacks, "demo-wecom", KF).await;
    wecom
        .wait_for_deliveries(1, Duration::from_secs(15))
        .await
        .unwrap();
    let world = World {
        taobao,
        wechat: WechatApiEmulator::start(WechatApiConfig::new(APP_ID, SECRET))
            .await
            .unwrap(),
        host,
    };
    let (buyer_c, buyer_d) = ("AAGbuyerCopen0uid0000", "AAGbuyerDopen0uid0000");
    let (c1, d1) = ("3200000000000000001", "3200000000000000002");
    let created = [
        world.order_event("taobao_trade_TradeCreate", c1, buyer_c, json!({})),
        world.order_event("taobao_trade_TradeCreate", d1, buyer_d, json!({})),
    ];
    world.committed(&created).await;
    let (status, made) = admin(
        &world.host,
        "POST",
        "customers/links",
        Some(json!({"a": [TMALL, buyer_c], "b": ["demo-wecom", external]})),
    )
    .await;
    assert_eq!(status, 200, "{made}");

    let paid = [world.paid(c1, buyer_c), world.paid(d1, buyer_d)];
    world.committed(&paid).await;
    wecom
        .wait_for_deliveries(2, Duration::from_secs(15))
        .await
        .unwrap();
    world.host.settled().await;
    let sent = wecom.sent_messages();
    assert_eq!(
        sent.len(),
        2,
        "the bot's answer and the thank-you: {sent:#?}"
    );
    assert_eq!(sent[1].touser, external);
    assert_eq!(
        sent[1].open_kfid, KF,
        "sent through the customer's kf account"
    );
    assert_eq!(
        sent[1].text.as_deref(),
        Some(format!("感谢下单！订单{c1}我们会尽快发出。").as_str())
    );
    assert_eq!(
        sent[1].msgid,
        tongdao::care::idempotency_key(TMALL, c1, "thanks"),
        "the message's key is the order's and the rule's"
    );
    let d = &world.outcomes(d1, 1).await["thanks"];
    assert!(
        skipped_reason(d).contains("no identity of the customer is known"),
        "{d:#}"
    );
    world.host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn care_through_a_channel_that_cannot_message_first_is_refused_at_start() {
    let taobao = TaobaoEmulator::start(TaobaoConfig::new("12345678", "helloworld", "demo-session"))
        .await
        .unwrap();
    // Care for the Tmall shop's orders through Tmall itself.
    let care = format!(
        "[shops.care]\nvia = [\"{TMALL}\"]\n[[shops.care.rules]]\nname = \"thanks\"\non = \"paid\"\ntext = \"谢谢\"\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("brand.toml");
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"{}\"\n{}\n{}",
        dir.path().join("data").display(),
        preamble(&["tmall"]),
        tmall_shop(&taobao, &care)
    );
    std::fs::write(&path, text).unwrap();
    let config = tongdao::config::Config::load(&path).unwrap();
    let refused = match tongdao::server::start(config).await {
        Ok(host) => {
            host.shutdown().await;
            panic!("the host started")
        }
        Err(err) => format!("{err:#}"),
    };
    for part in [
        "brand.toml",
        "shops.demo-tmall.care.via",
        "(taobao-tmall) has no way to message a customer first",
    ] {
        assert!(refused.contains(part), "{refused}");
    }
}
