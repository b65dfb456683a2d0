//! The server under load: one already running (a URL and a token), or one the load tester starts
//! itself from its own binary, in a process of its own, so that the server's memory and CPU are
//! measured apart from the load's.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Context as _;
use eventsource_stream::Eventsource as _;
use futures::StreamExt as _;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use serde_json::Value;

/// The longest a started server may take to say it is ready (migrations on a fresh database).
const READY_WITHIN: Duration = Duration::from_secs(60);

/// Where requests go, and the client that sends them.
pub struct Target {
    pub base: String,
    pub client: reqwest::Client,
    /// The server this run started, stopped when the target is dropped.
    server: Option<OwnServer>,
}

impl Target {
    /// A running server; `token` is sent as a bearer token with every request.
    pub fn remote(url: &str, token: Option<&str>) -> anyhow::Result<Target> {
        let base = url.trim_end_matches('/').to_owned();
        anyhow::ensure!(
            base.starts_with("http://") || base.starts_with("https://"),
            "the URL must start with http:// or https://, not `{base}`"
        );
        Ok(Target {
            base,
            client: client(token)?,
            server: None,
        })
    }

    /// Start `hive serve` from this binary on a free loopback port, with a fresh SQLite database
    /// in a temporary directory and no rate limit (the load comes from one address).
    pub fn start_own() -> anyhow::Result<Target> {
        let exe = std::env::current_exe().context("finding the hive binary")?;
        Target::start_server(&exe, &[])
    }

    /// Start `hive serve` from the binary `exe`, as [`Target::start_own`] does, with `extra`
    /// arguments (such as `--database-url`).
    pub fn start_server(exe: &Path, extra: &[&str]) -> anyhow::Result<Target> {
        let server = OwnServer::start(exe, extra)?;
        Ok(Target {
            base: server.base.clone(),
            client: client(None)?,
            server: Some(server),
        })
    }

    /// Another handle on a server this run already reaches, for a task of its own; the server
    /// stays owned by the first.
    pub fn with_client(base: String, client: reqwest::Client) -> Target {
        Target {
            base,
            client,
            server: None,
        }
    }

    /// The process id of the server this run started, if it started one.
    pub fn own_pid(&self) -> Option<u32> {
        self.server.as_ref().map(|s| s.child.id())
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// GET a JSON document, failing with the status and body on anything but 200.
    pub async fn get_json(&self, path: &str) -> anyhow::Result<Value> {
        self.get_ok(path)
            .await?
            .json()
            .await
            .with_context(|| format!("reading GET {path}"))
    }

    /// The text of `/metrics`, for [`metric_sum`] to read as many series from as it needs.
    pub async fn metrics(&self) -> anyhow::Result<String> {
        self.get_ok("/metrics")
            .await?
            .text()
            .await
            .context("reading GET /metrics")
    }

    /// Subscribe to the server's events (`GET /api/v1/events` with `query`, such as
    /// `?kinds=plugin.`) and hand each one's kind and data to `on_event`, in order, from a task
    /// of its own; once this returns, no later event is missed (short of the server dropping
    /// events for a slow reader, which it tells as a `lagged` event).
    pub async fn events(
        &self,
        query: &str,
        mut on_event: impl FnMut(&str, &str) + Send + 'static,
    ) -> anyhow::Result<()> {
        let response = self.get_ok(&format!("/api/v1/events{query}")).await?;
        tokio::spawn(async move {
            let mut events = response.bytes_stream().eventsource();
            while let Some(Ok(event)) = events.next().await {
                on_event(&event.event, &event.data);
            }
        });
        Ok(())
    }

    /// GET `path`, failing with the status and body on anything but success.
    async fn get_ok(&self, path: &str) -> anyhow::Result<reqwest::Response> {
        let response = self
            .client
            .get(self.url(path))
            .send()
            .await
            .with_context(|| format!("GET {path}"))?;
        let status = response.status();
        anyhow::ensure!(
            status.is_success(),
            "GET {path} answered {status}: {}",
            response.text().await.unwrap_or_default()
        );
        Ok(response)
    }
}

/// The sum over every label set of the Prometheus series `name` in the text of `/metrics` (0 if
/// absent): a counter across its labels, or a histogram's `_sum` or `_count`.
pub fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn client(token: Option<&str>) -> anyhow::Result<reqwest::Client> {
    let mut headers = HeaderMap::new();
    if let Some(token) = token {
        let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
            .context("the token has characters a header cannot carry")?;
        value.set_sensitive(true);
        headers.insert(AUTHORIZATION, value);
    }
    reqwest::Client::builder()
        .default_headers(headers)
        // Idle connections are kept for the whole run: reconnecting would be measured too.
        .pool_max_idle_per_host(usize::MAX)
        .build()
        .context("building the HTTP client")
}

/// A `hive serve` child process and its temporary data directory.
struct OwnServer {
    child: Child,
    base: String,
    _data: tempfile::TempDir,
}

impl OwnServer {
    fn start(exe: &Path, extra: &[&str]) -> anyhow::Result<OwnServer> {
        let data = tempfile::tempdir().context("creating a temporary data directory")?;
        let mut child = Command::new(exe)
            .args([
                "serve",
                "--addr",
                "127.0.0.1:0",
                "--rate-limit",
                "0",
                "--data-dir",
            ])
            .arg(data.path())
            .args(extra)
            .env("RUST_LOG", "warn,hive::app=info")
            .env_remove("HIVE_DATABASE_URL")
            .env_remove("HIVE_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting hive serve")?;
        let stderr = child.stderr.take().context("the server's log")?;
        let (tx, rx) = std::sync::mpsc::channel();
        // The log is read to its end, so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line.split("ready on ").nth(1) {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(addr.split_whitespace().next().map(str::to_owned));
                    }
                }
            }
        });
        let addr = rx.recv_timeout(READY_WITHIN).ok().flatten();
        let mut server = OwnServer {
            child,
            base: String::new(),
            _data: data,
        };
        match addr {
            Some(addr) => server.base = format!("http://{addr}"),
            None => anyhow::bail!("the server did not say it was ready within {READY_WITHIN:?}"),
        }
        Ok(server)
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        // SIGTERM, for the ordered shutdown an operator would see; it is bounded by the server's
        // own shutdown grace, so the wait ends.
        match i32::try_from(self.child.id()) {
            // SAFETY: kill(2) on our own child's pid has no memory effects.
            Ok(pid) => unsafe {
                libc::kill(pid, libc::SIGTERM);
            },
            Err(_) => {
                let _ = self.child.kill();
            }
        }
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_metric_is_summed_over_its_labels_and_not_confused_with_a_longer_name() {
        let text = "# HELP hive_agents Agents.\n\
            hive_agents{status=\"idle\"} 3\n\
            hive_agents{status=\"busy\"} 2\n\
            hive_agents_started_total 40\n\
            hive_forecast_sample_duration_seconds_sum 0.25\n\
            hive_forecast_sample_duration_seconds_count 100\n";
        assert_eq!(metric_sum(text, "hive_agents"), 5.0);
        assert_eq!(
            metric_sum(text, "hive_forecast_sample_duration_seconds_sum"),
            0.25
        );
        assert_eq!(metric_sum(text, "hive_missing"), 0.0);
    }
}
