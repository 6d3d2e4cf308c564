//! Builders for domain values used by the checks. Times are whole microseconds (what both
//! stores keep); ids come from fixed ULIDs so failures are reproducible.

pub use custody_core::asset::EnabledAssets;
use custody_core::id::TenantId;
use custody_core::tenant::{Tenant, TenantStatus};
use time::OffsetDateTime;
use ulid::Ulid;

/// A fixed instant: 2023-11-14T22:13:20Z plus `seconds`.
pub fn at(seconds: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_700_000_000 + seconds)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// A ULID whose order follows `n`.
pub fn ulid(n: u64) -> Ulid {
    Ulid::from_parts(1_700_000_000_000 + n, u128::from(n))
}

/// A pending tenant.
pub fn tenant(n: u64) -> Tenant {
    Tenant {
        id: TenantId::from_ulid(ulid(n)),
        name: format!("Tenant {n}"),
        status: TenantStatus::Pending,
        created_at: at(0),
    }
}
