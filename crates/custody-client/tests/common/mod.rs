//! Test helpers: a real `custody serve` in a temporary directory, and a tiny local HTTP stub
//! (a tokio `TcpListener`, no framework) that records requests and answers from a script.
#![allow(dead_code, clippy::expect_used, clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use custody_client::{Client, Credentials, RetryPolicy};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// The RFC 8032 §7.1 "TEST 1" key of docs/accounts.md (its private half is public: tests only).
pub const TEST_PRIVATE_PEM: &str = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n-----END PRIVATE KEY-----\n";
pub const TEST_PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n-----END PUBLIC KEY-----\n";

/// The `custody` binary: `CUSTODY_BIN`, else the workspace's `target/<profile>/custody` beside
/// this test executable (`cargo test --workspace` builds it with custody-http's tests).
fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("CUSTODY_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("test executable");
    // target/<profile>/deps/<test> → target/<profile>/custody
    let profile_dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let bin = profile_dir.join(format!("custody{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} not found: build it with `cargo build -p custody-http --bin custody` (cargo test \
         --workspace does), or set CUSTODY_BIN",
        bin.display()
    );
    bin
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A running `custody serve` over the embedded SQLite store, with a sandbox tenant and one key
/// of each mode.
pub struct Server {
    dir: tempfile::TempDir,
    child: Child,
    pub base_url: String,
    pub bearer_key: String,
    pub hmac_key_id: String,
    pub hmac_secret: String,
    pub ed25519_key: String,
}

impl Server {
    pub async fn start() -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("config")).expect("config dir");
        // A fast simulated chain and fast workers: a withdrawal completes in about a second.
        std::fs::write(
            dir.path().join("config/local.toml"),
            "[workers]\npoll_interval_ms = 100\n\
             [webhooks]\npoll_interval_ms = 100\n\
             [sandbox]\nsigning_ms = 100\nbroadcasting_ms = 100\n\
             [sandbox.networks.ethereum]\nblock_time_ms = 100\nconfirmations = 2\n\
             [log]\nlevel = \"warn\"\n",
        )
        .expect("local.toml");
        std::fs::write(dir.path().join("accounts-public.pem"), TEST_PUBLIC_PEM).expect("pem");
        let admin = |args: &[&str]| -> Value {
            let out = command(dir.path())
                .arg("admin")
                .args(args)
                .output()
                .expect("run custody admin");
            assert!(
                out.status.success(),
                "custody admin {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            serde_json::from_slice(&out.stdout).expect("admin prints JSON")
        };
        let tenant = admin(&["tenant", "create", "--name", "Client Test Pay"]);
        let tenant = tenant["id"].as_str().expect("tenant id").to_owned();
        let mint = |mode: &str, extra: &[&str]| {
            let mut args = vec![
                "key", "mint", "--tenant", &tenant, "--env", "sandbox", "--mode", mode,
            ];
            args.extend_from_slice(extra);
            admin(&args)
        };
        let bearer = mint("bearer", &[]);
        let hmac = mint("hmac", &[]);
        let pem_path = dir.path().join("accounts-public.pem");
        let ed = mint(
            "ed25519",
            &["--public-key-file", pem_path.to_str().expect("utf-8")],
        );
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("serve.log")).expect("log file");
        let child = command(dir.path())
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn custody serve");
        let server = Server {
            base_url: format!("http://127.0.0.1:{port}"),
            bearer_key: bearer["key"].as_str().expect("key").to_owned(),
            hmac_key_id: hmac["id"].as_str().expect("id").to_owned(),
            hmac_secret: hmac["secret"].as_str().expect("secret").to_owned(),
            ed25519_key: ed["key"].as_str().expect("key").to_owned(),
            dir,
            child,
        };
        server.wait_healthy().await;
        server
    }

    async fn wait_healthy(&self) {
        let http = reqwest::Client::new();
        let started = Instant::now();
        loop {
            let health = http
                .get(format!("{}/healthz", self.base_url))
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            if health.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "custody serve did not start: {}",
                std::fs::read_to_string(self.dir.path().join("serve.log")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn client(&self, credentials: Credentials) -> Client {
        Client::builder(&self.base_url, credentials)
            .retry(
                RetryPolicy::default()
                    .with_backoff(Duration::from_millis(50), Duration::from_millis(500)),
            )
            .build()
            .expect("client")
    }

    /// A client with the bearer key (Connect's scheme).
    pub fn bearer(&self) -> Client {
        self.client(Credentials::bearer(&self.bearer_key))
    }

    /// A client with the hmac key (Platform's scheme).
    pub fn hmac(&self) -> Client {
        self.client(Credentials::hmac(&self.hmac_key_id, &self.hmac_secret))
    }

    /// A client with the ed25519 key (Accounts' scheme).
    pub fn ed25519(&self) -> Client {
        self.client(Credentials::ed25519_pem(&self.ed25519_key, TEST_PRIVATE_PEM).expect("pem"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn command(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(binary());
    cmd.current_dir(dir)
        .env_remove("CUSTODY_LISTEN")
        .env_remove("DATABASE_URL")
        .env_remove("CUSTODY_SECURITY__MASTER_KEY")
        .env("CUSTODY_CONFIG_DIR", dir.join("config"))
        .env("CUSTODY_DATABASE__DATA_DIR", dir.join("data"))
        // The tests poll; the sandbox's 25/s would answer some of that 429 (the client would
        // retry, but the tests are about the flows).
        .env("CUSTODY_RATE_LIMIT__SANDBOX_PER_KEY", "10000")
        .env("CUSTODY_RATE_LIMIT__SANDBOX_PER_TENANT", "10000")
        .env("RUST_LOG", "warn");
    cmd
}

/// One request a [`Stub`] received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub target: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

/// What a [`Stub`] does with the n-th request (0-based).
pub enum Answer {
    /// Write this raw HTTP response.
    Raw(String),
    /// Close the connection without answering.
    Hangup,
}

/// A minimal HTTP/1.1 server on a free loopback port: records every request and answers
/// `script(n)`; one request per connection (`Connection: close`).
pub struct Stub {
    pub url: String,
    pub requests: mpsc::UnboundedReceiver<Recorded>,
}

impl Stub {
    pub async fn start<F>(script: F) -> Stub
    where
        F: Fn(usize) -> Answer + Send + Sync + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut n = 0usize;
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let Some(recorded) = read_request(&mut socket).await else {
                    continue;
                };
                let _ = tx.send(recorded);
                match script(n) {
                    Answer::Raw(response) => {
                        let _ = socket.write_all(response.as_bytes()).await;
                        let _ = socket.shutdown().await;
                    }
                    Answer::Hangup => drop(socket),
                }
                n += 1;
            }
        });
        Stub { url, requests: rx }
    }

    /// The next request, waiting at most `within`.
    pub async fn next(&mut self, within: Duration) -> Option<Recorded> {
        tokio::time::timeout(within, self.requests.recv())
            .await
            .ok()
            .flatten()
    }
}

/// A raw HTTP response with a JSON body.
pub fn respond(status: u16, extra_headers: &[(&str, &str)], body: &str) -> Answer {
    let mut head = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for (k, v) in extra_headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    Answer::Raw(format!("{head}\r\n{body}"))
}

async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<Recorded> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos;
        }
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?.to_owned();
    let target = request_line.next()?.to_owned();
    let mut headers = HeaderMap::new();
    for line in lines {
        if let Some((k, v)) = line.split_once(':') {
            headers.append(
                HeaderName::from_bytes(k.trim().as_bytes()).ok()?,
                HeaderValue::from_str(v.trim()).ok()?,
            );
        }
    }
    let length: usize = headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Recorded {
        method,
        target,
        headers,
        body,
    })
}
