//! The platform side of WeChat Official Account webhooks: builds the requests
//! WeChat sends to a server URL — URL verification, plaintext pushes, and
//! safe-mode pushes sealed with AES-256-CBC (32-byte padding) — and sends
//! them. Written independently of the plugin's crypto.

use aes::Aes256;
use base64::Engine;
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockModeEncrypt, KeyIvInit};
use rand::Rng;
use sha1::{Digest, Sha1};

/// An Official Account as the platform knows it.
#[derive(Debug, Clone)]
pub struct Account {
    /// The Token of the server config.
    pub token: String,
    /// The AppID.
    pub app_id: String,
    /// The original id (`gh_…`), the pushes' `ToUserName`.
    pub original_id: String,
    /// The EncodingAESKey, for safe mode.
    pub encoding_aes_key: Option<String>,
}

/// A webhook request, ready to send.
#[derive(Debug, Clone)]
pub struct Push {
    /// `GET` or `POST`.
    pub method: &'static str,
    /// Path and query, e.g. `/hooks/wechat/demo-oa?signature=…`.
    pub path_and_query: String,
    /// The body.
    pub body: Vec<u8>,
}

/// The response the host gave.
#[derive(Debug, Clone)]
pub struct Delivered {
    /// Status code.
    pub status: u16,
    /// Body as text.
    pub body: String,
}

/// `sha1(sort(parts).join(""))`, lower-case hex.
pub fn sign(parts: &[&str]) -> String {
    let mut sorted = parts.to_vec();
    sorted.sort();
    let digest = Sha1::digest(sorted.concat().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Seal `message` for `app_id` under `encoding_aes_key` with `random`.
pub fn seal(encoding_aes_key: &str, app_id: &str, message: &str, random: [u8; 16]) -> String {
    let lenient = GeneralPurpose::new(
        &alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
    );
    let key = lenient
        .decode(format!("{encoding_aes_key}="))
        .expect("a 43-character EncodingAESKey");
    let mut plain = random.to_vec();
    plain.extend_from_slice(&(message.len() as u32).to_be_bytes());
    plain.extend_from_slice(message.as_bytes());
    plain.extend_from_slice(app_id.as_bytes());
    let pad = 32 - plain.len() % 32;
    plain.extend(std::iter::repeat_n(pad as u8, pad));
    let length = plain.len();
    let key: [u8; 32] = key.try_into().expect("32-byte key");
    let iv: [u8; 16] = key[..16].try_into().expect("16-byte iv");
    let sealed = cbc::Encryptor::<Aes256>::new(&key.into(), &iv.into())
        .encrypt_padded::<NoPadding>(&mut plain, length)
        .expect("padded to the block size");
    STANDARD.encode(sealed)
}

/// The XML of a text message from `openid`.
pub fn text_xml(
    account: &Account,
    openid: &str,
    created: i64,
    content: &str,
    msg_id: u64,
) -> String {
    format!(
        "<xml><ToUserName><![CDATA[{}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName><CreateTime>{created}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>",
        account.original_id
    )
}

/// The XML of an event (`subscribe`, `CLICK`, …) from `openid`.
pub fn event_xml(account: &Account, openid: &str, created: i64, event: &str, key: &str) -> String {
    format!(
        "<xml><ToUserName><![CDATA[{}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName><CreateTime>{created}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[{event}]]></Event><EventKey><![CDATA[{key}]]></EventKey></xml>",
        account.original_id
    )
}

fn nonce() -> String {
    rand::rng()
        .random_range(100_000_000u64..999_999_999)
        .to_string()
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl Account {
    /// The URL-verification GET WeChat sends when the server config is saved.
    pub fn verification(&self, path: &str, echostr: &str) -> Push {
        let (timestamp, nonce) = (now_secs().to_string(), nonce());
        let signature = sign(&[&self.token, &timestamp, &nonce]);
        Push {
            method: "GET",
            path_and_query: format!(
                "{path}?signature={signature}&echostr={echostr}&timestamp={timestamp}&nonce={nonce}"
            ),
            body: Vec::new(),
        }
    }

    /// A plaintext-mode push of `xml`, signed at `timestamp`.
    pub fn plaintext_at(&self, path: &str, xml: &str, timestamp: i64) -> Push {
        let (timestamp, nonce) = (timestamp.to_string(), nonce());
        let signature = sign(&[&self.token, &timestamp, &nonce]);
        Push {
            method: "POST",
            path_and_query: format!(
                "{path}?signature={signature}&timestamp={timestamp}&nonce={nonce}"
            ),
            body: xml.as_bytes().to_vec(),
        }
    }

    /// A plaintext-mode push of `xml`, signed now.
    pub fn plaintext(&self, path: &str, xml: &str) -> Push {
        self.plaintext_at(path, xml, now_secs())
    }

    /// A safe-mode push of `xml`: sealed, with `msg_signature` and the outer `signature`.
    pub fn safe_mode(&self, path: &str, xml: &str) -> Push {
        let key = self
            .encoding_aes_key
            .as_deref()
            .expect("safe mode needs an EncodingAESKey");
        let random: [u8; 16] = rand::rng().random();
        let encrypt = seal(key, &self.app_id, xml, random);
        let (timestamp, nonce) = (now_secs().to_string(), nonce());
        let signature = sign(&[&self.token, &timestamp, &nonce]);
        let msg_signature = sign(&[&self.token, &timestamp, &nonce, &encrypt]);
        Push {
            method: "POST",
            path_and_query: format!(
                "{path}?signature={signature}&timestamp={timestamp}&nonce={nonce}&encrypt_type=aes&msg_signature={msg_signature}"
            ),
            body: format!(
                "<xml><ToUserName><![CDATA[{}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>",
                self.original_id
            )
            .into_bytes(),
        }
    }
}

impl Push {
    /// The same push with the signature replaced by a forged one.
    pub fn forged(mut self) -> Push {
        let start = self
            .path_and_query
            .find("signature=")
            .expect("a signed push")
            + "signature=".len();
        self.path_and_query
            .replace_range(start..start + 40, &"0".repeat(40));
        self
    }

    /// Send the push to the host at `base_url`, as WeChat would.
    pub async fn send(&self, client: &reqwest::Client, base_url: &str) -> Delivered {
        let url = format!("{base_url}{}", self.path_and_query);
        let request = match self.method {
            "GET" => client.get(&url),
            _ => client
                .post(&url)
                .header("content-type", "text/xml")
                .body(self.body.clone()),
        };
        let response = request.send().await.expect("the host answers");
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        Delivered { status, body }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_reproduce_the_official_example() {
        assert_eq!(
            sign(&["AAAAA", "1714037059", "486452656"]),
            "899cf89e464efb63f54ddac96b0a0a235f53aa78"
        );
    }

    #[test]
    fn sealing_reproduces_the_pad_32_vector() {
        let plaintext = "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName><CreateTime>1714037059</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[你好，我的订单什么时候发货？!!!!!!!]]></Content><MsgId>24612345678901234</MsgId></xml>";
        let sealed = seal(
            "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
            "wx2c2769f8efd9abc2",
            plaintext,
            *b"aaaaaaaaaaaaaaaa",
        );
        assert!(sealed.starts_with("5I0ViYLQqCiDyNw9bygZh7gEi4RHDSU2anInfPXpuvj5reZOl+Fzkzmh"));
        assert!(sealed.ends_with("2TFCbyczh8kghD2KxF54"));
        assert_eq!(
            sign(&["spamtest", "1714037059", "486452656", &sealed]),
            "20d95789426261004812c49367eca5e21e100fdc"
        );
    }
}
