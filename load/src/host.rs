//! The host under test as a child process: its config, start and wait until
//! it listens, SIGKILL, SIGTERM, and what the kernel says it cost (CPU time
//! and peak resident memory, summed over every incarnation).

use anyhow::{Context, bail};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a start may take (the first start compiles the plugins).
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a SIGTERM drain may take before the harness calls it hung.
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

/// The host process and what its incarnations cost.
pub struct HostProcess {
    binary: PathBuf,
    config: PathBuf,
    log: PathBuf,
    listen: SocketAddr,
    child: Option<Child>,
    /// CPU seconds of incarnations that ended.
    cpu_seconds: f64,
    /// The largest peak RSS seen, bytes.
    peak_rss: u64,
    /// Incarnations started.
    pub starts: u32,
}

/// How a graceful stop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// Exit status 0 after SIGTERM.
    Cleanly,
    /// Another exit status after SIGTERM.
    Failed(Option<i32>),
}

impl HostProcess {
    /// A host that will run `binary serve --config config`, listening on `listen`.
    pub fn new(binary: &Path, config: &Path, log: &Path, listen: SocketAddr) -> HostProcess {
        HostProcess {
            binary: binary.to_path_buf(),
            config: config.to_path_buf(),
            log: log.to_path_buf(),
            listen,
            child: None,
            cpu_seconds: 0.0,
            peak_rss: 0,
            starts: 0,
        }
    }

    /// Start it and wait until it accepts connections.
    pub async fn start(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("opening {}", self.log.display()))?;
        let mut child = Command::new(&self.binary)
            .args(["serve", "--config"])
            .arg(&self.config)
            .env(
                "TONGDAO_LOG",
                std::env::var("TONGDAO_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", self.binary.display()))?;
        self.starts += 1;
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if tokio::net::TcpStream::connect(self.listen).await.is_ok() {
                break;
            }
            if let Some(status) = child.try_wait()? {
                bail!(
                    "the host exited with {status} while starting; see {}",
                    self.log.display()
                );
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                bail!(
                    "the host did not listen within {START_TIMEOUT:?}; see {}",
                    self.log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.child = Some(child);
        Ok(())
    }

    /// The running incarnation's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kill it with SIGKILL, as a crash would, and reap it.
    pub fn kill(&mut self) -> anyhow::Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        self.account(child.id());
        child.kill().context("SIGKILL")?;
        child.wait().context("reaping the killed host")?;
        Ok(())
    }

    /// Stop it with SIGTERM and wait for the drain.
    pub async fn stop(&mut self) -> anyhow::Result<Stopped> {
        let Some(mut child) = self.child.take() else {
            return Ok(Stopped::Cleanly);
        };
        self.account(child.id());
        // SAFETY: kill(2) on a child we have not reaped.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok(if status.success() {
                    Stopped::Cleanly
                } else {
                    Stopped::Failed(status.code())
                });
            }
            if Instant::now() > deadline {
                child.kill()?;
                child.wait()?;
                bail!("the host did not stop within {STOP_TIMEOUT:?} of SIGTERM");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// CPU seconds used by every incarnation so far (the running one up to now).
    pub fn cpu_seconds(&self) -> f64 {
        self.cpu_seconds + self.pid().map_or(0.0, cpu_seconds_of)
    }

    /// The largest peak resident set of any incarnation so far, bytes.
    pub fn peak_rss(&self) -> u64 {
        self.peak_rss.max(self.pid().map_or(0, peak_rss_of))
    }

    /// The current resident set of the running incarnation, bytes.
    pub fn rss(&self) -> u64 {
        self.pid().map_or(0, |pid| status_kib(pid, "VmRSS:") * 1024)
    }

    fn account(&mut self, pid: u32) {
        self.cpu_seconds += cpu_seconds_of(pid);
        self.peak_rss = self.peak_rss.max(peak_rss_of(pid));
    }
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// utime + stime of a process, seconds (0 if it cannot be read).
pub fn cpu_seconds_of(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // The command name may hold spaces; fields resume after its ')'.
    let Some(rest) = stat.rsplit_once(')').map(|(_, rest)| rest) else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3, utime 14 and stime 15 (1-based).
    let ticks = |n: usize| {
        fields
            .get(n - 3)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    (ticks(14) + ticks(15)) as f64 / per_second
}

/// VmHWM of a process, bytes.
pub fn peak_rss_of(pid: u32) -> u64 {
    status_kib(pid, "VmHWM:") * 1024
}

fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                line.strip_prefix(field)?
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse()
                    .ok()
            })
        })
        .unwrap_or(0)
}
