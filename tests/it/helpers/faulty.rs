//! A deliberately faulty HTTP receiver on loopback. It answers each request as the test
//! scripted — a status, a slow answer, a reset connection — and records what arrived.
//! HTTP/1.1 is spoken by hand (one request per connection) so that faults such as a reset in
//! the middle of a request are real TCP events, not simulated ones. A script plays in order of
//! arrival; a [`Rule`] instead decides from the request itself (which batch it carries), for
//! senders with several requests in flight.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How to answer one request.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this status, extra headers and body.
    Status(u16, Vec<(&'static str, String)>, String),
    /// Wait this long, then answer 200.
    Slow(Duration),
    /// Wait this long, then answer with this status.
    Late(Duration, u16),
    /// Read the headers, then reset the connection before the body is read.
    Reset,
    /// Wait until this many requests are in flight at once (received, not answered), or for
    /// the duration at most, then answer 200: the sender's concurrency is reached whatever the
    /// machine's load.
    Together(usize, Duration),
}

impl Fault {
    pub fn status(code: u16) -> Fault {
        Fault::Status(code, vec![], String::new())
    }
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub at: Instant,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Whether it was answered 2xx.
    pub acknowledged: bool,
    /// When the answer was written, if it was.
    pub answered: Option<Instant>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `followUpId`s of the batch.
    pub fn ids(&self) -> Vec<String> {
        let value: serde_json::Value = serde_json::from_slice(&self.body).expect("a JSON body");
        value["followUps"]
            .as_array()
            .expect("a followUps array")
            .iter()
            .map(|row| row["followUpId"].as_str().unwrap().to_owned())
            .collect()
    }
}

/// Decides how to answer a request once its body arrived, from its number (0 for the first to
/// arrive) and the request.
pub type Rule = Arc<dyn Fn(usize, &Received) -> Fault + Send + Sync>;

#[derive(Clone)]
pub struct FaultyServer {
    pub url: String,
    script: Arc<Mutex<VecDeque<Fault>>>,
    rule: Option<Rule>,
    received: Arc<Mutex<Vec<Received>>>,
    /// Requests that [`Fault::Together`] let go.
    released: Arc<Mutex<std::collections::HashSet<usize>>>,
}

impl FaultyServer {
    /// Starts a receiver that plays `script` in order, then answers 200 to everything.
    pub async fn start(script: Vec<Fault>) -> FaultyServer {
        FaultyServer::listen(script, None).await
    }

    /// Starts a receiver that answers each request as `rule` decides once its body arrived.
    pub async fn with_rule(
        rule: impl Fn(usize, &Received) -> Fault + Send + Sync + 'static,
    ) -> FaultyServer {
        FaultyServer::listen(vec![], Some(Arc::new(rule))).await
    }

    async fn listen(script: Vec<Fault>, rule: Option<Rule>) -> FaultyServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v1/followups", listener.local_addr().unwrap());
        let server = FaultyServer {
            url,
            script: Arc::new(Mutex::new(script.into())),
            rule,
            received: Arc::new(Mutex::new(Vec::new())),
            released: Arc::default(),
        };
        let state = server.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let fault = match state.rule {
                    Some(_) => None,
                    None => Some(
                        state
                            .script
                            .lock()
                            .unwrap()
                            .pop_front()
                            .unwrap_or(Fault::status(200)),
                    ),
                };
                tokio::spawn(state.clone().serve(stream, fault));
            }
        });
        server
    }

    /// The most requests that were received and not yet answered at any one time.
    pub fn peak_in_flight(&self) -> usize {
        let received = self.received();
        received
            .iter()
            .map(|r| {
                received
                    .iter()
                    .filter(|o| o.at <= r.at && o.answered.is_none_or(|a| a > r.at))
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Every row of every acknowledged batch, in the order acknowledged.
    pub fn acknowledged_ids(&self) -> Vec<String> {
        self.received()
            .iter()
            .filter(|r| r.acknowledged)
            .flat_map(Received::ids)
            .collect()
    }

    /// Whether request `index` may be answered under [`Fault::Together`]: once `n` requests are
    /// in flight together, all of them are.
    fn release_together(&self, n: usize, index: usize) -> bool {
        let received = self.received.lock().unwrap();
        let mut released = self.released.lock().unwrap();
        let waiting: Vec<usize> = (0..received.len())
            .filter(|i| received[*i].answered.is_none() && !released.contains(i))
            .collect();
        if waiting.len() >= n {
            released.extend(waiting);
        }
        released.contains(&index)
    }

    /// Answers one request with `fault`, or as the rule decides when `None`.
    async fn serve(self, mut stream: TcpStream, fault: Option<Fault>) {
        let Some((headers, body_start)) = read_headers(&mut stream).await else {
            return;
        };
        if let Some(Fault::Reset) = fault {
            let _ = stream.set_zero_linger();
            return; // dropped with linger 0: the client sees a connection reset
        }
        let length: usize = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = body_start;
        while body.len() < length {
            let mut chunk = vec![0; 64 * 1024];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => body.extend_from_slice(&chunk[..n]),
            }
        }
        // Recorded on arrival; marked acknowledged once a 2xx answer reached the client.
        let index = {
            let mut received = self.received.lock().unwrap();
            received.push(Received {
                at: Instant::now(),
                headers,
                body,
                acknowledged: false,
                answered: None,
            });
            received.len() - 1
        };
        let fault = match fault {
            Some(fault) => fault,
            None => {
                let request = self.received.lock().unwrap()[index].clone();
                (self.rule.as_ref().expect("a rule without a script"))(index, &request)
            }
        };
        let (status, extra, text) = match fault {
            Fault::Status(status, extra, text) => (status, extra, text),
            Fault::Reset => {
                let _ = stream.set_zero_linger();
                return;
            }
            Fault::Together(n, at_most) => {
                let started = Instant::now();
                while started.elapsed() < at_most && !self.release_together(n, index) {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                (200, vec![], String::new())
            }
            Fault::Slow(delay) | Fault::Late(delay, _) => {
                let status = match fault {
                    Fault::Late(_, status) => status,
                    _ => 200,
                };
                tokio::time::sleep(delay).await;
                // A client that gave up has closed its end: reading sees end-of-stream.
                let mut probe = [0u8; 1];
                if let Ok(Ok(0)) =
                    tokio::time::timeout(Duration::from_millis(20), stream.read(&mut probe)).await
                {
                    return;
                }
                (status, vec![], String::new())
            }
        };
        let mut response = format!(
            "HTTP/1.1 {status} Scripted\r\nContent-Length: {}\r\nConnection: close\r\n",
            text.len()
        );
        for (name, value) in extra {
            response.push_str(&format!("{name}: {value}\r\n"));
        }
        response.push_str("\r\n");
        response.push_str(&text);
        // Marked before writing, so the client cannot see the answer before the record does.
        let acknowledged = (200..300).contains(&status);
        {
            let mut received = self.received.lock().unwrap();
            received[index].acknowledged = acknowledged;
            received[index].answered = Some(Instant::now());
        }
        let written =
            stream.write_all(response.as_bytes()).await.is_ok() && stream.flush().await.is_ok();
        if !written {
            self.received.lock().unwrap()[index].acknowledged = false;
        }
    }
}

/// Reads up to the blank line; returns the headers and any body bytes read past them.
async fn read_headers(stream: &mut TcpStream) -> Option<(Vec<(String, String)>, Vec<u8>)> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
            let headers = head
                .lines()
                .skip(1)
                .filter_map(|line| line.split_once(':'))
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .collect();
            return Some((headers, buffer[end + 4..].to_vec()));
        }
    }
}

/// Runs `export`, sends it SIGTERM once `server` received its second request (the next batch
/// is then in flight: the scripts make it slow to answer), and waits at most 30 s for it to stop.
pub async fn terminate_mid_run(
    export: &crate::helpers::Export,
    server: &FaultyServer,
) -> std::process::Output {
    let child = export
        .command()
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    // A request is recorded as soon as its body arrived, before it is answered.
    let started = Instant::now();
    while server.received().len() < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the export sent {} request(s) in 30 s, not a second one",
            server.received().len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let killed = tokio::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .await
        .unwrap();
    assert!(killed.success(), "kill -TERM {pid}");
    tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("the run stops within the grace period")
        .unwrap()
}
