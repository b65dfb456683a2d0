//! Headless Chromium driven through chromedriver's W3C WebDriver protocol: the six JSON calls the
//! dashboard's test needs, over the HTTP client the tests already use. (fantoccini would bring
//! the `webdriver` crate and its Unicode segmentation tables, some twenty crates, for keyboard
//! handling these tests never use.)
//!
//! Without chromedriver on the machine a test says that it skipped; with
//! `HIVE_TEST_REQUIRE_SERVICES=1` (as CI sets, after installing Debian's `chromium` and
//! `chromium-driver`) it fails instead.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::Client;
use serde_json::{json, Value};

use crate::helpers::PATIENCE;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    client: Client,
}

impl Browser {
    /// A fresh headless browser, or `None` (after saying why) when there is none here.
    pub async fn start(test: &str) -> Option<Browser> {
        if !Path::new(CHROMEDRIVER).exists() || !Path::new(CHROMIUM).exists() {
            assert!(
                !std::env::var("HIVE_TEST_REQUIRE_SERVICES").is_ok_and(|v| v == "1"),
                "HIVE_TEST_REQUIRE_SERVICES=1 but {CHROMEDRIVER} or {CHROMIUM} is missing"
            );
            eprintln!("SKIPPED {test}: install Debian's chromium and chromium-driver to run it");
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let base = format!("http://127.0.0.1:{port}");
        let client = Client::new();
        let ready = async {
            loop {
                let status = client.get(format!("{base}/status")).send().await;
                if let Ok(response) = status {
                    let body: Value = response.json().await.unwrap_or_default();
                    if body["value"]["ready"] == true {
                        return;
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        tokio::time::timeout(PATIENCE, ready)
            .await
            .expect("chromedriver answers");
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                    "--disable-dev-shm-usage", "--window-size=1400,2200"],
            },
        }}});
        let mut browser = Browser {
            driver,
            base,
            session: String::new(),
            client,
        };
        let created = browser.call("POST", "/session", Some(capabilities)).await;
        browser.session = created["sessionId"]
            .as_str()
            .expect("a WebDriver session id")
            .to_owned();
        Some(browser)
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.base);
        let request = match method {
            "POST" => self.client.post(url).json(&body.unwrap_or(json!({}))),
            "DELETE" => self.client.delete(url),
            _ => self.client.get(url),
        };
        let response = request.send().await.expect("chromedriver answers");
        let status = response.status();
        let body: Value = response.json().await.expect("WebDriver JSON");
        assert!(status.is_success(), "WebDriver {method} {path}: {body}");
        body["value"].clone()
    }

    fn session_path(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    pub async fn open(&self, url: &str) {
        self.call(
            "POST",
            &self.session_path("/url"),
            Some(json!({ "url": url })),
        )
        .await;
    }

    /// Run `script` (a function body; `arguments` holds `args`) in the page and answer its value.
    pub async fn eval(&self, script: &str, args: Value) -> Value {
        let body = json!({ "script": script, "args": args });
        self.call("POST", &self.session_path("/execute/sync"), Some(body))
            .await
    }

    /// Evaluate `script` every 50 ms until it answers something other than null or false, and
    /// answer that with the time it took; fails the test after `PATIENCE`.
    pub async fn until(&self, what: &str, script: &str) -> (Value, Duration) {
        let started = Instant::now();
        loop {
            let value = self.eval(script, json!([])).await;
            if !value.is_null() && value != false {
                return (value, started.elapsed());
            }
            assert!(started.elapsed() < PATIENCE, "the page never showed {what}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A PNG of the window.
    pub async fn screenshot(&self) -> Vec<u8> {
        use base64::Engine as _;
        let encoded = self
            .call("GET", &self.session_path("/screenshot"), None)
            .await;
        base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().expect("base64 text"))
            .expect("a base64 PNG")
    }

    pub async fn quit(mut self) {
        let path = self.session_path("");
        self.call("DELETE", &path, None).await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    /// A failing test still leaves no chromedriver behind.
    fn drop(&mut self) {
        let _ = self.driver.kill();
    }
}
