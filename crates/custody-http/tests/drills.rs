//! Crash and concurrency drills (issue 14), with the real `custody serve` binary and the
//! sandbox provider:
//!
//! - `kill_drill_on_postgres`: one instance on PostgreSQL, SIGKILLed and restarted twice while
//!   clients mint Connect addresses, transfer and withdraw;
//! - `three_instances_on_one_postgres`: the same load spread over three instances, no kills;
//! - `kill_drill_on_sqlite`: the kill drill on the embedded store (one instance at a time).
//!
//! Clients behave like a careful partner: every operation has its own `Idempotency-Key`, and a
//! connection error, a 5xx or a 409 `idempotency_key_in_flight` is retried with the SAME key
//! until it is answered. Afterwards every drill checks that every 2xx the clients received
//! exists (read back), that nothing exists twice (one resource per key: transactions carry the
//! key as `reference`, Connect users the key as `external_ref`), that every withdrawal reached a
//! final state and was handed to the provider once (counted across processes in the sandbox's
//! `send_log`; a hand-over repeated after a kill between hand-over and commit carries the same
//! transaction id, the provider's idempotency reference), that money is conserved, and that
//! every wallet's balances equal a replay of its ledger. Figures go to stderr
//! (`cargo test --test drills -- --nocapture`).
#![allow(clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use custody_core::environment::Environment;
use custody_core::id::{TenantId, WalletId};
use custody_core::ports::{Clock as _, EnvironmentStores};
use custody_http::system::SystemClock;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const BIN: &str = env!("CARGO_BIN_EXE_custody");
/// The master key of the drill stores (tests only).
const MASTER_KEY: [u8; 32] = [0x42; 32];
/// Where withdrawals go: an address-book entry of this address.
const DESTINATION: &str = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
const CLIENTS: usize = 4;
/// Funding of the source wallet, whole USDT: far more than the drill spends.
const FUNDING: u64 = 1_000_000;
/// How long one operation may take, retries included, before the drill fails.
const OPERATION_DEADLINE: Duration = Duration::from_secs(90);

/// The store a drill runs on.
enum Engine {
    Postgres(custody_postgres::testing::TestDatabase),
    Sqlite,
}

/// A drill's directory, configuration and credentials.
struct Drill {
    dir: tempfile::TempDir,
    engine: Engine,
    send_log: PathBuf,
    tenant: TenantId,
    platform_key: String,
    platform_secret: String,
    connect_key: String,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

impl Drill {
    async fn new(engine: Engine) -> Drill {
        let dir = tempfile::tempdir().expect("tmp");
        let send_log = dir.path().join("sends.log");
        std::fs::create_dir_all(dir.path().join("config")).expect("config dir");
        // Fast chain and short worker leases: a killed instance's claimed withdrawals resume
        // five seconds after its death, not five minutes. A lease covers a whole claimed
        // batch (claimed at once, stepped one by one), so batches are small.
        std::fs::write(
            dir.path().join("config/local.toml"),
            format!(
                "[workers]\npoll_interval_ms = 200\nbatch_size = 5\nlease_secs = 5\nmax_backoff_secs = 1\n\
                 [sandbox]\nsigning_ms = 200\nbroadcasting_ms = 200\nsend_log = {:?}\n\
                 [sandbox.networks.ethereum]\nblock_time_ms = 100\nconfirmations = 2\n\
                 [log]\nlevel = \"warn\"\n",
                send_log.display().to_string()
            ),
        )
        .expect("local.toml");
        let mut drill = Drill {
            dir,
            engine,
            send_log,
            tenant: TenantId::parse("ten_01J00000000000000000000000").expect("placeholder"),
            platform_key: String::new(),
            platform_secret: String::new(),
            connect_key: String::new(),
        };
        let tenant = drill.admin(&["tenant", "create", "--name", "Drill Pay"]);
        let tenant_id = tenant["id"].as_str().expect("tenant id").to_owned();
        drill.admin(&["tenant", "approve", &tenant_id]);
        let platform = drill.admin(&[
            "key", "mint", "--tenant", &tenant_id, "--env", "sandbox", "--mode", "hmac",
        ]);
        let connect = drill.admin(&[
            "key", "mint", "--tenant", &tenant_id, "--env", "sandbox", "--mode", "bearer",
        ]);
        drill.tenant = TenantId::parse(&tenant_id).expect("tenant id");
        drill.platform_key = platform["key"].as_str().expect("key").to_owned();
        drill.platform_secret = platform["secret"].as_str().expect("secret").to_owned();
        drill.connect_key = connect["key"].as_str().expect("key").to_owned();
        drill
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.current_dir(self.dir.path())
            .env_remove("CUSTODY_LISTEN")
            .env("CUSTODY_CONFIG_DIR", self.dir.path().join("config"))
            .env("CUSTODY_SECURITY__MASTER_KEY", hex::encode(MASTER_KEY))
            // The drills measure crashes, not the rate limiter: a sandbox key's default 25/s
            // would answer part of the load 429 (covered by tests/api/limits.rs).
            .env("CUSTODY_RATE_LIMIT__SANDBOX_PER_KEY", "100000")
            .env("CUSTODY_RATE_LIMIT__SANDBOX_PER_TENANT", "100000")
            .env("RUST_LOG", "warn");
        match &self.engine {
            Engine::Postgres(db) => cmd.env("DATABASE_URL", db.url().expose()),
            Engine::Sqlite => cmd.env_remove("DATABASE_URL"),
        };
        cmd
    }

    fn admin(&self, args: &[&str]) -> Value {
        let out = self
            .command()
            .arg("admin")
            .args(args)
            .output()
            .expect("run admin");
        assert!(
            out.status.success(),
            "custody admin {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("admin prints JSON")
    }

    /// Starts `custody serve` on `port` and waits until it answers `/healthz`.
    async fn serve(&self, port: u16) -> Instance {
        let child = Instance(
            self.command()
                .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn serve"),
        );
        let client = reqwest::Client::new();
        let started = Instant::now();
        loop {
            let health = client
                .get(format!("http://127.0.0.1:{port}/healthz"))
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            if health.is_ok_and(|r| r.status().as_u16() == 200) {
                return child;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "custody serve did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The drill's store, opened by the test (after the instances are gone, or beside them).
    async fn store(&self) -> EnvironmentStores {
        let url = match &self.engine {
            Engine::Postgres(db) => db.url().clone(),
            Engine::Sqlite => custody_embed::DatabaseUrl::new(format!(
                "sqlite://{}",
                self.dir.path().join("data/custody.db").display()
            )),
        };
        custody_embed::Store::connect(&url, custody_embed::MasterKey::from_bytes(MASTER_KEY))
            .await
            .expect("open the binary's store")
            .environment(Environment::Sandbox)
    }
}

/// What a client does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Op {
    Mint,
    Transfer,
    Withdraw,
}

/// A 2xx the client received.
#[derive(Debug, Clone)]
struct Ack {
    op: Op,
    key: String,
    id: String,
}

/// Counters shared by the clients.
#[derive(Default)]
struct Figures {
    /// HTTP requests sent (attempts, retries included).
    requests: AtomicU64,
    /// Operations answered 2xx.
    acknowledged: AtomicU64,
    /// Attempts repeated with the same key.
    retries: AtomicU64,
    /// 409 `idempotency_key_in_flight` answers.
    in_flight_409: AtomicU64,
    /// Connection errors and timeouts.
    connection_errors: AtomicU64,
    /// 5xx answers.
    server_errors: AtomicU64,
    /// Replayed answers (`Idempotency-Replayed: true`).
    replays: AtomicU64,
    /// The longest time one operation took, retries included, in milliseconds.
    longest_ms: AtomicU64,
    /// Operations cut by a kill (a connection error on some attempt), all answered in the end.
    cut: AtomicU64,
    /// Of those, how many met 409 `idempotency_key_in_flight` on a retry (their reservation
    /// outlived the killed process until its heartbeat went silent).
    cut_then_409: AtomicU64,
}

/// What the clients share.
struct Load {
    ports: Vec<u16>,
    http: reqwest::Client,
    platform_key: String,
    platform_secret: String,
    connect_key: String,
    source: String,
    destination: String,
    entry: String,
    stop: AtomicBool,
    figures: Figures,
    acks: Mutex<Vec<Ack>>,
}

impl Load {
    /// One signed (Platform, HMAC) or bearer (Connect) request; `Err` for connection errors.
    async fn send(
        &self,
        port: u16,
        method: reqwest::Method,
        path: &str,
        body: Option<&str>,
        idempotency_key: Option<&str>,
        connect: bool,
    ) -> Result<(u16, reqwest::header::HeaderMap, Value), reqwest::Error> {
        let url = format!("http://127.0.0.1:{port}{path}");
        let mut builder = self
            .http
            .request(method.clone(), url)
            .timeout(Duration::from_secs(15));
        let raw = body.unwrap_or("");
        if let Some(body) = body {
            builder = builder
                .header("Content-Type", "application/json")
                .body(body.to_owned());
        }
        if let Some(key) = idempotency_key {
            builder = builder.header("Idempotency-Key", key);
        }
        if connect {
            builder = builder.header("Authorization", format!("Bearer {}", self.connect_key));
        } else {
            let ts = SystemClock.now().unix_timestamp().to_string();
            let canonical = format!(
                "{ts}\n{}\n{path}\n{}",
                method.as_str(),
                hex::encode(Sha256::digest(raw.as_bytes()))
            );
            let mut mac =
                Hmac::<Sha256>::new_from_slice(self.platform_secret.as_bytes()).expect("hmac key");
            mac.update(canonical.as_bytes());
            builder = builder
                .header("X-API-Key", &self.platform_key)
                .header("X-Timestamp", ts)
                .header("X-Signature", hex::encode(mac.finalize().into_bytes()));
        }
        let response = builder.send().await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await?;
        Ok((
            status,
            headers,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        ))
    }

    /// A read that must succeed (after the drill, with an instance up).
    async fn get(&self, path: &str, connect: bool) -> Value {
        let port = self.ports[0];
        let (status, _, body) = self
            .send(port, reqwest::Method::GET, path, None, None, connect)
            .await
            .expect("GET");
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// One operation, retried with the same key until it is answered.
    async fn operate(&self, client: usize, n: u64, op: Op) {
        let key = format!("drill-{client}-{n}");
        let (path, body, connect) = match op {
            Op::Mint => (
                "/connect/v1/addresses",
                json!({"asset": "USDT", "network": "ethereum", "external_ref": key}),
                true,
            ),
            Op::Transfer => (
                "/v1/transactions/transfer",
                json!({"sourceWalletId": self.source, "destinationWalletId": self.destination,
                       "amount": "1", "reference": key}),
                false,
            ),
            Op::Withdraw => (
                "/v1/transactions/withdraw",
                json!({"walletId": self.source, "addressBookEntryId": self.entry,
                       "amount": "1", "reference": key}),
                false,
            ),
        };
        let body = body.to_string();
        let started = Instant::now();
        let mut attempt: usize = 0;
        let (mut was_cut, mut met_409) = (false, false);
        loop {
            let port = self.ports[(client + attempt) % self.ports.len()];
            if attempt > 0 {
                self.figures.retries.fetch_add(1, Ordering::Relaxed);
            }
            attempt += 1;
            self.figures.requests.fetch_add(1, Ordering::Relaxed);
            let outcome = self
                .send(
                    port,
                    reqwest::Method::POST,
                    path,
                    Some(&body),
                    Some(&key),
                    connect,
                )
                .await;
            match outcome {
                Ok((status, headers, answer)) if (200..300).contains(&status) => {
                    if headers.get("idempotency-replayed").is_some() {
                        self.figures.replays.fetch_add(1, Ordering::Relaxed);
                    }
                    let id = answer["id"]
                        .as_str()
                        .expect("an id in every 2xx")
                        .to_owned();
                    self.acks.lock().expect("acks").push(Ack { op, key, id });
                    self.figures.acknowledged.fetch_add(1, Ordering::Relaxed);
                    let took = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                    self.figures.longest_ms.fetch_max(took, Ordering::Relaxed);
                    if was_cut {
                        self.figures.cut.fetch_add(1, Ordering::Relaxed);
                        if met_409 {
                            self.figures.cut_then_409.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    return;
                }
                Ok((409, _, answer)) if answer["error"]["code"] == "idempotency_key_in_flight" => {
                    self.figures.in_flight_409.fetch_add(1, Ordering::Relaxed);
                    met_409 = true;
                }
                Ok((status, _, _)) if status >= 500 => {
                    self.figures.server_errors.fetch_add(1, Ordering::Relaxed);
                }
                Ok((status, _, answer)) => {
                    panic!("{op:?} {key}: unexpected {status}: {answer}")
                }
                Err(_) => {
                    self.figures
                        .connection_errors
                        .fetch_add(1, Ordering::Relaxed);
                    was_cut = true;
                }
            }
            assert!(
                started.elapsed() < OPERATION_DEADLINE,
                "{op:?} {key} was not answered within {OPERATION_DEADLINE:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// A client: operations in turn until told to stop.
    async fn client(self: Arc<Load>, client: usize) {
        let ops = [Op::Mint, Op::Transfer, Op::Withdraw];
        let mut n: u64 = 0;
        while !self.stop.load(Ordering::Relaxed) {
            let op = ops[usize::try_from(n).unwrap_or(0).wrapping_add(client) % ops.len()];
            self.operate(client, n, op).await;
            n += 1;
        }
    }
}

/// Creates the source wallet (funded by an instant sandbox deposit), the destination wallet
/// and the address-book entry, through `port`.
async fn prepare(drill: &Drill, ports: Vec<u16>) -> Arc<Load> {
    let mut load = Load {
        ports,
        http: reqwest::Client::new(),
        platform_key: drill.platform_key.clone(),
        platform_secret: drill.platform_secret.clone(),
        connect_key: drill.connect_key.clone(),
        source: String::new(),
        destination: String::new(),
        entry: String::new(),
        stop: AtomicBool::new(false),
        figures: Figures::default(),
        acks: Mutex::new(Vec::new()),
    };
    let port = load.ports[0];
    let mut wallets = Vec::new();
    for name in ["source", "destination"] {
        let body = json!({"externalId": name}).to_string();
        let (status, _, vault) = load
            .send(
                port,
                reqwest::Method::POST,
                "/v1/vaults",
                Some(&body),
                Some(&format!("setup-vault-{name}")),
                false,
            )
            .await
            .expect("create vault");
        assert_eq!(status, 201, "{vault}");
        let path = format!("/v1/vaults/{}/wallets", vault["id"].as_str().expect("id"));
        let body = json!({"assetId": "USDT_ETHEREUM"}).to_string();
        let (status, _, wallet) = load
            .send(
                port,
                reqwest::Method::POST,
                &path,
                Some(&body),
                Some(&format!("setup-wallet-{name}")),
                false,
            )
            .await
            .expect("create wallet");
        assert_eq!(status, 201, "{wallet}");
        wallets.push(wallet["id"].as_str().expect("id").to_owned());
    }
    load.destination = wallets.pop().expect("destination");
    load.source = wallets.pop().expect("source");
    let body = json!({"walletId": load.source, "amount": FUNDING.to_string(), "settle": "instant"})
        .to_string();
    let (status, _, deposit) = load
        .send(
            port,
            reqwest::Method::POST,
            "/v1/sandbox/deposits",
            Some(&body),
            Some("setup-funding"),
            false,
        )
        .await
        .expect("fund");
    assert!((200..300).contains(&status), "{deposit}");
    let body = json!({"network": "ethereum", "address": DESTINATION, "label": "drill"}).to_string();
    let (status, _, entry) = load
        .send(
            port,
            reqwest::Method::POST,
            "/v1/address-book",
            Some(&body),
            Some("setup-entry"),
            false,
        )
        .await
        .expect("address-book entry");
    assert_eq!(status, 201, "{entry}");
    load.entry = entry["id"].as_str().expect("id").to_owned();
    // The funding deposit is final before the load starts.
    let started = Instant::now();
    loop {
        let wallet = load
            .get(&format!("/v1/wallets/{}", load.source), false)
            .await;
        if wallet["balances"]["available"].as_str() == Some(FUNDING.to_string().as_str()) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "funding never settled: {wallet}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Arc::new(load)
}

fn start_clients(load: &Arc<Load>) -> Vec<tokio::task::JoinHandle<()>> {
    (0..CLIENTS)
        .map(|c| tokio::spawn(Arc::clone(load).client(c)))
        .collect()
}

async fn stop_clients(load: &Load, clients: Vec<tokio::task::JoinHandle<()>>) {
    load.stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.expect("a client panicked");
    }
}

/// Every page of a Platform list.
async fn list_all(load: &Load, path: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page_path = match &after {
            Some(id) => format!("{path}&limit=200&starting_after={id}"),
            None => format!("{path}&limit=200"),
        };
        let page = load.get(&page_path, false).await;
        let batch = page["items"].as_array().expect("items").clone();
        after = batch
            .last()
            .and_then(|t| t["id"].as_str())
            .map(str::to_owned);
        items.extend(batch);
        if page["pagination"]["hasMore"] != true {
            return items;
        }
    }
}

/// What the final checks found.
#[derive(Debug, Default)]
struct Checked {
    acknowledged: BTreeMap<Op, usize>,
    withdrawals_completed: usize,
    withdrawals_failed: usize,
    hand_overs: usize,
    repeated_hand_overs: usize,
}

const FINAL: [&str; 3] = ["Completed", "Failed", "Cancelled"];

/// The checks of the module doc; panics on a broken rule.
async fn check(drill: &Drill, load: &Load) -> Checked {
    let acks = load.acks.lock().expect("acks").clone();
    let mut checked = Checked::default();
    for ack in &acks {
        *checked.acknowledged.entry(ack.op).or_default() += 1;
    }

    // One resource per key, and every acknowledged one exists with the id the client got.
    let keyed: BTreeMap<&str, &Ack> = acks.iter().map(|a| (a.key.as_str(), a)).collect();
    assert_eq!(
        keyed.len(),
        acks.len(),
        "every key acknowledged once by the clients"
    );
    for ack in acks.iter().filter(|a| a.op == Op::Mint) {
        let listed = load
            .get(
                &format!("/connect/v1/addresses?external_ref={}", ack.key),
                true,
            )
            .await;
        let items = listed["items"].as_array().expect("items");
        assert_eq!(items.len(), 1, "{}: one address: {listed}", ack.key);
        assert_eq!(
            items[0]["id"],
            ack.id.as_str(),
            "{}: the acknowledged address",
            ack.key
        );
        let read = load
            .get(&format!("/connect/v1/addresses/{}", ack.id), true)
            .await;
        assert_eq!(read["id"], ack.id.as_str());
    }

    // Withdrawals reach a final state (the worker resumes what a killed instance claimed).
    let started = Instant::now();
    let transactions = loop {
        let all = list_all(
            load,
            &format!("/v1/transactions?walletId={}&kind=Withdrawal", load.source),
        )
        .await;
        if all.iter().all(|t| FINAL.iter().any(|f| t["status"] == *f)) {
            break list_all(load, &format!("/v1/transactions?walletId={}", load.source)).await;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "withdrawals still open after 90 s"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let mut by_reference: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for t in &transactions {
        if let Some(reference) = t["reference"].as_str() {
            by_reference
                .entry(reference.to_owned())
                .or_default()
                .push(t);
        }
    }
    for (reference, found) in &by_reference {
        assert_eq!(found.len(), 1, "{reference}: {} transactions", found.len());
    }
    for ack in acks.iter().filter(|a| a.op != Op::Mint) {
        let found = by_reference
            .get(&ack.key)
            .unwrap_or_else(|| panic!("{}: acknowledged but not listed", ack.key));
        assert_eq!(found[0]["id"], ack.id.as_str(), "{}", ack.key);
        let read = load
            .get(&format!("/v1/transactions/{}", ack.id), false)
            .await;
        assert_eq!(read["id"], ack.id.as_str());
    }
    // Nothing the clients were not told about: every keyed transaction was acknowledged.
    let unacknowledged: Vec<&String> = by_reference
        .keys()
        .filter(|r| !keyed.contains_key(r.as_str()))
        .collect();
    assert!(
        unacknowledged.is_empty(),
        "transactions no client was answered for: {unacknowledged:?}"
    );

    // Hand-overs, counted across processes: each withdrawal at least once when it left
    // Submitted, never with another transaction's id; more than once only as the same id.
    let log = std::fs::read_to_string(&drill.send_log).unwrap_or_default();
    let mut sends: BTreeMap<&str, usize> = BTreeMap::new();
    for line in log.lines() {
        *sends.entry(line).or_default() += 1;
    }
    checked.hand_overs = sends.values().sum();
    checked.repeated_hand_overs = sends.values().filter(|n| **n > 1).count();
    let withdrawals: Vec<&Value> = transactions
        .iter()
        .filter(|t| t["kind"] == "Withdrawal")
        .collect();
    for w in &withdrawals {
        let id = w["id"].as_str().expect("id");
        match w["status"].as_str() {
            Some("Completed") => {
                checked.withdrawals_completed += 1;
                assert!(
                    sends.get(id).is_some_and(|n| *n >= 1),
                    "{id} completed without a hand-over"
                );
            }
            Some("Failed" | "Cancelled") => checked.withdrawals_failed += 1,
            other => panic!("{id} is {other:?}"),
        }
    }
    for id in sends.keys() {
        assert!(
            withdrawals.iter().any(|w| w["id"] == *id),
            "{id} was handed over but is no withdrawal of the drill"
        );
    }

    // Money: conserved, and every wallet's balances are its ledger replayed.
    let balances = |w: &Value, field: &str| -> i128 {
        w["balances"][field]
            .as_str()
            .and_then(|s| s.parse::<i128>().ok())
            .unwrap_or_else(|| panic!("{field} is a whole number here: {w}"))
    };
    let source = load
        .get(&format!("/v1/wallets/{}", load.source), false)
        .await;
    let destination = load
        .get(&format!("/v1/wallets/{}", load.destination), false)
        .await;
    let transfers = acks.iter().filter(|a| a.op == Op::Transfer).count();
    let out = i128::try_from(checked.withdrawals_completed + transfers).expect("small");
    assert_eq!(
        balances(&source, "total"),
        i128::from(FUNDING) - out,
        "{source}"
    );
    assert_eq!(
        balances(&source, "held"),
        0,
        "nothing held once withdrawals are final"
    );
    assert_eq!(
        balances(&destination, "total"),
        i128::try_from(transfers).expect("small")
    );
    let stores = drill.store().await;
    for raw in [&load.source, &load.destination] {
        let id = WalletId::parse(raw).expect("wallet id");
        let wallet = stores.wallets.get(drill.tenant, id).await.expect("wallet");
        let entries = stores
            .transactions
            .ledger_for_wallet(id)
            .await
            .expect("ledger");
        let replayed = custody_core::ledger::replay(id, &entries).expect("ledger replays");
        assert_eq!(wallet.balances, replayed, "{raw}: ledger != balances");
    }
    checked
}

fn report(name: &str, load: &Load, kills: usize, checked: &Checked) {
    let f = &load.figures;
    eprintln!(
        "drill {name}: requests {}, acknowledged {} ({:?}), kills {kills}, retries {}, \
         409 in flight {}, connection errors {}, 5xx {}, replays {}, longest operation {} ms, \
         operations cut by a kill {} (met 409 in flight before succeeding: {}); \
         withdrawals completed {}, failed {}; hand-overs {} (repeated {}); \
         checks: every 2xx exists, one resource per key, withdrawals final, ledger == balances",
        f.requests.load(Ordering::Relaxed),
        f.acknowledged.load(Ordering::Relaxed),
        checked.acknowledged,
        f.retries.load(Ordering::Relaxed),
        f.in_flight_409.load(Ordering::Relaxed),
        f.connection_errors.load(Ordering::Relaxed),
        f.server_errors.load(Ordering::Relaxed),
        f.replays.load(Ordering::Relaxed),
        f.longest_ms.load(Ordering::Relaxed),
        f.cut.load(Ordering::Relaxed),
        f.cut_then_409.load(Ordering::Relaxed),
        checked.withdrawals_completed,
        checked.withdrawals_failed,
        checked.hand_overs,
        checked.repeated_hand_overs,
    );
}

/// A running `custody serve`, SIGKILLed when dropped (a failed drill leaves no server behind).
struct Instance(Child);

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn kill(instance: &mut Instance) {
    // `Child::kill` is SIGKILL on Unix: no shutdown, no release, nothing flushed.
    instance.0.kill().expect("SIGKILL");
    instance.0.wait().expect("reaped");
}

/// One instance, SIGKILLed mid-load and restarted on the same port, `KILLS` times.
async fn kill_drill(name: &str, engine: Engine) {
    const KILLS: usize = 2;
    let drill = Drill::new(engine).await;
    let port = free_port();
    let mut instance = drill.serve(port).await;
    let load = prepare(&drill, vec![port]).await;
    let clients = start_clients(&load);
    for _ in 0..KILLS {
        tokio::time::sleep(Duration::from_secs(4)).await;
        kill(&mut instance);
        instance = drill.serve(port).await;
    }
    tokio::time::sleep(Duration::from_secs(4)).await;
    stop_clients(&load, clients).await;
    let checked = check(&drill, &load).await;
    report(name, &load, KILLS, &checked);
    assert!(
        load.figures.connection_errors.load(Ordering::Relaxed) > 0,
        "the kills cut requests"
    );
    kill(&mut instance);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_drill_on_postgres() {
    let db = custody_postgres::testing::fresh_database().await;
    kill_drill("kill/postgres", Engine::Postgres(db)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_drill_on_sqlite() {
    kill_drill("kill/sqlite", Engine::Sqlite).await;
}

/// Three instances on one PostgreSQL, clients spread over them, no kills.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_on_one_postgres() {
    let db = custody_postgres::testing::fresh_database().await;
    let drill = Drill::new(Engine::Postgres(db)).await;
    let ports = [free_port(), free_port(), free_port()];
    let mut instances = Vec::new();
    for port in ports {
        instances.push(drill.serve(port).await);
    }
    let load = prepare(&drill, ports.to_vec()).await;
    let clients = start_clients(&load);
    tokio::time::sleep(Duration::from_secs(10)).await;
    stop_clients(&load, clients).await;
    let checked = check(&drill, &load).await;
    report("three-instances/postgres", &load, 0, &checked);
    assert_eq!(
        checked.repeated_hand_overs, 0,
        "without crashes every withdrawal is handed over exactly once"
    );
    for mut instance in instances {
        kill(&mut instance);
    }
}
