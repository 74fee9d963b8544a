//! The [`Channel`] trait plugin authors implement, and its bridge to the
//! generated component exports.

use crate::bindings::exports::tongdao::channel::channel::Guest;
use crate::{
    Action, Frame, FrameResult, HttpRequest, HttpResponse, Interpretation, Manifest,
    OutboundRequest, PluginError, PollRequest, PollResult, PushResult, ShopContext, StreamConnect,
};

/// A channel plugin: one platform's wire protocol, translated to and from
/// tongdao's common model.
///
/// Only [`Channel::manifest`] is required. The ingestion shapes a plugin does
/// not implement answer [`PluginError::Unsupported`]; declare the shapes you do
/// implement in the manifest.
pub trait Channel {
    /// Describe the plugin: name, version, ingestion shapes, egress hosts,
    /// content kinds, reply window, credentials.
    fn manifest() -> Manifest;

    /// Handle one webhook request: verify it, parse it, return the events and the
    /// response the platform gets once they are committed.
    fn handle_push(ctx: ShopContext, request: HttpRequest) -> Result<PushResult, PluginError> {
        let _ = (ctx, request);
        Err(unsupported("push ingestion"))
    }

    /// Describe how to open the shop's stream.
    fn open_stream(ctx: ShopContext) -> Result<StreamConnect, PluginError> {
        let _ = ctx;
        Err(unsupported("stream ingestion"))
    }

    /// Handle one frame received on the stream.
    fn handle_frame(ctx: ShopContext, frame: Frame) -> Result<FrameResult, PluginError> {
        let _ = (ctx, frame);
        Err(unsupported("stream ingestion"))
    }

    /// Frames to send as a heartbeat on the stream.
    fn stream_heartbeat(ctx: ShopContext) -> Result<Vec<Frame>, PluginError> {
        let _ = ctx;
        Ok(Vec::new())
    }

    /// Render the next request of a poll (a token fetch first, if needed).
    fn render_poll(ctx: ShopContext, poll: PollRequest) -> Result<OutboundRequest, PluginError> {
        let _ = (ctx, poll);
        Err(unsupported("poll ingestion"))
    }

    /// Interpret the response to a request [`Channel::render_poll`] rendered.
    fn parse_poll(
        ctx: ShopContext,
        poll: PollRequest,
        step: String,
        response: HttpResponse,
    ) -> Result<PollResult, PluginError> {
        let _ = (ctx, poll, step, response);
        Err(unsupported("poll ingestion"))
    }

    /// Render the next request of an action (a token fetch first, if needed).
    fn render_action(ctx: ShopContext, action: Action) -> Result<OutboundRequest, PluginError> {
        let _ = (ctx, action);
        Err(unsupported("actions"))
    }

    /// Interpret the response to a request [`Channel::render_action`] rendered.
    fn interpret_response(
        ctx: ShopContext,
        action: Action,
        step: String,
        response: HttpResponse,
    ) -> Result<Interpretation, PluginError> {
        let _ = (ctx, action, step, response);
        Err(unsupported("actions"))
    }
}

fn unsupported(what: &str) -> PluginError {
    PluginError::Unsupported(format!("this plugin does not implement {what}"))
}

impl<T: Channel> Guest for T {
    fn describe() -> Manifest {
        <T as Channel>::manifest()
    }

    fn handle_push(ctx: ShopContext, request: HttpRequest) -> Result<PushResult, PluginError> {
        <T as Channel>::handle_push(ctx, request)
    }

    fn open_stream(ctx: ShopContext) -> Result<StreamConnect, PluginError> {
        <T as Channel>::open_stream(ctx)
    }

    fn handle_frame(ctx: ShopContext, frame: Frame) -> Result<FrameResult, PluginError> {
        <T as Channel>::handle_frame(ctx, frame)
    }

    fn stream_heartbeat(ctx: ShopContext) -> Result<Vec<Frame>, PluginError> {
        <T as Channel>::stream_heartbeat(ctx)
    }

    fn render_poll(ctx: ShopContext, poll: PollRequest) -> Result<OutboundRequest, PluginError> {
        <T as Channel>::render_poll(ctx, poll)
    }

    fn parse_poll(
        ctx: ShopContext,
        poll: PollRequest,
        step: String,
        response: HttpResponse,
    ) -> Result<PollResult, PluginError> {
        <T as Channel>::parse_poll(ctx, poll, step, response)
    }

    fn render_action(ctx: ShopContext, action: Action) -> Result<OutboundRequest, PluginError> {
        <T as Channel>::render_action(ctx, action)
    }

    fn interpret_response(
        ctx: ShopContext,
        action: Action,
        step: String,
        response: HttpResponse,
    ) -> Result<Interpretation, PluginError> {
        <T as Channel>::interpret_response(ctx, action, step, response)
    }
}
