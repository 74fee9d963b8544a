//! The agents' console in a real headless browser (Debian's chromium,
//! driven through chromium-driver with fantoccini; `scripts/test` installs
//! both). Two agents, each in their own browser:
//! 1. mei signs in;
//! 2. an angry WeChat customer appears in her 待接入 live, without a reload;
//! 3. she saves a canned reply for the shop, takes the conversation and
//!    replies with it through the reply box's `/` menu, and adds a private
//!    note, which is never sent;
//! 4. the WeChat emulator receives the reply;
//! 5. she transfers it to lei, whose open 我的 tab shows it arrive live;
//! 6. lei closes it.
//!
//! Also in the browser: a post without the CSRF token is refused, a
//! signed-out page goes to sign-in, and an agent cannot open another shop's
//! conversation. Screenshots of the main screens are saved under
//! `target/console-screenshots/`.

use fantoccini::{Client, ClientBuilder, Locator};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tongdao_e2e::harness::{CONSOLE_WECHAT, TestHost, console_config};
use tongdao_emulator_wechat::api::{WechatApiConfig, WechatApiEmulator};
use tongdao_emulator_wechat::signing::WechatPusher;

const APP_ID: &str = CONSOLE_WECHAT.0;
const SECRET: &str = CONSOLE_WECHAT.1;
const CUSTOMER: &str = "oBrowserCustomer000001";

fn config(api: &WechatApiEmulator) -> String {
    console_config(&api.base_url())
}

fn password(agent: &str) -> String {
    format!("{agent}-browser-password")
}

/// chromedriver on a free port, killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    async fn start() -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let binary = ["chromedriver", "/usr/bin/chromedriver"]
            .into_iter()
            .find(|b| Command::new(b).arg("--version").output().is_ok())
            .expect(
                "chromedriver is not installed: scripts/test installs Debian's chromium-driver",
            );
        let mut child = Command::new(binary)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let url = format!("http://127.0.0.1:{port}");
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Driver { child, url };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("chromedriver did not start");
    }

    async fn browser(&self) -> Client {
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update",
                    "--window-size=1280,800", "--lang=zh-CN"
                ]
            }),
        );
        // chromedriver listens on loopback: plain HTTP, no TLS.
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .expect("a chromium session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn screenshot(browser: &Client, name: &str) {
    let png = browser.screenshot().await.unwrap();
    std::fs::write(screenshots().join(format!("{name}.png")), png).unwrap();
}

async fn sign_in(browser: &Client, base: &str, agent: &str) {
    browser.goto(&format!("{base}/console")).await.unwrap();
    assert!(
        browser
            .current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/console/sign-in"),
        "signed out, the console goes to sign-in"
    );
    browser
        .find(Locator::Css("input[name=agent]"))
        .await
        .unwrap()
        .send_keys(agent)
        .await
        .unwrap();
    browser
        .find(Locator::Css("input[name=password]"))
        .await
        .unwrap()
        .send_keys(&password(agent))
        .await
        .unwrap();
    browser
        .find(Locator::Id("sign-in"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait()
        .for_element(Locator::Id("me"))
        .await
        .expect("the workbench after signing in");
}

/// Waits (up to 10 s) for the conversation's row in the list, which only a
/// live update can bring: the test never reloads the page.
async fn row_appears(browser: &Client) {
    browser
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(&format!(
            "#list a[data-conversation='{CUSTOMER}']"
        )))
        .await
        .expect("the conversation to appear live");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_agents_work_a_conversation_in_real_browsers() {
    let api = WechatApiEmulator::start(WechatApiConfig::new(APP_ID, SECRET))
        .await
        .unwrap();
    let host = TestHost::start(&config(&api)).await;
    for agent in ["mei", "lei", "zhou"] {
        tongdao::auth::credentials::set_secret(&host.data_dir(), agent, Some(&password(agent)))
            .unwrap();
    }
    let base = host.base_url.clone();
    let driver = Driver::start().await;
    let mei = driver.browser().await;
    let lei = driver.browser().await;

    // 1. mei signs in; her queue is empty.
    sign_in(&mei, &base, "mei").await;
    mei.find(Locator::Id("empty")).await.unwrap();
    screenshot(&mei, "1-empty-queue").await;

    // 2. An angry customer appears in 待接入 while she watches.
    let now = tongdao::clock::now_ms() / 1000;
    api.customer_wrote(CUSTOMER, now);
    let pusher = WechatPusher::new("spamtest", APP_ID, None);
    let push = pusher.plaintext(
        "/hooks/wechat/demo-oa",
        &pusher.text_xml_at(CUSTOMER, now, "东西坏了没人管，我要去12315投诉你们！", 9001),
    );
    let client = reqwest::Client::new();
    assert_eq!(push.send(&client, &base).await.unwrap().status, 200);
    row_appears(&mei).await;
    let row = mei
        .find(Locator::Css(&format!(
            "#list a[data-conversation='{CUSTOMER}']"
        )))
        .await
        .unwrap();
    let row_text = row.text().await.unwrap();
    assert!(row_text.contains("投诉风险"), "{row_text}");
    screenshot(&mei, "2-angry-customer-waiting").await;

    // A post without the CSRF token, from the signed-in page, is refused.
    let status = mei
        .execute_async(
            &format!(
                "const done = arguments[arguments.length - 1];
                 fetch('/console/conversations/demo-oa/{CUSTOMER}/take', {{method: 'POST'}})
                   .then(r => done(r.status));"
            ),
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(status, 403);

    // 3. She saves a canned reply for the shop, takes the conversation,
    //    and replies with it through the reply box's `/` menu; 4. WeChat
    //    receives the reply.
    const CANNED: &str = "非常抱歉给您添麻烦了，我马上为您处理";
    mei.goto(&format!("{base}/console/canned?shop=demo-oa"))
        .await
        .unwrap();
    mei.find(Locator::Id("canned-name"))
        .await
        .unwrap()
        .send_keys("致歉")
        .await
        .unwrap();
    mei.find(Locator::Id("canned-text"))
        .await
        .unwrap()
        .send_keys(CANNED)
        .await
        .unwrap();
    mei.find(Locator::Id("save-canned"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    mei.wait()
        .for_element(Locator::XPath(
            "//table[@id='canned-list']//td[contains(., '/致歉')]",
        ))
        .await
        .unwrap();
    mei.goto(&format!(
        "{base}/console?shop=demo-oa&conversation={CUSTOMER}"
    ))
    .await
    .unwrap();
    mei.wait()
        .for_element(Locator::Id("take"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let reply_box = mei
        .wait()
        .for_element(Locator::Id("reply-text"))
        .await
        .unwrap();
    reply_box.send_keys("/致").await.unwrap();
    mei.wait()
        .for_element(Locator::Css("#canned-menu div[data-name='致歉']"))
        .await
        .expect("the / menu lists the canned reply");
    reply_box.send_keys("\u{E007}").await.unwrap(); // Enter picks it
    let typed = reply_box.prop("value").await.unwrap();
    assert_eq!(typed.as_deref(), Some(CANNED));
    mei.find(Locator::Id("send"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let sent = api
        .wait_for_messages(2, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(sent[1].text.as_deref(), Some(CANNED));
    mei.wait()
        .for_element(Locator::XPath(
            "//div[contains(@class,'agent') and contains(., '马上为您处理')]",
        ))
        .await
        .unwrap();

    // A private note shows in the thread and never reaches the customer.
    mei.find(Locator::Id("note-text"))
        .await
        .unwrap()
        .send_keys("客户情绪激动，已承诺今天内回电")
        .await
        .unwrap();
    mei.find(Locator::Id("add-note"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    mei.wait()
        .for_element(Locator::XPath(
            "//div[contains(@class,'note') and contains(., '今天内回电')]",
        ))
        .await
        .unwrap();
    host.settled().await;
    assert_eq!(api.sent_messages().len(), 2, "the note is not sent");
    screenshot(&mei, "3-thread-after-reply").await;

    // 5. lei watches 我的; mei transfers it to him and it arrives live.
    sign_in(&lei, &base, "lei").await;
    lei.goto(&format!("{base}/console?tab=mine")).await.unwrap();
    lei.find(Locator::Id("empty")).await.unwrap();
    mei.find(Locator::Id("transfer-to"))
        .await
        .unwrap()
        .select_by_value("lei")
        .await
        .unwrap();
    mei.find(Locator::Id("transfer"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    row_appears(&lei).await;

    // 6. lei closes it.
    lei.find(Locator::Css(&format!(
        "#list a[data-conversation='{CUSTOMER}']"
    )))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    lei.wait()
        .for_element(Locator::Id("close"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    lei.wait().for_element(Locator::Id("empty")).await.unwrap();
    assert!(
        host.state()
            .store
            .handoff("demo-oa", CUSTOMER)
            .unwrap()
            .is_none()
    );

    // Another shop's agent cannot open the conversation.
    let zhou = driver.browser().await;
    sign_in(&zhou, &base, "zhou").await;
    zhou.goto(&format!(
        "{base}/console?shop=demo-oa&conversation={CUSTOMER}"
    ))
    .await
    .unwrap();
    let body = zhou
        .find(Locator::Css("body"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains("does not serve shop `demo-oa`"), "{body}");

    // Signed out, the console is behind sign-in again.
    mei.goto(&format!("{base}/console")).await.unwrap();
    mei.find(Locator::Id("sign-out"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    mei.goto(&format!("{base}/console?tab=all")).await.unwrap();
    assert!(
        mei.current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/console/sign-in")
    );
    screenshot(&mei, "4-sign-in").await;

    for browser in [mei, lei, zhou] {
        browser.close().await.unwrap();
    }
    host.stop().await;
}

/// A customer of demo-oa writes `text`.
async fn customer_writes(
    host: &TestHost,
    api: &WechatApiEmulator,
    customer: &str,
    text: &str,
    id: u64,
) {
    let now = tongdao::clock::now_ms() / 1000;
    api.customer_wrote(customer, now);
    let pusher = WechatPusher::new("spamtest", APP_ID, None);
    let push = pusher.plaintext(
        "/hooks/wechat/demo-oa",
        &pusher.text_xml_at(customer, now, text, id),
    );
    assert_eq!(
        push.send(&reqwest::Client::new(), &host.base_url)
            .await
            .unwrap()
            .status,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_reads_the_report_s_charts_in_a_real_browser() {
    let api = WechatApiEmulator::start(WechatApiConfig::new(APP_ID, SECRET))
        .await
        .unwrap();
    let config = config(&api).replacen(
        "[[shops]]",
        "[[agents]]\nid = \"boss\"\nrole = \"supervisor\"\n\n[[shops]]",
        1,
    );
    let host = TestHost::start(&config).await;
    for agent in ["boss", "mei"] {
        tongdao::auth::credentials::set_secret(&host.data_dir(), agent, Some(&password(agent)))
            .unwrap();
    }
    let questions = [
        "今天能发货吗",
        "什么时候发货",
        "怎么退货",
        "发什么快递",
        "请问公司的股票代码是什么",
        "公司上市了吗股票代码多少",
        "你们这是欺诈，我要去12315投诉！",
    ];
    for (i, text) in questions.iter().enumerate() {
        customer_writes(
            &host,
            &api,
            &format!("oReportCustomer{i:07}"),
            text,
            600 + i as u64,
        )
        .await;
    }
    host.decided().await;

    let driver = Driver::start().await;
    let boss = driver.browser().await;
    let base = host.base_url.clone();
    sign_in(&boss, &base, "boss").await;
    boss.goto(&format!("{base}/console/supervisor"))
        .await
        .unwrap();
    boss.find(Locator::Id("report-link"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    boss.wait()
        .for_element(Locator::Css("svg#chart-intents"))
        .await
        .expect("the report's charts");
    // Every chart is drawn, each intent asked is a bar, and the day's
    // messages are a point.
    for id in [
        "chart-messages",
        "chart-automation",
        "chart-negative",
        "chart-intents",
        "chart-scenarios",
        "chart-states",
        "chart-products",
    ] {
        boss.find(Locator::Css(&format!("svg#{id}"))).await.unwrap();
    }
    let bars = boss
        .find_all(Locator::Css("svg#chart-intents rect.bar"))
        .await
        .unwrap();
    assert!(bars.len() >= 3, "{} intent bars", bars.len());
    let points = boss
        .find_all(Locator::Css("svg#chart-messages circle.point"))
        .await
        .unwrap();
    assert!(!points.is_empty());
    let totals = boss
        .find(Locator::Id("totals"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(totals.contains("每日咨询量 7"), "{totals}");
    screenshot(&boss, "5-report").await;

    // An agent is not shown the report.
    let mei = driver.browser().await;
    sign_in(&mei, &base, "mei").await;
    mei.goto(&format!("{base}/console/report")).await.unwrap();
    let body = mei
        .find(Locator::Css("body"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains("supervisor"), "{body}");
    for browser in [boss, mei] {
        browser.close().await.unwrap();
    }
    host.stop().await;
}
