//! JD end to end: the real host polls the loopback JOS emulator through
//! the real plugin. A customer's 咚咚 question in the chat log is stored once
//! although overlapping windows read it again and again, and the knowledge
//! base's answer goes out once through the signed 咚咚 push, as the shop's
//! account; that reply comes back in the chat log and is not stored again,
//! while a person's reply from JD's own client is kept as an agent message. A paid order in
//! the order search is stored once per state and looked up; a parcel
//! question naming an order is answered from the look-up. A rejected
//! access token is refreshed and a garbled page is polled again without
//! losing or repeating anything; a shop without the 咚咚 partner ids gets
//! its sends refused with the reason, nothing sent.

use std::time::Duration;
use tongdao::model::{AuthorRole, CommerceKind, Direction, EventBody, OutboxItem, OutboxStatus};
use tongdao_e2e::harness::{TestHost, bot_entry, eventually, plugin_entry};
use tongdao_emulator_jd::{ChatEntry, JdConfig, JdEmulator};

const SHOP: &str = "demo-jd";
const APP_KEY: &str = "JDAPPKEY0001";
const SECRET: &str = "jd-app-secret";
const WAITER: &str = "demo_shop_waiter";
const SESSION_LIST: &str = "jingdong.im.pop.sessionlist.get";

async fn start_jd() -> JdEmulator {
    JdEmulator::start(JdConfig::new(APP_KEY, SECRET, "jd-token-0", "jd-refresh-0"))
        .await
        .unwrap()
}

/// The shop's config: `feeds` polled every 200 ms, `extra` credentials.
fn config(jd: &JdEmulator, feeds: &str, extra: &str) -> String {
    format!(
        "{}\n{}\n[[shops]]\nid = \"{SHOP}\"\nplugin = \"jd\"\negress = [\"api.jd.com\", \"open-oauth.jd.com\"]\ncredentials = {{ app_key = \"{APP_KEY}\", app_secret = \"{SECRET}\", access_token = \"jd-token-0\"{extra} }}\nsettings = {{ waiter = \"{WAITER}\" }}\napi_base = {{ \"api.jd.com\" = \"{base}\", \"open-oauth.jd.com\" = \"{base}\" }}\npoll_feeds = [{feeds}]\npoll_interval_ms = 200\n",
        bot_entry(),
        plugin_entry("jd"),
        base = jd.base_url(),
    )
}

const PARTNER_IDS: &str = ", dongdong_accessid = \"dd-access-1\", dongdong_aspid = \"dd-asp-1\"";

/// The conversation's outbox once it holds `n` items, all finished.
async fn finished(host: &TestHost, conversation: &str, n: usize) -> Vec<OutboxItem> {
    eventually("the actions to finish", Duration::from_secs(15), || {
        let outbox = host.outbox(SHOP, conversation);
        (outbox.len() == n
            && outbox.iter().all(|item| {
                matches!(
                    item.status,
                    OutboxStatus::Delivered { .. } | OutboxStatus::Failed { .. }
                )
            }))
        .then_some(outbox)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_question_is_stored_once_and_answered_once_through_dongdong() {
    let jd = start_jd().await;
    let customer = "jd_buyer_0001";
    jd.customer_says(
        customer,
        WAITER,
        "sid-0001",
        "我的快递到哪了",
        jd.now_ms() - 60_000,
    );
    let host = TestHost::start(&config(&jd, "\"chatlog\"", PARTNER_IDS)).await;

    let outbox = finished(&host, customer, 1).await;
    assert!(
        matches!(outbox[0].status, OutboxStatus::Delivered { .. }),
        "{outbox:#?}"
    );
    let pushes = jd.pushes();
    assert_eq!(pushes.len(), 1, "{pushes:#?}");
    assert_eq!(pushes[0].to_pin, customer);
    assert_eq!(pushes[0].from_pin, WAITER, "as the shop's account");
    assert_eq!(
        pushes[0].text,
        tongdao_e2e::harness::first_reply_for("logistics")
    );
    assert_eq!(pushes[0].upid, outbox[0].action.idempotency_key);

    // A person answers from JD's own client too (JOS windows are whole
    // seconds: a later round reads it); several more rounds re-read the
    // overlap, the question and both replies among it.
    jd.add_chat(ChatEntry {
        customer: customer.into(),
        waiter: "human_waiter_7".into(),
        content: "亲，我是人工客服小王".into(),
        sid: "sid-0001".into(),
        sku_id: 0,
        time_ms: jd.now_ms(),
        waiter_send: true,
    });
    eventually("the person's reply", Duration::from_secs(10), || {
        host.history(SHOP, customer)
            .iter()
            .any(|s| matches!(&s.event.body, EventBody::Message(m) if m.role == AuthorRole::Agent))
            .then_some(())
    })
    .await;
    let rounds_before = jd.calls_of(SESSION_LIST).len();
    eventually("three more rounds", Duration::from_secs(10), || {
        (jd.calls_of(SESSION_LIST).len() >= rounds_before + 3).then_some(())
    })
    .await;
    let history = host.history(SHOP, customer);
    let messages: Vec<(AuthorRole, Direction, String)> = history
        .iter()
        .filter_map(|stored| match &stored.event.body {
            EventBody::Message(m) => Some((m.role, m.direction, format!("{:?}", m.content))),
            _ => None,
        })
        .collect();
    let roles: Vec<(AuthorRole, Direction)> = messages.iter().map(|m| (m.0, m.1)).collect();
    assert_eq!(
        roles,
        vec![
            (AuthorRole::Customer, Direction::Inbound),
            (AuthorRole::Bot, Direction::Outbound),
            (AuthorRole::Agent, Direction::Outbound),
        ],
        "each stored once, the bot's reply not again from the chat log: {history:#?}"
    );
    assert!(messages[0].2.contains("我的快递到哪了"));
    assert!(messages[2].2.contains("人工客服小王"));
    assert_eq!(jd.pushes().len(), 1, "nothing is answered twice");
    assert_eq!(host.outbox(SHOP, customer).len(), 1);
    assert!(
        jd.calls().iter().all(|call| call.error_code.is_none()),
        "every call signed and authorised: {:#?}",
        jd.calls()
    );
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paid_order_is_stored_once_per_state_and_looked_up() {
    let jd = start_jd().await;
    let order = "1000000001";
    jd.set_order(
        order,
        "WAIT_SELLER_STOCK_OUT",
        "99.00",
        "jd_buyer_0002",
        jd.now_ms() - 30_000,
    );
    let host = TestHost::start(&config(&jd, "\"orders\"", "")).await;
    let conversation = format!("order_{order}");

    let outbox = finished(&host, &conversation, 1).await;
    let OutboxStatus::Delivered { receipt, .. } = &outbox[0].status else {
        panic!("the look-up was not delivered: {outbox:#?}")
    };
    let summary: serde_json::Value =
        serde_json::from_str(receipt.result_json.as_deref().unwrap()).unwrap();
    assert_eq!(summary["order_id"], order);
    assert_eq!(summary["state"], "paid");
    assert_eq!(summary["amount"], "99.00");

    // The order ships; later rounds see both states, each stored once.
    jd.set_order(
        order,
        "WAIT_GOODS_RECEIVE_CONFIRM",
        "99.00",
        "jd_buyer_0002",
        jd.now_ms(),
    );
    eventually("the shipped state", Duration::from_secs(10), || {
        (host.history(SHOP, &conversation).len() >= 2).then_some(())
    })
    .await;
    let searches = jd.calls_of("jingdong.pop.order.search").len();
    eventually("two more rounds", Duration::from_secs(10), || {
        (jd.calls_of("jingdong.pop.order.search").len() >= searches + 2).then_some(())
    })
    .await;
    let history = host.history(SHOP, &conversation);
    let kinds: Vec<CommerceKind> = history
        .iter()
        .filter_map(|stored| match &stored.event.body {
            EventBody::Commerce(c) => Some(c.kind),
            _ => None,
        })
        .collect();
    assert_eq!(
        kinds,
        vec![CommerceKind::OrderPaid, CommerceKind::OrderShipped],
        "{history:#?}"
    );
    let EventBody::Commerce(paid) = &history[0].event.body else {
        unreachable!()
    };
    assert_eq!(paid.amount.as_deref(), Some("99.00"));
    assert_eq!(
        paid.customer.as_ref().unwrap().platform_user_id,
        "jd_buyer_0002"
    );
    let look_ups = jd.calls_of("jingdong.pop.order.get");
    assert!(!look_ups.is_empty());
    assert_eq!(look_ups[0].business()["order_id"], order);
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parcel_question_with_an_order_number_is_answered_from_the_look_up() {
    let jd = start_jd().await;
    let order = "1000000007";
    jd.set_order(
        order,
        "WAIT_GOODS_RECEIVE_CONFIRM",
        "59.00",
        "jd_buyer_0005",
        jd.now_ms() - 3_600_000,
    );
    let customer = "jd_buyer_0005";
    jd.customer_says(
        customer,
        WAITER,
        "sid-0005",
        &format!("订单{order}的快递到哪了"),
        jd.now_ms() - 60_000,
    );
    let with_agent = format!(
        "{}\n[admin]\nassignment = \"manual\"\n\n[[agents]]\nid = \"mei\"\nshops = [\"{SHOP}\"]\n",
        config(&jd, "\"chatlog\"", PARTNER_IDS)
    );
    let host = TestHost::start(&with_agent).await;

    // The look-up, then the answer made from its result.
    let outbox = finished(&host, customer, 2).await;
    assert!(
        outbox
            .iter()
            .all(|item| matches!(item.status, OutboxStatus::Delivered { .. })),
        "{outbox:#?}"
    );
    let look_ups = jd.calls_of("jingdong.pop.order.get");
    assert_eq!(look_ups.len(), 1);
    assert_eq!(look_ups[0].business()["order_id"], order);
    let pushes = jd.pushes();
    assert_eq!(pushes.len(), 1, "{pushes:#?}");
    assert!(pushes[0].text.contains(order), "{}", pushes[0].text);
    assert!(pushes[0].text.contains("已发货"), "{}", pushes[0].text);
    assert!(
        pushes[0].text.contains("JDV000000000001"),
        "{}",
        pushes[0].text
    );

    // The agents' console shows the order in the customer panel.
    tongdao::auth::credentials::set_secret(&host.data_dir(), "mei", Some("mei-password-1"))
        .unwrap();
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let signed_in = browser
        .post(format!("{}/console/sign-in", host.base_url))
        .form(&[("agent", "mei"), ("password", "mei-password-1")])
        .send()
        .await
        .unwrap();
    let cookie = signed_in.headers()["set-cookie"].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let page = browser
        .get(format!(
            "{}/console?tab=all&shop={SHOP}&conversation={customer}",
            host.base_url
        ))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let orders = &page[page.find("id=\"orders\"").expect("the orders panel")..];
    let orders = &orders[..orders.find("</ul>").unwrap()];
    assert!(orders.contains(order), "{orders}");
    assert!(
        orders.contains("已发货") && orders.contains("¥59.00"),
        "{orders}"
    );
    assert!(orders.contains("JDV000000000001"), "the parcel: {orders}");
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_number_sent_after_the_bot_asks_for_it_completes_the_look_up() {
    let jd = start_jd().await;
    let order = "1000000009";
    jd.set_order(
        order,
        "WAIT_GOODS_RECEIVE_CONFIRM",
        "88.00",
        "jd_buyer_0009",
        jd.now_ms() - 3_600_000,
    );
    let customer = "jd_buyer_0009";
    jd.customer_says(
        customer,
        WAITER,
        "sid-0009",
        "我的快递到哪了",
        jd.now_ms() - 60_000,
    );
    let host = TestHost::start(&config(&jd, "\"chatlog\"", PARTNER_IDS)).await;

    // No order number: the bot asks for it, and looks nothing up yet.
    finished(&host, customer, 1).await;
    let pushes = jd.pushes();
    assert_eq!(pushes.len(), 1, "{pushes:#?}");
    assert_eq!(
        pushes[0].text,
        tongdao_e2e::harness::first_reply_for("logistics")
    );
    assert!(jd.calls_of("jingdong.pop.order.get").is_empty());

    // The number alone, in the next message, completes the look-up.
    jd.customer_says(customer, WAITER, "sid-0009", order, jd.now_ms() - 1_000);
    let outbox = finished(&host, customer, 3).await;
    assert!(
        outbox
            .iter()
            .all(|item| matches!(item.status, OutboxStatus::Delivered { .. })),
        "{outbox:#?}"
    );
    let look_ups = jd.calls_of("jingdong.pop.order.get");
    assert_eq!(look_ups.len(), 1);
    assert_eq!(look_ups[0].business()["order_id"], order);
    let pushes = jd.pushes();
    assert_eq!(pushes.len(), 2, "{pushes:#?}");
    assert!(pushes[1].text.contains(order), "{}", pushes[1].text);
    assert!(pushes[1].text.contains("已发货"), "{}", pushes[1].text);

    // The question is settled: another bare number starts nothing.
    jd.customer_says(customer, WAITER, "sid-0009", "1000000010", jd.now_ms());
    eventually("the third message to be stored", Duration::from_secs(15), || {
        let asked = host
            .history(SHOP, customer)
            .iter()
            .filter(|s| matches!(&s.event.body, EventBody::Message(m) if m.role == AuthorRole::Customer))
            .count();
        (asked == 3).then_some(())
    })
    .await;
    host.settled().await;
    assert_eq!(jd.calls_of("jingdong.pop.order.get").len(), 1);
    assert_eq!(jd.pushes().len(), 3, "the bot says it cannot answer that");
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_token_is_refreshed_and_a_garbled_page_is_polled_again() {
    let jd = start_jd().await;
    // The configured token has expired on JD's side, and the first session
    // list after the refresh comes back as a proxy's error page.
    jd.expire_access_tokens();
    jd.garble_next(SESSION_LIST, 1);
    let customer = "jd_buyer_0003";
    jd.customer_says(
        customer,
        WAITER,
        "sid-0003",
        "我的快递到哪了",
        jd.now_ms() - 60_000,
    );
    let extra = format!("{PARTNER_IDS}, refresh_token = \"jd-refresh-0\"");
    let host = TestHost::start(&config(&jd, "\"chatlog\"", &extra)).await;

    let outbox = finished(&host, customer, 1).await;
    assert!(
        matches!(outbox[0].status, OutboxStatus::Delivered { .. }),
        "{outbox:#?}"
    );
    assert_eq!(jd.refreshes(), vec![true], "refreshed once");
    let lists = jd.calls_of(SESSION_LIST);
    assert_eq!(lists[0].error_code.as_deref(), Some("19"));
    assert_eq!(lists[0].param("access_token"), Some("jd-token-0"));
    assert!(
        lists[1..]
            .iter()
            .all(|call| call.param("access_token") == Some("jd-access-1")),
        "the refreshed token is used from then on"
    );
    let push = jd.calls_of("jingdong.dongdong.packet.josChatMessage.push");
    assert_eq!(push[0].business()["param1"]["accessToken"], "jd-access-1");
    let history = host.history(SHOP, customer);
    let questions = history
        .iter()
        .filter(
            |s| matches!(&s.event.body, EventBody::Message(m) if m.role == AuthorRole::Customer),
        )
        .count();
    assert_eq!(questions, 1);
    let metrics = host.metrics();
    assert!(
        !metrics.contains("tongdao_polls_total{result=\"failed\"} 0"),
        "the garbled page counted as a failed poll: {metrics}"
    );
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_partner_ids_a_send_is_refused_with_the_reason() {
    let jd = start_jd().await;
    let customer = "jd_buyer_0004";
    jd.customer_says(
        customer,
        WAITER,
        "sid-0004",
        "我的快递到哪了",
        jd.now_ms() - 60_000,
    );
    let host = TestHost::start(&config(&jd, "\"chatlog\"", "")).await;

    let outbox = finished(&host, customer, 1).await;
    let OutboxStatus::Failed { kind, reason, .. } = &outbox[0].status else {
        panic!("the send was not refused: {outbox:#?}")
    };
    assert_eq!(*kind, tongdao::model::FailureKind::Refused);
    assert!(reason.contains("dongdong_accessid"), "{reason}");
    assert!(jd.pushes().is_empty());
    assert!(
        jd.calls_of("jingdong.dongdong.packet.josChatMessage.push")
            .is_empty()
    );
    host.stop().await;
}
