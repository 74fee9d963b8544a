//! Sending rendered requests with a real HTTP client (rustls), reading at
//! most a bounded response. Names resolve through [`CheckedResolver`], so a
//! granted host that resolves to a private address is refused at connect
//! time, after DNS, where a rebinding trick would show.

use crate::contract::v0_1::wit::Pair;
use crate::model::{HttpRequest, HttpResponse};
use crate::outbound::egress;
use ipnet::IpNet;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// Which resolved addresses outbound requests may reach.
#[derive(Debug, Clone, Default)]
pub struct AddressPolicy {
    /// Networks granted by a shop's `egress_networks`.
    pub networks: Vec<IpNet>,
    /// Host names the config names itself (`api_base` targets): not checked.
    pub configured_hosts: BTreeSet<String>,
}

impl AddressPolicy {
    /// The policy for every shop of a config: the networks they grant and
    /// the hosts their `api_base` overrides name.
    pub fn of(
        shops: impl IntoIterator<Item = impl std::borrow::Borrow<crate::config::ShopConfig>>,
    ) -> Self {
        let mut policy = AddressPolicy::default();
        for shop in shops {
            let shop = shop.borrow();
            policy.networks.extend(shop.egress_networks.iter().copied());
            policy.configured_hosts.extend(
                shop.api_base
                    .values()
                    .filter_map(|base| base.host_str().map(str::to_owned)),
            );
        }
        policy
    }

    /// The addresses of `name` this policy lets through, or why none.
    pub fn filter(
        &self,
        name: &str,
        addresses: Vec<SocketAddr>,
    ) -> Result<Vec<SocketAddr>, String> {
        if self.configured_hosts.contains(name) {
            return Ok(addresses);
        }
        let allowed: Vec<SocketAddr> = addresses
            .iter()
            .copied()
            .filter(|address| egress::granted(address.ip(), &self.networks))
            .collect();
        if allowed.is_empty() {
            return Err(format!(
                "`{name}` resolves only to private, loopback or link-local addresses ({}); grant the network in the shop's `egress_networks` to allow it",
                addresses
                    .iter()
                    .map(|a| a.ip().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        Ok(allowed)
    }
}

/// A DNS resolver that drops addresses the [`AddressPolicy`] refuses.
struct CheckedResolver {
    policy: Arc<AddressPolicy>,
}

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = Arc::clone(&self.policy);
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addresses: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed = policy.filter(&host, addresses)?;
            let addrs: reqwest::dns::Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

/// The largest response body read from a platform.
const MAX_RESPONSE_BYTES: usize = 8 << 20;

/// The outbound HTTP client.
#[derive(Clone)]
pub struct OutboundClient {
    client: reqwest::Client,
}

impl OutboundClient {
    /// A client with `timeout` per request, no redirects (a redirect could
    /// leave the egress allow-list), rustls, and names resolved under
    /// `policy`.
    pub fn new(timeout: Duration, policy: AddressPolicy) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(CheckedResolver {
                policy: Arc::new(policy),
            }))
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
        // `Host` comes from the URL: a plugin may not aim the request at
        // another virtual host than the one egress allowed.
        for header in request
            .headers
            .iter()
            .filter(|h| !h.name.eq_ignore_ascii_case("host"))
        {
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
    // The innermost cause (a refused address, a refused connection) says
    // what happened; reqwest's own message would repeat the URL and query.
    let mut cause: &dyn std::error::Error = err;
    while let Some(source) = cause.source() {
        cause = source;
    }
    if std::ptr::addr_eq(cause, err as &dyn std::error::Error) {
        format!("request to {}{} {what}", host_of(target), target.path())
    } else {
        format!(
            "request to {}{} {what}: {cause}",
            host_of(target),
            target.path()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A loopback server answering every connection with 204.
    async fn loopback_server() -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut buffer = [0u8; 1024];
                let _ = socket.read(&mut buffer).await;
                let _ = socket
                    .write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                    .await;
            }
        });
        port
    }

    fn get(port: u16) -> (HttpRequest, Url) {
        let url = format!("http://localhost:{port}/x?secret=s3cr3t");
        let request = HttpRequest {
            method: "GET".into(),
            url: url.clone(),
            headers: vec![],
            body: vec![],
        };
        (request, Url::parse(&url).unwrap())
    }

    #[tokio::test]
    async fn names_that_resolve_to_private_addresses_are_refused_unless_granted() {
        let port = loopback_server().await;
        let (request, target) = get(port);
        let refusing =
            OutboundClient::new(Duration::from_secs(5), AddressPolicy::default()).unwrap();
        let err = refusing.send(&request, target.clone()).await.unwrap_err();
        assert!(err.contains("private, loopback or link-local"), "{err}");
        assert!(!err.contains("s3cr3t"), "{err}");

        let granted = AddressPolicy {
            networks: vec!["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()],
            ..AddressPolicy::default()
        };
        let client = OutboundClient::new(Duration::from_secs(5), granted).unwrap();
        assert_eq!(
            client.send(&request, target.clone()).await.unwrap().status,
            204
        );

        let named = AddressPolicy {
            configured_hosts: ["localhost".to_string()].into(),
            ..AddressPolicy::default()
        };
        let client = OutboundClient::new(Duration::from_secs(5), named).unwrap();
        assert_eq!(client.send(&request, target).await.unwrap().status, 204);
    }
}
