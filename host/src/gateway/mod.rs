//! The HTTP gateway: `/hooks/{plugin}/{shop}` for platform webhooks,
//! `/admin/…` for agents, `/healthz`, and `/metrics`. With `admin_listen`
//! set, the admin plane (`/admin`, `/metrics`) has its own listener and the
//! public one serves only webhooks. Bodies are read up to the configured
//! limit (413 beyond it) and within the body-read timeout (408 beyond it)
//! before anything else happens; each listener holds at most
//! `max_connections` connections, and more wait to be accepted.

pub mod admin;
pub mod plugins;

use crate::config::Limits;
use crate::contract::v0_1::wit::Pair;
use crate::ingest;
use crate::ingest::Ingest;
use crate::model::{HttpRequest, HttpResponse};
use crate::shops::Shops;
use crate::telemetry::Metrics;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// How long open connections get to finish after shutdown begins.
const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// What the gateway works with: ingestion for webhooks, the admin API, and
/// the counters it renders.
#[derive(Clone)]
pub struct Gateway {
    /// The shops whose webhooks are served.
    pub shops: Shops,
    /// Limits (body size and read timeout, connections).
    pub limits: Limits,
    /// Counters, rendered at `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Webhook ingestion.
    pub ingest: Ingest,
    /// The admin API.
    pub admin: admin::Admin,
}

/// Which routes a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plane {
    /// Everything (no separate admin listener).
    All,
    /// Webhooks and `/healthz`.
    Public,
    /// `/admin`, `/metrics` and `/healthz`.
    Admin,
}

/// Serve connections from `listener` until `shutdown` turns true, then let
/// open connections finish their requests.
pub async fn serve(
    listener: TcpListener,
    host: Arc<Gateway>,
    plane: Plane,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = tokio::task::JoinSet::new();
    let slots = Arc::new(tokio::sync::Semaphore::new(host.limits.max_connections));
    loop {
        // Wait for a free slot before accepting: past the cap, connections
        // wait in the kernel's backlog instead of taking memory here.
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            _ = shutdown.changed() => break,
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.changed() => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(err) => {
                tracing::warn!(error = %err, "accepting a connection failed");
                continue;
            }
        };
        // Reap finished connections as we go.
        while connections.try_join_next().is_some() {}
        let host = Arc::clone(&host);
        let mut connection_shutdown = shutdown.clone();
        connections.spawn(async move {
            let _slot = slot;
            let service = service_fn(move |request| {
                let host = Arc::clone(&host);
                async move { Ok::<_, Infallible>(route(&host, plane, request).await) }
            });
            let connection = http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(std::time::Duration::from_secs(10))
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(err) = result {
                        tracing::debug!(%peer, error = %err, "connection ended with an error");
                    }
                }
                _ = connection_shutdown.changed() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        });
    }
    drop(listener);
    let closed = crate::tasks::drain(&mut connections, DRAIN_TIMEOUT).await;
    if closed > 0 {
        tracing::warn!(closed, "closed connections that did not finish in time");
    }
}

/// A response body: a whole one, or the console's event stream.
pub type ResponseBody = http_body_util::combinators::UnsyncBoxBody<Bytes, Infallible>;

async fn route(host: &Gateway, plane: Plane, request: Request<Incoming>) -> Response<ResponseBody> {
    if plane != Plane::Public && request.uri().path() == "/console/events" {
        return crate::console::live::events(&host.admin, request).await;
    }
    whole(host, plane, request).await.map(BodyExt::boxed_unsync)
}

async fn whole(host: &Gateway, plane: Plane, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = request.uri().path().to_string();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let admin_plane = plane != Plane::Public;
    let public_plane = plane != Plane::Admin;
    match segments.as_slice() {
        ["healthz"] => text(StatusCode::OK, "ok"),
        ["metrics"] if admin_plane => text(StatusCode::OK, &host.metrics.render()),
        ["hooks", plugin, shop] if public_plane => webhook(host, plugin, shop, request).await,
        ["console", rest @ ..] if admin_plane => {
            crate::console::handle(&host.admin, &decoded(rest), request).await
        }
        ["admin", rest @ ..] if admin_plane => {
            admin::handle(&host.admin, &decoded(rest), request).await
        }
        _ => text(StatusCode::NOT_FOUND, "no such route"),
    }
}

/// Path segments, percent-decoded.
fn decoded(segments: &[&str]) -> Vec<String> {
    segments
        .iter()
        .map(|segment| {
            percent_encoding::percent_decode_str(segment)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect()
}

async fn webhook(
    host: &Gateway,
    plugin: &str,
    shop_id: &str,
    request: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let Some(shop) = host
        .shops
        .get(shop_id)
        .filter(|shop| shop.config.plugin == plugin)
    else {
        tracing::warn!(plugin, shop = shop_id, "webhook for an unknown shop");
        return text(StatusCode::NOT_FOUND, "no such shop");
    };
    let limit = host.limits.max_body_bytes;
    let declared = request
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return too_large(shop_id, limit);
    }
    let (parts, body) = request.into_parts();
    let read = tokio::time::timeout(
        host.limits.body_read_timeout,
        Limited::new(body, limit).collect(),
    )
    .await;
    let Ok(read) = read else {
        tracing::warn!(
            shop = shop_id,
            timeout = ?host.limits.body_read_timeout,
            "webhook refused: the body did not arrive in time"
        );
        return text(StatusCode::REQUEST_TIMEOUT, "body not received in time");
    };
    let body = match read {
        Ok(collected) => collected.to_bytes(),
        Err(err)
            if err
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            return too_large(shop_id, limit);
        }
        Err(err) => {
            tracing::warn!(shop = shop_id, error = %err, "reading a webhook body failed");
            return text(StatusCode::BAD_REQUEST, "unreadable body");
        }
    };
    let request = HttpRequest {
        method: parts.method.as_str().to_string(),
        url: parts
            .uri
            .path_and_query()
            .map(|pq| pq.as_str().to_string())
            .unwrap_or_else(|| parts.uri.path().to_string()),
        headers: parts
            .headers
            .iter()
            .map(|(name, value)| Pair {
                name: name.as_str().to_string(),
                value: String::from_utf8_lossy(value.as_bytes()).into_owned(),
            })
            .collect(),
        body: body.to_vec(),
    };
    into_response(ingest::handle_push(&host.ingest, shop, request).await)
}

fn too_large(shop: &str, limit: usize) -> Response<Full<Bytes>> {
    tracing::warn!(shop, limit, "webhook refused: body larger than the limit");
    text(StatusCode::PAYLOAD_TOO_LARGE, "body too large")
}

fn into_response(response: HttpResponse) -> Response<Full<Bytes>> {
    let mut builder = Response::builder().status(response.status);
    for header in &response.headers {
        builder = builder.header(header.name.as_str(), header.value.as_str());
    }
    builder
        .body(Full::new(Bytes::from(response.body)))
        .unwrap_or_else(|err| {
            tracing::error!(error = %err, "the plugin's response is not valid HTTP");
            text(StatusCode::INTERNAL_SERVER_ERROR, "invalid plugin response")
        })
}

fn text(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
