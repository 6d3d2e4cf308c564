//! Who is calling: the authenticated context every service method receives.
//!
//! Services check scopes themselves (rather than trusting each HTTP route to remember), so
//! the rule "which scope does this operation need" lives in the rulebook.

use crate::api_key::{MissingScope, Scope, ScopeSet};
use crate::environment::Environment;
use crate::error::Error;
use crate::id::{ApiKeyId, TenantId};

/// An authenticated caller.
///
/// `custody serve` builds one per request from the API key; an embedding service builds its own
/// (`custody_embed::Custody::caller` gives one holding every scope). Every service method
/// checks the scope it needs and keeps reads and writes inside `tenant_id`:
///
/// ```
/// use custody_core::api_key::{Scope, ScopeSet};
/// use custody_core::caller::Caller;
/// use custody_core::environment::Environment;
/// use custody_core::error::{Error, ErrorKind};
/// use custody_core::id::{ApiKeyId, TenantId};
///
/// let reader = Caller {
///     tenant_id: TenantId::from_ulid(ulid::Ulid::nil()),
///     environment: Environment::Sandbox,
///     key_id: ApiKeyId::from_ulid(ulid::Ulid::nil()),
///     scopes: ScopeSet::bearer_default(),
/// };
/// assert!(reader.require(Scope::VaultsRead).is_ok());
/// let refused = ScopeSet::empty();
/// let nobody = Caller { scopes: refused, ..reader };
/// let error: Error = nobody.require(Scope::VaultsWrite).unwrap_err();
/// assert_eq!(error.code(), "missing_scope");
/// assert_eq!(error.kind(), ErrorKind::Forbidden);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The tenant the key belongs to: every read and write is scoped to it.
    pub tenant_id: TenantId,
    /// The environment of the key (the service graph is already bound to it).
    pub environment: Environment,
    /// The key used, for audit.
    pub key_id: ApiKeyId,
    /// What the key may do.
    pub scopes: ScopeSet,
}

impl Caller {
    /// Refuses unless the key carries `scope`.
    ///
    /// # Errors
    /// [`Error::MissingScope`].
    pub fn require(&self, scope: Scope) -> Result<(), Error> {
        self.scopes
            .require(scope)
            .map_err(|MissingScope(scope)| Error::MissingScope(scope))
    }
}
