//! Group commit: callers that need their writes durable wait on a barrier;
//! one flush serves every caller that was waiting when it started, so a burst
//! of webhooks costs one fsync, not one each.

use crate::store::Store;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

type Waiter = oneshot::Sender<Result<(), String>>;

/// A handle to the flusher task.
#[derive(Clone)]
pub struct GroupCommit {
    requests: mpsc::UnboundedSender<Waiter>,
}

impl GroupCommit {
    /// Start the flusher task for `store` on the current tokio runtime.
    pub fn start(store: Arc<dyn Store>) -> Self {
        let (requests, mut incoming) = mpsc::unbounded_channel::<Waiter>();
        tokio::spawn(async move {
            while let Some(first) = incoming.recv().await {
                let mut waiters = vec![first];
                while let Ok(next) = incoming.try_recv() {
                    waiters.push(next);
                }
                let store = Arc::clone(&store);
                let result = tokio::task::spawn_blocking(move || store.flush())
                    .await
                    .map_err(|err| format!("the flush task failed: {err}"))
                    .and_then(|flushed| flushed.map_err(|err| format!("{err:#}")));
                if let Err(err) = &result {
                    tracing::error!(error = %err, "store flush failed; writes are not acknowledged");
                }
                for waiter in waiters {
                    let _ = waiter.send(result.clone());
                }
            }
        });
        GroupCommit { requests }
    }

    /// Wait until every write made before this call is durable.
    pub async fn durable(&self) -> anyhow::Result<()> {
        let (done, wait) = oneshot::channel();
        self.requests
            .send(done)
            .map_err(|_| anyhow::anyhow!("the store's flusher has stopped"))?;
        wait.await
            .map_err(|_| anyhow::anyhow!("the store's flusher has stopped"))?
            .map_err(|err| anyhow::anyhow!("flushing the store failed: {err}"))
    }
}
