//! Requests as a partner sends them: Connect with a bearer key, Platform signed with HMAC
//! (docs/platform.md: `hex(HMAC-SHA256(secret, "{ts}\n{METHOD}\n{path}\n{hex(sha256(body))}"))`).
//! Every signed request of the benchmark carries a unique body (its reference), so each
//! signature is unique: the server's replay cache refuses a repeated one.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use reqwest::Method;
use sha2::{Digest, Sha256};

/// A client of one `custody serve` (or of the bare actix ceiling).
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
    connect_key: String,
    platform_key: String,
    platform_secret: String,
}

/// An answer: status and body.
pub type Answer = (u16, Vec<u8>);

impl Api {
    pub fn new(
        base: String,
        connect_key: String,
        platform_key: String,
        platform_secret: String,
    ) -> Api {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .pool_max_idle_per_host(256)
            .build()
            .unwrap_or_default();
        Api {
            http,
            base,
            connect_key,
            platform_key,
            platform_secret,
        }
    }

    /// A Connect request (bearer).
    pub async fn connect(
        &self,
        method: Method,
        path: &str,
        body: Option<String>,
        idempotency_key: Option<&str>,
    ) -> Result<Answer, String> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.connect_key);
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/json")
                .body(body);
        }
        send(request).await
    }

    /// A Platform request, HMAC-signed.
    pub async fn platform(
        &self,
        method: Method,
        path: &str,
        body: Option<String>,
        idempotency_key: Option<&str>,
    ) -> Result<Answer, String> {
        let raw = body.as_deref().unwrap_or("");
        let ts = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
            .to_string();
        let canonical = format!(
            "{ts}\n{}\n{path}\n{}",
            method.as_str(),
            hex::encode(Sha256::digest(raw.as_bytes()))
        );
        let mut mac = Hmac::<Sha256>::new_from_slice(self.platform_secret.as_bytes())
            .map_err(|e| e.to_string())?;
        mac.update(canonical.as_bytes());
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("X-API-Key", &self.platform_key)
            .header("X-Timestamp", ts)
            .header("X-Signature", hex::encode(mac.finalize().into_bytes()));
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/json")
                .body(body);
        }
        send(request).await
    }
}

async fn send(request: reqwest::RequestBuilder) -> Result<Answer, String> {
    let response = request.send().await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let body = response.bytes().await.map_err(|e| e.to_string())?;
    Ok((status, body.to_vec()))
}

/// `Ok` when `answer` has status `want`, else a description of what came instead.
pub fn expect(answer: Result<Answer, String>, want: u16) -> Result<Vec<u8>, String> {
    match answer {
        Ok((status, body)) if status == want => Ok(body),
        Ok((status, body)) => Err(format!(
            "status {status} (want {want}): {}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        )),
        Err(e) => Err(format!("no answer: {e}")),
    }
}
