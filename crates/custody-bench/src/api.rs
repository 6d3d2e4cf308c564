//! Requests as a partner sends them: Connect with a bearer key, Platform signed with HMAC
//! (docs/platform.md: `hex(HMAC-SHA256(secret, "{ts}\n{METHOD}\n{path}\n{hex(sha256(body))}"))`).
//! Every signed request of the benchmark carries a unique body (its reference), so each
//! signature is unique: the server's replay cache refuses a repeated one.

use std::time::Duration;

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
        let ts = crate::wall_clock::now().unix_timestamp().to_string();
        let signed = signature(
            &self.platform_secret,
            &ts,
            method.as_str(),
            path,
            body.as_deref().unwrap_or(""),
        )?;
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("X-API-Key", &self.platform_key)
            .header("X-Timestamp", ts)
            .header("X-Signature", signed);
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

/// `hex(HMAC-SHA256(secret, "{ts}\n{METHOD}\n{path}\n{hex(sha256(body))}"))`.
fn signature(
    secret: &str,
    ts: &str,
    method: &str,
    path: &str,
    body: &str,
) -> Result<String, String> {
    let canonical = format!(
        "{ts}\n{method}\n{path}\n{}",
        hex::encode(Sha256::digest(body.as_bytes()))
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).map_err(|e| e.to_string())?;
    mac.update(canonical.as_bytes());
    Ok(hex::encode(mac.finalize().into_bytes()))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/platform.md's worked example: the canonical string and its HMAC.
    #[test]
    fn signs_as_the_platform_docs_say() {
        assert_eq!(
            signature(
                "hmac_test_secret",
                "1700000000",
                "POST",
                "/v1/vaults",
                r#"{"externalId":"cust-42","name":"Alice"}"#
            )
            .as_deref(),
            Ok("db9745f68f3ce88a780bd9328decf31f8dbc461960fe027b83cdcd7f7bbc3792")
        );
    }
}
