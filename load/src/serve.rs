//! A minimal HTTP/1 server on hyper for the harness's own endpoints: the
//! platform stand-ins and the bare-hyper baseline. Each request's body is
//! read whole and handed to a synchronous handler.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// One request as a handler sees it.
pub struct Call<'a> {
    /// `/cgi-bin/message/custom/send`, without the query.
    pub path: &'a str,
    /// The raw query string, if any.
    pub query: Option<&'a str>,
    /// The whole body.
    pub body: &'a [u8],
}

impl Call<'_> {
    /// The first query parameter called `name`, not percent-decoded.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query?.split('&').find_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            (key == name).then_some(value)
        })
    }
}

/// A handler's answer: status, content type and body.
pub type Answer = (u16, &'static str, Bytes);

/// Serve `handler` on `listener` until `stop` turns true.
pub async fn serve<H>(listener: TcpListener, handler: H, mut stop: watch::Receiver<bool>)
where
    H: Fn(&Call<'_>) -> Answer + Send + Sync + 'static,
{
    let handler = Arc::new(handler);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(_) => continue,
            },
            _ = stop.changed() => return,
        };
        let _ = stream.set_nodelay(true);
        let handler = Arc::clone(&handler);
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                let handler = Arc::clone(&handler);
                async move {
                    let (parts, body) = request.into_parts();
                    let body = match body.collect().await {
                        Ok(collected) => collected.to_bytes(),
                        Err(_) => Bytes::new(),
                    };
                    let call = Call {
                        path: parts.uri.path(),
                        query: parts.uri.query(),
                        body: &body,
                    };
                    let (status, content_type, answer) = handler(&call);
                    let mut response = Response::new(Full::new(answer));
                    *response.status_mut() =
                        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::OK);
                    response.headers_mut().insert(
                        hyper::header::CONTENT_TYPE,
                        hyper::header::HeaderValue::from_static(content_type),
                    );
                    Ok::<_, Infallible>(response)
                }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// A JSON answer with status 200.
pub fn json(value: serde_json::Value) -> Answer {
    (200, "application/json", Bytes::from(value.to_string()))
}
