//! The sparse index, in the style of Cargo's: one file per plugin under
//! `index/`, one JSON line per version, append-only except for `yanked`.
//! Each line carries what a host needs to choose without downloading: the
//! contract version, the lowest host version, the package's digest and
//! size, and whether it is yanked (no new installs; installed ones keep
//! running). Served from a directory or any static HTTP host.

use crate::MarketError;
use serde::{Deserialize, Serialize};

/// One version of a plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexLine {
    /// The plugin.
    pub name: String,
    /// The version.
    pub vers: semver::Version,
    /// Its publisher.
    pub publisher: String,
    /// The contract it targets.
    pub wit: String,
    /// The lowest host version that runs it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_host: Option<semver::Version>,
    /// One line about it (for search).
    #[serde(default)]
    pub description: String,
    /// SHA-256 of the `.tdpkg`.
    pub sha256: String,
    /// Size of the `.tdpkg`, bytes.
    pub size: u64,
    /// No new installs.
    #[serde(default)]
    pub yanked: bool,
}

/// Where a plugin's index file lives, relative to the index root: Cargo's
/// layout (`1/a`, `2/ab`, `3/a/abc`, `we/ch/wechat`).
pub fn path_of(name: &str) -> String {
    // Names are ASCII (the manifest checks them); anything else is kept
    // whole rather than cut inside a character.
    if !name.is_ascii() {
        return format!("other/{}", crate::sha256_hex(name.as_bytes()));
    }
    match name.len() {
        1 => format!("1/{name}"),
        2 => format!("2/{name}"),
        3 => format!("3/{}/{name}", &name[..1]),
        _ => format!("{}/{}/{name}", &name[..2], &name[2..4]),
    }
}

/// Where a version's package lives, relative to the marketplace root.
pub fn package_path(name: &str, version: &semver::Version) -> String {
    format!("packages/{name}/{name}-{version}.tdpkg")
}

/// Reads an index file.
pub fn parse(text: &str) -> Result<Vec<IndexLine>, MarketError> {
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .enumerate()
        .map(|(number, line)| {
            serde_json::from_str(line)
                .map_err(|err| MarketError::Malformed(format!("index line {}: {err}", number + 1)))
        })
        .collect()
}

/// The line's text (without the newline).
pub fn line(entry: &IndexLine) -> String {
    serde_json::to_string(entry).expect("an index line serializes")
}

/// The best version to install: the highest not yanked, within
/// `requirement`, whose contract is one of `wits` and whose `min_host` is
/// met by `host`.
pub fn choose<'a>(
    lines: &'a [IndexLine],
    requirement: &semver::VersionReq,
    wits: &[semver::Version],
    host: &semver::Version,
) -> Option<&'a IndexLine> {
    choose_by(lines, |v| requirement.matches(v), wits, host)
}

/// [`choose`] with any test of the version (an upgrade takes anything
/// above the installed one, build metadata included).
pub fn choose_by<'a>(
    lines: &'a [IndexLine],
    accept: impl Fn(&semver::Version) -> bool,
    wits: &[semver::Version],
    host: &semver::Version,
) -> Option<&'a IndexLine> {
    lines
        .iter()
        .filter(|l| !l.yanked && accept(&l.vers))
        .filter(|l| crate::wit_version(&l.wit).is_some_and(|w| wits.contains(&w)))
        .filter(|l| l.min_host.as_ref().is_none_or(|min| host >= min))
        .max_by(|a, b| a.vers.cmp(&b.vers))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(vers: &str, wit: &str, yanked: bool) -> IndexLine {
        IndexLine {
            name: "wechat".into(),
            vers: vers.parse().unwrap(),
            publisher: "tongdao".into(),
            wit: wit.into(),
            min_host: None,
            description: String::new(),
            sha256: "00".into(),
            size: 1,
            yanked,
        }
    }

    #[test]
    fn paths_follow_cargo_s_layout() {
        assert_eq!(path_of("jd"), "2/jd");
        assert_eq!(path_of("abc"), "3/a/abc");
        assert_eq!(path_of("wechat"), "we/ch/wechat");
    }

    #[test]
    fn the_highest_linkable_unyanked_version_is_chosen() {
        let lines = vec![
            entry("0.1.0", "tongdao:channel@0.1.0", false),
            entry("0.2.0", "tongdao:channel@0.1.0", true),
            entry("0.3.0", "tongdao:channel@0.2.0", false),
            entry("0.4.0", "tongdao:channel@9.0.0", false),
        ];
        let text: String = lines.iter().map(|l| line(l) + "\n").collect();
        let read = parse(&text).unwrap();
        assert_eq!(read, lines);
        let any = semver::VersionReq::STAR;
        let host = semver::Version::new(0, 1, 0);
        let both = [semver::Version::new(0, 1, 0), semver::Version::new(0, 2, 0)];
        assert_eq!(
            choose(&read, &any, &both, &host).unwrap().vers.to_string(),
            "0.3.0"
        );
        let old = [semver::Version::new(0, 1, 0)];
        assert_eq!(
            choose(&read, &any, &old, &host).unwrap().vers.to_string(),
            "0.1.0",
            "0.2.0 is yanked"
        );
        assert!(parse("{not json").is_err());
    }
}
