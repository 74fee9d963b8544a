//! A small reusable HTTP/1.1 server for loopback emulators: it binds
//! 127.0.0.1 on an ephemeral port, hands every request (method, path, decoded
//! query, headers, whole body) to a handler and writes back the handler's
//! [`Reply`]. Emulators of each platform put only their protocol logic in the
//! handler. The server stops on [`LoopbackServer::shutdown`] or when dropped,
//! closing connections that are still open.

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A request as a handler sees it.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// The method, upper case (`GET`, `POST`, …).
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The query string's parameters, percent-decoded, in order.
    pub query: Vec<(String, String)>,
    /// The headers, names lower case, in order.
    pub headers: Vec<(String, String)>,
    /// The whole body.
    pub body: Bytes,
}

impl Incoming {
    /// The first query parameter called `name`.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The query's parameters, then those of a form-encoded body.
    pub fn params(&self) -> Vec<(String, String)> {
        let mut params = self.query.clone();
        let is_form = self
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
        if is_form {
            params.extend(form_urlencoded::parse(&self.body).into_owned());
        }
        params
    }

    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What a handler answers.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// The `content-type` header.
    pub content_type: String,
    /// Further headers.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Reply {
    /// A JSON reply with status 200.
    pub fn json(value: &serde_json::Value) -> Reply {
        Reply {
            status: 200,
            content_type: "application/json; charset=utf-8".into(),
            headers: Vec::new(),
            body: value.to_string().into_bytes(),
        }
    }

    /// A plain-text reply with `status`.
    pub fn text(status: u16, text: &str) -> Reply {
        Reply {
            status,
            content_type: "text/plain; charset=utf-8".into(),
            headers: Vec::new(),
            body: text.as_bytes().to_vec(),
        }
    }

    /// `404 not found`.
    pub fn not_found() -> Reply {
        Reply::text(404, "not found")
    }
}

/// The future a handler returns.
pub type ReplyFuture = Pin<Box<dyn Future<Output = Reply> + Send>>;

/// Protocol logic served by a [`LoopbackServer`].
///
/// Implemented for every `Fn(Incoming) -> Fut` closure whose `Fut` is a
/// `Send` future of a [`Reply`]; synchronous logic can use
/// [`LoopbackServer::start_sync`] instead.
pub trait Handler: Send + Sync + 'static {
    /// Answer one request.
    fn handle(&self, request: Incoming) -> ReplyFuture;
}

impl<F, Fut> Handler for F
where
    F: Fn(Incoming) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Reply> + Send + 'static,
{
    fn handle(&self, request: Incoming) -> ReplyFuture {
        Box::pin(self(request))
    }
}

/// A running loopback server: its bound address, and the handle that stops
/// it. Stops when dropped.
pub struct LoopbackServer {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    accept_loop: Mutex<Option<JoinHandle<()>>>,
}

impl LoopbackServer {
    /// Bind `127.0.0.1:0` and serve `handler` until shut down.
    pub async fn start(handler: impl Handler) -> anyhow::Result<LoopbackServer> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding a loopback port for an emulator")?;
        let addr = listener
            .local_addr()
            .context("reading the emulator's bound address")?;
        let (stop, stopped) = watch::channel(false);
        let handler: Arc<dyn Handler> = Arc::new(handler);
        let accept_loop = tokio::spawn(accept(listener, handler, stopped));
        Ok(LoopbackServer {
            addr,
            stop,
            accept_loop: Mutex::new(Some(accept_loop)),
        })
    }

    /// Like [`LoopbackServer::start`], for a handler that answers at once.
    pub async fn start_sync(
        handler: impl Fn(Incoming) -> Reply + Send + Sync + 'static,
    ) -> anyhow::Result<LoopbackServer> {
        let handler = Arc::new(handler);
        LoopbackServer::start(move |request| {
            let handler = Arc::clone(&handler);
            async move { handler(request) }
        })
        .await
    }

    /// The bound address, `127.0.0.1:PORT`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stop accepting, close open connections, and wait until the port is
    /// released: connecting afterwards is refused.
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        let accept_loop = self
            .accept_loop
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(accept_loop) = accept_loop {
            let _ = accept_loop.await;
        }
    }
}

impl Drop for LoopbackServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

async fn accept(
    listener: tokio::net::TcpListener,
    handler: Arc<dyn Handler>,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // A failed accept (e.g. too many open files) affects only
                // that connection; keep serving.
                Err(_) => continue,
            },
            _ = stopped.changed() => return,
        };
        let handler = Arc::clone(&handler);
        let mut stopped = stopped.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                let handler = Arc::clone(&handler);
                async move { Ok::<_, Infallible>(serve(handler.as_ref(), request).await) }
            });
            let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = connection => {}
                _ = stopped.changed() => {}
            }
        });
    }
}

async fn serve(
    handler: &dyn Handler,
    request: Request<hyper::body::Incoming>,
) -> Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let reply = match body.collect().await {
        Ok(collected) => {
            let query = parts
                .uri
                .query()
                .map(|q| {
                    url::form_urlencoded::parse(q.as_bytes())
                        .into_owned()
                        .collect()
                })
                .unwrap_or_default();
            let headers = parts
                .headers
                .iter()
                .map(|(name, value)| {
                    (
                        name.as_str().to_string(),
                        String::from_utf8_lossy(value.as_bytes()).into_owned(),
                    )
                })
                .collect();
            handler
                .handle(Incoming {
                    method: parts.method.to_string(),
                    path: parts.uri.path().to_string(),
                    query,
                    headers,
                    body: collected.to_bytes(),
                })
                .await
        }
        Err(err) => Reply::text(400, &format!("reading the request body: {err}")),
    };
    respond(reply)
}

fn respond(reply: Reply) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(reply.body)));
    *response.status_mut() = hyper::StatusCode::from_u16(reply.status)
        .unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    let all =
        std::iter::once(("content-type".to_string(), reply.content_type)).chain(reply.headers);
    for (name, value) in all {
        if let (Ok(name), Ok(value)) = (
            hyper::header::HeaderName::from_bytes(name.as_bytes()),
            hyper::header::HeaderValue::from_str(&value),
        ) {
            headers.append(name, value);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn serves_until_shut_down() {
        let server = LoopbackServer::start_sync(|request| {
            let name = request.query("name").unwrap_or("nobody").to_string();
            Reply::text(200, &format!("{} {} {name}", request.method, request.path))
        })
        .await
        .unwrap();
        let url = format!("{}/hello?name=%E4%BD%A0", server.base_url());
        let body = reqwest::get(&url).await.unwrap().text().await.unwrap();
        assert_eq!(body, "GET /hello 你");
        server.shutdown().await;
        assert!(reqwest::get(&url).await.is_err(), "refused after shutdown");
    }

    #[tokio::test]
    async fn async_handlers_and_headers() {
        let server = LoopbackServer::start(|request: Incoming| async move {
            tokio::task::yield_now().await;
            let mut reply = Reply::text(201, request.header("X-Probe").unwrap_or("-"));
            reply.headers.push(("x-echo".into(), "1".into()));
            reply
        })
        .await
        .unwrap();
        let response = reqwest::Client::new()
            .post(server.base_url())
            .header("x-probe", "abc")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 201);
        assert_eq!(response.headers()["x-echo"], "1");
        assert_eq!(response.text().await.unwrap(), "abc");
    }
}
