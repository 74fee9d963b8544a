//! The platform side of WeChat Official Account webhooks, for end-to-end
//! tests: [`WechatPusher`] builds the requests WeChat sends to a server URL —
//! the URL-verification GET, plaintext pushes, and compatible/safe-mode
//! pushes sealed with AES-256-CBC and the 32-byte PKCS#7 padding — signs
//! them, can forge or age them, sends them like WeChat (5 s timeout), and
//! opens encrypted passive replies.
//!
//! The signing and crypto here are written independently of the plugin's
//! `wechat-crypto` crate, so a bug there cannot hide behind the same bug in
//! its test peer.

use aes::Aes256;
use anyhow::{Context, bail, ensure};
use base64::Engine;
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use rand::Rng;
use sha1::{Digest, Sha1};
use std::time::Duration;

/// How long WeChat waits for a webhook's answer before giving up (and
/// redelivering).
pub const WECHAT_PUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// The AES block size WeChat pads to: 32 bytes, not AES's 16.
const PAD_BLOCK: usize = 32;

/// `lowercase_hex(sha1(concat(sort(parts))))`: WeChat's signature over
/// the token, timestamp, nonce (and, for `msg_signature`, the `Encrypt`
/// value).
pub fn sha1_sorted(parts: &[&str]) -> String {
    let mut sorted = parts.to_vec();
    sorted.sort_unstable();
    hex::encode(Sha1::digest(sorted.concat().as_bytes()))
}

/// The `signature` query parameter: `sha1_sorted([token, timestamp, nonce])`.
pub fn signature(token: &str, timestamp: &str, nonce: &str) -> String {
    sha1_sorted(&[token, timestamp, nonce])
}

/// The `msg_signature` query parameter of safe and compatible modes:
/// `sha1_sorted([token, timestamp, nonce, encrypt])`.
pub fn msg_signature(token: &str, timestamp: &str, nonce: &str, encrypt: &str) -> String {
    sha1_sorted(&[token, timestamp, nonce, encrypt])
}

/// The 32-byte AES key of a 43-character EncodingAESKey
/// (`base64(EncodingAESKey + "=")`; the last character carries 2 spare bits,
/// which are allowed to be non-zero).
pub fn aes_key(encoding_aes_key: &str) -> anyhow::Result<[u8; 32]> {
    ensure!(
        encoding_aes_key.len() == 43,
        "an EncodingAESKey has 43 characters, this one {}",
        encoding_aes_key.len()
    );
    let lenient = GeneralPurpose::new(
        &alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
    );
    let key = lenient
        .decode(format!("{encoding_aes_key}="))
        .context("decoding the EncodingAESKey as base64")?;
    key.try_into()
        .map_err(|key: Vec<u8>| anyhow::anyhow!("the key decodes to {} bytes, not 32", key.len()))
}

fn cipher_parts(encoding_aes_key: &str) -> anyhow::Result<([u8; 32], [u8; 16])> {
    let key = aes_key(encoding_aes_key)?;
    let mut iv = [0u8; 16];
    iv.copy_from_slice(&key[..16]);
    Ok((key, iv))
}

/// Seal `message` for `receive_id` (the AppID) the way WeChat does:
/// `base64(AES-256-CBC(key, iv = key[..16], random ‖ u32be(len) ‖ message ‖
/// receive_id ‖ pkcs7_32))`.
pub fn encrypt(
    encoding_aes_key: &str,
    receive_id: &str,
    message: &str,
    random: [u8; 16],
) -> anyhow::Result<String> {
    let (key, iv) = cipher_parts(encoding_aes_key)?;
    let length = u32::try_from(message.len()).context("a message over 4 GiB")?;
    let mut plain = random.to_vec();
    plain.extend_from_slice(&length.to_be_bytes());
    plain.extend_from_slice(message.as_bytes());
    plain.extend_from_slice(receive_id.as_bytes());
    let pad = PAD_BLOCK - plain.len() % PAD_BLOCK;
    plain.extend(std::iter::repeat_n(pad as u8, pad));
    let length = plain.len();
    let sealed = cbc::Encryptor::<Aes256>::new(&key.into(), &iv.into())
        .encrypt_padded::<NoPadding>(&mut plain, length)
        .map_err(|_| anyhow::anyhow!("padding to the AES block size"))?;
    Ok(STANDARD.encode(sealed))
}

/// An opened WeChat envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// The message (XML or JSON).
    pub message: String,
    /// The receive id at its end (the AppID for an Official Account).
    pub receive_id: String,
}

/// Open an `Encrypt` value sealed with [`encrypt`] (or by the host), checking
/// the 32-byte padding strictly.
pub fn decrypt(encoding_aes_key: &str, encrypt: &str) -> anyhow::Result<Opened> {
    let (key, iv) = cipher_parts(encoding_aes_key)?;
    let mut data = STANDARD
        .decode(encrypt.trim())
        .context("decoding Encrypt as base64")?;
    ensure!(
        !data.is_empty() && data.len() % PAD_BLOCK == 0,
        "Encrypt holds {} bytes, not a non-zero multiple of {PAD_BLOCK}",
        data.len()
    );
    let plain = cbc::Decryptor::<Aes256>::new(&key.into(), &iv.into())
        .decrypt_padded::<NoPadding>(&mut data)
        .map_err(|_| anyhow::anyhow!("decrypting Encrypt"))?;
    let pad = usize::from(plain[plain.len() - 1]);
    ensure!(
        (1..=PAD_BLOCK).contains(&pad)
            && plain[plain.len() - pad..]
                .iter()
                .all(|&b| usize::from(b) == pad),
        "bad 32-byte PKCS#7 padding (last byte {pad}): wrong key or not sealed for a 32-byte block"
    );
    let plain = &plain[..plain.len() - pad];
    ensure!(
        plain.len() >= 20,
        "the envelope is {} bytes, shorter than its header",
        plain.len()
    );
    let length = u32::from_be_bytes([plain[16], plain[17], plain[18], plain[19]]) as usize;
    ensure!(
        20 + length <= plain.len(),
        "the envelope claims a {length}-byte message but holds {}",
        plain.len() - 20
    );
    let message = std::str::from_utf8(&plain[20..20 + length])
        .context("the sealed message is not UTF-8")?
        .to_string();
    let receive_id = std::str::from_utf8(&plain[20 + length..])
        .context("the sealed receive id is not UTF-8")?
        .to_string();
    Ok(Opened {
        message,
        receive_id,
    })
}

/// `<![CDATA[text]]>`, splitting any `]]>` inside `text`.
pub fn cdata(text: &str) -> String {
    format!("<![CDATA[{}]]>", text.replace("]]>", "]]]]><![CDATA[>"))
}

/// The text of the first `<tag>` element of `xml`: CDATA sections joined, or
/// the plain text with the five XML entities decoded. `None` if absent.
pub fn xml_field(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&close)?;
    let inner = &xml[start..end];
    if inner.contains("<![CDATA[") {
        let mut text = String::new();
        let mut rest = inner;
        while let Some(at) = rest.find("<![CDATA[") {
            let after = &rest[at + "<![CDATA[".len()..];
            let stop = after.find("]]>")?;
            text.push_str(&after[..stop]);
            rest = &after[stop + 3..];
        }
        Some(text)
    } else {
        Some(
            inner
                .trim()
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&apos;", "'")
                .replace("&amp;", "&"),
        )
    }
}

/// XML of a text message (`MsgType` text, with `MsgId`) from `from_openid`
/// to the account `to_user` (its original id, `gh_…`).
pub fn text_message_xml(
    to_user: &str,
    from_openid: &str,
    create_time: i64,
    content: &str,
    msg_id: u64,
) -> String {
    format!(
        "<xml><ToUserName>{}</ToUserName><FromUserName>{}</FromUserName><CreateTime>{create_time}</CreateTime><MsgType>{}</MsgType><Content>{}</Content><MsgId>{msg_id}</MsgId></xml>",
        cdata(to_user),
        cdata(from_openid),
        cdata("text"),
        cdata(content)
    )
}

/// XML of an image message (`PicUrl`, `MediaId`, `MsgId`).
pub fn image_message_xml(
    to_user: &str,
    from_openid: &str,
    create_time: i64,
    pic_url: &str,
    media_id: &str,
    msg_id: u64,
) -> String {
    format!(
        "<xml><ToUserName>{}</ToUserName><FromUserName>{}</FromUserName><CreateTime>{create_time}</CreateTime><MsgType>{}</MsgType><PicUrl>{}</PicUrl><MediaId>{}</MediaId><MsgId>{msg_id}</MsgId></xml>",
        cdata(to_user),
        cdata(from_openid),
        cdata("image"),
        cdata(pic_url),
        cdata(media_id)
    )
}

/// XML of an event (`MsgType` event, no `MsgId`): `event` is `subscribe`,
/// `unsubscribe`, `SCAN`, `CLICK`, `VIEW`, …; `event_key` is added when given.
pub fn event_xml(
    to_user: &str,
    from_openid: &str,
    create_time: i64,
    event: &str,
    event_key: Option<&str>,
) -> String {
    let key = event_key
        .map(|k| format!("<EventKey>{}</EventKey>", cdata(k)))
        .unwrap_or_default();
    format!(
        "<xml><ToUserName>{}</ToUserName><FromUserName>{}</FromUserName><CreateTime>{create_time}</CreateTime><MsgType>{}</MsgType><Event>{}</Event>{key}</xml>",
        cdata(to_user),
        cdata(from_openid),
        cdata("event"),
        cdata(event)
    )
}

/// XML of a `subscribe` event (a plain follow, no scene key).
pub fn subscribe_event_xml(to_user: &str, from_openid: &str, create_time: i64) -> String {
    event_xml(to_user, from_openid, create_time, "subscribe", None)
}

/// Unix seconds by the system clock.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// How a push is protected (the account's 消息加解密方式).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushMode {
    /// 明文模式: plaintext body, `signature` only.
    Plaintext,
    /// 兼容模式: plaintext fields plus `Encrypt` in the body;
    /// `encrypt_type=aes` and `msg_signature` besides `signature`.
    Compatible,
    /// 安全模式: body `<xml><ToUserName/><Encrypt/></xml>`;
    /// `encrypt_type=aes` and `msg_signature` besides `signature`.
    Safe,
}

/// Fixed values for a push instead of the defaults (now, a random nonce,
/// random AES prefix bytes, `openid` from `FromUserName`).
#[derive(Debug, Clone, Default)]
pub struct PushOptions {
    /// The `timestamp` (Unix seconds); default now.
    pub timestamp: Option<i64>,
    /// The `nonce`; default a random 9–10 digit number.
    pub nonce: Option<String>,
    /// The 16 random bytes that start the sealed envelope; default random.
    pub random: Option<[u8; 16]>,
    /// The `openid` query parameter: default the message's `FromUserName`
    /// (omitted when it has none); `Some("")` omits it.
    pub openid: Option<String>,
}

impl PushOptions {
    /// Sign with `timestamp`.
    pub fn at(timestamp: i64) -> PushOptions {
        PushOptions {
            timestamp: Some(timestamp),
            ..PushOptions::default()
        }
    }

    /// Sign with a timestamp `secs` in the past (a replayed or stale push).
    pub fn stale_by(secs: i64) -> PushOptions {
        PushOptions::at(now_secs() - secs)
    }
}

/// A webhook request as WeChat would send it, ready to send; its query can
/// be edited to build broken variants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRequest {
    /// `GET` (URL verification) or `POST` (pushes).
    pub method: &'static str,
    /// The path on the server, e.g. `/hooks/wechat/demo-oa`.
    pub path: String,
    /// The query parameters, in order, not yet encoded.
    pub query: Vec<(String, String)>,
    /// The body (empty for GET).
    pub body: Vec<u8>,
}

/// What the server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookResponse {
    /// The status code.
    pub status: u16,
    /// The `content-type` header, if any.
    pub content_type: Option<String>,
    /// The body as text (lossy UTF-8).
    pub body: String,
}

/// Flip the last hex digit: still well-formed, no longer right.
fn corrupt(signature: &str) -> String {
    let mut forged = signature.to_string();
    match forged.pop() {
        Some('0') => forged.push('1'),
        Some(_) => forged.push('0'),
        None => forged.push('0'),
    }
    forged
}

impl WebhookRequest {
    /// The first query parameter called `name`.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The request with query parameter `name` set to `value` (replaced in
    /// place, or appended).
    pub fn with_query(mut self, name: &str, value: &str) -> WebhookRequest {
        match self.query.iter_mut().find(|(k, _)| k == name) {
            Some((_, v)) => *v = value.to_string(),
            None => self.query.push((name.to_string(), value.to_string())),
        }
        self
    }

    /// The request without query parameter `name`.
    pub fn without_query(mut self, name: &str) -> WebhookRequest {
        self.query.retain(|(k, _)| k != name);
        self
    }

    /// The request with `signature` (and `msg_signature`, if present)
    /// replaced by well-formed but wrong values.
    pub fn forged(self) -> WebhookRequest {
        let mut forged = self;
        for name in ["signature", "msg_signature"] {
            if let Some(value) = forged.query_param(name).map(corrupt) {
                forged = forged.with_query(name, &value);
            }
        }
        forged
    }

    /// The request with only `msg_signature` forged (the outer `signature`
    /// still right), for safe and compatible modes.
    pub fn forged_msg_signature(self) -> WebhookRequest {
        match self.query_param("msg_signature").map(corrupt) {
            Some(value) => self.with_query("msg_signature", &value),
            None => self,
        }
    }

    /// The request with a different body, signatures unchanged (tampering).
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> WebhookRequest {
        self.body = body.into();
        self
    }

    /// Path and percent-encoded query.
    pub fn path_and_query(&self) -> String {
        if self.query.is_empty() {
            return self.path.clone();
        }
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&self.query)
            .finish();
        format!("{}?{query}", self.path)
    }

    /// The full URL under `base_url` (`http://127.0.0.1:PORT`).
    pub fn url(&self, base_url: &str) -> String {
        format!(
            "{}{}",
            base_url.trim_end_matches('/'),
            self.path_and_query()
        )
    }

    /// Send the request to `base_url` with `client`, as WeChat does
    /// (`content-type: text/xml` for POSTs).
    pub async fn send(
        &self,
        client: &reqwest::Client,
        base_url: &str,
    ) -> anyhow::Result<WebhookResponse> {
        let url = self.url(base_url);
        let request = match self.method {
            "GET" => client.get(&url),
            _ => client
                .post(&url)
                .header("content-type", "text/xml")
                .body(self.body.clone()),
        };
        let response = request
            .send()
            .await
            .with_context(|| format!("{} {url}", self.method))?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = response
            .bytes()
            .await
            .with_context(|| format!("reading the answer to {} {url}", self.method))?;
        Ok(WebhookResponse {
            status,
            content_type,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }
}

/// WeChat's side of an Official Account's server configuration: the Token,
/// AppID, optional EncodingAESKey and the account's original id. Builds and
/// sends the account's webhook requests.
#[derive(Debug, Clone)]
pub struct WechatPusher {
    /// The Token of the server configuration.
    pub token: String,
    /// The AppID (the receive id sealed into encrypted pushes).
    pub app_id: String,
    /// The EncodingAESKey (43 characters), for compatible and safe modes.
    pub encoding_aes_key: Option<String>,
    /// The account's original id (`gh_…`), the pushes' `ToUserName`.
    pub original_id: String,
    client: reqwest::Client,
}

impl WechatPusher {
    /// A pusher for the account; original id `gh_e2e000000000`, and an HTTP
    /// client that gives up after [`WECHAT_PUSH_TIMEOUT`] like WeChat.
    pub fn new(token: &str, app_id: &str, encoding_aes_key: Option<&str>) -> WechatPusher {
        let client = reqwest::Client::builder()
            .timeout(WECHAT_PUSH_TIMEOUT)
            .build()
            .unwrap_or_default();
        WechatPusher {
            token: token.to_string(),
            app_id: app_id.to_string(),
            encoding_aes_key: encoding_aes_key.map(str::to_string),
            original_id: "gh_e2e000000000".to_string(),
            client,
        }
    }

    /// The same pusher with the account's original id `original_id`.
    pub fn with_original_id(mut self, original_id: &str) -> WechatPusher {
        self.original_id = original_id.to_string();
        self
    }

    /// The same pusher sending with `client`.
    pub fn with_client(mut self, client: reqwest::Client) -> WechatPusher {
        self.client = client;
        self
    }

    /// A text message from `openid` to this account, created now.
    pub fn text_xml(&self, openid: &str, content: &str, msg_id: u64) -> String {
        text_message_xml(&self.original_id, openid, now_secs(), content, msg_id)
    }

    /// A text message from `openid` to this account, created at `create_time`.
    pub fn text_xml_at(
        &self,
        openid: &str,
        create_time: i64,
        content: &str,
        msg_id: u64,
    ) -> String {
        text_message_xml(&self.original_id, openid, create_time, content, msg_id)
    }

    /// An event from `openid` to this account at `create_time`.
    pub fn event_xml(
        &self,
        openid: &str,
        create_time: i64,
        event: &str,
        event_key: Option<&str>,
    ) -> String {
        event_xml(&self.original_id, openid, create_time, event, event_key)
    }

    /// A `subscribe` event from `openid` to this account at `create_time`.
    pub fn subscribe_xml(&self, openid: &str, create_time: i64) -> String {
        subscribe_event_xml(&self.original_id, openid, create_time)
    }

    /// The URL-verification GET sent when the server configuration is saved:
    /// `signature`, `echostr`, `timestamp`, `nonce`. The server must answer
    /// `echostr` verbatim (plaintext in every mode).
    pub fn verification(&self, path: &str, echostr: &str) -> WebhookRequest {
        self.verification_with(path, echostr, &PushOptions::default())
    }

    /// [`WechatPusher::verification`] with fixed timestamp/nonce.
    pub fn verification_with(
        &self,
        path: &str,
        echostr: &str,
        options: &PushOptions,
    ) -> WebhookRequest {
        let (timestamp, nonce) = stamp(options);
        WebhookRequest {
            method: "GET",
            path: path.to_string(),
            query: vec![
                (
                    "signature".into(),
                    signature(&self.token, &timestamp, &nonce),
                ),
                ("echostr".into(), echostr.to_string()),
                ("timestamp".into(), timestamp),
                ("nonce".into(), nonce),
            ],
            body: Vec::new(),
        }
    }

    /// A plaintext-mode push of `xml`, signed now.
    pub fn plaintext(&self, path: &str, xml: &str) -> WebhookRequest {
        self.plaintext_with(path, xml, &PushOptions::default())
    }

    /// A plaintext-mode push of `xml` with fixed options (e.g.
    /// [`PushOptions::stale_by`]).
    pub fn plaintext_with(&self, path: &str, xml: &str, options: &PushOptions) -> WebhookRequest {
        let (timestamp, nonce) = stamp(options);
        let mut query = vec![
            (
                "signature".into(),
                signature(&self.token, &timestamp, &nonce),
            ),
            ("timestamp".into(), timestamp),
            ("nonce".into(), nonce),
        ];
        if let Some(openid) = openid_param(xml, options) {
            query.push(("openid".into(), openid));
        }
        WebhookRequest {
            method: "POST",
            path: path.to_string(),
            query,
            body: xml.as_bytes().to_vec(),
        }
    }

    /// A safe-mode push of `xml`, sealed and signed now. Fails without an
    /// EncodingAESKey.
    pub fn safe_mode(&self, path: &str, xml: &str) -> anyhow::Result<WebhookRequest> {
        self.push(PushMode::Safe, path, xml, &PushOptions::default())
    }

    /// A compatible-mode push of `xml`, sealed and signed now. Fails without
    /// an EncodingAESKey.
    pub fn compatible(&self, path: &str, xml: &str) -> anyhow::Result<WebhookRequest> {
        self.push(PushMode::Compatible, path, xml, &PushOptions::default())
    }

    /// A push of `xml` in `mode` with `options`. Query order: `signature`,
    /// `timestamp`, `nonce`, `openid` (when known), then for the encrypted
    /// modes `encrypt_type=aes` and `msg_signature`.
    pub fn push(
        &self,
        mode: PushMode,
        path: &str,
        xml: &str,
        options: &PushOptions,
    ) -> anyhow::Result<WebhookRequest> {
        let plaintext = self.plaintext_with(path, xml, options);
        if mode == PushMode::Plaintext {
            return Ok(plaintext);
        }
        let key = self
            .encoding_aes_key
            .as_deref()
            .context("compatible and safe modes need an EncodingAESKey")?;
        let random = options.random.unwrap_or_else(|| rand::rng().random());
        let sealed = encrypt(key, &self.app_id, xml, random).context("sealing the push")?;
        let timestamp = plaintext.query_param("timestamp").unwrap_or_default();
        let nonce = plaintext.query_param("nonce").unwrap_or_default();
        let msg_signature = msg_signature(&self.token, timestamp, nonce, &sealed);
        let body = match mode {
            PushMode::Safe => {
                let to_user =
                    xml_field(xml, "ToUserName").unwrap_or_else(|| self.original_id.clone());
                format!(
                    "<xml><ToUserName>{}</ToUserName><Encrypt>{}</Encrypt></xml>",
                    cdata(&to_user),
                    cdata(&sealed)
                )
            }
            _ => {
                let element = format!("<Encrypt>{}</Encrypt>", cdata(&sealed));
                match xml.rfind("</xml>") {
                    Some(end) => format!("{}{element}{}", &xml[..end], &xml[end..]),
                    None => format!("{xml}{element}"),
                }
            }
        };
        Ok(plaintext
            .with_query("encrypt_type", "aes")
            .with_query("msg_signature", &msg_signature)
            .with_body(body))
    }

    /// Send `request` to `base_url` with this pusher's client.
    pub async fn send(
        &self,
        base_url: &str,
        request: &WebhookRequest,
    ) -> anyhow::Result<WebhookResponse> {
        request.send(&self.client, base_url).await
    }

    /// Open an encrypted passive reply (`<xml><Encrypt/><MsgSignature/>
    /// <TimeStamp/><Nonce/></xml>`): check `MsgSignature`, decrypt, check the
    /// receive id is this AppID, and return the inner XML.
    pub fn open_reply(&self, body: &str) -> anyhow::Result<String> {
        let key = self
            .encoding_aes_key
            .as_deref()
            .context("opening a reply needs an EncodingAESKey")?;
        let field = |tag: &str| {
            xml_field(body, tag).with_context(|| format!("the reply has no <{tag}>: {body}"))
        };
        let (sealed, given, timestamp, nonce) = (
            field("Encrypt")?,
            field("MsgSignature")?,
            field("TimeStamp")?,
            field("Nonce")?,
        );
        let expected = msg_signature(&self.token, &timestamp, &nonce, &sealed);
        if given != expected {
            bail!("the reply's MsgSignature is {given}, expected {expected}");
        }
        let opened = decrypt(key, &sealed).context("decrypting the reply")?;
        ensure!(
            opened.receive_id == self.app_id,
            "the reply is sealed for {:?}, not {:?}",
            opened.receive_id,
            self.app_id
        );
        Ok(opened.message)
    }
}

fn stamp(options: &PushOptions) -> (String, String) {
    let timestamp = options.timestamp.unwrap_or_else(now_secs).to_string();
    let nonce = options.nonce.clone().unwrap_or_else(|| {
        rand::rng()
            .random_range(100_000_000u64..10_000_000_000)
            .to_string()
    });
    (timestamp, nonce)
}

fn openid_param(xml: &str, options: &PushOptions) -> Option<String> {
    match &options.openid {
        Some(openid) if openid.is_empty() => None,
        Some(openid) => Some(openid.clone()),
        None => xml_field(xml, "FromUserName"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "spamtest";
    const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
    const APP_ID: &str = "wx2c2769f8efd9abc2";
    const PAD_32_PLAINTEXT: &str = "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName><CreateTime>1714037059</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[你好，我的订单什么时候发货？!!!!!!!]]></Content><MsgId>24612345678901234</MsgId></xml>";
    const PAD_32_ENCRYPT: &str = "5I0ViYLQqCiDyNw9bygZh7gEi4RHDSU2anInfPXpuvj5reZOl+FzkzmhTo9j5JsmoYMhC7kq8/99VFGKoheRKg4kpSeXoHYG3VydghtGGj38vzKh5NbVxI7nJoZdlqp5pLHCBytvaLTrCYF83iHS2nd3d/DbpQgThWoSDX0rEDtBisBFPC5TS+WhjT8XmzdUsEr5QrcE6yno9D72BDdxG7W5ikLOtFTS8dh+mh0B7MtiBmyh3+oAdVzqhXH5K373umrpZn5xbUp0fp/KM7yKKirxgQjR2JarSheROvI9vJ56rxPt+ZlcrNenI6dJQ/nBe+S4zoFJAcY9OsJ/2Y/hLEtKPsDxwkASm1rU9EGC77Hj9z2rNwBIROwHAnOBJHPmG1lj6hgqa4hgjWLr4eQDRZrB5bqmIF/Vaj+BLZtPe04nqLQ+FneFHspcE1A/H9pDwOJdza5+XfP9onA0XKXXD9k9jmsaLANFacYanXSTja7v2TFCbyczh8kghD2KxF54";

    fn vector_options() -> PushOptions {
        PushOptions {
            timestamp: Some(1714037059),
            nonce: Some("486452656".into()),
            random: Some(*b"aaaaaaaaaaaaaaaa"),
            openid: None,
        }
    }

    #[test]
    fn signature_reproduces_the_official_example() {
        assert_eq!(
            signature("AAAAA", "1714037059", "486452656"),
            "899cf89e464efb63f54ddac96b0a0a235f53aa78"
        );
        let pusher = WechatPusher::new("AAAAA", "wx1", None);
        let request = pusher.plaintext_with("/hook", "<xml/>", &vector_options());
        assert_eq!(
            request.path_and_query(),
            "/hook?signature=899cf89e464efb63f54ddac96b0a0a235f53aa78&timestamp=1714037059&nonce=486452656"
        );
        let verify = pusher.verification_with("/hook", "echo 1", &vector_options());
        assert_eq!(
            verify.path_and_query(),
            "/hook?signature=899cf89e464efb63f54ddac96b0a0a235f53aa78&echostr=echo+1&timestamp=1714037059&nonce=486452656"
        );
    }

    #[test]
    fn safe_mode_reproduces_the_pad_32_vector() {
        assert_eq!(
            encrypt(KEY, APP_ID, PAD_32_PLAINTEXT, *b"aaaaaaaaaaaaaaaa").unwrap(),
            PAD_32_ENCRYPT
        );
        let pusher = WechatPusher::new(TOKEN, APP_ID, Some(KEY));
        let request = pusher
            .push(PushMode::Safe, "/hook", PAD_32_PLAINTEXT, &vector_options())
            .unwrap();
        assert_eq!(
            request.query_param("msg_signature"),
            Some("20d95789426261004812c49367eca5e21e100fdc")
        );
        assert_eq!(
            request.query_param("signature"),
            Some("d12a808835472a789152a6d6b1b49b94dfc8dd66")
        );
        assert_eq!(request.query_param("encrypt_type"), Some("aes"));
        assert_eq!(
            request.query_param("openid"),
            Some("oyORnuP8q7ou2gfYjqLzSIWZf0rs")
        );
        assert_eq!(
            String::from_utf8(request.body).unwrap(),
            format!(
                "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><Encrypt><![CDATA[{PAD_32_ENCRYPT}]]></Encrypt></xml>"
            )
        );
    }

    #[test]
    fn decrypt_opens_the_pad_32_vector_and_rejects_a_wrong_key() {
        let opened = decrypt(KEY, PAD_32_ENCRYPT).unwrap();
        assert_eq!(opened.message, PAD_32_PLAINTEXT);
        assert_eq!(opened.receive_id, APP_ID);
        assert!(
            decrypt(
                "ZZZZefghijklmnopqrstuvwxyz0123456789ABCDEFG",
                PAD_32_ENCRYPT
            )
            .is_err()
        );
        assert!(decrypt(KEY, "not base64!").is_err());
        assert!(aes_key("short").is_err());
    }

    #[test]
    fn compatible_mode_keeps_the_plaintext_and_adds_encrypt() {
        let pusher = WechatPusher::new(TOKEN, APP_ID, Some(KEY));
        let request = pusher
            .push(
                PushMode::Compatible,
                "/hook",
                PAD_32_PLAINTEXT,
                &vector_options(),
            )
            .unwrap();
        let body = String::from_utf8(request.body.clone()).unwrap();
        assert!(body.starts_with(&PAD_32_PLAINTEXT[..PAD_32_PLAINTEXT.len() - "</xml>".len()]));
        assert_eq!(xml_field(&body, "Encrypt").as_deref(), Some(PAD_32_ENCRYPT));
        assert_eq!(
            request.query_param("msg_signature"),
            Some("20d95789426261004812c49367eca5e21e100fdc")
        );
        assert!(
            WechatPusher::new(TOKEN, APP_ID, None)
                .safe_mode("/hook", "<xml/>")
                .is_err()
        );
    }

    #[test]
    fn forging_and_ageing() {
        let pusher = WechatPusher::new(TOKEN, APP_ID, Some(KEY));
        let honest = pusher
            .safe_mode("/hook", &pusher.text_xml("o1", "hi", 1))
            .unwrap();
        let forged = honest.clone().forged();
        for name in ["signature", "msg_signature"] {
            let (a, b) = (
                honest.query_param(name).unwrap(),
                forged.query_param(name).unwrap(),
            );
            assert_ne!(a, b);
            assert_eq!(a.len(), b.len());
        }
        let only_inner = honest.clone().forged_msg_signature();
        assert_eq!(
            only_inner.query_param("signature"),
            honest.query_param("signature")
        );
        assert_ne!(
            only_inner.query_param("msg_signature"),
            honest.query_param("msg_signature")
        );

        let stale = pusher.plaintext_with("/hook", "<xml/>", &PushOptions::stale_by(3600));
        let ts: i64 = stale.query_param("timestamp").unwrap().parse().unwrap();
        assert!((now_secs() - 3600 - ts).abs() <= 2);
        assert_eq!(
            stale.query_param("signature").unwrap(),
            signature(TOKEN, &ts.to_string(), stale.query_param("nonce").unwrap())
        );
    }

    #[test]
    fn message_xml_round_trips_through_xml_field() {
        let xml = text_message_xml("gh_1", "o1", 5, "a]]>b & <c>", 24612345678901234);
        assert_eq!(xml_field(&xml, "Content").as_deref(), Some("a]]>b & <c>"));
        assert_eq!(
            xml_field(&xml, "MsgId").as_deref(),
            Some("24612345678901234")
        );
        let event = event_xml("gh_1", "o1", 5, "CLICK", Some("MENU_1"));
        assert_eq!(xml_field(&event, "EventKey").as_deref(), Some("MENU_1"));
        assert_eq!(
            xml_field(&subscribe_event_xml("gh_1", "o1", 5), "Event").as_deref(),
            Some("subscribe")
        );
        assert_eq!(xml_field(&event, "MsgId"), None);
    }

    #[test]
    fn open_reply_checks_the_signature_and_the_app_id() {
        let pusher = WechatPusher::new(TOKEN, APP_ID, Some(KEY));
        let inner = "<xml><Content><![CDATA[您好]]></Content></xml>";
        let sealed = encrypt(KEY, APP_ID, inner, [7; 16]).unwrap();
        let reply = |sealed: &str, sig: &str| {
            format!(
                "<xml><Encrypt><![CDATA[{sealed}]]></Encrypt><MsgSignature><![CDATA[{sig}]]></MsgSignature><TimeStamp>1411525903</TimeStamp><Nonce><![CDATA[461056294]]></Nonce></xml>"
            )
        };
        let good = msg_signature(TOKEN, "1411525903", "461056294", &sealed);
        assert_eq!(pusher.open_reply(&reply(&sealed, &good)).unwrap(), inner);
        assert!(pusher.open_reply(&reply(&sealed, &corrupt(&good))).is_err());
        let other = encrypt(KEY, "wxother", inner, [7; 16]).unwrap();
        let other_sig = msg_signature(TOKEN, "1411525903", "461056294", &other);
        assert!(pusher.open_reply(&reply(&other, &other_sig)).is_err());
    }
}
