//! Requests plugins render, sent by the host: every one passes the egress
//! allow-list (declared by the plugin, granted by the shop) and the shop's
//! API base rewrite before the host's HTTP client sends it. Delivery, polls
//! and poll acknowledgements all go through [`send`].

pub mod egress;
mod http;

pub use http::{AddressPolicy, OutboundClient};

use crate::model::{HttpRequest, HttpResponse};
use crate::shops::Shop;

/// Why a rendered request got no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// The request may not go where it was addressed: retrying will not help.
    Denied(String),
    /// The network or the platform failed to answer: worth retrying.
    Transport(String),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Denied(reason) | SendError::Transport(reason) => f.write_str(reason),
        }
    }
}

/// Send `request`, rendered by `shop`'s plugin, with `client`.
pub async fn send(
    client: &OutboundClient,
    shop: &Shop,
    request: &HttpRequest,
) -> Result<HttpResponse, SendError> {
    let target = egress::resolve(
        &shop.config,
        &shop.egress(),
        &shop.plugin().manifest,
        &request.url,
    )
    .map_err(SendError::Denied)?;
    client
        .send(request, target.url)
        .await
        .map_err(SendError::Transport)
}
