//! Proactive care in TMC runs: the Tmall shop has one care rule, a thank-you
//! for every paid order sent as a WeChat template message through an
//! Official Account shop (`load-oa`) served by the WeChat emulator. Before
//! the run, each of [`BUYERS`] buyers is met on both shops (an order
//! created on Tmall, a follow on the account) and linked through the admin
//! API; the run's paid orders are spread over them. The audit then counts
//! the thank-yous the emulator accepted per order: each confirmed order
//! must get exactly one, through kills (the template's `client_msg_id`, the
//! rule's key, makes a resend after a crash a repeat WeChat drops).

use crate::platform::SHOP;
use anyhow::Context;
use serde_json::json;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};
use tongdao_emulator_taobao::TaobaoEmulator;
use tongdao_emulator_wechat::api::{WechatApiConfig, WechatApiEmulator};
use tongdao_emulator_wechat::signing::WechatPusher;

/// The Official Account shop care goes through.
pub const OA_SHOP: &str = "load-oa";
/// Buyers the run's orders are spread over.
pub const BUYERS: usize = 256;
/// The thank-you's template.
const TEMPLATE: &str = "TPL_LOAD_PAID";
const APP_ID: &str = "wxloadcare000001";
const APP_SECRET: &str = "load-care-app-secret";
const TOKEN: &str = "loadcaretoken";
/// Orders created to meet the buyers are numbered from here (below the
/// run's orders, so the audit never counts them).
const SETUP_TID: u64 = 3_000_000_000_000_000_000;

/// Whether `tid` is an order created to meet a buyer.
pub fn is_setup_order(tid: &str) -> bool {
    tid.parse::<u64>()
        .is_ok_and(|tid| (SETUP_TID..SETUP_TID + BUYERS as u64).contains(&tid))
}

/// The buyer of message `index`.
pub fn buyer(index: usize) -> String {
    buyer_id(index % BUYERS)
}

fn buyer_id(b: usize) -> String {
    format!("load-buyer-{b:04}")
}

fn follower(b: usize) -> String {
    format!("oLoadFollower{b:04}xxxxxxxxxx")
}

/// The WeChat emulator: it has the template, and every buyer's follower
/// follows the account.
pub async fn start_wechat() -> anyhow::Result<WechatApiEmulator> {
    let wechat = WechatApiEmulator::start(WechatApiConfig::new(APP_ID, APP_SECRET)).await?;
    wechat.add_template(TEMPLATE);
    for b in 0..BUYERS {
        wechat.follow(&follower(b));
    }
    Ok(wechat)
}

/// The Tmall shop's `[shops.care]` (to follow its `[[shops]]` lines).
pub fn care_toml() -> String {
    format!(
        "[shops.care]\nvia = [\"{OA_SHOP}\"]\nmost_per_customer = 100\ncap_window_secs = 1\n\
         [[shops.care.rules]]\nname = \"thanks\"\non = \"paid\"\ntext = \"感谢下单，订单{{order_id}}\"\n\
         wechat_template = \"{TEMPLATE}\"\nfields = {{ keyword1 = \"{{order_id}}\" }}\n"
    )
}

/// The WeChat plugin, the Official Account shop and the admin token.
pub fn oa_toml(workspace: &Path, wechat: &WechatApiEmulator) -> String {
    format!(
        "[[plugins]]\nname = \"wechat\"\ncomponent = \"{}\"\nmanifest = \"{}\"\n\n\
         [[shops]]\nid = \"{OA_SHOP}\"\nplugin = \"wechat\"\negress = [\"api.weixin.qq.com\"]\n\
         credentials = {{ app_id = \"{APP_ID}\", app_secret = \"{APP_SECRET}\", token = \"{TOKEN}\" }}\n\
         api_base = {{ \"api.weixin.qq.com\" = \"{}\" }}\n\n[admin]\n{}",
        workspace.join("target/plugins/wechat.wasm").display(),
        workspace
            .join("plugins/wechat/tongdao-plugin.toml")
            .display(),
        wechat.base_url(),
        crate::swaps::admin_token_line(),
    )
}

/// Meets every buyer on both shops and links the two identities.
pub async fn link_buyers(taobao: &TaobaoEmulator, target: SocketAddr) -> anyhow::Result<()> {
    let base = format!("http://{target}");
    let client = reqwest::Client::new();
    let pusher = WechatPusher::new(TOKEN, APP_ID, None);
    let now = tongdao::clock::now_ms() / 1000;
    for b in 0..BUYERS {
        let tid = SETUP_TID + b as u64;
        taobao.add_trade(
            &tid.to_string(),
            json!({"tid": tid, "status": "WAIT_BUYER_PAY", "payment": "1.00"}),
        );
        let content =
            json!({"tid": tid, "buyer_open_uid": buyer_id(b), "status": "WAIT_BUYER_PAY"});
        taobao.enqueue("taobao_trade_TradeCreate", &content.to_string());
        let push = pusher.plaintext(
            &format!("/hooks/wechat/{OA_SHOP}"),
            &pusher.subscribe_xml(&follower(b), now),
        );
        let answer = push.send(&client, &base).await?;
        anyhow::ensure!(answer.status == 200, "a follow push: {answer:?}");
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    for b in 0..BUYERS {
        for (shop, user) in [(SHOP, buyer_id(b)), (OA_SHOP, follower(b))] {
            loop {
                let status = admin(
                    &client,
                    &base,
                    reqwest::Method::GET,
                    &format!("customers/{shop}/{user}"),
                    None,
                )
                .await?;
                if status == 200 {
                    break;
                }
                anyhow::ensure!(
                    Instant::now() < deadline,
                    "the host never met {shop}/{user}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        let link = json!({"a": [SHOP, buyer_id(b)], "b": [OA_SHOP, follower(b)]});
        let status = admin(
            &client,
            &base,
            reqwest::Method::POST,
            "customers/links",
            Some(link),
        )
        .await?;
        anyhow::ensure!(status == 200, "linking buyer {b}: {status}");
    }
    Ok(())
}

async fn admin(
    client: &reqwest::Client,
    base: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> anyhow::Result<u16> {
    let mut request = client
        .request(method, format!("{base}/admin/{path}"))
        .bearer_auth(crate::swaps::ADMIN_TOKEN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request
        .send()
        .await
        .with_context(|| format!("/admin/{path}"))?;
    Ok(response.status().as_u16())
}

/// Thank-yous the emulator accepted, per order id.
pub fn thanks_per_order(wechat: &WechatApiEmulator) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for notice in wechat.notices() {
        if let Some(tid) = notice.fields.get("keyword1") {
            *counts.entry(tid.clone()).or_default() += 1;
        }
    }
    counts
}
