//! Every refusal the marketplace's trust promises, each with its reason, and
//! the package that passes them all.

use tongdao_market::keys::SecretKey;
use tongdao_market::package::Package;
use tongdao_market::trust::{
    Freshness, KeyList, MarketplaceKey, PublisherKey, RevokedList, RevokedRelease, Roots, Snapshot,
    Trust, sign_snapshot,
};
use tongdao_market::{MarketError, verify};

const DAY_MS: i64 = 86_400_000;
const NOW: i64 = 1_796_000_000_000;

const MANIFEST: &str = r#"
name = "acme-wechat"
version = "1.2.0"
publisher = "acme"
wit = "tongdao:channel@0.1.0"
platform = "wechat-official-account"
egress_hosts = ["api.weixin.qq.com"]
max_text_bytes = 2048
reads = ["messages"]

[[credentials]]
name = "app_secret"
description = "公众号 AppSecret"
"#;

struct Marketplace {
    root: SecretKey,
    online: SecretKey,
    publisher: SecretKey,
    keys: KeyList,
    revoked: RevokedList,
}

impl Marketplace {
    fn new() -> Marketplace {
        let root = SecretKey::generate();
        let online = SecretKey::generate();
        let publisher = SecretKey::generate();
        let keys = KeyList {
            version: 1,
            publishers: vec![PublisherKey {
                publisher: "acme".into(),
                key: publisher.public(),
                names: vec!["acme-*".into()],
                valid_from_ms: NOW - 365 * DAY_MS,
                valid_until_ms: NOW + 365 * DAY_MS,
                revoked_ms: None,
            }],
            marketplace: vec![MarketplaceKey {
                key: online.public(),
                valid_from_ms: NOW - 365 * DAY_MS,
                valid_until_ms: NOW + 365 * DAY_MS,
                revoked_ms: None,
            }],
        };
        Marketplace {
            root,
            online,
            publisher,
            keys,
            revoked: RevokedList::default(),
        }
    }

    fn roots(&self) -> Roots {
        Roots {
            keys: vec![self.root.public()],
            threshold: 1,
        }
    }

    fn snapshot(&self, version: u64, expires_ms: i64) -> Snapshot {
        sign_snapshot(
            &self.keys,
            &[&self.root],
            &self.revoked,
            &self.online,
            version,
            expires_ms,
        )
    }

    fn trust(&self) -> Trust {
        self.snapshot(7, NOW + DAY_MS)
            .verify(&self.roots(), NOW, Freshness::Check { last_seen: Some(7) })
            .unwrap()
    }

    /// The snapshot, verified a minute before the online key's revocation
    /// (while it could still sign the timestamp).
    fn trust_at_revocation(&self) -> Trust {
        self.snapshot(7, NOW + DAY_MS)
            .verify(
                &self.roots(),
                NOW - 120_000,
                Freshness::Check { last_seen: None },
            )
            .unwrap()
    }

    /// A release signed by the publisher and countersigned an hour ago.
    fn release(&self, manifest: &str) -> Package {
        let mut package = Package::pack(
            b"\0asm\x0d\x00\x01\x00the component".to_vec(),
            manifest,
            "# acme-wechat\n".into(),
            "Apache-2.0\n".into(),
            None,
            NOW - 2 * 3_600_000,
        )
        .unwrap();
        package.sign(&self.publisher).unwrap();
        package.countersign(&self.online, NOW - 3_600_000);
        Package::read(&package.to_bytes()).unwrap()
    }
}

fn refused(result: Result<impl std::fmt::Debug, MarketError>) -> String {
    result.expect_err("refused").to_string()
}

#[test]
fn a_signed_countersigned_release_passes() {
    let market = Marketplace::new();
    let verified = verify::verify(&market.release(MANIFEST), &market.trust(), NOW).unwrap();
    assert_eq!(verified.manifest.name, "acme-wechat");
    assert_eq!(verified.publisher_key, market.publisher.public().id());
    assert_eq!(verified.countersigned_ms, NOW - 3_600_000);
}

#[test]
fn a_tampered_component_or_manifest_is_refused() {
    let market = Marketplace::new();
    let mut package = market.release(MANIFEST);
    package.replace_raw("plugin.wasm", b"\0asm\x0d\x00\x01\x00evil".to_vec());
    let err = refused(verify::verify(&package, &market.trust(), NOW));
    assert!(
        err.starts_with("tampered: ") && err.contains("`plugin.wasm`"),
        "{err}"
    );

    let mut package = market.release(MANIFEST);
    let wider = MANIFEST.replace(
        "[\"api.weixin.qq.com\"]",
        "[\"api.weixin.qq.com\", \"evil.example.com\"]",
    );
    package.replace_raw("tongdao-plugin.toml", wider.into_bytes());
    let err = refused(verify::verify(&package, &market.trust(), NOW));
    assert!(err.contains("`tongdao-plugin.toml`"), "{err}");

    let mut package = market.release(MANIFEST);
    package.replace_raw("CHANGELOG.md", b"smuggled".to_vec());
    let err = refused(verify::verify(&package, &market.trust(), NOW));
    assert!(err.contains("not in release.json"), "{err}");

    // Re-pinning the statement breaks the publisher's signature.
    let mut package = market.release(MANIFEST);
    let mut release = package.release().unwrap();
    release.published_ms += 1;
    package.replace_raw("release.json", release.to_bytes());
    let err = refused(verify::verify(&package, &market.trust(), NOW));
    assert!(
        err.starts_with("key: ") && err.contains("does not verify"),
        "{err}"
    );
}

#[test]
fn unknown_revoked_and_expired_keys_are_refused() {
    let market = Marketplace::new();
    let mut package = Package::pack(
        b"\0asm\x0d\x00\x01\x00c".to_vec(),
        MANIFEST,
        vec![],
        vec![],
        None,
        NOW,
    )
    .unwrap();
    package.sign(&SecretKey::generate()).unwrap();
    package.countersign(&market.online, NOW - 1);
    let err = refused(verify::verify(&package, &market.trust(), NOW));
    assert!(
        err.contains("not signed by a key of publisher `acme`"),
        "{err}"
    );

    let mut revoked = Marketplace::new();
    revoked.keys.publishers[0].revoked_ms = Some(NOW - 2 * 3_600_000);
    let err = refused(verify::verify(
        &revoked.release(MANIFEST),
        &revoked.trust(),
        NOW,
    ));
    assert!(err.contains("was revoked at"), "{err}");
    // A release countersigned before the revocation stays valid.
    let mut later = Marketplace::new();
    later.keys.publishers[0].revoked_ms = Some(NOW - 60_000);
    verify::verify(&later.release(MANIFEST), &later.trust(), NOW).unwrap();

    let mut expired = Marketplace::new();
    expired.keys.publishers[0].valid_until_ms = NOW - DAY_MS;
    let err = refused(verify::verify(
        &expired.release(MANIFEST),
        &expired.trust(),
        NOW,
    ));
    assert!(err.contains("expired at"), "{err}");

    let market = Marketplace::new();
    let other_name = MANIFEST.replace("name = \"acme-wechat\"", "name = \"wechat\"");
    let err = refused(verify::verify(
        &market.release(&other_name),
        &market.trust(),
        NOW,
    ));
    assert!(err.contains("may not publish `wechat`"), "{err}");
}

#[test]
fn unsigned_and_uncountersigned_packages_are_refused() {
    let market = Marketplace::new();
    let unsigned = Package::pack(
        b"\0asm\x0d\x00\x01\x00c".to_vec(),
        MANIFEST,
        vec![],
        vec![],
        None,
        NOW,
    )
    .unwrap();
    let err = refused(verify::verify(&unsigned, &market.trust(), NOW));
    assert!(err.contains("unsigned"), "{err}");
    let mut signed = unsigned.clone();
    signed.sign(&market.publisher).unwrap();
    let err = refused(verify::verify(&signed, &market.trust(), NOW));
    assert!(err.contains("not countersigned"), "{err}");
    let mut self_reviewed = signed.clone();
    self_reviewed.countersign(&market.publisher, NOW);
    let err = refused(verify::verify(&self_reviewed, &market.trust(), NOW));
    assert!(
        err.contains("countersignature is not by a marketplace key"),
        "{err}"
    );
}

#[test]
fn expired_older_and_mixed_snapshots_are_refused() {
    let market = Marketplace::new();
    let roots = market.roots();
    let expired = market.snapshot(8, NOW - 1);
    let err = refused(expired.verify(&roots, NOW, Freshness::Check { last_seen: Some(7) }));
    assert!(
        err.starts_with("freshness: ") && err.contains("frozen"),
        "{err}"
    );
    // What was installed still loads after the timestamp expires.
    expired
        .verify(&roots, NOW, Freshness::LoadInstalled { last_seen: Some(8) })
        .unwrap();

    let older = market.snapshot(6, NOW + DAY_MS);
    let err = refused(older.verify(&roots, NOW, Freshness::Check { last_seen: Some(7) }));
    assert!(
        err.contains("older than version 7") && err.contains("rolled-back"),
        "{err}"
    );
    let err = refused(older.verify(&roots, NOW, Freshness::LoadInstalled { last_seen: Some(7) }));
    assert!(err.contains("older than version 7"), "{err}");

    let mut mixed = market.snapshot(8, NOW + DAY_MS);
    let mut other = Marketplace::new();
    other.root = SecretKey::parse(&format!("ed25519-secret:{}", "11".repeat(32))).unwrap();
    mixed.keys = Marketplace {
        keys: KeyList {
            version: 2,
            ..market.keys.clone()
        },
        ..other
    }
    .snapshot(8, NOW + DAY_MS)
    .keys;
    let err = refused(mixed.verify(&roots, NOW, Freshness::Check { last_seen: None }));
    assert!(
        err.contains("keys.json is signed by 0 pinned root key(s)"),
        "{err}"
    );

    let mut swapped = market.snapshot(8, NOW + DAY_MS);
    swapped.keys = sign_snapshot(
        &KeyList {
            version: 2,
            ..market.keys.clone()
        },
        &[&market.root],
        &market.revoked,
        &market.online,
        8,
        NOW + DAY_MS,
    )
    .keys;
    let err = refused(swapped.verify(&roots, NOW, Freshness::Check { last_seen: None }));
    assert!(err.contains("mixed snapshot"), "{err}");

    let mut forged = market.snapshot(9, NOW + DAY_MS);
    forged.timestamp = sign_snapshot(
        &market.keys,
        &[&market.root],
        &market.revoked,
        &SecretKey::generate(),
        9,
        NOW + DAY_MS,
    )
    .timestamp;
    let err = refused(forged.verify(&roots, NOW, Freshness::Check { last_seen: None }));
    assert!(
        err.contains("timestamp.json is not signed by a current marketplace key"),
        "{err}"
    );
}

#[test]
fn a_revoked_release_is_refused() {
    let mut market = Marketplace::new();
    let package = market.release(MANIFEST);
    market.revoked.releases.push(RevokedRelease {
        name: "acme-wechat".into(),
        version: Some("1.2.0".parse().unwrap()),
        reason: "sends customers' messages to a third party".into(),
    });
    let err = refused(verify::verify(&package, &market.trust(), NOW));
    assert!(
        err.starts_with("revoked: ") && err.contains("third party"),
        "{err}"
    );
}

#[test]
fn a_snapshot_written_and_read_back_still_verifies() {
    let market = Marketplace::new();
    let dir = tempfile::tempdir().unwrap();
    market.snapshot(3, NOW + DAY_MS).write(dir.path()).unwrap();
    let read = Snapshot::read(dir.path()).unwrap();
    let trust = read
        .verify(
            &market.roots(),
            NOW,
            Freshness::Check { last_seen: Some(3) },
        )
        .unwrap();
    assert_eq!(trust.timestamp.version, 3);
}

#[test]
fn a_revoked_marketplace_key_countersigns_nothing_however_it_dates_it() {
    let mut market = Marketplace::new();
    // Revoked after the release's (claimed) countersignature time: a thief
    // holding the key could date anything before the revocation.
    market.keys.marketplace[0].revoked_ms = Some(NOW - 60_000);
    let err = refused(verify::verify(
        &market.release(MANIFEST),
        &market.trust_at_revocation(),
        NOW,
    ));
    assert!(
        err.contains("countersigned by the marketplace's key") && err.contains("revoked"),
        "{err}"
    );
}
