//! The `custody` binary as an operator uses it: `serve` on a fresh directory prints a working
//! sandbox key; `admin` commands create the store when it does not exist, print JSON, and take
//! effect on a server already running on the same store.
// Helpers outside `#[test]` functions fail the test by panicking: that is their job.
#![allow(clippy::expect_used)]

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_custody");

fn custody(dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir)
        .env_remove("DATABASE_URL")
        .env_remove("CUSTODY_LISTEN")
        .env("CUSTODY_CONFIG_DIR", dir.join("config"))
        .env("RUST_LOG", "warn");
    cmd
}

fn admin(dir: &Path, args: &[&str]) -> Value {
    let out = custody(dir)
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

fn admin_fails(dir: &Path, args: &[&str]) -> String {
    let out = custody(dir)
        .arg("admin")
        .args(args)
        .output()
        .expect("run admin");
    assert!(!out.status.success(), "custody admin {args:?} should fail");
    assert!(out.stdout.is_empty(), "nothing on stdout when failing");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

struct Server {
    child: Child,
    port: u16,
    first_key: Option<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Starts `custody serve` and waits for /healthz; returns the key printed on first start.
fn serve(dir: &Path) -> Server {
    serve_with_env(dir, &[])
}

/// As [`serve`], with environment variables (settings) added.
fn serve_with_env(dir: &Path, env: &[(&str, &str)]) -> Server {
    let port = free_port();
    let mut command = custody(dir);
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command
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
    let started = Instant::now();
    loop {
        if let Ok(body) = get(port, "/healthz", None) {
            if body.0 == 200 {
                break;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let first_key = rx.recv_timeout(Duration::from_millis(500)).ok();
    Server {
        child,
        port,
        first_key,
    }
}

/// A minimal HTTP/1.1 GET over std (this test has no async runtime): (status, body).
fn get(port: u16, path: &str, bearer: Option<&str>) -> std::io::Result<(u16, String)> {
    request(port, "GET", path, bearer, None)
}

fn request(
    port: u16,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    body: Option<&str>,
) -> std::io::Result<(u16, String)> {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    if let Some(key) = bearer {
        head.push_str(&format!("Authorization: Bearer {key}\r\n"));
    }
    if let Some(body) = body {
        head.push_str(&format!(
            "Content-Type: application/json\r\nIdempotency-Key: cli-{}\r\nContent-Length: {}\r\n",
            body.len(),
            body.len()
        ));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    if let Some(body) = body {
        stream.write_all(body.as_bytes())?;
    }
    let mut raw = String::new();
    stream.read_to_string(&mut raw)?;
    let status = raw
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = raw.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    Ok((status, body))
}

#[test]
fn first_start_prints_a_working_sandbox_key_and_a_second_start_does_not() {
    let dir = tempfile::tempdir().expect("tmp");
    let key = {
        let server = serve(dir.path());
        let key = server.first_key.clone().expect("first start prints a key");
        let (status, body) = request(
            server.port,
            "POST",
            "/connect/v1/addresses",
            Some(&key),
            Some(r#"{"asset":"USDT","network":"ethereum","external_ref":"user-1"}"#),
        )
        .expect("request");
        assert_eq!(status, 201, "{body}");
        key
    };
    assert!(dir.path().join("data/custody.db").exists());
    assert!(dir.path().join("data/master.key").exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.path().join("data/master.key"))
            .expect("key file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // Restart on the same store: no new tenant, the old key still works (same master key).
    let server = serve(dir.path());
    assert_eq!(server.first_key, None);
    let (status, _) = get(server.port, "/connect/v1/addresses", Some(&key)).expect("list");
    assert_eq!(status, 200);
    let tenants = admin(dir.path(), &["tenant", "list"]);
    assert_eq!(tenants["items"].as_array().map(Vec::len), Some(1));
}

/// The authentication cache's bound across processes: a key revoked by the CLI (another
/// process, which cannot evict the server's memory) still works while the server's record of
/// it is fresh, and is refused once `auth.cache_ttl_ms` has passed since it was cached.
#[test]
fn a_revocation_from_the_cli_reaches_a_caching_server_within_the_ttl() {
    let dir = tempfile::tempdir().expect("tmp");
    let tenant = admin(dir.path(), &["tenant", "create", "--name", "Acme Pay"]);
    let tenant_id = tenant["id"].as_str().expect("id").to_owned();
    let minted = admin(
        dir.path(),
        &[
            "key", "mint", "--tenant", &tenant_id, "--env", "sandbox", "--mode", "bearer",
        ],
    );
    let key = minted["key"].as_str().expect("key").to_owned();
    let key_id = minted["id"].as_str().expect("id").to_owned();
    let ttl = Duration::from_millis(1_500);
    let server = serve_with_env(
        dir.path(),
        &[("CUSTODY_AUTH__CACHE_TTL_MS", &ttl.as_millis().to_string())],
    );
    // Cached by this request, between these two instants.
    let asked = Instant::now();
    assert_eq!(
        get(server.port, "/v1/assets", Some(&key)).expect("get").0,
        200
    );
    let answered = Instant::now();
    admin(dir.path(), &["key", "revoke", &key_id]);
    if asked.elapsed() < ttl {
        // Within the TTL the server still knows the key as it was (the documented bound).
        let status = get(server.port, "/v1/assets", Some(&key)).expect("get").0;
        assert!(
            status == 200 || asked.elapsed() >= ttl,
            "served from the cache within the TTL: {status}"
        );
    }
    // Past the TTL: the revocation is seen.
    std::thread::sleep(ttl.saturating_sub(answered.elapsed()) + Duration::from_millis(50));
    assert_eq!(
        get(server.port, "/v1/assets", Some(&key)).expect("get").0,
        401
    );
}

#[test]
fn admin_commands_create_the_store_print_json_and_act_on_a_running_server() {
    let dir = tempfile::tempdir().expect("tmp");
    // Against a store that does not exist yet.
    let tenant = admin(dir.path(), &["tenant", "create", "--name", "Acme Pay"]);
    assert_eq!(tenant["name"], "Acme Pay");
    assert_eq!(tenant["status"], "pending");
    let tenant_id = tenant["id"].as_str().expect("id").to_owned();
    assert!(tenant_id.starts_with("ten_"));

    // The CLI is another process: with the authentication cache on, its revocations reach
    // the server within `auth.cache_ttl_ms` (see `a_revocation_from_the_cli_reaches_a_caching_
    // server_within_the_ttl`). Off here, so each takes effect at the next request.
    let server = serve_with_env(dir.path(), &[("CUSTODY_AUTH__CACHE_TTL_MS", "0")]);
    // A tenant existed, so no bootstrap key.
    assert_eq!(server.first_key, None);

    let minted = admin(
        dir.path(),
        &[
            "key", "mint", "--tenant", &tenant_id, "--env", "sandbox", "--mode", "bearer",
        ],
    );
    let key = minted["key"].as_str().expect("key").to_owned();
    assert!(key.starts_with("sk_test_"));
    assert!(minted["id"]
        .as_str()
        .is_some_and(|id| id.starts_with("key_")));
    assert!(minted.get("secret").is_none(), "bearer keys have no secret");
    // Issue 16: every scope but the four money-moving ones, which bearer keys never hold.
    assert_eq!(minted["scopes"].as_array().map(Vec::len), Some(13 - 4));
    // Takes effect on the running server.
    assert_eq!(
        get(server.port, "/v1/assets", Some(&key)).expect("get").0,
        200
    );

    let hmac = admin(
        dir.path(),
        &[
            "key",
            "mint",
            "--tenant",
            &tenant_id,
            "--env",
            "sandbox",
            "--mode",
            "hmac",
            "--scope",
            "vaults:read",
            "--allow-ip",
            "10.0.0.0/8",
        ],
    );
    assert!(hmac["secret"].as_str().is_some_and(|s| s.len() >= 32));
    assert_eq!(hmac["scopes"], serde_json::json!(["vaults:read"]));
    assert_eq!(hmac["allowedIps"], serde_json::json!(["10.0.0.0/8"]));

    // Rotate with no grace: the old key stops, the new one works.
    let key_id = minted["id"].as_str().expect("id").to_owned();
    let rotated = admin(dir.path(), &["key", "rotate", &key_id, "--grace", "0"]);
    let new_key = rotated["key"].as_str().expect("key").to_owned();
    assert_ne!(new_key, key);
    assert_eq!(
        get(server.port, "/v1/assets", Some(&key)).expect("get").0,
        401
    );
    assert_eq!(
        get(server.port, "/v1/assets", Some(&new_key))
            .expect("get")
            .0,
        200
    );

    // Revoke: immediate.
    let revoked = admin(
        dir.path(),
        &["key", "revoke", rotated["id"].as_str().expect("id")],
    );
    assert!(revoked["revokedAt"].is_string());
    assert_eq!(
        get(server.port, "/v1/assets", Some(&new_key))
            .expect("get")
            .0,
        401
    );

    // Assets: live is empty until enabled, and only a routed asset may be enabled live;
    // sandbox has everything.
    let err = admin_fails(
        dir.path(),
        &["asset", "enable", "--tenant", &tenant_id, "USDC_solana"],
    );
    assert!(
        err.contains("USDC_SOLANA") && err.contains("live.routes"),
        "{err}"
    );
    std::fs::create_dir_all(dir.path().join("config")).expect("config dir");
    std::fs::write(
        dir.path().join("config/local.toml"),
        "[live.routes]\nUSDC_SOLANA = \"bitgo\"\n",
    )
    .expect("write local.toml");
    let enabled = admin(
        dir.path(),
        &["asset", "enable", "--tenant", &tenant_id, "USDC_solana"],
    );
    assert_eq!(enabled["environment"], "live");
    assert_eq!(enabled["enabledAssets"], serde_json::json!(["USDC_SOLANA"]));
    let disabled = admin(
        dir.path(),
        &[
            "asset",
            "disable",
            "--tenant",
            &tenant_id,
            "--env",
            "sandbox",
            "XAUT_ETHEREUM",
        ],
    );
    assert_eq!(disabled["enabledAssets"].as_array().map(Vec::len), Some(7));

    // Approve, suspend.
    assert_eq!(
        admin(dir.path(), &["tenant", "approve", &tenant_id])["status"],
        "approved"
    );
    assert_eq!(
        admin(dir.path(), &["tenant", "suspend", &tenant_id])["status"],
        "suspended"
    );

    // Bad input: a clear message on stderr, nothing on stdout, non-zero exit.
    let err = admin_fails(
        dir.path(),
        &["tenant", "approve", "vlt_01J00000000000000000000000"],
    );
    assert!(err.contains("tenant id"), "{err}");
    let err = admin_fails(
        dir.path(),
        &[
            "key", "mint", "--tenant", &tenant_id, "--env", "sandbox", "--mode", "ed25519",
        ],
    );
    assert!(err.to_lowercase().contains("public"), "{err}");
}

#[test]
fn openapi_subcommand_prints_the_committed_document() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = custody(dir.path()).arg("openapi").output().expect("run");
    assert!(out.status.success());
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/openapi.json"
    ))
    .expect("docs/openapi.json");
    assert_eq!(String::from_utf8_lossy(&out.stdout), committed);
}

#[test]
fn configuration_layers_and_graceful_shutdown() {
    let dir = tempfile::tempdir().expect("tmp");
    let port = free_port();
    std::fs::create_dir_all(dir.path().join("config")).expect("config dir");
    // The profile file sets the listen address and a data dir; the environment picks JSON logs.
    std::fs::write(
        dir.path().join("config/local.toml"),
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[database]\ndata_dir = \"./elsewhere\"\n"
        ),
    )
    .expect("write config");
    let mut child = custody(dir.path())
        .arg("serve")
        .env("CUSTODY_LOG__FORMAT", "json")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let started = Instant::now();
    while get(port, "/readyz", None).map(|r| r.0).unwrap_or(0) != 200 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "server did not start on the configured port"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(dir.path().join("elsewhere/custody.db").exists());
    // SIGTERM: a graceful stop with exit code 0.
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let exit = child.wait().expect("wait");
    assert!(exit.success(), "exit status {exit:?}");
    let mut logs = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut logs)
        .expect("logs");
    let lines: Vec<Value> = logs
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {l}"))
        })
        .collect();
    assert!(
        lines.iter().any(|l| l["message"] == "custody stopped"),
        "{logs}"
    );
    // The request log line names route and status, and no secret.
    let request = lines
        .iter()
        .find(|l| l["message"] == "request")
        .expect("a request log line");
    assert_eq!(request["route"], "/readyz");
    assert_eq!(request["status"], 200);
    assert!(request["request_id"]
        .as_str()
        .is_some_and(|r| r.starts_with("req_")));
    assert!(!logs.contains("sk_test_"), "no key in the logs");
}

/// `custody serve` with this `config/local.toml`: must exit at once, failing; its stderr.
fn serve_refuses(dir: &Path, local_toml: &str) -> String {
    serve_refuses_with_env(dir, local_toml, &[])
}

fn serve_refuses_with_env(dir: &Path, local_toml: &str, env: &[(&str, &str)]) -> String {
    std::fs::create_dir_all(dir.join("config")).expect("config dir");
    std::fs::write(dir.join("config/local.toml"), local_toml).expect("write local.toml");
    let out = custody(dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .envs(env.iter().copied())
        .output()
        .expect("run serve");
    assert!(!out.status.success(), "serve should refuse to start");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_live_deployment_that_cannot_serve_its_assets_refuses_to_start() {
    let dir = tempfile::tempdir().expect("tmp");
    // A live tenant with USDC on Solana enabled while the route existed.
    std::fs::create_dir_all(dir.path().join("config")).expect("config dir");
    std::fs::write(
        dir.path().join("config/local.toml"),
        "[live.routes]\nUSDC_SOLANA = \"bitgo\"\n",
    )
    .expect("write local.toml");
    let tenant = admin(dir.path(), &["tenant", "create", "--name", "Acme"]);
    let tenant_id = tenant["id"].as_str().expect("id").to_owned();
    admin(
        dir.path(),
        &["asset", "enable", "--tenant", &tenant_id, "USDC_SOLANA"],
    );

    // The route is gone: the tenant's asset has no provider.
    let err = serve_refuses(dir.path(), "");
    assert!(
        err.contains("USDC_SOLANA") && err.contains(&tenant_id) && err.contains("live.routes"),
        "{err}"
    );
    // A route to a provider that is not configured.
    let err = serve_refuses(dir.path(), "[live.routes]\nUSDC_SOLANA = \"bitgo\"\n");
    assert!(err.contains("[live.bitgo] is not configured"), "{err}");
    // The access token is a secret: without it (file or environment) the section is invalid.
    let bitgo_without_sol = "[live.routes]\nUSDC_SOLANA = \"bitgo\"\n[live.bitgo]\n\
         environment = \"test\"\n[live.bitgo.wallets]\nhteth = \"59cd72485007a239fb00282ed480da1f\"\n";
    let err = serve_refuses(dir.path(), bitgo_without_sol);
    assert!(err.contains("access_token"), "{err}");
    // Given in the environment, it is read (the next check is reached) and never printed. A
    // route to a provider that cannot serve the asset: BitGo without a Solana wallet.
    let err = serve_refuses_with_env(
        dir.path(),
        bitgo_without_sol,
        &[("CUSTODY_LIVE__BITGO__ACCESS_TOKEN", "v2x-never-printed")],
    );
    assert!(err.contains("USDC_SOLANA") && err.contains("tsol"), "{err}");
    assert!(
        !err.contains("v2x-never-printed"),
        "the token is never printed"
    );
    // Rhino cannot carry XAUT.
    let err = serve_refuses(
        dir.path(),
        "[live.routes]\nXAUT_ETHEREUM = \"rhino\"\n[live.rhino]\napi_key = \"SECRET_never-printed\"\n\
         [live.rhino.destination]\nchain = \"ETHEREUM\"\naddress = \"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed\"\n",
    );
    assert!(
        err.contains("XAUT_ETHEREUM") && err.contains("rhino"),
        "{err}"
    );
    assert!(!err.contains("never-printed"), "the key is never printed");
    // An unknown asset or provider name is a configuration error naming it.
    let err = serve_refuses(dir.path(), "[live.routes]\nDOGE_ETHEREUM = \"bitgo\"\n");
    assert!(err.contains("DOGE"), "{err}");
    let err = serve_refuses(dir.path(), "[live.routes]\nUSDC_SOLANA = \"fireblocks\"\n");
    assert!(err.contains("fireblocks"), "{err}");
}

#[test]
fn admin_cooling_off_and_the_reconciliation_lists() {
    let dir = tempfile::tempdir().expect("tmp");
    let tenant = admin(dir.path(), &["tenant", "create", "--name", "Acme Pay"]);
    let id = tenant["id"].as_str().expect("id").to_owned();

    let set = admin(
        dir.path(),
        &["tenant", "set", &id, "--address-book-cooling-off", "24h"],
    );
    assert_eq!(set["id"], id.as_str());
    assert_eq!(set["addressBookCoolingOffSecs"], 86_400);
    let cleared = admin(
        dir.path(),
        &["tenant", "set", &id, "--address-book-cooling-off", "none"],
    );
    assert_eq!(cleared["addressBookCoolingOffSecs"], Value::Null);
    let refused = admin_fails(
        dir.path(),
        &["tenant", "set", &id, "--address-book-cooling-off", "soon"],
    );
    assert!(refused.contains("not a duration"), "{refused}");

    let stuck = admin(dir.path(), &["withdrawals", "stuck"]);
    assert_eq!(stuck["items"], serde_json::json!([]));
    assert_eq!(stuck["olderThanSecs"], 3_600);
    let stuck = admin(
        dir.path(),
        &[
            "withdrawals",
            "stuck",
            "--env",
            "live",
            "--older-than",
            "30m",
        ],
    );
    assert_eq!(stuck["olderThanSecs"], 1_800);
    let unattributed = admin(
        dir.path(),
        &["deposits", "unattributed", "--env", "sandbox"],
    );
    assert_eq!(unattributed["items"], serde_json::json!([]));
    let every = admin(
        dir.path(),
        &["deposits", "unattributed", "--env", "sandbox", "--all"],
    );
    assert_eq!(every["items"], serde_json::json!([]));
}

/// Issue 14: `deposits assign|return` refuse what they cannot act on, on stderr, exit 1.
#[test]
fn admin_deposits_assign_and_return_refuse_what_they_cannot_resolve() {
    let dir = tempfile::tempdir().expect("tmp");
    let err = admin_fails(
        dir.path(),
        &[
            "deposits",
            "return",
            "5b612d25c9067f2a1db11a15f165989e",
            "--evidence",
            "ticket 9",
            "--operator",
            "bob",
            "--env",
            "sandbox",
        ],
    );
    assert!(err.contains("no suspense record"), "{err}");
    let err = admin_fails(
        dir.path(),
        &[
            "deposits",
            "assign",
            "5b612d25c9067f2a1db11a15f165989e",
            "--wallet",
            "not-a-wallet",
            "--evidence",
            "ticket 7",
        ],
    );
    assert!(err.contains("--wallet"), "{err}");
    let err = admin_fails(
        dir.path(),
        &[
            "deposits",
            "return",
            "5b612d25c9067f2a1db11a15f165989e",
            "--evidence",
            " ",
            "--operator",
            "bob",
        ],
    );
    assert!(err.contains("evidence"), "{err}");
}

#[test]
fn admin_withdrawals_resolve_refuses_what_it_cannot_resolve() {
    let dir = tempfile::tempdir().expect("tmp");
    // A transaction the store does not have.
    let err = admin_fails(
        dir.path(),
        &[
            "withdrawals",
            "resolve",
            "tx_01J9Z3K5V6W7X8Y9Z0A1B2C3D4",
            "--as",
            "failed",
            "--evidence",
            "never broadcast",
            "--operator",
            "alice",
        ],
    );
    assert!(err.to_lowercase().contains("not found"), "{err}");
    let err = admin_fails(
        dir.path(),
        &[
            "withdrawals",
            "resolve",
            "tx_01J9Z3K5V6W7X8Y9Z0A1B2C3D4",
            "--as",
            "sent",
            "--evidence",
            "x",
        ],
    );
    assert!(err.contains("`completed` or `failed`"), "{err}");
    // With nothing routed live, reconciliation has nothing to ask and applies nothing.
    let out = admin(dir.path(), &["deposits", "reconcile", "--since", "1h"]);
    assert_eq!(out["applied"], serde_json::json!([]));
    assert_eq!(out["env"], "live");
}

// ---------------------------------------------------------------------------------------------
// Issue 16 (auth findings 4, 5, 6, 9)
// ---------------------------------------------------------------------------------------------

fn admin_with_env(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> std::process::Output {
    let mut cmd = custody(dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.arg("admin").args(args).output().expect("run admin")
}

#[cfg(unix)]
fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// Finding 4: with a `sqlite:` URL the generated master key lives beside the database, so
/// `custody admin` run from another directory uses the same key (an HMAC key minted from one
/// directory is listed and rotated from another, no `./data/master.key` appears there), and a
/// wrong master key is refused before anything is read or minted, naming the fix.
#[test]
fn the_master_key_lives_beside_its_database_and_a_wrong_one_is_refused() {
    let home = tempfile::tempdir().expect("tmp");
    let (here, there) = (home.path().join("here"), home.path().join("there"));
    std::fs::create_dir_all(&here).expect("here");
    std::fs::create_dir_all(&there).expect("there");
    let db = home.path().join("store/custody.db");
    let url = format!("sqlite://{}", db.display());
    let env = [("DATABASE_URL", url.as_str())];
    let run = |cwd: &Path, args: &[&str]| {
        let out = admin_with_env(cwd, &env, args);
        assert!(
            out.status.success(),
            "custody admin {args:?} in {}: {}",
            cwd.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).expect("JSON")
    };
    let tenant = run(&here, &["tenant", "create", "--name", "Beside"]);
    let tenant = tenant["id"].as_str().expect("id").to_owned();
    let minted = run(
        &here,
        &[
            "key", "mint", "--tenant", &tenant, "--env", "sandbox", "--mode", "hmac",
        ],
    );
    let key_id = minted["id"].as_str().expect("key id").to_owned();
    assert!(home.path().join("store/master.key").exists());
    assert!(
        !here.join("data").exists(),
        "no key in the working directory"
    );
    // From elsewhere: the same key opens the sealed secret (rotation reads and re-seals).
    let rotated = run(&there, &["key", "rotate", &key_id]);
    assert!(rotated["secret"].is_string(), "{rotated}");
    assert!(!there.join("data").exists(), "no key generated elsewhere");
    #[cfg(unix)]
    {
        assert_eq!(mode_of(&home.path().join("store/master.key")), 0o600);
        assert_eq!(mode_of(&home.path().join("store")), 0o700);
        assert_eq!(mode_of(&db), 0o600);
    }

    // A wrong key: refused for admin commands, minting included, and for serve.
    let wrong = "11".repeat(32);
    let env_wrong = [
        ("DATABASE_URL", url.as_str()),
        ("CUSTODY_SECURITY__MASTER_KEY", wrong.as_str()),
    ];
    for args in [
        vec!["tenant", "list"],
        vec![
            "key", "mint", "--tenant", &tenant, "--env", "sandbox", "--mode", "hmac",
        ],
    ] {
        let out = admin_with_env(&there, &env_wrong, &args);
        assert!(!out.status.success(), "{args:?} must be refused");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("the master key does not match this database"),
            "{stderr}"
        );
        assert!(stderr.contains("master.key"), "names the fix: {stderr}");
    }
    let mut cmd = custody(&there);
    cmd.env("DATABASE_URL", &url)
        .env("CUSTODY_SECURITY__MASTER_KEY", &wrong)
        .args(["serve", "--listen", "127.0.0.1:0"]);
    let out = cmd.output().expect("serve");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not match this database"));
    // Still fine with the right key.
    let tenants = run(&there, &["tenant", "list"]);
    assert_eq!(
        tenants["items"].as_array().map(Vec::len),
        Some(1),
        "{tenants}"
    );
}

/// Finding 6: the data directory is created 0700, the database, its -wal and -shm files and
/// the master key 0600.
#[cfg(unix)]
#[test]
fn data_files_are_private() {
    let dir = tempfile::tempdir().expect("tmp");
    let server = serve(dir.path());
    let data = dir.path().join("data");
    assert_eq!(mode_of(&data), 0o700);
    for file in [
        "custody.db",
        "custody.db-wal",
        "custody.db-shm",
        "master.key",
    ] {
        assert_eq!(mode_of(&data.join(file)), 0o600, "{file}");
    }
    drop(server);
}

/// Finding 9 and 5 at the CLI: a bearer key with a money-moving scope is refused with the
/// reason; an Ed25519 public key registered in the sandbox is refused for live.
#[test]
fn key_mint_refuses_bearer_money_scopes_and_reused_public_keys() {
    let dir = tempfile::tempdir().expect("tmp");
    let tenant = admin(dir.path(), &["tenant", "create", "--name", "Rules"]);
    let tenant = tenant["id"].as_str().expect("id").to_owned();
    let stderr = admin_fails(
        dir.path(),
        &[
            "key",
            "mint",
            "--tenant",
            &tenant,
            "--env",
            "sandbox",
            "--mode",
            "bearer",
            "--scope",
            "withdrawals:write",
        ],
    );
    assert!(stderr.contains("withdrawals:write"), "{stderr}");
    assert!(stderr.contains("signed"), "{stderr}");
    let bearer = admin(
        dir.path(),
        &[
            "key", "mint", "--tenant", &tenant, "--env", "sandbox", "--mode", "bearer",
        ],
    );
    let scopes = bearer["scopes"].to_string();
    assert!(
        scopes.contains("vaults:write") && !scopes.contains("transfers:write"),
        "{scopes}"
    );

    let pem = dir.path().join("public.pem");
    std::fs::write(
        &pem,
        "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n-----END PUBLIC KEY-----\n",
    )
    .expect("pem");
    let pem = pem.to_str().expect("utf-8 path");
    admin(
        dir.path(),
        &[
            "key",
            "mint",
            "--tenant",
            &tenant,
            "--env",
            "sandbox",
            "--mode",
            "ed25519",
            "--public-key-file",
            pem,
        ],
    );
    admin(dir.path(), &["tenant", "approve", &tenant]);
    let stderr = admin_fails(
        dir.path(),
        &[
            "key",
            "mint",
            "--tenant",
            &tenant,
            "--env",
            "live",
            "--mode",
            "ed25519",
            "--public-key-file",
            pem,
        ],
    );
    assert!(stderr.contains("another environment"), "{stderr}");
}

/// Issue 18: `custody admin totals rebuild` prints, per environment, how many totals it checked
/// and those it changed (none on a fresh store); a malformed `--tenant` is refused.
#[test]
fn admin_totals_rebuild_prints_what_it_changed() {
    let dir = tempfile::tempdir().expect("tmp");
    let tenant = admin(dir.path(), &["tenant", "create", "--name", "Acme Pay"]);
    let id = tenant["id"].as_str().expect("id").to_owned();
    let every = admin(dir.path(), &["totals", "rebuild"]);
    assert_eq!(every["tenant"], Value::Null);
    assert_eq!(
        every["environments"],
        serde_json::json!([
            {"environment": "live", "checked": 0, "changed": []},
            {"environment": "sandbox", "checked": 0, "changed": []},
        ])
    );
    let one = admin(
        dir.path(),
        &[
            "totals",
            "rebuild",
            "--tenant",
            &id,
            "--environment",
            "sandbox",
        ],
    );
    assert_eq!(one["tenant"], id.as_str());
    assert_eq!(one["environments"].as_array().map(Vec::len), Some(1));
    let refused = admin_fails(dir.path(), &["totals", "rebuild", "--tenant", "nope"]);
    assert!(refused.contains("--tenant"), "{refused}");
}
