//! The baseline: bare hyper reading the same push bodies and answering
//! `success`, as fast as an HTTP server on this machine can. It runs as its
//! own process (`tongdao-load bare-hyper`), like the host, so both are
//! measured the same way.

use crate::serve::{Answer, serve};
use bytes::Bytes;
use std::net::SocketAddr;
use tokio::sync::watch;

/// Serve the baseline on `listen` until the process is killed, answering
/// every request with `acknowledgement` (what the platform expects).
pub async fn run(listen: SocketAddr, acknowledgement: &'static [u8]) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!("listening on {}", listener.local_addr()?);
    let (_stop, stopped) = watch::channel(false);
    let answer = move |call: &crate::serve::Call<'_>| -> Answer {
        // Touch the body, as a server that reads it would.
        std::hint::black_box(call.body.len());
        (200, "text/plain", Bytes::from_static(acknowledgement))
    };
    serve(listener, answer, stopped).await;
    Ok(())
}
