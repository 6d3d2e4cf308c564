//! Tenants: the partner companies that integrate with us.
//!
//! A tenant can use the sandbox as soon as it exists; live custody needs an operator's
//! approval (the "approval gate", checked after the idempotency header is parsed and the key is
//! authenticated, and before any store or provider work). Suspension cuts off both
//! environments: a tenant under review must not even rehearse.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::environment::Environment;
use crate::id::TenantId;
use crate::state::{check, TransitionError};

/// A tenant's settings that services enforce inside their database transaction (read with
/// [`TenantTx::share_tenant_policy`](crate::ports::TenantTx::share_tenant_policy)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TenantPolicy {
    /// Onboarding status (a suspended tenant's withdrawals are not sent).
    pub status: TenantStatus,
    /// How long a new address-book entry stays `Pending`; `None`: usable at once.
    pub address_book_cooling_off: Option<time::Duration>,
}

/// Where a tenant is in onboarding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TenantStatus {
    /// Created, not yet approved: sandbox only.
    Pending,
    /// Approved by an operator: sandbox and live.
    Approved,
    /// Cut off by an operator: nothing works until approved again.
    Suspended,
}

impl TenantStatus {
    /// Every status.
    pub const ALL: [TenantStatus; 3] = [
        TenantStatus::Pending,
        TenantStatus::Approved,
        TenantStatus::Suspended,
    ];

    /// The lowercase name.
    pub const fn as_str(self) -> &'static str {
        match self {
            TenantStatus::Pending => "pending",
            TenantStatus::Approved => "approved",
            TenantStatus::Suspended => "suspended",
        }
    }

    /// The tenant state machine: `pending → approved ⇄ suspended`, and a pending tenant may be
    /// suspended before approval (e.g. failed due diligence). Nothing returns to `pending`.
    ///
    /// # Errors
    /// [`TransitionError`] for any other edge, including a status to itself.
    pub fn transition(self, to: TenantStatus) -> Result<(), TransitionError<TenantStatus>> {
        use TenantStatus::*;
        let allowed = matches!(
            (self, to),
            (Pending, Approved)
                | (Pending, Suspended)
                | (Approved, Suspended)
                | (Suspended, Approved)
        );
        check("tenant", self, to, allowed)
    }
}

impl fmt::Display for TenantStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TenantStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TenantStatus::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| format!("unknown tenant status `{s}`"))
    }
}

/// Why a tenant may not use an environment right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AccessDenied {
    /// Live needs an approved tenant (403 `tenant_not_approved`).
    #[error("this tenant is not approved for live custody yet")]
    NotApproved,
    /// The tenant is suspended (403 `tenant_suspended`).
    #[error("this tenant is suspended")]
    Suspended,
}

impl AccessDenied {
    /// The stable machine code.
    pub const fn code(self) -> &'static str {
        match self {
            AccessDenied::NotApproved => "tenant_not_approved",
            AccessDenied::Suspended => "tenant_suspended",
        }
    }
}

/// A partner company.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tenant {
    pub id: TenantId,
    /// Display name, for operators.
    pub name: String,
    /// Onboarding status.
    pub status: TenantStatus,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl Tenant {
    /// The approval gate: may this tenant act in `env` now?
    ///
    /// # Errors
    /// [`AccessDenied::Suspended`] in either environment when suspended;
    /// [`AccessDenied::NotApproved`] for live unless approved.
    pub fn may_use(&self, env: Environment) -> Result<(), AccessDenied> {
        match (self.status, env) {
            (TenantStatus::Suspended, _) => Err(AccessDenied::Suspended),
            (TenantStatus::Approved, _) | (TenantStatus::Pending, Environment::Sandbox) => Ok(()),
            (TenantStatus::Pending, Environment::Live) => Err(AccessDenied::NotApproved),
        }
    }

    /// Moves the tenant to a new status through the state machine.
    ///
    /// # Errors
    /// [`TransitionError`] for an illegal edge; the tenant is unchanged.
    pub fn set_status(&mut self, to: TenantStatus) -> Result<(), TransitionError<TenantStatus>> {
        self.status.transition(to)?;
        self.status = to;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TenantStatus::*;

    const ALLOWED: [(TenantStatus, TenantStatus); 4] = [
        (Pending, Approved),
        (Pending, Suspended),
        (Approved, Suspended),
        (Suspended, Approved),
    ];

    #[test]
    fn allowed_edges() {
        for (from, to) in ALLOWED {
            assert_eq!(from.transition(to), Ok(()), "{from} -> {to}");
        }
    }

    #[test]
    fn every_other_edge_is_forbidden() {
        for from in TenantStatus::ALL {
            for to in TenantStatus::ALL {
                if !ALLOWED.contains(&(from, to)) {
                    let err = from.transition(to).unwrap_err();
                    assert_eq!((err.from, err.to), (from, to));
                }
            }
        }
        // Spelled out, so a change to the table shows up here too.
        assert!(Approved.transition(Pending).is_err());
        assert!(Suspended.transition(Pending).is_err());
        assert!(Approved.transition(Approved).is_err());
    }

    fn tenant(status: TenantStatus) -> Tenant {
        Tenant {
            id: TenantId::from_ulid(ulid::Ulid::from_parts(1, 1)),
            name: "Acme".into(),
            status,
            created_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn approval_gate() {
        assert_eq!(tenant(Pending).may_use(Environment::Sandbox), Ok(()));
        assert_eq!(
            tenant(Pending).may_use(Environment::Live),
            Err(AccessDenied::NotApproved)
        );
        assert_eq!(tenant(Approved).may_use(Environment::Live), Ok(()));
        assert_eq!(tenant(Approved).may_use(Environment::Sandbox), Ok(()));
        for env in Environment::ALL {
            assert_eq!(tenant(Suspended).may_use(env), Err(AccessDenied::Suspended));
        }
    }

    #[test]
    fn set_status_leaves_the_tenant_unchanged_on_error() {
        let mut t = tenant(Approved);
        assert!(t.set_status(Pending).is_err());
        assert_eq!(t.status, Approved);
        t.set_status(Suspended).unwrap();
        assert_eq!(t.status, Suspended);
    }
}
