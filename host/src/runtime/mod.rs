//! The plugin runtime: one wasmtime engine with the pooling allocator, a
//! pre-instantiated component per plugin, and a fresh instance for every call
//! under hard limits (epoch deadline plus an outer tokio timeout, capped linear
//! memory, capped output size, validated output).

pub mod bindings;
mod cache;
mod call_state;
mod epoch;
mod error;
mod exports;
mod output;
mod signing;
mod size;

pub use error::{CallError, LoadError, refusal_kind, refusal_reason};

use crate::contract::{Contract, v0_2};
use crate::runtime::bindings::tongdao::channel::types::{
    Action, Frame, FrameResult, HttpRequest, HttpResponse, Interpretation, Manifest,
    OutboundRequest, Pair, PluginError, PollRequest, PollResult, PushResult, ShopContext,
    StreamConnect,
};
use crate::runtime::call_state::CallState;
use crate::runtime::exports::{Exports, UncheckedExports};
use crate::runtime::size::WireSize;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use wasmtime::component::{Component, HasSelf, Instance, InstancePre, Linker};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, UpdateDeadline,
};

/// How often the epoch ticker advances the engine's epoch: running guest code
/// yields to the executor at this interval and is interrupted at the first
/// tick past its deadline.
const EPOCH_TICK: Duration = Duration::from_millis(2);

/// Per slot, how much touched memory is reset in place rather than decommitted.
const KEEP_RESIDENT_BYTES: usize = 4 << 20;

/// Limits applied to every plugin call.
#[derive(Debug, Clone)]
pub struct RuntimeLimits {
    /// Wall-clock budget of one call.
    pub call_timeout: Duration,
    /// Linear memory cap of one instance.
    pub memory_bytes: usize,
    /// The largest output one call may return (strings and bytes by length).
    pub max_output_bytes: usize,
    /// Calls running at once; also the number of instance slots in the pool.
    pub max_concurrent_calls: u32,
    /// Slots webhook calls never take, kept for delivery, polls and streams.
    pub reserved_work_calls: u32,
}

impl From<&crate::config::Limits> for RuntimeLimits {
    fn from(limits: &crate::config::Limits) -> Self {
        RuntimeLimits {
            call_timeout: limits.call_timeout,
            memory_bytes: limits.plugin_memory_bytes,
            max_output_bytes: limits.max_output_bytes,
            max_concurrent_calls: limits.max_concurrent_calls,
            reserved_work_calls: limits.reserved_work_calls,
        }
    }
}

/// The engine, one linker of tongdao's imports per contract version, and
/// the limits.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    /// 0.1.0's imports.
    linker_v0_1: Linker<CallState>,
    /// 0.2.0's imports: 0.1.0's plus signing with secrets.
    linker_v0_2: Linker<CallState>,
    limits: RuntimeLimits,
    permits: Semaphore,
    /// Webhook calls take one of these before a slot, so a flood of
    /// webhooks leaves the reserved slots to delivery, polls and streams.
    push_permits: Semaphore,
    cache_dir: Option<PathBuf>,
    _ticker: epoch::EpochTicker,
}

/// A loaded plugin: its manifest, its pre-instantiated component and its
/// type-checked exports.
pub struct LoadedPlugin {
    /// The plugin's name, from its manifest.
    pub name: String,
    /// What the plugin declared when loaded.
    pub manifest: Manifest,
    /// SHA-256 of the component file, hex.
    pub digest: String,
    /// Size of the component file in bytes.
    pub size: u64,
    /// The contract version the component exports.
    pub contract: Contract,
    /// The credentials a 0.2.0 plugin declares, public and secret: it gets
    /// the values of the first and the names of the second (the host signs
    /// with their values); no other credential reaches it. Empty for 0.1.0.
    pub declared_credentials: v0_2::DeclaredCredentials,
    pre: InstancePre<CallState>,
    exports: Arc<PluginExports>,
}

/// A plugin's exports, typed by its contract version.
enum PluginExports {
    V0_1(Exports<ShopContext, Manifest>),
    V0_2(Exports<v0_2::types::ShopContext, v0_2::types::Manifest>),
}

/// The shop's context as the plugin's contract version takes it.
enum CallContext {
    V0_1(ShopContext),
    V0_2(v0_2::types::ShopContext),
}

impl LoadedPlugin {
    /// The context for a call, and the secret values kept in the host.
    fn context(&self, ctx: ShopContext) -> (CallContext, Vec<Pair>) {
        match self.contract {
            Contract::V0_1 => (CallContext::V0_1(ctx), Vec::new()),
            Contract::V0_2 => {
                let (ctx, secrets) = v0_2::split_context(ctx, &self.declared_credentials);
                (CallContext::V0_2(ctx), secrets)
            }
        }
    }
}

/// Calls export `$export` of `$exports` with the context in its version's
/// shape followed by `$arg`s.
macro_rules! dispatch {
    ($exports:expr, $ctx:expr, $store:expr, $instance:expr, $export:ident $(, $arg:expr)*) => {
        match (&*$exports, $ctx) {
            (PluginExports::V0_1(e), CallContext::V0_1(c)) => {
                e.$export.call($store, $instance, (c, $($arg),*)).await
            }
            (PluginExports::V0_2(e), CallContext::V0_2(c)) => {
                e.$export.call($store, $instance, (c, $($arg),*)).await
            }
            _ => Err(wasmtime::format_err!("a context of another contract version")),
        }
    };
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("name", &self.name)
            .field("digest", &self.digest)
            .field("size", &self.size)
            .field("contract", &self.contract)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// Build the engine. `cache_dir` holds compiled components between runs.
    pub fn new(limits: RuntimeLimits, cache_dir: Option<PathBuf>) -> Result<Runtime, LoadError> {
        let engine = Engine::new(&engine_config(&limits)).map_err(LoadError::engine)?;
        let mut linker_v0_1 = Linker::new(&engine);
        bindings::v0_1::Plugin::add_to_linker::<CallState, HasSelf<CallState>>(
            &mut linker_v0_1,
            |state| state,
        )
        .map_err(LoadError::engine)?;
        let mut linker_v0_2 = Linker::new(&engine);
        bindings::v0_2::Plugin::add_to_linker::<CallState, HasSelf<CallState>>(
            &mut linker_v0_2,
            |state| state,
        )
        .map_err(LoadError::engine)?;
        let ticker = epoch::EpochTicker::start(engine.clone(), EPOCH_TICK);
        let permits = Semaphore::new(limits.max_concurrent_calls as usize);
        let push_permits = Semaphore::new(
            limits
                .max_concurrent_calls
                .saturating_sub(limits.reserved_work_calls)
                .max(1) as usize,
        );
        Ok(Runtime {
            inner: Arc::new(Inner {
                engine,
                linker_v0_1,
                linker_v0_2,
                limits,
                permits,
                push_permits,
                cache_dir,
                _ticker: ticker,
            }),
        })
    }

    /// The limits every call runs under.
    pub fn limits(&self) -> &RuntimeLimits {
        &self.inner.limits
    }

    /// Load a component: compile it (or reuse the cached compilation),
    /// pre-instantiate it, and read its manifest.
    pub fn load(&self, path: &Path) -> Result<Arc<LoadedPlugin>, LoadError> {
        let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let digest = cache::digest(&bytes);
        let component = cache::load_or_compile(
            &self.inner.engine,
            &bytes,
            &digest,
            self.inner.cache_dir.as_deref(),
        )
        .map_err(|err| LoadError::Compile {
            path: path.to_path_buf(),
            message: format!("{err:#}"),
        })?;
        let contract = Contract::of(&component).map_err(|message| LoadError::Link {
            path: path.to_path_buf(),
            message,
        })?;
        let pre = self.pre_instantiate(contract, &component, path)?;
        let link_error = |message| LoadError::Link {
            path: path.to_path_buf(),
            message,
        };
        let (exports, manifest, declared_credentials) = match contract {
            Contract::V0_1 => {
                let unchecked =
                    UncheckedExports::find(&component, contract.interface()).map_err(link_error)?;
                let (exports, manifest) = self.check_and_describe(&pre, unchecked, path)?;
                (
                    PluginExports::V0_1(exports),
                    manifest,
                    v0_2::DeclaredCredentials::default(),
                )
            }
            Contract::V0_2 => {
                let unchecked =
                    UncheckedExports::find(&component, contract.interface()).map_err(link_error)?;
                let (exports, described) = self.check_and_describe(&pre, unchecked, path)?;
                let (manifest, declared) = v0_2::manifest(described);
                (PluginExports::V0_2(exports), manifest, declared)
            }
        };
        output::validate_manifest(&manifest).map_err(|message| LoadError::Manifest {
            path: path.to_path_buf(),
            message,
        })?;
        Ok(Arc::new(LoadedPlugin {
            name: manifest.name.clone(),
            manifest,
            digest,
            size: bytes.len() as u64,
            contract,
            declared_credentials,
            pre,
            exports: Arc::new(exports),
        }))
    }

    /// Type-checks every export in a first instance, then asks the plugin
    /// to describe itself.
    fn check_and_describe<C, M>(
        &self,
        pre: &InstancePre<CallState>,
        unchecked: UncheckedExports<C, M>,
        path: &Path,
    ) -> Result<(Exports<C, M>, M), LoadError>
    where
        C: wasmtime::component::ComponentType + wasmtime::component::Lower + Send + Sync + 'static,
        M: wasmtime::component::Lift + WireSize + Send + Sync + 'static,
    {
        let checked = Arc::new(std::sync::OnceLock::new());
        let slot = Arc::clone(&checked);
        let manifest = futures::executor::block_on(self.run(
            pre,
            "",
            "(load)",
            Vec::new(),
            move |instance, store| {
                Box::pin(async move {
                    let exports = unchecked.check(&mut *store, instance)?;
                    let manifest = exports.describe.call(&mut *store, instance, ()).await?;
                    let _ = slot.set(exports);
                    Ok(Ok(manifest))
                })
            },
        ))
        .map_err(|err| LoadError::Manifest {
            path: path.to_path_buf(),
            message: err.to_string(),
        })?;
        let exports = Arc::into_inner(checked)
            .and_then(std::sync::OnceLock::into_inner)
            .ok_or_else(|| LoadError::Manifest {
                path: path.to_path_buf(),
                message: "the exports were not checked".into(),
            })?;
        Ok((exports, manifest))
    }

    fn pre_instantiate(
        &self,
        contract: Contract,
        component: &Component,
        path: &Path,
    ) -> Result<InstancePre<CallState>, LoadError> {
        let linker = match contract {
            Contract::V0_1 => &self.inner.linker_v0_1,
            Contract::V0_2 => &self.inner.linker_v0_2,
        };
        linker
            .instantiate_pre(component)
            .map_err(|err| LoadError::Link {
                path: path.to_path_buf(),
                message: format!("{err:#}"),
            })
    }

    /// Handle one webhook request.
    pub async fn handle_push(
        &self,
        plugin: &Arc<LoadedPlugin>,
        ctx: ShopContext,
        request: HttpRequest,
    ) -> Result<PushResult, CallError> {
        let _push_permit = self
            .inner
            .push_permits
            .acquire()
            .await
            .map_err(|_| CallError::ShuttingDown)?;
        let exports = Arc::clone(&plugin.exports);
        let result = self
            .call(plugin, ctx, move |instance, store, ctx| {
                Box::pin(
                    async move { dispatch!(exports, ctx, store, instance, handle_push, request) },
                )
            })
            .await?;
        output::validate_push(&result).map_err(CallError::InvalidOutput)?;
        Ok(result)
    }

    /// Handle one webhook request on the calling thread (for `tongdao replay`
    /// and benchmarks).
    pub fn handle_push_blocking(
        &self,
        plugin: &LoadedPlugin,
        ctx: ShopContext,
        request: HttpRequest,
    ) -> Result<PushResult, CallError> {
        let exports = Arc::clone(&plugin.exports);
        let (ctx, secrets) = plugin.context(ctx);
        let shop = match &ctx {
            CallContext::V0_1(c) => c.shop_id.clone(),
            CallContext::V0_2(c) => c.shop_id.clone(),
        };
        let result = futures::executor::block_on(self.run(
            &plugin.pre,
            &plugin.name,
            &shop,
            secrets,
            move |instance, store| {
                Box::pin(
                    async move { dispatch!(exports, ctx, store, instance, handle_push, request) },
                )
            },
        ))?;
        output::validate_push(&result).map_err(CallError::InvalidOutput)?;
        Ok(result)
    }

    /// Describe how to open the shop's stream.
    pub async fn open_stream(
        &self,
        plugin: &Arc<LoadedPlugin>,
        ctx: ShopContext,
    ) -> Result<StreamConnect, CallError> {
        let exports = Arc::clone(&plugin.exports);
        self.call(plugin, ctx, move |instance, store, ctx| {
            Box::pin(async move { dispatch!(exports, ctx, store, instance, open_stream) })
        })
        .await
    }

    /// Handle one frame received on the shop's stream.
    pub async fn handle_frame(
        &self,
        plugin: &Arc<LoadedPlugin>,
        ctx: ShopContext,
        frame: Frame,
    ) -> Result<FrameResult, CallError> {
        let exports = Arc::clone(&plugin.exports);
        let result = self
            .call(plugin, ctx, move |instance, store, ctx| {
                Box::pin(
                    async move { dispatch!(exports, ctx, store, instance, handle_frame, frame) },
                )
            })
            .await?;
        output::validate_events(&result.events).map_err(CallError::InvalidOutput)?;
        output::validate_state(&result.state).map_err(CallError::InvalidOutput)?;
        Ok(result)
    }

    /// Frames to send as a heartbeat.
    pub async fn stream_heartbeat(
        &self,
        plugin: &Arc<LoadedPlugin>,
        ctx: ShopContext,
    ) -> Result<Vec<Frame>, CallError> {
        let exports = Arc::clone(&plugin.exports);
        self.call(plugin, ctx, move |instance, store, ctx| {
            Box::pin(async move { dispatch!(exports, ctx, store, instance, stream_heartbeat) })
        })
        .await
    }

    /// Render the next request of a poll.
    pub async fn render_poll(
        &self,
        plugin: &Arc<LoadedPlugin>,
        ctx: ShopContext,
        poll: PollRequest,
    ) -> Result<OutboundRequest, CallError> {
        let exports = Arc::clone(&plugin.exports);
        let request = self
            .call(plugin, ctx, move |instance, store, ctx| {
                Box::pin(async move { dispatch!(exports, ctx, store, instance, render_poll, poll) })
            })
            .await?;
        output::validate_outbound(&request).map_err(CallError::InvalidOutput)?;
        Ok(request)
    }

    /// Interpret a poll response.
    pub async fn parse_poll(
        &self,
        plugin: &Arc<LoadedPlugin>,
        ctx: ShopContext,
        poll: PollRequest,
        step: String,
        response: HttpResponse,
    ) -> Result<PollResult, CallError> {
        let exports = Arc::clone(&plugin.exports);
        let result = self
            .call(plugin, ctx, move |instance, store, ctx| {
                Box::pin(async move {
                    dispatch!(
                        exports, ctx, store, instance, parse_poll, poll, step, response
                    )
                })
            })
            .await?;
        output::validate_poll(&result).map_err(CallError::InvalidOutput)?;
        Ok(result)
    }

    /// Render the next request of an action.
    pub async fn render_action(
        &self,
        plugin: &Arc<LoadedPlugin>,
        ctx: ShopContext,
        action: crate::model::Action,
    ) -> Result<OutboundRequest, CallError> {
        let action = Action::from(action);
        let exports = Arc::clone(&plugin.exports);
        let request = self
            .call(plugin, ctx, move |instance, store, ctx| {
                Box::pin(
                    async move { dispatch!(exports, ctx, store, instance, render_action, action) },
                )
            })
            .await?;
        output::validate_outbound(&request).map_err(CallError::InvalidOutput)?;
        Ok(request)
    }

    /// Interpret the response to an action's request.
    pub async fn interpret_response(
        &self,
        plugin: &Arc<LoadedPlugin>,
        ctx: ShopContext,
        action: crate::model::Action,
        step: String,
        response: HttpResponse,
    ) -> Result<Interpretation, CallError> {
        let action = Action::from(action);
        let exports = Arc::clone(&plugin.exports);
        let result = self
            .call(plugin, ctx, move |instance, store, ctx| {
                Box::pin(async move {
                    dispatch!(
                        exports,
                        ctx,
                        store,
                        instance,
                        interpret_response,
                        action,
                        step,
                        response
                    )
                })
            })
            .await?;
        output::validate_state(&result.state).map_err(CallError::InvalidOutput)?;
        Ok(result)
    }

    /// Run one call, bounded by the pool's permits and by an outer timeout
    /// that cancels it should the epoch deadline not stop it. The shop's
    /// context is shaped for the plugin's contract version; secrets it
    /// keeps back go to the call's state.
    async fn call<R, F>(
        &self,
        plugin: &Arc<LoadedPlugin>,
        ctx: ShopContext,
        invoke: F,
    ) -> Result<R, CallError>
    where
        R: WireSize + Send,
        F: for<'a> FnOnce(&'a Instance, &'a mut Store<CallState>, CallContext) -> GuestCall<'a, R>
            + Send,
    {
        let _permit = self
            .inner
            .permits
            .acquire()
            .await
            .map_err(|_| CallError::ShuttingDown)?;
        let shop = ctx.shop_id.clone();
        let (ctx, secrets) = plugin.context(ctx);
        let limit = self.inner.limits.call_timeout;
        // The epoch deadline stops a runaway call after `limit`; the outer
        // timeout is a backstop with a margin for scheduling delays.
        match tokio::time::timeout(
            limit * 2 + Duration::from_millis(100),
            self.run(
                &plugin.pre,
                &plugin.name,
                &shop,
                secrets,
                move |instance, store| invoke(instance, store, ctx),
            ),
        )
        .await
        {
            Ok(result) => result,
            Err(_) => Err(CallError::Timeout { limit }),
        }
    }

    /// One call in a fresh instance: a new store with the call's limits,
    /// instantiation from the pre-instantiated component, the export, and
    /// the checks on what it returned.
    async fn run<R, F>(
        &self,
        pre: &InstancePre<CallState>,
        plugin_name: &str,
        shop: &str,
        secrets: Vec<Pair>,
        invoke: F,
    ) -> Result<R, CallError>
    where
        R: WireSize + Send,
        F: for<'a> FnOnce(&'a Instance, &'a mut Store<CallState>) -> GuestCall<'a, R> + Send,
    {
        let limits = &self.inner.limits;
        let state = CallState::new(plugin_name, shop, limits.memory_bytes, secrets);
        let mut store = Store::new(&self.inner.engine, state);
        store.limiter(|state| &mut state.limiter);
        let started = Instant::now();
        let deadline = started + limits.call_timeout;
        // At every epoch tick the guest yields to the executor; past the
        // deadline it is interrupted with a trap.
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            Ok(if Instant::now() >= deadline {
                UpdateDeadline::Interrupt
            } else {
                UpdateDeadline::Yield(1)
            })
        });
        let outcome = match pre.instantiate_async(&mut store).await {
            Ok(instance) => invoke(&instance, &mut store).await,
            Err(err) => Err(err),
        };
        match outcome {
            Ok(Ok(result)) => {
                let size = result.wire_size();
                if size > limits.max_output_bytes {
                    return Err(CallError::OutputTooLarge {
                        size,
                        limit: limits.max_output_bytes,
                    });
                }
                Ok(result)
            }
            Ok(Err(refusal)) => Err(CallError::Refused(refusal)),
            Err(err) => Err(classify_failure(
                err,
                store.data(),
                limits,
                started.elapsed(),
            )),
        }
    }
}

/// The future of one export call, borrowing the instance and its store.
type GuestCall<'a, R> =
    Pin<Box<dyn Future<Output = wasmtime::Result<Result<R, PluginError>>> + Send + 'a>>;

fn engine_config(limits: &RuntimeLimits) -> Config {
    let slots = limits.max_concurrent_calls.max(1);
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(slots)
        .total_core_instances(slots * 4)
        .total_memories(slots * 2)
        .total_tables(slots * 4)
        .total_stacks(slots)
        .max_memories_per_component(2)
        .max_memory_size(limits.memory_bytes)
        // Calls touch a few pages of a slot: reset just the dirty ones in
        // place (PAGEMAP_SCAN + memset, on Linux 6.7+) instead of an madvise
        // per call, whose TLB shootdowns dominated the per-call cost.
        .linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
        .table_keep_resident(KEEP_RESIDENT_BYTES)
        .pagemap_scan(wasmtime::Enabled::Auto);
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .max_wasm_stack(1 << 20)
        // Explicit bounds checks instead of guard pages: a slot's memory
        // then keeps the size its last instance grew it to, so instantiating
        // and growing cost no mprotect (every call's allocator grows memory
        // once; two mprotects per call, each a TLB shootdown across cores,
        // were about 8% of the host's CPU under load). Contents are still
        // reset between instances.
        .signals_based_traps(false)
        .memory_guard_size(0)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    config
}

/// Turn a wasmtime error into the reason the call failed.
fn classify_failure(
    err: wasmtime::Error,
    state: &CallState,
    limits: &RuntimeLimits,
    elapsed: Duration,
) -> CallError {
    if state.limiter.memory_cap_hit() {
        return CallError::MemoryExceeded {
            limit: limits.memory_bytes,
        };
    }
    match err.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::Interrupt) => CallError::Timeout {
            limit: limits.call_timeout,
        },
        Some(trap) => CallError::Trapped(format!("{trap} after {elapsed:?}")),
        None => CallError::Trapped(format!("{err:#}")),
    }
}

/// A manifest that declares nothing (for tests that build one by hand).
#[cfg(test)]
pub(crate) fn empty_manifest() -> Manifest {
    Manifest {
        name: String::new(),
        version: String::new(),
        platform: String::new(),
        ingestion: Vec::new(),
        egress_hosts: Vec::new(),
        content_kinds: Vec::new(),
        actions: Vec::new(),
        max_text_bytes: 0,
        reply_window: None,
        credentials: Vec::new(),
        idempotent_delivery: false,
        poll_interval_ms: None,
    }
}
