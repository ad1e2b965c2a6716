//! Running one of the binary's servers (the gateway, the admin page) as a real process on a
//! port the operating system picks: it is started with `--listen 127.0.0.1:0` and the address
//! is read from the line it logs at startup, so no port is chosen here and then raced for.

use std::net::SocketAddr;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader, Lines};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

/// How long a server may take to log its address.
const STARTUP: Duration = Duration::from_secs(20);

/// The marker of the startup line: `gateway listening on http://127.0.0.1:PORT/…`,
/// `admin page on http://127.0.0.1:PORT/…`.
const LOOPBACK: &str = "http://127.0.0.1:";

/// A server process of the binary, and everything it logged.
pub struct Server {
    child: Child,
    /// `127.0.0.1:PORT`, as the server printed it.
    pub address: SocketAddr,
    log: Arc<Mutex<String>>,
    drain: Option<JoinHandle<()>>,
}

impl Server {
    /// Spawns `command` (a server subcommand of the binary with its `--listen`, environment
    /// already sanitised) and waits until it logs the address it listens on. Its stderr keeps
    /// being read into [`Server::log`] (and echoed to the test's captured output, shown when
    /// the test fails).
    pub async fn start(mut command: Command, what: &str) -> Server {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the {what}: {e}"));
        let log = Arc::new(Mutex::new(String::new()));
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let first = tokio::time::timeout(
            STARTUP,
            until_line(&mut lines, &log, |l| l.contains(LOOPBACK)),
        )
        .await
        .unwrap_or_else(|_| {
            panic!(
                "the {what} logged no address within {STARTUP:?}; it logged:\n{}",
                log.lock().unwrap()
            )
        })
        .unwrap_or_else(|| {
            panic!(
                "the {what} ended before listening; it logged:\n{}",
                log.lock().unwrap()
            )
        });
        let address = loopback_address(&first)
            .unwrap_or_else(|| panic!("no 127.0.0.1:PORT in the {what}'s line `{first}`"));
        let drain = tokio::spawn(drain(lines, Arc::clone(&log)));
        Server {
            child,
            address,
            log,
            drain: Some(drain),
        }
    }

    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// Everything the server logged on stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("still running")
    }

    /// The exit status, if it has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().unwrap()
    }

    /// Waits for the process to exit and for its log to be read to the end.
    pub async fn wait(&mut self) -> ExitStatus {
        let status = self.child.wait().await.unwrap();
        if let Some(drain) = self.drain.take() {
            drain.await.unwrap();
        }
        status
    }

    /// SIGKILL: no graceful shutdown, requests in flight are cut.
    pub async fn kill(&mut self) {
        self.child.start_kill().unwrap();
        self.wait().await;
    }
}

/// Reads lines (each appended to `log` and echoed) until one matches; `None` at end of stream.
pub async fn until_line<R: AsyncRead + Unpin>(
    lines: &mut Lines<BufReader<R>>,
    log: &Mutex<String>,
    wanted: impl Fn(&str) -> bool,
) -> Option<String> {
    while let Ok(Some(line)) = lines.next_line().await {
        record(log, &line);
        if wanted(&line) {
            return Some(line);
        }
    }
    None
}

/// Reads the rest of the stream into `log`.
pub async fn drain<R: AsyncRead + Unpin>(mut lines: Lines<BufReader<R>>, log: Arc<Mutex<String>>) {
    while let Ok(Some(line)) = lines.next_line().await {
        record(&log, &line);
    }
}

fn record(log: &Mutex<String>, line: &str) {
    eprintln!("{line}");
    let mut log = log.lock().unwrap();
    log.push_str(line);
    log.push('\n');
}

/// `127.0.0.1:PORT` from a line holding `http://127.0.0.1:PORT…`.
fn loopback_address(line: &str) -> Option<SocketAddr> {
    let rest = &line[line.find(LOOPBACK)? + LOOPBACK.len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    Some(SocketAddr::from(([127, 0, 0, 1], digits.parse().ok()?)))
}

/// A loopback port that refuses connections for as long as this lives: a socket bound to it
/// that never listens keeps anyone else from taking the port, and connecting to it is refused.
pub struct ClosedPort {
    _socket: tokio::net::TcpSocket,
    pub port: u16,
}

impl ClosedPort {
    pub fn new() -> ClosedPort {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let port = socket.local_addr().unwrap().port();
        ClosedPort {
            _socket: socket,
            port,
        }
    }
}

/// The bytes a client sent on the loopback connection `client` → `server` that the server
/// process has not read yet (the receive queue of the server's end, from `/proc/net/tcp`);
/// `None` while the kernel shows no such connection. Zero once the server accepted the
/// connection and read everything sent so far.
pub fn unread_by_server(server: SocketAddr, client: SocketAddr) -> Option<u64> {
    let hex = |address: SocketAddr| match address {
        SocketAddr::V4(v4) => format!(
            "{:08X}:{:04X}",
            u32::from_le_bytes(v4.ip().octets()),
            v4.port()
        ),
        SocketAddr::V6(_) => panic!("IPv4 only: {address}"),
    };
    let (local, remote) = (hex(server), hex(client));
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    table.lines().skip(1).find_map(|line| {
        // `sl local_address rem_address st tx_queue:rx_queue …`
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.get(1) != Some(&local.as_str()) || fields.get(2) != Some(&remote.as_str()) {
            return None;
        }
        let (_, rx) = fields.get(4)?.split_once(':')?;
        u64::from_str_radix(rx, 16).ok()
    })
}
