//! The slow-body drill of issue 16 (finding 2) against the real `custody` binary: thousands of
//! stalled `Content-Length: 60000` uploads, first without a key, then with a valid key, while
//! `/healthz` and a partner's requests must still be answered, every stalled connection is
//! closed by the server, and the server's memory (RSS from /proc) comes back. Figures are
//! printed, not asserted, except generous liveness bounds.
// Helpers outside `#[test]` functions fail the test by panicking: that is their job.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

const BIN: &str = env!("CARGO_BIN_EXE_custody");
/// Stalled uploads without a key.
const KEYLESS: usize = 2_000;
/// Stalled uploads with a valid key (past the per-address in-flight bound most are refused at
/// once; the admitted ones wait out the read deadline).
const KEYED: usize = 300;

struct Server {
    child: Child,
    port: u16,
    key: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .expect("proc status")
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS")
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count)
}

fn serve(dir: &std::path::Path) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let mut child = Command::new(BIN)
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env_remove("CUSTODY_LISTEN")
        .env("CUSTODY_CONFIG_DIR", dir.join("config"))
        .env("RUST_LOG", "warn")
        .env("CUSTODY_SERVER__WORKERS", "2")
        .env("CUSTODY_SERVER__BODY_READ_TIMEOUT_MS", "2000")
        .env("CUSTODY_SERVER__MAX_BODY_REQUESTS_PER_IP", "32")
        .env("CUSTODY_WORKERS__ENABLED", "false")
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn serve");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(at) = line.find("sk_test_") {
                let key: String = line[at..]
                    .chars()
                    .take_while(|c: &char| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                let _ = tx.send(key);
            }
        }
    });
    let key = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the first start prints a key");
    Server { child, port, key }
}

/// Opens a connection and sends the head and the first bytes of a 60 000-byte body.
async fn stall(port: u16, key: Option<&str>) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let auth = key.map_or(String::new(), |k| format!("Authorization: Bearer {k}\r\n"));
    let head = format!(
        "POST /connect/v1/addresses HTTP/1.1\r\nHost: x\r\n{auth}Idempotency-Key: drill\r\n\
         Content-Type: application/json\r\nContent-Length: 60000\r\n\r\n{{\"asset\":"
    );
    // A refusal may close the connection before the write completes: that is fine.
    let _ = stream.write_all(head.as_bytes()).await;
    stream
}

/// Reads whatever the server answers until it closes the connection; the status, or `None`
/// when it did not close within `wait`.
async fn closed_with(mut stream: TcpStream, wait: Duration) -> Option<u16> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => return None,
        }
    }
    let text = String::from_utf8_lossy(&buf);
    Some(
        text.split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0),
    )
}

/// A request that must be answered promptly: (status, latency).
async fn timed(client: &reqwest::Client, request: reqwest::RequestBuilder) -> (u16, Duration) {
    let _ = client;
    let started = Instant::now();
    let response = tokio::time::timeout(Duration::from_secs(10), request.send())
        .await
        .expect("answered within 10 s")
        .expect("request sent");
    let status = response.status().as_u16();
    let _ = response.bytes().await;
    (status, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_uploads_do_not_take_the_server_down() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = serve(dir.path());
    let pid = server.child.id();
    let base = format!("http://127.0.0.1:{}", server.port);
    let client = reqwest::Client::new();
    let (status, _) = timed(&client, client.get(format!("{base}/healthz"))).await;
    assert_eq!(status, 200);
    let rss_before = rss_kib(pid);
    let fds_before = open_fds(pid);

    // Phase 1: thousands of stalled uploads without a key.
    let started = Instant::now();
    let mut keyless = Vec::with_capacity(KEYLESS);
    for _ in 0..KEYLESS {
        keyless.push(stall(server.port, None).await);
    }
    let opened_in = started.elapsed();
    let rss_during = rss_kib(pid);
    let fds_during = open_fds(pid);
    let (health, health_latency) = timed(&client, client.get(format!("{base}/healthz"))).await;
    let (read, read_latency) = timed(
        &client,
        client
            .get(format!("{base}/connect/v1/addresses"))
            .bearer_auth(&server.key),
    )
    .await;
    let (write, write_latency) = timed(
        &client,
        client
            .post(format!("{base}/connect/v1/addresses"))
            .bearer_auth(&server.key)
            .header("Idempotency-Key", "drill-write-1")
            .json(&serde_json::json!({"asset": "USDT", "network": "ethereum", "external_ref": "drill-1"})),
    )
    .await;
    assert_eq!(health, 200);
    assert_eq!(read, 200);
    assert_eq!(write, 201);
    let closing = futures::future::join_all(
        keyless
            .into_iter()
            .map(|s| closed_with(s, Duration::from_secs(10))),
    )
    .await;
    let still_open = closing.iter().filter(|s| s.is_none()).count();
    assert_eq!(
        still_open, 0,
        "every keyless upload is closed by the server"
    );
    assert!(
        closing.iter().all(|s| *s == Some(401)),
        "answered without reading the body (401): {:?}",
        closing.iter().find(|s| **s != Some(401))
    );
    println!(
        "drill phase 1: {KEYLESS} keyless stalled uploads opened in {opened_in:?}, all closed \
         by the server; during: /healthz {health_latency:?}, partner GET {read_latency:?}, \
         partner POST {write_latency:?}; RSS {rss_before} KiB before, {rss_during} KiB during; \
         fds {fds_before} before, {fds_during} during"
    );

    // Phase 2: stalled uploads with a valid key: at most 32 are admitted (and wait out the
    // 2 s read deadline: 408), the rest are refused at once (429); reads go on meanwhile.
    let mut keyed = Vec::with_capacity(KEYED);
    for _ in 0..KEYED {
        keyed.push(stall(server.port, Some(&server.key)).await);
    }
    let (health, health_latency) = timed(&client, client.get(format!("{base}/healthz"))).await;
    let (read, read_latency) = timed(
        &client,
        client
            .get(format!("{base}/connect/v1/addresses"))
            .bearer_auth(&server.key),
    )
    .await;
    assert_eq!(health, 200);
    assert_eq!(read, 200);
    let closing = futures::future::join_all(
        keyed
            .into_iter()
            .map(|s| closed_with(s, Duration::from_secs(15))),
    )
    .await;
    assert_eq!(
        closing.iter().filter(|s| s.is_none()).count(),
        0,
        "every keyed stalled upload is closed by the server"
    );
    let timed_out = closing.iter().filter(|s| **s == Some(408)).count();
    let refused = closing.iter().filter(|s| **s == Some(429)).count();
    assert_eq!(timed_out + refused, KEYED, "{closing:?}");
    assert!(timed_out <= 32 * 2, "the in-flight bound held: {timed_out}");
    let (write, write_latency) = timed(
        &client,
        client
            .post(format!("{base}/connect/v1/addresses"))
            .bearer_auth(&server.key)
            .header("Idempotency-Key", "drill-write-2")
            .json(&serde_json::json!({"asset": "USDT", "network": "ethereum", "external_ref": "drill-2"})),
    )
    .await;
    assert_eq!(
        write, 201,
        "the partner writes again once the stalls are over"
    );
    let rss_after = rss_kib(pid);
    let fds_after = open_fds(pid);
    println!(
        "drill phase 2: {KEYED} keyed stalled uploads: {timed_out} timed out (408), {refused} \
         refused at once (429); during: /healthz {health_latency:?}, partner GET \
         {read_latency:?}; after: partner POST {write_latency:?}; RSS {rss_after} KiB after \
         (before {rss_before} KiB); fds {fds_after} after (before {fds_before})"
    );
    assert!(
        rss_after < rss_before + 64 * 1024,
        "memory comes back: {rss_before} KiB before, {rss_after} KiB after"
    );
    assert!(
        fds_after <= fds_before + 16,
        "sockets are given back: {fds_before} before, {fds_after} after"
    );
}
