//! What every state machine shares: the error of an illegal transition.
//!
//! Each aggregate (tenant, vault, deposit address, transaction) has exactly one
//! `transition(from, to)` function that encodes its allowed edges as a table. Everything that
//! changes a status goes through it, so the table in that function is the whole truth about
//! the machine and its unit tests cover every edge.

use std::fmt;

/// A status change that the machine does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cannot move a {machine} from {from} to {to}")]
pub struct TransitionError<S: fmt::Display + fmt::Debug> {
    /// Which machine refused (`vault`, `transaction`, …), for the error message.
    pub machine: &'static str,
    /// The current status.
    pub from: S,
    /// The requested status.
    pub to: S,
}

/// Builds the result of a transition check from whether the edge is in the table.
pub(crate) fn check<S>(
    machine: &'static str,
    from: S,
    to: S,
    allowed: bool,
) -> Result<(), TransitionError<S>>
where
    S: fmt::Display + fmt::Debug + Copy,
{
    if allowed {
        Ok(())
    } else {
        Err(TransitionError { machine, from, to })
    }
}
