//! Sending rendered requests with a real HTTP client (rustls), reading at
//! most a bounded response.

use crate::model::{HttpRequest, HttpResponse, Pair};
use std::time::Duration;
use url::Url;

/// The largest response body read from a platform.
const MAX_RESPONSE_BYTES: usize = 8 << 20;

/// The outbound HTTP client.
#[derive(Clone)]
pub struct OutboundClient {
    client: reqwest::Client,
}

impl OutboundClient {
    /// A client with `timeout` per request, no redirects (a redirect could
    /// leave the egress allow-list) and rustls.
    pub fn new(timeout: Duration) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("tongdao/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(OutboundClient { client })
    }

    /// Send `request` to `target` (already egress-checked).
    pub async fn send(&self, request: &HttpRequest, target: Url) -> Result<HttpResponse, String> {
        let method = reqwest::Method::from_bytes(request.method.as_bytes())
            .map_err(|_| format!("invalid method `{}`", request.method))?;
        let mut builder = self.client.request(method, target.clone());
        for header in &request.headers {
            builder = builder.header(header.name.as_str(), header.value.as_str());
        }
        let mut response = builder
            .body(request.body.clone())
            .send()
            .await
            .map_err(|err| describe(&target, &err))?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| Pair {
                name: name.as_str().to_string(),
                value: String::from_utf8_lossy(value.as_bytes()).into_owned(),
            })
            .collect();
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|err| describe(&target, &err))?
        {
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(format!(
                    "{} answered with more than {MAX_RESPONSE_BYTES} bytes",
                    host_of(&target)
                ));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }
}

fn host_of(url: &Url) -> String {
    format!(
        "{}://{}{}",
        url.scheme(),
        url.host_str().unwrap_or(""),
        url.port().map(|p| format!(":{p}")).unwrap_or_default()
    )
}

/// Describe a transport error without the query string (it may hold a token).
fn describe(target: &Url, err: &reqwest::Error) -> String {
    let what = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "could not connect"
    } else {
        "failed"
    };
    format!("request to {}{} {what}", host_of(target), target.path())
}
