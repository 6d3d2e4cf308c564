//! Rate limits per API key and per tenant (ARCHITECTURE §7, issue 16), with `governor`'s
//! keyed GCRA limiters rather than a hand-written counter.
//!
//! Authentication ([`crate::auth::authenticate`]) calls [`admit`] once it knows the key: the
//! key's own budget is checked first, then its tenant's (all keys of the tenant in that
//! environment together). A refusal is 429 `rate_limited` with `Retry-After`; every
//! authenticated response, refused or not, carries
//!
//! - `X-RateLimit-Limit`: the key's requests per second (also its burst);
//! - `X-RateLimit-Remaining`: requests still allowed right now (the smaller of the key's and
//!   the tenant's);
//! - `X-RateLimit-Reset`: seconds until the key's budget is full again.
//!
//! Limits are per instance (process memory): several instances behind a load balancer allow
//! up to that many times the configured rate. Sharing the counters through PostgreSQL would
//! put a write on every request's path; size the limits per instance instead
//! (docs/operations.md). Memory is bounded: keys idle long enough to have a full budget again
//! are evicted every [`EVICT_EVERY`] checks.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use actix_web::dev::ServiceResponse;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::web::Data;
use actix_web::{HttpMessage, HttpRequest};
use custody_core::caller::Caller;
use custody_core::environment::Environment;
use custody_core::id::{ApiKeyId, TenantId};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::{StateInformationMiddleware, StateSnapshot};
use governor::state::keyed::DashMapStateStore;
use governor::{NotUntil, Quota, RateLimiter};

use crate::error::{ApiError, ErrorType};
use crate::limits::RateLimitSettings;

/// `X-RateLimit-Limit`.
pub const X_RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
/// `X-RateLimit-Remaining`.
pub const X_RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
/// `X-RateLimit-Reset`.
pub const X_RATELIMIT_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

/// Idle keys are evicted once per this many checks.
pub const EVICT_EVERY: u64 = 1_024;

type Keyed<K, C> = RateLimiter<K, DashMapStateStore<K>, C, StateInformationMiddleware>;

/// One environment's two limiters.
struct Pair<C: Clock> {
    per_key: Keyed<ApiKeyId, C>,
    per_tenant: Keyed<TenantId, C>,
    key_quota: Quota,
}

/// The limiters of both environments.
pub struct RateLimits<C: Clock = DefaultClock> {
    live: Pair<C>,
    sandbox: Pair<C>,
    checks: AtomicU64,
}

/// The state of the key's budget, for the response headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the key's budget is full again.
    pub reset_secs: u64,
}

/// A refused request: its budget (remaining 0) and when to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub budget: Budget,
    /// Which budget refused: `key` or `tenant`.
    pub scope: &'static str,
    /// Whole seconds, at least 1.
    pub retry_after_secs: u32,
}

fn quota(per_second: u32) -> Quota {
    Quota::per_second(NonZeroU32::new(per_second.max(1)).unwrap_or(NonZeroU32::MIN))
}

impl RateLimits<DefaultClock> {
    /// Limiters for these settings, on the real clock.
    pub fn new(settings: &RateLimitSettings) -> Self {
        RateLimits::with_clock(settings, &DefaultClock::default())
    }
}

impl<C: Clock + Clone> RateLimits<C> {
    /// Limiters on `clock` (tests use a fake one).
    pub fn with_clock(settings: &RateLimitSettings, clock: &C) -> Self {
        let pair = |env: Environment| {
            let key_quota = quota(settings.per_key(env));
            Pair {
                per_key: RateLimiter::dashmap_with_clock(key_quota, clock.clone())
                    .with_middleware::<StateInformationMiddleware>(),
                per_tenant: RateLimiter::dashmap_with_clock(
                    quota(settings.per_tenant(env)),
                    clock.clone(),
                )
                .with_middleware::<StateInformationMiddleware>(),
                key_quota,
            }
        };
        RateLimits {
            live: pair(Environment::Live),
            sandbox: pair(Environment::Sandbox),
            checks: AtomicU64::new(0),
        }
    }

    fn pair(&self, environment: Environment) -> &Pair<C> {
        match environment {
            Environment::Live => &self.live,
            Environment::Sandbox => &self.sandbox,
        }
    }

    /// Counts one request of `caller` against its key and its tenant.
    ///
    /// # Errors
    /// [`Refusal`] when either budget is spent (the tenant's is not charged when the key's
    /// refuses).
    pub fn check(&self, caller: &Caller) -> Result<Budget, Refusal> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % EVICT_EVERY == EVICT_EVERY - 1 {
            self.evict_idle();
        }
        let pair = self.pair(caller.environment);
        let limit = pair.key_quota.burst_size().get();
        let clock = pair.per_key.clock();
        let key = pair
            .per_key
            .check_key(&caller.key_id)
            .map_err(|not_until| refusal("key", limit, &pair.key_quota, &not_until, clock))?;
        let tenant = pair
            .per_tenant
            .check_key(&caller.tenant_id)
            .map_err(|not_until| refusal("tenant", limit, &pair.key_quota, &not_until, clock))?;
        let remaining = key
            .remaining_burst_capacity()
            .min(tenant.remaining_burst_capacity());
        Ok(Budget {
            limit,
            remaining,
            reset_secs: reset_secs(&key),
        })
    }

    /// Drops the state of keys and tenants whose budget is full again (they are as good as
    /// new), and gives the memory back.
    pub fn evict_idle(&self) {
        for pair in [&self.live, &self.sandbox] {
            pair.per_key.retain_recent();
            pair.per_key.shrink_to_fit();
            pair.per_tenant.retain_recent();
            pair.per_tenant.shrink_to_fit();
        }
    }

    /// Keys and tenants currently tracked (both environments).
    pub fn tracked(&self) -> usize {
        [&self.live, &self.sandbox]
            .iter()
            .map(|p| p.per_key.len() + p.per_tenant.len())
            .sum()
    }
}

/// Seconds (rounded up) until the bucket is full: one replenish interval per spent cell.
fn reset_secs(snapshot: &StateSnapshot) -> u64 {
    let quota = snapshot.quota();
    let spent = quota
        .burst_size()
        .get()
        .saturating_sub(snapshot.remaining_burst_capacity());
    ceil_secs(quota.replenish_interval() * spent)
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

fn refusal<C: Clock>(
    scope: &'static str,
    limit: u32,
    key_quota: &Quota,
    not_until: &NotUntil<C::Instant>,
    clock: &C,
) -> Refusal {
    let wait = not_until.wait_time_from(clock.now());
    let retry_after_secs = u32::try_from(ceil_secs(wait).max(1)).unwrap_or(u32::MAX);
    Refusal {
        budget: Budget {
            limit,
            remaining: 0,
            reset_secs: ceil_secs(key_quota.burst_size_replenished_in()).max(1),
        },
        retry_after_secs,
        scope,
    }
}

/// Counts the authenticated request and records its budget for the response headers.
///
/// # Errors
/// 429 `rate_limited` with `Retry-After`.
pub fn admit(req: &HttpRequest, caller: &Caller) -> Result<(), ApiError> {
    let Some(limits) = req.app_data::<Data<RateLimits>>() else {
        return Ok(());
    };
    match limits.check(caller) {
        Ok(budget) => {
            req.extensions_mut().insert(budget);
            Ok(())
        }
        Err(refusal) => {
            req.extensions_mut().insert(refusal.budget);
            crate::metrics::record_rate_limited(refusal.scope);
            tracing::info!(
                key = %caller.key_id,
                tenant = %caller.tenant_id,
                "rate limited"
            );
            Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                ErrorType::RateLimit,
                "rate_limited",
                format!(
                    "too many requests: this key may send {} per second; retry after {} s",
                    refusal.budget.limit, refusal.retry_after_secs
                ),
            )
            .with_retry_after(refusal.retry_after_secs))
        }
    }
}

/// Adds the `X-RateLimit-*` headers to an authenticated request's response.
pub fn add_headers<B>(response: &mut ServiceResponse<B>) {
    let budget = response.request().extensions().get::<Budget>().copied();
    if let Some(budget) = budget {
        let headers = response.headers_mut();
        headers.insert(X_RATELIMIT_LIMIT, HeaderValue::from(budget.limit));
        headers.insert(X_RATELIMIT_REMAINING, HeaderValue::from(budget.remaining));
        headers.insert(X_RATELIMIT_RESET, HeaderValue::from(budget.reset_secs));
    }
}

#[cfg(test)]
mod tests {
    use custody_core::api_key::ScopeSet;
    use governor::clock::FakeRelativeClock;

    use crate::system::fresh_ulid;

    use super::*;

    fn caller(environment: Environment, tenant: TenantId) -> Caller {
        Caller {
            tenant_id: tenant,
            environment,
            key_id: ApiKeyId::from_ulid(fresh_ulid()),
            scopes: ScopeSet::all(),
        }
    }

    fn settings() -> RateLimitSettings {
        RateLimitSettings {
            enabled: true,
            live_per_key: 4,
            live_per_tenant: 6,
            sandbox_per_key: 2,
            sandbox_per_tenant: 3,
        }
    }

    #[test]
    fn a_key_gets_its_burst_then_waits_for_the_next_cell() {
        let clock = FakeRelativeClock::default();
        let limits = RateLimits::with_clock(&settings(), &clock);
        let key = caller(Environment::Live, TenantId::from_ulid(fresh_ulid()));
        let remaining: Vec<u32> = (0..4)
            .map(|_| limits.check(&key).unwrap().remaining)
            .collect();
        assert_eq!(remaining, vec![3, 2, 1, 0]);
        let refused = limits.check(&key).unwrap_err();
        assert_eq!(refused.budget.limit, 4);
        assert_eq!(refused.budget.remaining, 0);
        assert_eq!(refused.retry_after_secs, 1);
        // A quarter of a second later one more request fits.
        clock.advance(Duration::from_millis(250));
        assert_eq!(limits.check(&key).unwrap().remaining, 0);
        assert!(limits.check(&key).is_err());
    }

    #[test]
    fn the_sandbox_limit_is_its_own_and_the_tenant_ceiling_binds_all_its_keys() {
        let clock = FakeRelativeClock::default();
        let limits = RateLimits::with_clock(&settings(), &clock);
        let tenant = TenantId::from_ulid(fresh_ulid());
        let (a, b) = (
            caller(Environment::Sandbox, tenant),
            caller(Environment::Sandbox, tenant),
        );
        assert_eq!(limits.check(&a).unwrap().limit, 2);
        assert!(limits.check(&a).is_ok());
        assert_eq!(
            limits.check(&a).unwrap_err().scope,
            "key",
            "key budget of 2"
        );
        // The tenant has 3 in all: b gets one, then the ceiling refuses it.
        assert!(limits.check(&b).is_ok());
        assert_eq!(
            limits.check(&b).unwrap_err().scope,
            "tenant",
            "tenant ceiling of 3"
        );
        // Another tenant, and the tenant's live keys, are untouched.
        assert!(limits
            .check(&caller(
                Environment::Sandbox,
                TenantId::from_ulid(fresh_ulid())
            ))
            .is_ok());
        assert!(limits.check(&caller(Environment::Live, tenant)).is_ok());
    }

    #[test]
    fn idle_keys_are_evicted() {
        let clock = FakeRelativeClock::default();
        let limits = RateLimits::with_clock(&settings(), &clock);
        for _ in 0..100 {
            let key = caller(Environment::Live, TenantId::from_ulid(fresh_ulid()));
            limits.check(&key).unwrap();
        }
        assert_eq!(limits.tracked(), 200);
        clock.advance(Duration::from_secs(2));
        limits.evict_idle();
        assert_eq!(limits.tracked(), 0);
    }

    #[test]
    fn reset_counts_the_spent_cells() {
        let clock = FakeRelativeClock::default();
        let slow = RateLimitSettings {
            live_per_key: 1,
            ..settings()
        };
        let limits = RateLimits::with_clock(&slow, &clock);
        let key = caller(Environment::Live, TenantId::from_ulid(fresh_ulid()));
        let budget = limits.check(&key).unwrap();
        assert_eq!((budget.remaining, budget.reset_secs), (0, 1));
    }
}
