//! Real headless Chromium through Debian's `chromedriver`, one driver and one fresh profile per
//! test. Without the two programs the browser tests skip with a notice, unless
//! `REQUIRE_BROWSER_TESTS=1` (CI) makes that a failure.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use tokio::process::{Child, Command};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A phone's width and a desktop's, in CSS pixels.
pub const PHONE: (u32, u32) = (375, 812);
pub const DESKTOP: (u32, u32) = (1280, 900);

/// A browser driven over WebDriver; the driver (and with it Chromium) is killed when dropped.
pub struct Browser {
    pub client: Client,
    pub base: String,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// A fresh browser against `base` (`http://127.0.0.1:PORT`), or `None` (with a notice) where
    /// Chromium is not installed and the tests are not required.
    pub async fn start(base: &str) -> Option<Browser> {
        if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
            let required = std::env::var("REQUIRE_BROWSER_TESTS").is_ok_and(|v| v == "1");
            assert!(
                !required,
                "REQUIRE_BROWSER_TESTS=1 but {CHROMIUM} or {CHROMEDRIVER} is missing \
                 (apt-get install chromium chromium-driver)"
            );
            eprintln!(
                "NOTICE: browser test skipped: {CHROMIUM} and {CHROMEDRIVER} are not installed \
                 (apt-get install chromium chromium-driver)"
            );
            return None;
        }
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start chromedriver");
        let url = format!("http://127.0.0.1:{port}");
        wait_for_driver(&url).await;
        let profile = tempfile::tempdir().expect("a profile directory");
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--no-first-run", "--disable-component-update", "--disable-sync", "--disable-quic",
                    "--disable-dev-shm-usage",
                    format!("--user-data-dir={}", profile.path().display()),
                    format!("--window-size={},{}", DESKTOP.0, DESKTOP.1),
                ],
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&url)
            .await
            .expect("a WebDriver session");
        Some(Browser {
            client,
            base: base.to_owned(),
            driver,
            _profile: profile,
        })
    }

    /// Opens `path` of the server.
    pub async fn open(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap_or_else(|e| panic!("open {path}: {e}"));
    }

    /// The path of the page shown.
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("current url");
        url.path().to_owned()
    }

    /// Types `text` into the field with this id (after clearing it).
    pub async fn fill(&self, id: &str, text: &str) {
        let field = self.element(&format!("#{id}")).await;
        field.clear().await.expect("clear");
        field.send_keys(text).await.expect("type");
    }

    /// Picks `value` in the select with this id.
    pub async fn choose(&self, id: &str, value: &str) {
        self.element(&format!("#{id}"))
            .await
            .select_by_value(value)
            .await
            .unwrap_or_else(|e| panic!("choose {value} in #{id}: {e}"));
    }

    /// Clicks the element `css` selects and waits for the next page. Every click in these tests
    /// submits a form or follows a link, and the server may take a while (a password hash on a
    /// busy CI machine), so "next page" means the page clicked on has gone: its root element
    /// turns stale. Waiting for any `body` would find the old page's and race the navigation.
    pub async fn click(&self, css: &str) {
        let page = self.element("html").await;
        self.element(css).await.click().await.expect("click");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match page.tag_name().await {
                Err(e) if e.is_stale_element_reference() || left_the_document(&e) => break,
                Err(e) => panic!("waiting for the page after clicking {css}: {e}"),
                Ok(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await
                }
                Ok(_) => panic!("clicking {css} led to no new page within 30 s"),
            }
        }
        self.client
            .wait()
            .for_element(Locator::Css("body"))
            .await
            .expect("the next page");
    }

    /// The element `css` selects (waiting a few seconds for it).
    pub async fn element(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
    }

    /// The text of the element `css` selects.
    pub async fn text(&self, css: &str) -> String {
        self.element(css).await.text().await.expect("text")
    }

    /// The `value` attribute of the element with this id.
    pub async fn value(&self, id: &str) -> String {
        self.element(&format!("#{id}"))
            .await
            .attr("value")
            .await
            .expect("attribute")
            .unwrap_or_default()
    }

    /// Resizes the window to `size` (CSS pixels).
    pub async fn resize(&self, size: (u32, u32)) {
        self.client
            .set_window_size(size.0, size.1)
            .await
            .expect("resize");
    }

    /// Ends the session (Chromium quits).
    pub async fn close(self) {
        let Browser {
            client, mut driver, ..
        } = self;
        let _ = client.close().await;
        let _ = driver.kill().await;
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

async fn wait_for_driver(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = format!("{url}/status");
    while Instant::now() < deadline {
        if reqwest::get(&status)
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not answer at {url}");
}

/// Whether `error` says the element's page has gone. Chromium answers so, instead of with a
/// stale element reference, for an element asked about while its page is being replaced
/// ("Node with given id does not belong to the document"); a CI run caught the difference.
fn left_the_document(error: &fantoccini::error::CmdError) -> bool {
    error
        .to_string()
        .contains("does not belong to the document")
}
