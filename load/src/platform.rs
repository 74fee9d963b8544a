//! The platforms the harness drives: for each, the shop the host serves,
//! the stand-in for the platform's API (which records every reply), and the
//! signed push that carries one customer message.

use crate::sends::{Sends, customer, index_of};
use crate::serve::{Answer, Call, json};
use crate::tmc;
use crate::wecom::{self, WecomStandIn};
use bytes::Bytes;
use serde_json::json as value;
use std::sync::Arc;
use tongdao_emulator_taobao::TaobaoEmulator;
use tongdao_emulator_wechat::signing::{cdata, signature};
use tongdao_emulator_wecom::callbacks::{CallbackOptions, WecomCallbacks};

/// The shop every run serves.
pub const SHOP: &str = "load";

/// What customers ask: a question the example knowledge base answers
/// outright, so every message earns exactly one reply.
pub const QUESTION: &str = "今天能发货吗";

/// A platform the harness can drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Platform {
    /// WeChat Official Account: plaintext pushes, replies through 客服消息.
    Wechat,
    /// WeCom 微信客服: an encrypted callback per message wakes a
    /// `kf/sync_msg` pull; replies through `kf/send_msg` with a client msgid.
    Wecom,
    /// Taobao TMC: paid orders pushed on the stream the host holds,
    /// confirmed after commit; the answer is the order look-up.
    Tmc,
}

/// A push ready to send: path with query, body, and the answer that
/// acknowledges it.
pub struct Push {
    /// Path and query.
    pub path_and_query: String,
    /// The body.
    pub body: Bytes,
}

const WECHAT_APP_ID: &str = "wxload0000000001";
const WECHAT_APP_SECRET: &str = "load-app-secret";
const WECHAT_TOKEN: &str = "loadtoken";
const WECHAT_ACCESS_TOKEN: &str = "LOAD_ACCESS_TOKEN";

/// A platform's side of a run: its stand-in's state and what the driver
/// sends.
pub struct Side {
    /// Which platform.
    pub platform: Platform,
    sends: Arc<Sends>,
    wecom: WecomStandIn,
    wecom_callbacks: WecomCallbacks,
    taobao: Option<TaobaoEmulator>,
    /// TMC: the WeChat emulator proactive care sends thank-yous through.
    wechat: Option<tongdao_emulator_wechat::api::WechatApiEmulator>,
    /// Every this many messages a customer threatens a complaint instead of
    /// asking [`QUESTION`] (WeChat; the console streams' load).
    pub threat_every: Option<usize>,
}

impl Side {
    /// The side of `platform`, recording replies in `sends`; for TMC this
    /// starts the Taobao emulator, and the WeChat one care goes through.
    pub async fn start(platform: Platform, sends: Arc<Sends>) -> anyhow::Result<Side> {
        let taobao = match platform {
            Platform::Tmc => Some(tmc::start(Arc::clone(&sends)).await?),
            _ => None,
        };
        let wechat = match platform {
            Platform::Tmc => Some(crate::care::start_wechat().await?),
            _ => None,
        };
        Ok(Side {
            platform,
            sends,
            wecom: WecomStandIn::default(),
            wecom_callbacks: WecomCallbacks::new(wecom::TOKEN, wecom::CORP_ID, wecom::AES_KEY),
            taobao,
            wechat,
            threat_every: None,
        })
    }

    /// Whether message `index` is a complaint threat.
    pub fn is_threat(&self, index: usize) -> bool {
        self.threat_every
            .is_some_and(|every| index.is_multiple_of(every))
    }

    /// The Taobao emulator of a TMC run.
    pub fn taobao(&self) -> Option<&TaobaoEmulator> {
        self.taobao.as_ref()
    }

    /// TMC: run without proactive care (no thank-yous, no linked buyers).
    pub fn without_care(&mut self) {
        self.wechat = None;
    }

    /// TMC: the WeChat emulator care goes through.
    pub fn care_wechat(&self) -> Option<&tongdao_emulator_wechat::api::WechatApiEmulator> {
        self.wechat.as_ref()
    }

    /// The plugin that serves it.
    pub fn plugin(&self) -> &'static str {
        match self.platform {
            Platform::Wechat => "wechat",
            Platform::Wecom => "wecom",
            Platform::Tmc => "tmall",
        }
    }

    /// The `[[shops]]` entry, with the platform's API host pointed at the
    /// stand-in.
    pub fn shop_toml(&self, stand_in: &str) -> String {
        match self.platform {
            Platform::Wechat => format!(
                "[[shops]]\nid = \"{SHOP}\"\nplugin = \"wechat\"\negress = [\"api.weixin.qq.com\"]\n\
                 credentials = {{ app_id = \"{WECHAT_APP_ID}\", app_secret = \"{WECHAT_APP_SECRET}\", token = \"{WECHAT_TOKEN}\" }}\n\
                 api_base = {{ \"api.weixin.qq.com\" = \"{stand_in}\" }}\n"
            ),
            Platform::Wecom => format!(
                "[[shops]]\nid = \"{SHOP}\"\nplugin = \"wecom\"\negress = [\"qyapi.weixin.qq.com\"]\n\
                 credentials = {{ corp_id = \"{}\", secret = \"{}\", token = \"{}\", encoding_aes_key = \"{}\" }}\n\
                 api_base = {{ \"qyapi.weixin.qq.com\" = \"{stand_in}\" }}\n",
                wecom::CORP_ID,
                wecom::SECRET,
                wecom::TOKEN,
                wecom::AES_KEY
            ),
            Platform::Tmc => {
                let taobao = self.taobao.as_ref().expect("a TMC side has the emulator");
                format!(
                    "[[shops]]\nid = \"{SHOP}\"\nplugin = \"tmall\"\negress = [\"gw.api.taobao.com\", \"mc.api.taobao.com\"]\n\
                     credentials = {{ app_key = \"{}\", app_secret = \"{}\", session = \"{}\" }}\n\
                     api_base = {{ \"gw.api.taobao.com\" = \"{}\", \"mc.api.taobao.com\" = \"{}\" }}\n{}",
                    tmc::APP_KEY,
                    tmc::APP_SECRET,
                    tmc::SESSION,
                    taobao.api_base_url(),
                    taobao.stream_url(),
                    if self.wechat.is_some() {
                        crate::care::care_toml()
                    } else {
                        String::new()
                    }
                )
            }
        }
    }

    /// The body that acknowledges a push.
    pub fn acknowledgement(&self) -> &'static [u8] {
        match self.platform {
            Platform::Wechat => b"success",
            Platform::Wecom | Platform::Tmc => b"",
        }
    }

    /// The conversation message `index` belongs to.
    pub fn conversation(&self, index: usize) -> String {
        match self.platform {
            Platform::Wechat => customer(index),
            Platform::Wecom => format!("{}:{}", wecom::OPEN_KFID, customer(index)),
            Platform::Tmc => format!("trade_{}", tmc::tid(index)),
        }
    }

    /// The signed push of message `index` of run `run`, sent at `unix_secs`
    /// (the same message each time it is resent).
    pub fn push(&self, run: u32, index: usize, unix_secs: i64) -> Push {
        match self.platform {
            Platform::Wechat => wechat_push(
                run,
                index,
                unix_secs,
                if self.is_threat(index) {
                    crate::console::THREAT
                } else {
                    QUESTION
                },
            ),
            Platform::Wecom => {
                let msgid = format!("from_msgid_{run}_{index}");
                self.wecom
                    .customer_says(index, &msgid, &customer(index), QUESTION, unix_secs);
                let options = CallbackOptions {
                    timestamp: Some(unix_secs),
                    nonce: Some(format!("{run}{index}")),
                    ..CallbackOptions::default()
                };
                let request = self
                    .wecom_callbacks
                    .kf_msg_or_event(
                        &format!("/hooks/wecom/{SHOP}"),
                        wecom::OPEN_KFID,
                        &format!("sync-{run}-{index}"),
                        &options,
                    )
                    .expect("sealing a callback");
                Push {
                    path_and_query: request.path_and_query(),
                    body: Bytes::from(request.body),
                }
            }
            Platform::Tmc => unreachable!("TMC messages are pushed by the platform's stream"),
        }
    }

    /// Answer a call to the platform's API as the platform does, recording
    /// every reply.
    pub fn answer(&self, call: &Call<'_>) -> Answer {
        match self.platform {
            Platform::Wechat => wechat_api(&self.sends, call),
            Platform::Wecom => self.wecom.answer(&self.sends, call),
            Platform::Tmc => (404, "text/plain", Bytes::from_static(b"not found")),
        }
    }
}

/// A WeChat plaintext push of one customer's `text`.
fn wechat_push(run: u32, index: usize, unix_secs: i64, text: &str) -> Push {
    let openid = customer(index);
    let timestamp = unix_secs.to_string();
    let nonce = format!("{run}{index}");
    let signature = signature(WECHAT_TOKEN, &timestamp, &nonce);
    let msg_id = u64::from(run) * 10_000_000_000 + index as u64;
    let body = format!(
        "<xml><ToUserName>{}</ToUserName><FromUserName>{}</FromUserName>\
         <CreateTime>{unix_secs}</CreateTime><MsgType>{}</MsgType>\
         <Content>{}</Content><MsgId>{msg_id}</MsgId></xml>",
        cdata("gh_load"),
        cdata(&openid),
        cdata("text"),
        cdata(text),
    );
    Push {
        path_and_query: format!(
            "/hooks/wechat/{SHOP}?signature={signature}&timestamp={timestamp}&nonce={nonce}&openid={openid}"
        ),
        body: Bytes::from(body),
    }
}

/// `stable_token` and `message/custom/send`, with WeChat's error codes for
/// a wrong secret, a wrong token and a malformed body.
fn wechat_api(sends: &Sends, call: &Call<'_>) -> Answer {
    let body: serde_json::Value = match serde_json::from_slice(call.body) {
        Ok(body) => body,
        Err(_) => return json(value!({"errcode": 47001, "errmsg": "data format error"})),
    };
    match call.path {
        "/cgi-bin/stable_token" => {
            if body["appid"] != WECHAT_APP_ID || body["secret"] != WECHAT_APP_SECRET {
                return json(value!({"errcode": 40125, "errmsg": "invalid appsecret"}));
            }
            json(value!({"access_token": WECHAT_ACCESS_TOKEN, "expires_in": 7200}))
        }
        "/cgi-bin/message/custom/send" => {
            if call.query_param("access_token") != Some(WECHAT_ACCESS_TOKEN) {
                return json(value!({"errcode": 40001, "errmsg": "invalid credential"}));
            }
            let Some(touser) = body["touser"].as_str() else {
                return json(value!({"errcode": 40003, "errmsg": "invalid openid"}));
            };
            sends.record(index_of(touser));
            json(value!({"errcode": 0, "errmsg": "ok"}))
        }
        _ => (404, "text/plain", Bytes::from_static(b"not found")),
    }
}
