//! The contract's exports of one plugin, found once when it loads. A call in
//! a fresh instance looks up only the export it needs, by index, instead of
//! type-checking all nine exports on every instantiation (which cost about a
//! tenth of the host's CPU under load); the types are checked once, against
//! the same component, when the plugin loads. Every contract version has
//! the same exports; they differ in the context they take and the manifest
//! they describe (`C` and `M`).

use crate::runtime::bindings::tongdao::channel::types::{
    Action, Frame, FrameResult, HttpRequest, HttpResponse, Interpretation, OutboundRequest,
    PluginError, PollRequest, PollResult, PushResult, StreamConnect,
};
use std::marker::PhantomData;
use wasmtime::AsContextMut;
use wasmtime::component::{
    Component, ComponentExportIndex, ComponentNamedList, ComponentType, Instance, Lift, Lower,
    TypedFunc,
};

/// One export whose parameters are `P` and whose single result is `T`.
pub struct Export<P, T> {
    name: &'static str,
    index: ComponentExportIndex,
    types: PhantomData<fn(P) -> T>,
}

impl<P, T> Export<P, T>
where
    P: ComponentNamedList + Lower + Send + Sync,
    T: Lift + Send + Sync + 'static,
    (T,): ComponentNamedList + Lift,
{
    fn find(
        component: &Component,
        interface: (&'static str, &ComponentExportIndex),
        name: &'static str,
    ) -> Result<Self, String> {
        let index = component
            .get_export_index(Some(interface.1), name)
            .ok_or_else(|| format!("the component does not export `{name}` of {}", interface.0))?;
        Ok(Export {
            name,
            index,
            types: PhantomData,
        })
    }

    /// Checks the export's type against `(P) -> T` in a live instance.
    fn check(&self, store: impl AsContextMut, instance: &Instance) -> wasmtime::Result<()> {
        instance
            .get_typed_func::<P, (T,)>(store, &self.index)
            .map(drop)
            .map_err(|err| err.context(format!("export `{}` has the wrong type", self.name)))
    }

    /// Calls the export in `instance` with `params`.
    pub async fn call<S>(&self, mut store: S, instance: &Instance, params: P) -> wasmtime::Result<T>
    where
        S: AsContextMut<Data: Send>,
    {
        let func = instance
            .get_func(&mut store, self.index)
            .ok_or_else(|| wasmtime::format_err!("export `{}` is missing", self.name))?;
        // SAFETY: `Exports` exists only once `Exports::check` has type-checked
        // this export as `(P) -> (T,)` in an instance of the same component,
        // and every instance of a component has the same export types.
        let typed = unsafe { TypedFunc::<P, (T,)>::new_unchecked(func) };
        let (result,) = typed.call_async(&mut store, params).await?;
        Ok(result)
    }
}

/// A result the plugin may refuse with a [`PluginError`].
type Fallible<T> = Result<T, PluginError>;

/// Every export of the contract, located in one component: `C` is the
/// version's shop context, `M` its manifest.
pub struct Exports<C, M> {
    /// `describe`.
    pub describe: Export<(), M>,
    /// `handle-push`.
    pub handle_push: Export<(C, HttpRequest), Fallible<PushResult>>,
    /// `open-stream`.
    pub open_stream: Export<(C,), Fallible<StreamConnect>>,
    /// `handle-frame`.
    pub handle_frame: Export<(C, Frame), Fallible<FrameResult>>,
    /// `stream-heartbeat`.
    pub stream_heartbeat: Export<(C,), Fallible<Vec<Frame>>>,
    /// `render-poll`.
    pub render_poll: Export<(C, PollRequest), Fallible<OutboundRequest>>,
    /// `parse-poll`.
    pub parse_poll: Export<(C, PollRequest, String, HttpResponse), Fallible<PollResult>>,
    /// `render-action`.
    pub render_action: Export<(C, Action), Fallible<OutboundRequest>>,
    /// `interpret-response`.
    pub interpret_response: Export<(C, Action, String, HttpResponse), Fallible<Interpretation>>,
}

/// The exports located but not yet type-checked.
pub struct UncheckedExports<C, M>(Exports<C, M>);

impl<C, M> UncheckedExports<C, M>
where
    C: ComponentType + Lower + Send + Sync + 'static,
    M: Lift + Send + Sync + 'static,
{
    /// Finds every export of the contract's `interface` in the component.
    pub fn find(
        component: &Component,
        interface: &'static str,
    ) -> Result<UncheckedExports<C, M>, String> {
        let index = component
            .get_export_index(None, interface)
            .ok_or_else(|| format!("the component does not export {interface}"))?;
        let i = (interface, &index);
        Ok(UncheckedExports(Exports {
            describe: Export::find(component, i, "describe")?,
            handle_push: Export::find(component, i, "handle-push")?,
            open_stream: Export::find(component, i, "open-stream")?,
            handle_frame: Export::find(component, i, "handle-frame")?,
            stream_heartbeat: Export::find(component, i, "stream-heartbeat")?,
            render_poll: Export::find(component, i, "render-poll")?,
            parse_poll: Export::find(component, i, "parse-poll")?,
            render_action: Export::find(component, i, "render-action")?,
            interpret_response: Export::find(component, i, "interpret-response")?,
        }))
    }

    /// Type-checks every export in a live instance of the component.
    pub fn check(
        self,
        mut store: impl AsContextMut,
        instance: &Instance,
    ) -> wasmtime::Result<Exports<C, M>> {
        let e = &self.0;
        e.describe.check(&mut store, instance)?;
        e.handle_push.check(&mut store, instance)?;
        e.open_stream.check(&mut store, instance)?;
        e.handle_frame.check(&mut store, instance)?;
        e.stream_heartbeat.check(&mut store, instance)?;
        e.render_poll.check(&mut store, instance)?;
        e.parse_poll.check(&mut store, instance)?;
        e.render_action.check(&mut store, instance)?;
        e.interpret_response.check(&mut store, instance)?;
        Ok(self.0)
    }
}
