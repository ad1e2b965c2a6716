//! A real headless Chromium, driven over WebDriver (chromedriver) with fantoccini.
//!
//! Each test gets its own chromedriver on a port it picks itself (`--port=0`, read from what it
//! prints), its own profile and download folder.
//! Chromium runs with everything that would phone home switched off: the machine has no
//! network beyond loopback. Missing Chromium or chromedriver fails the test with what to
//! install (`scripts/test.sh` installs them when it runs as root).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::server::{drain, until_line};

const INSTALL: &str = "the browser tests need Chromium and chromedriver: \
    apt-get install chromium chromium-driver (scripts/test.sh installs them when run as root), \
    or point GUARDRAIL_TEST_CHROMIUM / GUARDRAIL_TEST_CHROMEDRIVER at them";

pub struct Browser {
    pub client: Client,
    pub downloads: PathBuf,
    _driver: Child,
    profile: TempDir,
}

fn find(variable: &str, candidates: &[&str]) -> PathBuf {
    if let Ok(path) = std::env::var(variable) {
        return PathBuf::from(path);
    }
    for candidate in candidates {
        let path = Path::new(candidate);
        if path.is_file() {
            return path.to_owned();
        }
        let on_path = std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(candidate))
                .find(|p| p.is_file())
        });
        if let Some(path) = on_path {
            return path;
        }
    }
    panic!("{} not found: {INSTALL}", candidates.join(" / "));
}

impl Browser {
    pub async fn start() -> Browser {
        let chromium = find(
            "GUARDRAIL_TEST_CHROMIUM",
            &["/usr/bin/chromium", "chromium", "chromium-browser"],
        );
        let chromedriver = find(
            "GUARDRAIL_TEST_CHROMEDRIVER",
            &["/usr/bin/chromedriver", "chromedriver"],
        );
        let profile = tempfile::tempdir().unwrap();
        let downloads = profile.path().join("downloads");
        std::fs::create_dir(&downloads).unwrap();
        // chromedriver picks its own port (`--port=0`), and now and then finds the one it picked
        // taken ("IPv4 port not available"): a new start picks another.
        let (driver, port, lines, log) = {
            let mut attempt = 0;
            loop {
                attempt += 1;
                match start_driver(&chromedriver).await {
                    Ok(started) => break started,
                    Err(log) if attempt < 5 && log.contains("port not available") => continue,
                    Err(log) => panic!(
                        "{} did not say which port it listens on; it printed:\n{log}",
                        chromedriver.display()
                    ),
                }
            }
        };
        tokio::spawn(drain(lines, log));
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--no-default-browser-check",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--disable-extensions", "--disable-crash-reporter",
                    "--disable-breakpad", "--window-size=1100,900",
                    format!("--user-data-dir={}", profile.path().join("profile").display()),
                ],
                "prefs": {
                    "download.default_directory": downloads,
                    "download.prompt_for_download": false,
                    "download.directory_upgrade": true,
                    "safebrowsing.enabled": false,
                },
            },
        });
        let capabilities = match capabilities {
            serde_json::Value::Object(map) => map,
            _ => unreachable!(),
        };
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
            {
                Ok(client) => break client,
                Err(e) if started.elapsed() < Duration::from_secs(20) => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("cannot start a Chromium session through chromedriver: {e}"),
            }
        };
        Browser {
            client,
            downloads,
            _driver: driver,
            profile,
        }
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    /// Waits (up to 10 s) for the element `css` to be there.
    pub async fn element(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
    }

    pub async fn text(&self, css: &str) -> String {
        self.element(css).await.text().await.unwrap()
    }

    /// Waits (up to 10 s) until the element `css` holds `needle`, through the navigation a click
    /// starts (an element of the page being left is stale, not an error); returns its text.
    pub async fn text_once_it_holds(&self, css: &str, needle: &str) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let mut last = String::new();
        while std::time::Instant::now() < deadline {
            if let Ok(element) = self.client.find(Locator::Css(css)).await
                && let Ok(text) = element.text().await
            {
                if text.contains(needle) {
                    return text;
                }
                last = text;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{css} never held `{needle}`; last: {last}")
    }

    pub async fn is_present(&self, css: &str) -> bool {
        !self
            .client
            .find_all(Locator::Css(css))
            .await
            .unwrap()
            .is_empty()
    }

    /// The text of the whole page, as a person reads it.
    pub async fn page_text(&self) -> String {
        self.text("body").await
    }

    /// Signs in through the login form, as a person would, and lands on the report.
    pub async fn sign_in(&self, base: &str, password: &str) {
        self.goto(&format!("{base}/admin/reports")).await;
        // Not signed in: the report sends the browser to the login form.
        let field = self.element("#password").await;
        field.send_keys(password).await.unwrap();
        self.element("#sign-in").await.click().await.unwrap();
        self.element("#export-health").await;
    }

    /// Waits (up to 30 s) for a finished download in the download folder: its name and bytes.
    pub async fn downloaded_file(&self) -> (String, Vec<u8>) {
        let started = Instant::now();
        loop {
            let done: Vec<PathBuf> = std::fs::read_dir(&self.downloads)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            // While it downloads, Chromium writes `.org.chromium.Chromium.*` and then
            // `*.crdownload`; the final name appears only once the file is complete.
            let partial = |p: &PathBuf| {
                let name = p.file_name().unwrap().to_string_lossy();
                name.starts_with('.') || name.ends_with(".crdownload")
            };
            let finished = done.iter().find(|p| !partial(p));
            let in_progress = done.iter().any(partial);
            if let Some(path) = finished
                && !in_progress
            {
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                return (name, std::fs::read(path).unwrap());
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "no finished download in {} (found {done:?})",
                self.downloads.display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    /// A test that fails never reaches [`Browser::close`], and chromedriver is killed without
    /// closing its session: end this browser's own processes, found by the profile folder only
    /// they use, so no Chromium outlives the test.
    fn drop(&mut self) {
        let marker = format!("--user-data-dir={}", self.profile.path().display());
        let Ok(processes) = std::fs::read_dir("/proc") else {
            return;
        };
        for entry in processes.flatten() {
            let name = entry.file_name();
            let Some(pid) = name
                .to_str()
                .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
            else {
                continue;
            };
            let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
                continue;
            };
            if String::from_utf8_lossy(&cmdline).contains(&marker) {
                let _ = std::process::Command::new("kill")
                    .args(["-KILL", pid])
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }
}

/// Starts chromedriver on a port of its choosing and reads which; the log it printed when it
/// did not say.
async fn start_driver(
    chromedriver: &std::path::Path,
) -> Result<
    (
        tokio::process::Child,
        u16,
        tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
        Arc<Mutex<String>>,
    ),
    String,
> {
    let mut driver = Command::new(chromedriver)
        .arg("--port=0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}; {INSTALL}", chromedriver.display()));
    // "ChromeDriver was started successfully on port 41234."; the rest is read and dropped
    // so that chromedriver never blocks on a full pipe.
    let log = Arc::new(Mutex::new(String::new()));
    let mut lines = BufReader::new(driver.stdout.take().unwrap()).lines();
    const STARTED: &str = "started successfully on port ";
    let line = tokio::time::timeout(
        Duration::from_secs(20),
        until_line(&mut lines, &log, |l| l.contains(STARTED)),
    )
    .await
    .ok()
    .flatten()
    .ok_or_else(|| log.lock().unwrap().clone())?;
    let port: u16 = line[line.find(STARTED).unwrap() + STARTED.len()..]
        .trim_end_matches('.')
        .trim()
        .parse()
        .map_err(|e| format!("no port in chromedriver's `{line}`: {e}"))?;
    Ok((driver, port, lines, log))
}
