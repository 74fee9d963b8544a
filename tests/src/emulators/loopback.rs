//! A small HTTP/1.1 server on 127.0.0.1 with an ephemeral port, serving a
//! handler until dropped. Emulators put their protocol logic in the handler.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::watch;

/// A request as an emulator sees it.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// The method.
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The query string's parameters, decoded.
    pub query: Vec<(String, String)>,
    /// The body.
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
}

/// What an emulator answers.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The status.
    pub status: u16,
    /// The content type.
    pub content_type: &'static str,
    /// The body.
    pub body: Vec<u8>,
}

impl Reply {
    /// A JSON reply with status 200.
    pub fn json(value: serde_json::Value) -> Reply {
        Reply {
            status: 200,
            content_type: "application/json; charset=utf-8",
            body: value.to_string().into_bytes(),
        }
    }
}

/// The handler an emulator serves.
pub type Handler = Arc<dyn Fn(Incoming) -> Reply + Send + Sync>;

/// A running loopback server; stops when dropped.
pub struct LoopbackServer {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
}

impl LoopbackServer {
    /// Bind 127.0.0.1:0 and serve `handler`.
    pub async fn start(handler: Handler) -> std::io::Result<LoopbackServer> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, mut stopped) = watch::channel(false);
        tokio::spawn(async move {
            loop {
                let (stream, _) = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok(accepted) => accepted,
                        Err(_) => continue,
                    },
                    _ = stopped.changed() => return,
                };
                let handler = Arc::clone(&handler);
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                        let handler = Arc::clone(&handler);
                        async move { Ok::<_, Infallible>(serve(&handler, request).await) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(LoopbackServer { addr, stop })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for LoopbackServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

async fn serve(
    handler: &Handler,
    request: Request<hyper::body::Incoming>,
) -> Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let query = parts
        .uri
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let reply = handler(Incoming {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query,
        body,
    });
    let mut response = Response::new(Full::new(Bytes::from(reply.body)));
    *response.status_mut() = hyper::StatusCode::from_u16(reply.status)
        .unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(reply.content_type),
    );
    response
}
