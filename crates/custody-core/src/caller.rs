//! Who is calling: the authenticated context every service method receives.
//!
//! Services check scopes themselves (rather than trusting each HTTP route to remember), so
//! the rule "which scope does this operation need" lives in the rulebook.

use crate::api_key::{MissingScope, Scope, ScopeSet};
use crate::environment::Environment;
use crate::error::Error;
use crate::id::{ApiKeyId, TenantId};

/// An authenticated caller.
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
