//! Outbound webhooks: the tenant's endpoint, its signing secrets, the URL policy that keeps
//! deliveries out of private networks, the signatures and the retry schedule. All pure: the
//! use cases are in `services/webhook.rs` (management) and `services/webhook_delivery.rs`
//! (the worker); the HTTP client is a port (`ports::WebhookTransport`).
//!
//! - **One endpoint per tenant and environment** (ARCHITECTURE §9). Its secret,
//!   `whsec_<base64 of 32 random bytes>`, is shown once, when generated.
//! - **Signatures.** `X-Webhook-Signature`: lowercase hex HMAC-SHA256 over the raw body, keyed
//!   with the secret *string*'s UTF-8 bytes ([`crate::signing::webhook_signature`]); and the
//!   Standard Webhooks `webhook-signature: v1,<base64>` over `{id}.{timestamp}.{body}`, keyed
//!   with the base64-*decoded* secret. During a rotation both headers carry one signature per
//!   live secret, space-separated, the newest first.
//! - **URL policy.** Live endpoints are `https` and never reach loopback, private, link-local,
//!   CGNAT, unspecified, multicast, reserved or metadata addresses; sandbox endpoints may also
//!   be `http` on a loopback host (a partner's local receiver). Checked when configured and
//!   again at every delivery, on the addresses the name resolves to then, and the request
//!   connects to the address that was checked.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::Serialize;
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use crate::environment::Environment;
use crate::event::{EventType, Resource};
use crate::id::{EventId, TenantId, WebhookEndpointId};

/// The prefix of a signing secret.
pub const SECRET_PREFIX: &str = "whsec_";

/// How long the secret replaced by a rotation keeps signing.
pub const ROTATION_OVERLAP: Duration = Duration::hours(24);

/// Only a 2xx within this time counts as delivered.
pub const DELIVERY_TIMEOUT: Duration = Duration::seconds(15);

/// The longest URL accepted.
pub const MAX_URL_LEN: usize = 2048;

/// The waits after each failed attempt: attempt 1 is immediate, then 5 s, 5 min, 30 min, 2 h,
/// 5 h, 10 h, 14 h, 20 h and 24 h (the Standard Webhooks example schedule, about 75.6 h, plus
/// up to [`JITTER_PERCENT`] each). After the tenth failed attempt the event is `failed`.
pub const RETRY_SCHEDULE: [Duration; 9] = [
    Duration::seconds(5),
    Duration::minutes(5),
    Duration::minutes(30),
    Duration::hours(2),
    Duration::hours(5),
    Duration::hours(10),
    Duration::hours(14),
    Duration::hours(20),
    Duration::hours(24),
];

/// Attempts an event gets: the first plus one per [`RETRY_SCHEDULE`] step.
pub const MAX_ATTEMPTS: u32 = 10;

/// Each wait is lengthened by up to this percentage, drawn per event and attempt, so events
/// that failed together do not all come back in the same second.
pub const JITTER_PERCENT: u64 = 20;

/// The longest `Retry-After` honoured (a longer one is capped to this).
pub const MAX_RETRY_AFTER: Duration = Duration::hours(24);

/// An endpoint whose every attempt has failed for this long (no 2xx since) is disabled at its
/// next failed attempt. An event's schedule spans about 75.6 h, so an endpoint that stays down
/// reaches it while its first undelivered event is still being retried.
pub const DISABLE_AFTER_FAILING: Duration = Duration::hours(72);

/// Whether the endpoint receives deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndpointStatus {
    /// Deliveries are sent.
    Enabled,
    /// Deliveries stop until the endpoint is configured again (`PUT`).
    Disabled,
}

impl EndpointStatus {
    /// The lowercase name, as stored and on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            EndpointStatus::Enabled => "enabled",
            EndpointStatus::Disabled => "disabled",
        }
    }

    /// Parses [`EndpointStatus::as_str`] output.
    pub fn parse(input: &str) -> Option<EndpointStatus> {
        [EndpointStatus::Enabled, EndpointStatus::Disabled]
            .into_iter()
            .find(|s| s.as_str() == input)
    }
}

/// Why an endpoint was disabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisabledReason {
    /// The receiver answered `410 Gone`.
    Gone,
    /// Every attempt failed for [`DISABLE_AFTER_FAILING`].
    RepeatedFailure,
}

impl DisabledReason {
    /// The stable name, as stored and shown in `disabledReason`.
    pub const fn as_str(self) -> &'static str {
        match self {
            DisabledReason::Gone => "endpoint_gone",
            DisabledReason::RepeatedFailure => "repeated_failure",
        }
    }
}

/// A tenant's endpoint in one environment, as stored. Secrets are sealed (`custody-sql`
/// seals them under the master key, bound to the endpoint id); they are opened only to sign.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEndpoint {
    pub id: WebhookEndpointId,
    pub tenant_id: TenantId,
    pub url: WebhookUrl,
    /// `None`: every event type.
    pub subscribed: Option<BTreeSet<EventType>>,
    pub secret_sealed: Vec<u8>,
    /// The secret before the last rotation, and until when it still signs.
    pub previous_secret: Option<(Vec<u8>, OffsetDateTime)>,
    pub status: EndpointStatus,
    /// Set exactly when disabled: a stable reason name ([`DisabledReason::as_str`]).
    pub disabled_reason: Option<String>,
    pub disabled_at: Option<OffsetDateTime>,
    /// The first failed attempt since the last 2xx.
    pub failing_since: Option<OffsetDateTime>,
    pub version: u64,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl WebhookEndpoint {
    /// Whether events of `event_type` are delivered here.
    pub fn subscribes_to(&self, event_type: EventType) -> bool {
        // The test event goes wherever it is asked to go.
        event_type == EventType::WebhookTest
            || self
                .subscribed
                .as_ref()
                .is_none_or(|types| types.contains(&event_type))
    }

    /// The previous secret, if it still signs at `now`.
    pub fn previous_secret_at(&self, now: OffsetDateTime) -> Option<&[u8]> {
        self.previous_secret
            .as_ref()
            .filter(|(_, until)| *until > now)
            .map(|(sealed, _)| sealed.as_slice())
    }

    /// What events about the endpoint carry (no secret).
    pub fn snapshot(&self) -> EndpointSnapshot {
        EndpointSnapshot {
            id: self.id,
            url: self.url.as_str().to_owned(),
            subscribed_event_types: subscribed_names(self.subscribed.as_ref()),
            is_configured: true,
            status: self.status.as_str(),
            disabled_reason: self.disabled_reason.clone(),
            disabled_at: self.disabled_at,
            version: self.version,
        }
    }
}

/// The wire names of a subscription (`None`: every deliverable type).
pub fn subscribed_names(subscribed: Option<&BTreeSet<EventType>>) -> Vec<&'static str> {
    match subscribed {
        Some(types) => types.iter().map(|t| t.as_str()).collect(),
        None => EventType::ALL
            .into_iter()
            .filter(|t| *t != EventType::WebhookTest)
            .map(EventType::as_str)
            .collect(),
    }
}

/// The endpoint as events about it carry it: the `GET /v1/webhooks/outbound` shape without
/// timestamps of secrets.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointSnapshot {
    #[serde(skip)]
    pub id: WebhookEndpointId,
    pub url: String,
    pub subscribed_event_types: Vec<&'static str>,
    pub is_configured: bool,
    pub status: &'static str,
    pub disabled_reason: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub disabled_at: Option<OffsetDateTime>,
    #[serde(skip)]
    pub version: u64,
}

impl Resource for EndpointSnapshot {
    const RESOURCE_TYPE: &'static str = "webhook_endpoint";
    fn resource_id(&self) -> String {
        self.id.to_string()
    }
    fn version(&self) -> u64 {
        self.version
    }
}

/// A signing secret: `whsec_` + standard base64 of its key bytes. Its `Debug` is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningSecret(String);

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSecret([REDACTED])")
    }
}

impl SigningSecret {
    /// A secret from 32 random bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> SigningSecret {
        SigningSecret(format!(
            "{SECRET_PREFIX}{}",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        ))
    }

    /// Parses `whsec_<base64>` (what was stored, or a documentation vector).
    pub fn parse(input: &str) -> Option<SigningSecret> {
        let b64 = input.strip_prefix(SECRET_PREFIX)?;
        let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
        (!bytes.is_empty()).then(|| SigningSecret(input.to_owned()))
    }

    /// The secret string partners are shown (`whsec_…`).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The decoded key bytes (the Standard Webhooks key).
    fn key(&self) -> Vec<u8> {
        let b64 = self.0.strip_prefix(SECRET_PREFIX).unwrap_or(&self.0);
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap_or_default()
    }

    /// `X-Webhook-Signature`: lowercase hex HMAC-SHA256 of the raw body, keyed with this
    /// string's UTF-8 bytes.
    pub fn body_signature(&self, body: &[u8]) -> String {
        crate::signing::webhook_signature(&self.0, body)
    }

    /// One `webhook-signature` entry: `v1,` + base64 HMAC-SHA256 of `{id}.{timestamp}.{body}`,
    /// keyed with the decoded secret.
    pub fn standard_signature(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        #[allow(
            clippy::expect_used,
            reason = "unreachable: HMAC takes keys of any length"
        )]
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key()).expect("HMAC accepts keys of any length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!(
            "v1,{}",
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
        )
    }
}

/// The headers of one delivery attempt, signed with every live secret (newest first).
pub(crate) fn signed_headers(
    secrets: &[SigningSecret],
    event_id: EventId,
    timestamp: i64,
    body: &[u8],
) -> Vec<(String, String)> {
    let id = event_id.to_string();
    let join =
        |f: &dyn Fn(&SigningSecret) -> String| secrets.iter().map(f).collect::<Vec<_>>().join(" ");
    vec![
        ("content-type".into(), "application/json".into()),
        ("user-agent".into(), "custody-webhooks/1".into()),
        ("webhook-id".into(), id.clone()),
        ("webhook-timestamp".into(), timestamp.to_string()),
        (
            "webhook-signature".into(),
            join(&|s| s.standard_signature(&id, timestamp, body)),
        ),
        ("x-webhook-id".into(), id),
        ("x-webhook-timestamp".into(), timestamp.to_string()),
        (
            "x-webhook-signature".into(),
            join(&|s| s.body_signature(body)),
        ),
    ]
}

/// Why a URL or an address is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct UrlRefusal {
    /// `invalid_webhook_url` (not a usable URL) or `webhook_url_forbidden` (a target the
    /// policy refuses).
    pub code: &'static str,
    /// What is wrong, for a human.
    pub message: String,
}

impl UrlRefusal {
    fn invalid(message: impl Into<String>) -> UrlRefusal {
        UrlRefusal {
            code: "invalid_webhook_url",
            message: message.into(),
        }
    }

    fn forbidden(message: impl Into<String>) -> UrlRefusal {
        UrlRefusal {
            code: "webhook_url_forbidden",
            message: message.into(),
        }
    }
}

/// A webhook URL that passed the syntactic part of the policy for its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl {
    url: url::Url,
}

/// Where a request goes: the host to resolve (or the literal address) and the port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// A name to resolve; every address it resolves to must pass [`check_address`].
    Name(String, u16),
    /// A literal address.
    Ip(IpAddr, u16),
}

impl WebhookUrl {
    /// Parses and checks a URL for `env`: absolute `https` (sandbox: also `http` to a loopback
    /// host), no credentials, no fragment, a host, at most [`MAX_URL_LEN`] characters, and a
    /// literal address must pass the address policy (`check_address`). Names are checked after
    /// resolution.
    ///
    /// # Errors
    /// [`UrlRefusal`].
    pub fn parse(raw: &str, env: Environment) -> Result<WebhookUrl, UrlRefusal> {
        if raw.len() > MAX_URL_LEN {
            return Err(UrlRefusal::invalid(format!(
                "`url` is longer than {MAX_URL_LEN} characters"
            )));
        }
        let url = url::Url::parse(raw)
            .map_err(|e| UrlRefusal::invalid(format!("`url` is not an absolute URL: {e}")))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(UrlRefusal::invalid("`url` must not carry credentials"));
        }
        if url.fragment().is_some() {
            return Err(UrlRefusal::invalid("`url` must not carry a fragment"));
        }
        let parsed = WebhookUrl { url };
        let target = parsed
            .target()
            .ok_or_else(|| UrlRefusal::invalid("`url` must name a host"))?;
        match parsed.url.scheme() {
            "https" => {}
            "http" if env == Environment::Sandbox => {
                if !is_loopback_target(&target) {
                    return Err(UrlRefusal::forbidden(
                        "sandbox `url` may be `http` only on a loopback host (localhost, \
                         127.0.0.1, [::1]); use `https` elsewhere",
                    ));
                }
            }
            "http" => {
                return Err(UrlRefusal::forbidden("live `url` must be `https`"));
            }
            other => {
                return Err(UrlRefusal::invalid(format!(
                    "`url` scheme `{other}` is not supported: use `https`"
                )))
            }
        }
        match &target {
            Target::Ip(ip, _) => check_address(*ip, env)?,
            Target::Name(name, _) if env == Environment::Live && is_localhost_name(name) => {
                return Err(UrlRefusal::forbidden(format!(
                    "`{name}` is a loopback name, refused for live endpoints"
                )))
            }
            Target::Name(..) => {}
        }
        Ok(parsed)
    }

    /// The URL as stored and shown.
    pub fn as_str(&self) -> &str {
        self.url.as_str()
    }

    /// The host and port to connect to.
    pub(crate) fn target(&self) -> Option<Target> {
        let port = self.url.port_or_known_default()?;
        match self.url.host()? {
            url::Host::Domain(d) => Some(Target::Name(d.to_owned(), port)),
            url::Host::Ipv4(ip) => Some(Target::Ip(IpAddr::V4(ip), port)),
            url::Host::Ipv6(ip) => Some(Target::Ip(IpAddr::V6(ip), port)),
        }
    }
}

fn is_localhost_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

fn is_loopback_target(target: &Target) -> bool {
    match target {
        Target::Name(name, _) => is_localhost_name(name),
        Target::Ip(ip, _) => canonical(*ip).is_loopback(),
    }
}

/// An IPv4 address hidden in an IPv6 one (mapped `::ffff:a.b.c.d`, NAT64 `64:ff9b::/96`) is
/// checked as the IPv4 address it reaches.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return IpAddr::V4(v4);
            }
            let s = v6.segments();
            if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
                let o = v6.octets();
                return IpAddr::V4(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
            }
            IpAddr::V6(v6)
        }
        v4 => v4,
    }
}

/// Ranges no webhook may reach, with the name a refusal gives them.
fn forbidden_ranges() -> Vec<(IpNet, &'static str)> {
    let v4 = |a, b, c, d, len, name| {
        (
            IpNet::V4(Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), len)),
            name,
        )
    };
    let v6 = |addr: Ipv6Addr, len, name| (IpNet::V6(Ipv6Net::new_assert(addr, len)), name);
    vec![
        v4(0, 0, 0, 0, 8, "unspecified"),
        v4(127, 0, 0, 0, 8, "loopback"),
        v4(10, 0, 0, 0, 8, "private"),
        v4(172, 16, 0, 0, 12, "private"),
        v4(192, 168, 0, 0, 16, "private"),
        v4(169, 254, 0, 0, 16, "link-local (cloud metadata)"),
        v4(100, 64, 0, 0, 10, "carrier-grade NAT"),
        v4(192, 0, 0, 0, 24, "IETF protocol assignments"),
        v4(192, 0, 2, 0, 24, "documentation"),
        v4(198, 18, 0, 0, 15, "benchmarking"),
        v4(198, 51, 100, 0, 24, "documentation"),
        v4(203, 0, 113, 0, 24, "documentation"),
        v4(224, 0, 0, 0, 4, "multicast"),
        v4(240, 0, 0, 0, 4, "reserved"),
        v6(Ipv6Addr::UNSPECIFIED, 128, "unspecified"),
        v6(Ipv6Addr::LOCALHOST, 128, "loopback"),
        v6(
            Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0),
            7,
            "private (unique local)",
        ),
        v6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10, "link-local"),
        v6(Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0), 10, "site-local"),
        v6(Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8, "multicast"),
        v6(
            Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0),
            32,
            "documentation",
        ),
        v6(
            Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0),
            64,
            "discard-only",
        ),
    ]
}

/// Whether a delivery may connect to `ip` in `env`: refused for loopback, private, link-local
/// (169.254.169.254 and every other metadata address there), CGNAT, unspecified, multicast,
/// documentation and reserved ranges. The sandbox may reach loopback only.
///
/// # Errors
/// [`UrlRefusal`] (`webhook_url_forbidden`) naming the address and its range.
pub(crate) fn check_address(ip: IpAddr, env: Environment) -> Result<(), UrlRefusal> {
    let seen = canonical(ip);
    if env == Environment::Sandbox && seen.is_loopback() {
        return Ok(());
    }
    match forbidden_ranges()
        .into_iter()
        .find(|(net, _)| net.contains(&seen))
    {
        Some((_, name)) => Err(UrlRefusal::forbidden(format!(
            "{ip} is a {name} address; webhook endpoints must be publicly reachable"
        ))),
        None => Ok(()),
    }
}

/// When a failed event is tried next, or `None` when `attempts_made` (this one included)
/// exhausts [`MAX_ATTEMPTS`]. The wait is the schedule's step plus a jitter drawn from the
/// event id and attempt (deterministic, so it is testable), or the receiver's `Retry-After`
/// (capped at [`MAX_RETRY_AFTER`]) when that is longer.
pub fn next_attempt_at(
    event: EventId,
    attempts_made: u32,
    now: OffsetDateTime,
    retry_after: Option<Duration>,
) -> Option<OffsetDateTime> {
    if attempts_made >= MAX_ATTEMPTS {
        return None;
    }
    let step = usize::try_from(attempts_made.max(1) - 1).unwrap_or(usize::MAX);
    let base = RETRY_SCHEDULE.get(step).copied()?;
    let digest = Sha256::new()
        .chain_update(event.to_string().as_bytes())
        .chain_update(attempts_made.to_be_bytes())
        .finalize();
    let draw = u64::from(u16::from_be_bytes([digest[0], digest[1]]));
    // base × draw/65535 × JITTER_PERCENT/100, in milliseconds.
    let base_ms = u64::try_from(base.whole_milliseconds()).unwrap_or(0);
    let jitter_ms = base_ms * JITTER_PERCENT / 100 * draw / u64::from(u16::MAX);
    let wait = base + Duration::milliseconds(i64::try_from(jitter_ms).unwrap_or(0));
    let wait = match retry_after {
        Some(after) => wait.max(after.min(MAX_RETRY_AFTER)),
        None => wait,
    };
    now.checked_add(wait)
}

#[cfg(test)]
mod tests;
