//! Runs the real tongdao host on loopback for a test: writes a brand config
//! into a temporary directory (with the built plugin components and the
//! example knowledge base), starts the host, and hands out its URL and state.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tongdao::config::Config;
use tongdao::model::{OutboxItem, StoredEvent};
use tongdao::server::{HostState, RunningHost};

/// The workspace root.
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_path_buf()
}

/// The built component of plugin `name`; panics with instructions if missing.
pub fn plugin_component(name: &str) -> PathBuf {
    let path = workspace()
        .join("target/plugins")
        .join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: build the plugins with `scripts/build-plugins` (scripts/test does this)",
        path.display()
    );
    path
}

/// The example retail knowledge base.
pub fn example_knowledge_base() -> PathBuf {
    workspace().join("examples/kb/retail.toml")
}

/// The console tests' WeChat Official Account: app id, secret and token
/// of `demo-oa`.
pub const CONSOLE_WECHAT: (&str, &str, &str) =
    ("wx2c2769f8efd9abc2", "demo-app-secret", "spamtest");

/// The console tests' config: two WeChat shops on the emulator at
/// `api_base` (`demo-oa` served by mei and lei, `other-oa` by zhou),
/// assignment by hand.
pub fn console_config(api_base: &str) -> String {
    let (app_id, secret, token) = CONSOLE_WECHAT;
    format!(
        "{}\n{}\n[admin]\nassignment = \"manual\"\n\n[[agents]]\nid = \"mei\"\nshops = [\"demo-oa\"]\n\n[[agents]]\nid = \"lei\"\nshops = [\"demo-oa\"]\n\n[[agents]]\nid = \"zhou\"\nshops = [\"other-oa\"]\n\n[[shops]]\nid = \"demo-oa\"\nplugin = \"wechat\"\negress = [\"api.weixin.qq.com\"]\ncredentials = {{ app_id = \"{app_id}\", app_secret = \"{secret}\", token = \"{token}\" }}\napi_base = {{ \"api.weixin.qq.com\" = \"{api_base}\" }}\n\n[[shops]]\nid = \"other-oa\"\nplugin = \"wechat\"\negress = [\"api.weixin.qq.com\"]\ncredentials = {{ app_id = \"wx0000000000other\", app_secret = \"other-secret\", token = \"othertoken\" }}\napi_base = {{ \"api.weixin.qq.com\" = \"{api_base}\" }}\n",
        bot_entry(),
        plugin_entry("wechat"),
    )
}

/// What the bot first says to a question of `intent` without an order
/// number: the intent's `order_prompt` (asking for the number) where it has
/// one, its answer otherwise.
pub fn first_reply_for(intent: &str) -> String {
    let kb = tongdao::kb::KnowledgeBase::load(&example_knowledge_base()).unwrap();
    let intent = kb.intent(intent).unwrap();
    intent
        .order_prompt
        .clone()
        .unwrap_or_else(|| intent.answer.clone())
}

/// A host running for a test.
pub struct TestHost {
    host: Option<RunningHost>,
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    dir: Arc<tempfile::TempDir>,
    server_lines: String,
    config_text: String,
}

impl TestHost {
    /// Start a host with `config` (TOML without `[server]`, which the harness
    /// adds: a loopback port and a data directory of its own).
    pub async fn start(config: &str) -> TestHost {
        let dir = Arc::new(tempfile::tempdir().expect("a temporary directory"));
        Self::start_in(dir, "", config).await
    }

    /// Start a host whose `[server]` table also has `server_lines` (such
    /// as an `admin_listen`).
    pub async fn start_with_server(server_lines: &str, config: &str) -> TestHost {
        let dir = Arc::new(tempfile::tempdir().expect("a temporary directory"));
        Self::start_in(dir, server_lines, config).await
    }

    async fn start_in(dir: Arc<tempfile::TempDir>, server_lines: &str, config: &str) -> TestHost {
        let text = format!(
            "[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"{}\"\n{server_lines}\n\n{config}",
            dir.path().join("data").display(),
        );
        let path = dir.path().join("brand.toml");
        std::fs::write(&path, &text).expect("writing the test config");
        let parsed = Config::load(&path).unwrap_or_else(|err| panic!("test config: {err}"));
        let host = tongdao::server::start(parsed)
            .await
            .unwrap_or_else(|err| panic!("starting the host: {err:#}"));
        TestHost {
            base_url: format!("http://{}", host.addr),
            host: Some(host),
            dir,
            server_lines: server_lines.to_string(),
            config_text: config.to_string(),
        }
    }

    /// `http://ADDR` of the admin plane's own listener, if configured.
    pub fn admin_url(&self) -> Option<String> {
        self.host
            .as_ref()
            .and_then(|host| host.admin_addr)
            .map(|addr| format!("http://{addr}"))
    }

    /// The host's shared state (store, metrics, …).
    pub fn state(&self) -> &Arc<HostState> {
        &self.host.as_ref().expect("a running host").state
    }

    /// A conversation's stored events, oldest first.
    pub fn history(&self, shop: &str, conversation: &str) -> Vec<StoredEvent> {
        self.state()
            .store
            .conversation_events(shop, conversation)
            .expect("reading the store")
    }

    /// The actions queued for a conversation and how each ended.
    pub fn outbox(&self, shop: &str, conversation: &str) -> Vec<OutboxItem> {
        self.state()
            .store
            .conversation_outbox(shop, conversation)
            .expect("reading the store")
    }

    /// Wait until the pipeline has decided about every committed event.
    pub async fn decided(&self) {
        eventually("the pipeline to drain", Duration::from_secs(10), || {
            self.state()
                .store
                .pending_inbox(1)
                .expect("reading the store")
                .is_empty()
                .then_some(())
        })
        .await
    }

    /// Wait until the host has done everything it was given so far (no
    /// hint, poll, inbox event or delivery left), so that a check that
    /// nothing more happened cannot pass just because the host was slow.
    pub async fn settled(&self) {
        eventually("the host to settle", Duration::from_secs(20), || {
            self.state()
                .is_settled()
                .expect("reading the store")
                .then_some(())
        })
        .await
    }

    /// The `/metrics` text.
    pub fn metrics(&self) -> String {
        self.state().metrics.render()
    }

    /// The data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Stop the host gracefully and start it again on the same data.
    pub async fn restart(self) -> TestHost {
        self.restart_after(|_| {}).await
    }

    /// Stop the host gracefully, let `change` alter its data directory
    /// while it is down, and start it again on it.
    pub async fn restart_after(mut self, change: impl FnOnce(&std::path::Path)) -> TestHost {
        if let Some(host) = self.host.take() {
            host.shutdown().await;
        }
        change(&self.data_dir());
        Self::start_in(Arc::clone(&self.dir), &self.server_lines, &self.config_text).await
    }

    /// Reload what serves each shop, as SIGHUP does: the shops swapped.
    pub async fn reload(&self) -> Vec<String> {
        self.host
            .as_ref()
            .expect("a running host")
            .reload()
            .await
            .unwrap_or_else(|err| panic!("reloading: {err:#}"))
    }

    /// Stop the host gracefully, let `change` alter its data directory, and
    /// start it again, which must fail: the error, with its causes.
    pub async fn restart_refused(mut self, change: impl FnOnce(&std::path::Path)) -> String {
        if let Some(host) = self.host.take() {
            host.shutdown().await;
        }
        change(&self.data_dir());
        let path = self.dir.path().join("brand.toml");
        let parsed = Config::load(&path).unwrap_or_else(|err| panic!("test config: {err}"));
        match tongdao::server::start(parsed).await {
            Ok(host) => {
                host.shutdown().await;
                panic!("the host started, and should have refused")
            }
            Err(err) => format!("{err:#}"),
        }
    }

    /// Stop the host gracefully.
    pub async fn stop(mut self) {
        if let Some(host) = self.host.take() {
            host.shutdown().await;
        }
    }
}

/// TOML for a `[[plugins]]` entry of a built plugin, with its static
/// manifest where it has one (the host checks describe() against it).
pub fn plugin_entry(name: &str) -> String {
    let manifest = workspace().join(format!("plugins/{name}/tongdao-plugin.toml"));
    let manifest = if manifest.exists() {
        format!("manifest = \"{}\"\n", manifest.display())
    } else {
        String::new()
    };
    format!(
        "[[plugins]]\nname = \"{name}\"\ncomponent = \"{}\"\n{manifest}",
        plugin_component(name).display()
    )
}

/// TOML for the bot section with the example knowledge base.
pub fn bot_entry() -> String {
    format!(
        "[bot]\nknowledge_base = \"{}\"\n",
        example_knowledge_base().display()
    )
}

/// Poll `probe` every 20 ms until it returns something, for at most
/// `timeout`; panics naming `what` when it never does.
pub async fn eventually<T>(
    what: &str,
    timeout: Duration,
    mut probe: impl FnMut() -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// WeCom tells the host the kf account `open_kfid` of shop `shop` (signed
/// with the given callback token and key) has messages to pull; panics
/// unless the host answers 200.
pub async fn wake_wecom(
    host: &TestHost,
    api: &tongdao_emulator_wecom::api::WecomApiEmulator,
    callbacks: &tongdao_emulator_wecom::callbacks::WecomCallbacks,
    shop: &str,
    open_kfid: &str,
) {
    let request = callbacks
        .kf_msg_or_event(
            &format!("/hooks/wecom/{shop}"),
            open_kfid,
            &api.issue_sync_token(open_kfid),
            &tongdao_emulator_wecom::callbacks::CallbackOptions::default(),
        )
        .expect("a signed callback");
    let answer = request
        .send(&reqwest::Client::new(), &host.base_url)
        .await
        .expect("the callback reaches the host");
    assert_eq!(answer.status, 200, "{answer:?}");
}

/// A request to the admin API as agent `agent` signed in with their own
/// `password` (set for them first): the status and the JSON answer.
pub async fn admin_as(
    host: &TestHost,
    agent: &str,
    password: &str,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    tongdao::auth::credentials::set_secret(&host.data_dir(), agent, Some(password))
        .expect("setting the agent's password");
    let client = reqwest::Client::new();
    let url = format!("{}/admin/{path}", host.base_url);
    let body = body.unwrap_or(serde_json::json!({}));
    let request = match method {
        "GET" => client.get(&url),
        "DELETE" => client.delete(&url).json(&body),
        _ => client.post(&url).json(&body),
    };
    let response = request
        .bearer_auth(format!("{agent}:{password}"))
        .send()
        .await
        .expect("the admin API answers");
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON answer"))
}
