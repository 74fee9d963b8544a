//! Egress control: an outbound request goes out only to a host the plugin's
//! manifest declares and the shop's config grants; a granted host may be
//! pointed at another base URL (a platform sandbox, a loopback emulator).

use crate::config::ShopConfig;
use crate::model::Manifest;
use url::Url;

/// Where a rendered request really goes, or why it may not.
pub fn resolve(shop: &ShopConfig, manifest: &Manifest, rendered: &str) -> Result<Url, String> {
    let url = Url::parse(rendered).map_err(|err| format!("`{rendered}` is not a URL: {err}"))?;
    let host = url
        .host_str()
        .ok_or_else(|| format!("`{rendered}` has no host"))?
        .to_string();
    if !manifest.egress_hosts.contains(&host) {
        return Err(format!(
            "plugin `{}` rendered a request to `{host}`, which its manifest does not declare",
            manifest.name
        ));
    }
    if !shop.egress.contains(&host) {
        return Err(format!(
            "shop `{}` does not grant egress to `{host}` (add it to the shop's `egress` list)",
            shop.id
        ));
    }
    let Some(base) = shop.api_base.get(&host) else {
        return Ok(url);
    };
    let mut target = base.clone();
    let path = format!("{}{}", base.path().trim_end_matches('/'), url.path());
    target.set_path(&path);
    target.set_query(url.query());
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shop(api_base: Option<&str>) -> ShopConfig {
        let text = format!(
            "[[plugins]]\nname = \"p\"\ncomponent = \"p.wasm\"\n[[shops]]\nid = \"s\"\nplugin = \"p\"\negress = [\"api.example.com\"]\n{}",
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
            &manifest(&["api.example.com"]),
            "https://api.example.com/a?b=1",
        )
        .unwrap();
        assert_eq!(url.as_str(), "https://api.example.com/a?b=1");
    }

    #[test]
    fn api_base_rewrites_scheme_host_and_path_prefix() {
        let url = resolve(
            &shop(Some("http://127.0.0.1:9100/prefix/")),
            &manifest(&["api.example.com"]),
            "https://api.example.com/cgi-bin/send?access_token=x%2By",
        )
        .unwrap();
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:9100/prefix/cgi-bin/send?access_token=x%2By"
        );
    }

    #[test]
    fn undeclared_or_ungranted_hosts_are_refused() {
        let err = resolve(
            &shop(None),
            &manifest(&["api.example.com"]),
            "https://evil.example.net/x",
        )
        .unwrap_err();
        assert!(err.contains("does not declare"), "{err}");
        let err = resolve(
            &shop(None),
            &manifest(&["api.example.com", "other.example.com"]),
            "https://other.example.com/x",
        )
        .unwrap_err();
        assert!(err.contains("does not grant egress"), "{err}");
    }
}
