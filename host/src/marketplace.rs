//! The host's side of the plugin marketplace: serving a marketplace
//! directory over HTTP (`tongdao market serve`, for private and offline
//! marketplaces and for tests), and reading one from a directory or a URL
//! (its signed documents, index files and packages). The formats and every
//! trust check are in the `tongdao-market` crate.

use anyhow::Context;
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Request, Response, StatusCode};
use std::path::{Path, PathBuf};

/// The most a marketplace file may weigh (a package's cap, compressed).
const MAX_DOWNLOAD: usize = tongdao_market::package::MAX_UNPACKED as usize;

/// Where a marketplace is read from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A directory.
    Dir(PathBuf),
    /// A static HTTP host (`http://…/` or `https://…/`).
    Url(url::Url),
}

impl Source {
    /// A directory path or an `http(s)://` URL.
    pub fn parse(text: &str) -> anyhow::Result<Source> {
        if text.starts_with("http://") || text.starts_with("https://") {
            let mut url =
                url::Url::parse(text).with_context(|| format!("`{text}` is not a URL"))?;
            if !url.path().ends_with('/') {
                url.set_path(&format!("{}/", url.path()));
            }
            Ok(Source::Url(url))
        } else {
            Ok(Source::Dir(PathBuf::from(text)))
        }
    }

    /// A file of the marketplace, by its path relative to the root; `None`
    /// when it does not exist.
    pub async fn get(&self, relative: &str) -> anyhow::Result<Option<Vec<u8>>> {
        anyhow::ensure!(
            safe_path(relative).is_some(),
            "bad marketplace path `{relative}`"
        );
        match self {
            Source::Dir(dir) => {
                let path = dir.join(relative);
                match tokio::fs::read(&path).await {
                    Ok(bytes) => Ok(Some(bytes)),
                    Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(err) => Err(err).with_context(|| format!("reading {}", path.display())),
                }
            }
            Source::Url(base) => {
                let url = base.join(relative)?;
                let response = reqwest::Client::new()
                    .get(url.clone())
                    .timeout(std::time::Duration::from_secs(30))
                    .send()
                    .await
                    .with_context(|| format!("fetching {url}"))?;
                if response.status() == reqwest::StatusCode::NOT_FOUND {
                    return Ok(None);
                }
                anyhow::ensure!(
                    response.status().is_success(),
                    "{url}: {}",
                    response.status()
                );
                // Read at most a package's size: a hostile server cannot
                // fill memory.
                let mut response = response;
                let mut bytes = Vec::new();
                while let Some(chunk) = response.chunk().await? {
                    anyhow::ensure!(
                        bytes.len() + chunk.len() <= MAX_DOWNLOAD,
                        "{url} is larger than {MAX_DOWNLOAD} bytes"
                    );
                    bytes.extend_from_slice(&chunk);
                }
                Ok(Some(bytes))
            }
        }
    }

    /// A file that must exist.
    pub async fn require(&self, relative: &str) -> anyhow::Result<Vec<u8>> {
        self.get(relative)
            .await?
            .with_context(|| format!("the marketplace has no `{relative}`"))
    }

    /// The three signed documents.
    pub async fn snapshot(&self) -> anyhow::Result<tongdao_market::trust::Snapshot> {
        use tongdao_market::trust::{KEYS, REVOKED, SignedFile, Snapshot, TIMESTAMP};
        let mut files = Vec::new();
        for name in [KEYS, TIMESTAMP, REVOKED] {
            files.push(SignedFile {
                bytes: self.require(name).await?,
                signatures: self.require(&format!("{name}.sig")).await?,
            });
        }
        let revoked = files.pop().expect("three files");
        let timestamp = files.pop().expect("three files");
        let keys = files.pop().expect("three files");
        Ok(Snapshot {
            keys,
            timestamp,
            revoked,
        })
    }

    /// A plugin's versions from the index (none if it has no index file).
    pub async fn versions(
        &self,
        name: &str,
    ) -> anyhow::Result<Vec<tongdao_market::index::IndexLine>> {
        let path = format!("index/{}", tongdao_market::index::path_of(name));
        match self.get(&path).await? {
            Some(bytes) => Ok(tongdao_market::index::parse(&String::from_utf8_lossy(
                &bytes,
            ))?),
            None => Ok(Vec::new()),
        }
    }
}

/// A relative path made only of plain segments (letters, digits, `.`, `_`,
/// `-`; no `..`, no empty segment), or `None`.
fn safe_path(relative: &str) -> Option<Vec<&str>> {
    let segments: Vec<&str> = relative.split('/').collect();
    let plain = |s: &&str| {
        !s.is_empty()
            && *s != "."
            && *s != ".."
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'+'))
    };
    segments.iter().all(plain).then_some(segments)
}

/// Serves the marketplace in `dir` on `listener` until `shutdown` fires:
/// GET of its files only, nothing outside it.
pub async fn serve(
    dir: PathBuf,
    listener: tokio::net::TcpListener,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let dir = std::sync::Arc::new(dir);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => accepted?,
            _ = shutdown.changed() => return Ok(()),
        };
        let dir = std::sync::Arc::clone(&dir);
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
                    let dir = std::sync::Arc::clone(&dir);
                    async move { Ok::<_, std::convert::Infallible>(answer(&dir, &request).await) }
                });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn answer(dir: &Path, request: &Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    let reply = |status: StatusCode, kind: &str, body: Bytes| {
        Response::builder()
            .status(status)
            .header(hyper::header::CONTENT_TYPE, kind)
            .body(Full::new(body))
            .expect("a valid response")
    };
    if request.method() != Method::GET {
        return reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            Bytes::from_static(b"GET only"),
        );
    }
    let relative = request.uri().path().trim_start_matches('/');
    let Some(segments) = safe_path(relative) else {
        return reply(
            StatusCode::NOT_FOUND,
            "text/plain",
            Bytes::from_static(b"not found"),
        );
    };
    let path = segments
        .iter()
        .fold(dir.to_path_buf(), |path, s| path.join(s));
    match tokio::fs::read(&path).await {
        Ok(bytes) => {
            let kind = if relative.ends_with(".json") || relative.ends_with(".sig") {
                "application/json"
            } else if relative.ends_with(".tdpkg") {
                "application/gzip"
            } else {
                "text/plain; charset=utf-8"
            };
            reply(StatusCode::OK, kind, Bytes::from(bytes))
        }
        Err(_) => reply(
            StatusCode::NOT_FOUND,
            "text/plain",
            Bytes::from_static(b"not found"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_relative_paths_are_served() {
        assert!(safe_path("index/we/ch/wechat").is_some());
        assert!(safe_path("packages/wechat/wechat-0.3.0.tdpkg").is_some());
        for bad in [
            "../keys",
            "index/../../etc/passwd",
            "/etc/passwd",
            "a//b",
            "a/./b",
            "a b",
            "",
        ] {
            assert!(safe_path(bad).is_none(), "{bad}");
        }
    }
}
