//! The agents' console over real HTTP, end to end with the WeChat Official
//! Account: an agent signs in with their own credential (HttpOnly,
//! SameSite=Strict session cookie), sees an angry customer in 待接入 with
//! the reason and wait, takes the conversation and replies (the WeChat
//! emulator receives it), transfers it to a colleague who finds it in 我的
//! and closes it. A post without the session's CSRF token is refused, a
//! signed-out page redirects to sign-in, and an agent cannot open another
//! shop's conversation.

use std::time::Duration;
use tongdao::responder::SOOTHING_REPLY;
use tongdao_e2e::harness::{TestHost, bot_entry, eventually, plugin_entry};
use tongdao_emulator_wechat::api::{WechatApiConfig, WechatApiEmulator};
use tongdao_emulator_wechat::signing::WechatPusher;

const APP_ID: &str = "wx2c2769f8efd9abc2";
const SECRET: &str = "demo-app-secret";
const CUSTOMER: &str = "oConsoleCustomer0000001";

fn config(api: &WechatApiEmulator) -> String {
    format!(
        "{}\n{}\n[admin]\nassignment = \"manual\"\n\n[[agents]]\nid = \"mei\"\nshops = [\"demo-oa\"]\n\n[[agents]]\nid = \"lei\"\nshops = [\"demo-oa\"]\n\n[[agents]]\nid = \"zhou\"\nshops = [\"other-oa\"]\n\n[[shops]]\nid = \"demo-oa\"\nplugin = \"wechat\"\negress = [\"api.weixin.qq.com\"]\ncredentials = {{ app_id = \"{APP_ID}\", app_secret = \"{SECRET}\", token = \"spamtest\" }}\napi_base = {{ \"api.weixin.qq.com\" = \"{base}\" }}\n\n[[shops]]\nid = \"other-oa\"\nplugin = \"wechat\"\negress = [\"api.weixin.qq.com\"]\ncredentials = {{ app_id = \"wx0000000000other\", app_secret = \"other-secret\", token = \"othertoken\" }}\napi_base = {{ \"api.weixin.qq.com\" = \"{base}\" }}\n",
        bot_entry(),
        plugin_entry("wechat"),
        base = api.base_url()
    )
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A signed-in browser: its session cookie.
struct Browser {
    base: String,
    cookie: String,
}

impl Browser {
    async fn sign_in(host: &TestHost, agent: &str) -> Browser {
        let response = client()
            .post(format!("{}/console/sign-in", host.base_url))
            .form(&[("agent", agent), ("password", &password(agent))])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 303);
        assert_eq!(response.headers()["location"], "/console");
        let set_cookie = response.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
        assert!(set_cookie.contains("SameSite=Strict"), "{set_cookie}");
        Browser {
            base: host.base_url.clone(),
            cookie: set_cookie.split(';').next().unwrap().to_owned(),
        }
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let response = client()
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> (u16, String) {
        let response = client()
            .post(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .form(form)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// The CSRF token of the workbench's forms.
    async fn csrf(&self) -> String {
        let (status, page) = self.get("/console").await;
        assert_eq!(status, 200, "{page}");
        let marker = "name=\"csrf\" value=\"";
        let start = page.find(marker).expect("a form with a CSRF token") + marker.len();
        page[start..start + 64].to_owned()
    }
}

fn password(agent: &str) -> String {
    format!("{agent}-console-password")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_signs_in_takes_replies_and_transfers_and_a_colleague_closes() {
    let api = WechatApiEmulator::start(WechatApiConfig::new(APP_ID, SECRET))
        .await
        .unwrap();
    let host = TestHost::start(&config(&api)).await;
    for agent in ["mei", "lei", "zhou"] {
        tongdao::auth::credentials::set_secret(&host.data_dir(), agent, Some(&password(agent)))
            .unwrap();
    }

    // Signed out: the console sends you to sign in; a wrong password says so.
    let response = client()
        .get(format!("{}/console", host.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(response.headers()["location"], "/console/sign-in");
    let response = client()
        .post(format!("{}/console/sign-in", host.base_url))
        .form(&[("agent", "mei"), ("password", "not-her-password")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    assert!(response.text().await.unwrap().contains("账号或密码不对"));

    let mei = Browser::sign_in(&host, "mei").await;

    // An angry customer: soothed by the bot, waiting in 待接入 with why.
    let now = tongdao::clock::now_ms() / 1000;
    api.customer_wrote(CUSTOMER, now);
    let pusher = WechatPusher::new("spamtest", APP_ID, None);
    let push = pusher.plaintext(
        "/hooks/wechat/demo-oa",
        &pusher.text_xml_at(CUSTOMER, now, "什么破服务，再不处理我就去12315投诉！", 7001),
    );
    assert_eq!(
        push.send(&client(), &host.base_url).await.unwrap().status,
        200
    );
    api.wait_for_messages(1, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(api.sent_messages()[0].text.as_deref(), Some(SOOTHING_REPLY));
    let queue = eventually("the customer in 待接入", Duration::from_secs(10), || {
        let page = futures_lite_block(mei.get("/console?tab=queue"));
        page.1.contains(CUSTOMER).then_some(page.1)
    })
    .await;
    assert!(queue.contains("投诉风险"), "{queue}");
    assert!(queue.contains("排队第 1"), "{queue}");

    // Forms need the session's token.
    let take = format!("/console/conversations/demo-oa/{CUSTOMER}/take");
    let (status, body) = mei.post(&take, &[]).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = mei.post(&take, &[("csrf", "forged")]).await;
    assert_eq!(status, 403, "{body}");
    let csrf = mei.csrf().await;
    let (status, body) = mei.post(&take, &[("csrf", &csrf)]).await;
    assert_eq!(status, 303, "{body}");

    // The thread shows the customer's message and the bot's reply; the
    // reply reaches WeChat.
    let (status, thread) = mei
        .get(&format!(
            "/console?tab=mine&shop=demo-oa&conversation={CUSTOMER}"
        ))
        .await;
    assert_eq!(status, 200);
    assert!(thread.contains("12315投诉"), "{thread}");
    assert!(thread.contains(SOOTHING_REPLY), "{thread}");
    assert!(thread.contains("id=\"reply-text\""), "{thread}");
    let reply = format!("/console/conversations/demo-oa/{CUSTOMER}/reply");
    let (status, body) = mei
        .post(
            &reply,
            &[("csrf", &csrf), ("text", "非常抱歉，我马上为您处理")],
        )
        .await;
    assert_eq!(status, 303, "{body}");
    let sent = api
        .wait_for_messages(2, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(sent[1].text.as_deref(), Some("非常抱歉，我马上为您处理"));

    // Transferred to lei, who finds it in 我的 and closes it.
    let transfer = format!("/console/conversations/demo-oa/{CUSTOMER}/transfer");
    let (status, body) = mei.post(&transfer, &[("csrf", &csrf), ("to", "lei")]).await;
    assert_eq!(status, 303, "{body}");
    let lei = Browser::sign_in(&host, "lei").await;
    let (_, mine) = lei.get("/console?tab=mine").await;
    assert!(mine.contains(CUSTOMER), "{mine}");
    let lei_csrf = lei.csrf().await;
    let close = format!("/console/conversations/demo-oa/{CUSTOMER}/close");
    let (status, body) = mei.post(&close, &[("csrf", &csrf)]).await;
    assert_eq!(status, 403, "mei no longer holds it: {body}");
    let (status, body) = lei.post(&close, &[("csrf", &lei_csrf)]).await;
    assert_eq!(status, 303, "{body}");
    assert!(
        host.state()
            .store
            .handoff("demo-oa", CUSTOMER)
            .unwrap()
            .is_none()
    );

    // An agent of another shop cannot open the conversation.
    let zhou = Browser::sign_in(&host, "zhou").await;
    let (status, _) = zhou
        .get(&format!("/console?shop=demo-oa&conversation={CUSTOMER}"))
        .await;
    assert_eq!(status, 403);
    let (_, list) = zhou.get("/console?tab=all").await;
    assert!(!list.contains(CUSTOMER));

    // Signed out, the session is gone.
    let zhou_csrf = zhou.csrf().await;
    let (status, _) = zhou
        .post("/console/sign-out", &[("csrf", &zhou_csrf)])
        .await;
    assert_eq!(status, 303);
    let (status, _) = zhou.get("/console").await;
    assert_eq!(status, 303);
    host.stop().await;
}

/// Runs a future to completion from a synchronous probe.
fn futures_lite_block<F: std::future::Future>(future: F) -> F::Output {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(future))
}
