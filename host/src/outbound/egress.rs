//! Egress control: an outbound request goes out only to a host the plugin's
//! manifest declares and the shop's config grants, over https (wss for
//! streams) on the default port, by name and to a public address. A granted
//! host may be pointed at another base URL (a platform sandbox, a loopback
//! emulator) by the shop's `api_base`: only what the config names there may
//! use http, another port or a private address (Taobao's TMC endpoint,
//! `ws://mc.api.taobao.com/`, is plain WebSocket, so a TMC shop names it
//! there). Private, loopback and
//! link-local addresses are otherwise refused after DNS resolution unless the
//! shop lists their network in `egress_networks`.

use crate::config::ShopConfig;
use crate::model::Manifest;
use ipnet::IpNet;
use std::net::IpAddr;
use url::{Host, Url};

/// Where a rendered request really goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The URL to send to.
    pub url: Url,
    /// Whether the config names this destination explicitly (an `api_base`
    /// override), so its addresses are not checked.
    pub configured: bool,
}

/// Where a rendered request really goes, or why it may not. Errors name the
/// host, never the query (it may carry secrets).
pub fn resolve(
    shop: &ShopConfig,
    allowed_hosts: &[String],
    manifest: &Manifest,
    rendered: &str,
) -> Result<Target, String> {
    let url = Url::parse(rendered).map_err(|err| {
        format!(
            "plugin `{}` rendered something that is not a URL: {err}",
            manifest.name
        )
    })?;
    let host = url
        .host_str()
        .ok_or_else(|| format!("plugin `{}` rendered a URL without a host", manifest.name))?
        .to_string();
    if !manifest.egress_hosts.contains(&host) {
        return Err(format!(
            "plugin `{}` rendered a request to `{host}`, which its manifest does not declare",
            manifest.name
        ));
    }
    if !allowed_hosts.contains(&host) {
        return Err(format!(
            "shop `{}` does not grant egress to `{host}` (add it to the shop's `egress` list)",
            shop.id
        ));
    }
    let Some(base) = shop.api_base.get(&host) else {
        if !matches!(url.scheme(), "https" | "wss") {
            return Err(format!(
                "plugin `{}` rendered a {}:// request to `{host}`; platform hosts are reached over https or wss only",
                manifest.name,
                url.scheme()
            ));
        }
        if url.port().is_some_and(|port| port != 443) {
            return Err(format!(
                "plugin `{}` rendered a request to `{host}` on port {}; platform hosts are reached on port 443 only",
                manifest.name,
                url.port().unwrap_or_default()
            ));
        }
        if let Some(Host::Ipv4(_) | Host::Ipv6(_)) = url.host() {
            let ip: IpAddr = host
                .trim_matches(['[', ']'])
                .parse()
                .map_err(|_| format!("`{host}` is not an address"))?;
            if !granted(ip, &shop.egress_networks) {
                return Err(format!(
                    "shop `{}` sends to the address `{host}`, not a host name; list its network in the shop's `egress_networks` to allow it",
                    shop.id
                ));
            }
        }
        return Ok(Target {
            url,
            configured: false,
        });
    };
    let mut target = base.clone();
    let path = format!("{}{}", base.path().trim_end_matches('/'), url.path());
    target.set_path(&path);
    target.set_query(url.query());
    // A WebSocket stays a WebSocket when its base is written as http(s).
    if matches!(url.scheme(), "ws" | "wss") {
        match base.scheme() {
            "https" => drop(target.set_scheme("wss")),
            "http" => drop(target.set_scheme("ws")),
            _ => {}
        }
    }
    Ok(Target {
        url: target,
        configured: true,
    })
}

/// Whether an address may be reached: a public address, or one inside a
/// network the shop grants.
pub fn granted(ip: IpAddr, networks: &[IpNet]) -> bool {
    is_public(ip) || networks.iter().any(|network| network.contains(&ip))
}

/// Whether an address is public: not loopback, private, link-local (cloud
/// metadata lives at 169.254.169.254), shared, documentation, multicast or
/// unspecified.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (b == 18 || b == 19))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shop(api_base: Option<&str>) -> ShopConfig {
        shop_with(api_base, "")
    }

    fn shop_with(api_base: Option<&str>, extra: &str) -> ShopConfig {
        let text = format!(
            "[[plugins]]\nname = \"p\"\ncomponent = \"p.wasm\"\n[[shops]]\nid = \"s\"\nplugin = \"p\"\negress = [\"api.example.com\", \"10.1.2.3\", \"169.254.169.254\"]\n{extra}\n{}",
            api_base
                .map(|b| format!("api_base = {{ \"api.example.com\" = \"{b}\" }}\n"))
                .unwrap_or_default()
        );
        let config = crate::config::Config::parse(std::path::Path::new("t.toml"), &text).unwrap();
        config.shops["s"].clone()
    }

    fn manifest(hosts: &[&str]) -> Manifest {
        let mut m = crate::runtime::empty_manifest();
        m.name = "p".into();
        m.egress_hosts = hosts.iter().map(|h| h.to_string()).collect();
        m
    }

    #[test]
    fn declared_and_granted_hosts_pass() {
        let url = resolve(
            &shop(None),
            &shop(None).egress,
            &manifest(&["api.example.com"]),
            "https://api.example.com/a?b=1",
        )
        .unwrap();
        assert_eq!(url.url.as_str(), "https://api.example.com/a?b=1");
        assert!(!url.configured);
    }

    #[test]
    fn api_base_rewrites_scheme_host_and_path_prefix() {
        let url = resolve(
            &shop(Some("http://127.0.0.1:9100/prefix/")),
            &shop(None).egress,
            &manifest(&["api.example.com"]),
            "https://api.example.com/cgi-bin/send?access_token=x%2By",
        )
        .unwrap();
        assert_eq!(
            url.url.as_str(),
            "http://127.0.0.1:9100/prefix/cgi-bin/send?access_token=x%2By"
        );
        assert!(url.configured);
    }

    #[test]
    fn plain_http_other_ports_and_address_literals_are_refused() {
        let hosts = manifest(&["api.example.com", "10.1.2.3", "169.254.169.254"]);
        let refused =
            |shop: &ShopConfig, url: &str| resolve(shop, &shop.egress, &hosts, url).unwrap_err();
        let err = refused(&shop(None), "http://api.example.com/x?secret=s3cr3t");
        assert!(err.contains("https or wss only"), "{err}");
        assert!(
            !err.contains("s3cr3t"),
            "errors never echo the query: {err}"
        );
        let err = refused(&shop(None), "https://api.example.com:8443/x");
        assert!(err.contains("port 8443"), "{err}");
        let err = refused(&shop(None), "https://169.254.169.254/latest/meta-data");
        assert!(err.contains("egress_networks"), "{err}");
        // A network the shop grants makes its addresses reachable.
        let granted = shop_with(None, "egress_networks = [\"10.0.0.0/8\"]");
        assert!(resolve(&granted, &granted.egress, &hosts, "https://10.1.2.3/x").is_ok());
        assert!(
            resolve(
                &granted,
                &granted.egress,
                &hosts,
                "https://169.254.169.254/x"
            )
            .is_err()
        );
    }

    #[test]
    fn private_loopback_and_link_local_addresses_are_not_public() {
        for private in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["101.226.1.1", "140.205.1.1", "2400:3200::1"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn undeclared_or_ungranted_hosts_are_refused() {
        let err = resolve(
            &shop(None),
            &shop(None).egress,
            &manifest(&["api.example.com"]),
            "https://evil.example.net/x",
        )
        .unwrap_err();
        assert!(err.contains("does not declare"), "{err}");
        let err = resolve(
            &shop(None),
            &shop(None).egress,
            &manifest(&["api.example.com", "other.example.com"]),
            "https://other.example.com/x",
        )
        .unwrap_err();
        assert!(err.contains("does not grant egress"), "{err}");
    }
}
