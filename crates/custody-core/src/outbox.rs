//! The event outbox's delivery bookkeeping.
//!
//! Every event is written to the outbox in the same database transaction as the change it
//! describes (see [`ports::EventTx::append_event`](crate::ports::EventTx::append_event)). A
//! delivery worker then *claims* due events for a short lease, delivers them, and records each
//! attempt with its outcome. Leases, not open transactions, keep two instances from delivering
//! the same event at once: the claim commits immediately, so no database transaction is held
//! open across an HTTP call, and a worker that dies mid-delivery only delays the event until its
//! lease runs out (delivery is at least once).

use time::OffsetDateTime;

use crate::event::{Event, EventType};
use crate::id::{DeliveryId, EventId, TenantId};

/// Where an event is in its delivery life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryState {
    /// Waiting for its next attempt (the first one included).
    Pending,
    /// A receiver acknowledged it.
    Delivered,
    /// Attempts were exhausted; an operator or the partner may redeliver it.
    Failed,
}

impl DeliveryState {
    /// Every state.
    pub const ALL: [DeliveryState; 3] = [
        DeliveryState::Pending,
        DeliveryState::Delivered,
        DeliveryState::Failed,
    ];

    /// The lowercase name, as stored.
    pub const fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }

    /// Parses [`DeliveryState::as_str`] output.
    pub fn parse(input: &str) -> Option<DeliveryState> {
        DeliveryState::ALL.into_iter().find(|s| s.as_str() == input)
    }
}

/// An event claimed for delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedEvent {
    /// The event as written.
    pub event: Event,
    /// Attempts recorded before this claim (0 for a first delivery).
    pub attempts: u32,
    /// Until when this claim keeps other workers away.
    pub lease_until: OffsetDateTime,
}

/// The delivery bookkeeping of one event.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryStatus {
    pub state: DeliveryState,
    /// Attempts recorded so far.
    pub attempts: u32,
    /// When a pending event is next due.
    pub next_attempt_at: Option<OffsetDateTime>,
    pub delivered_at: Option<OffsetDateTime>,
}

/// What one delivery attempt found.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryAttempt {
    pub id: DeliveryId,
    pub event_id: EventId,
    pub tenant_id: TenantId,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// When the request was sent.
    pub attempted_at: OffsetDateTime,
    pub url: String,
    /// The receiver's HTTP status, when one answered.
    pub response_status: Option<u16>,
    /// Why the attempt failed (timeout, connection refused, non-2xx), when it did.
    pub error: Option<String>,
    /// How long the attempt took.
    pub duration_ms: u32,
}

/// What happens to the event after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// Acknowledged: the event is done.
    Delivered,
    /// Not acknowledged: try again at this time.
    RetryAt(OffsetDateTime),
    /// Not acknowledged and out of attempts.
    GiveUp,
}

/// Where an event's delivery stands, as `GET /v1/webhooks/outbound/deliveries` shows it: the
/// stored [`DeliveryState`] with `failed` split by whether anything was ever sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryView {
    /// Waiting for an attempt.
    Pending,
    /// A receiver answered 2xx.
    Delivered,
    /// Attempted and given up (retries exhausted, `410`, or the endpoint was disabled).
    Failed,
    /// Never sent: no endpoint was configured or enabled, or the endpoint does not subscribe to
    /// its type.
    Skipped,
}

impl DeliveryView {
    /// Every view.
    pub const ALL: [DeliveryView; 4] = [
        DeliveryView::Pending,
        DeliveryView::Delivered,
        DeliveryView::Failed,
        DeliveryView::Skipped,
    ];

    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            DeliveryView::Pending => "pending",
            DeliveryView::Delivered => "delivered",
            DeliveryView::Failed => "failed",
            DeliveryView::Skipped => "skipped",
        }
    }

    /// Parses [`DeliveryView::as_str`] output.
    pub fn parse(input: &str) -> Option<DeliveryView> {
        DeliveryView::ALL.into_iter().find(|v| v.as_str() == input)
    }

    /// The view of stored bookkeeping.
    pub fn of(status: &DeliveryStatus) -> DeliveryView {
        match status.state {
            DeliveryState::Pending => DeliveryView::Pending,
            DeliveryState::Delivered => DeliveryView::Delivered,
            DeliveryState::Failed if status.attempts == 0 => DeliveryView::Skipped,
            DeliveryState::Failed => DeliveryView::Failed,
        }
    }
}

/// What the delivery log is filtered on; `None` matches everything.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryFilter {
    pub event: Option<EventId>,
    pub event_type: Option<EventType>,
    pub status: Option<DeliveryView>,
}

/// One event's delivery: its bookkeeping and every attempt, oldest first.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryRecord {
    pub event: Event,
    pub status: DeliveryStatus,
    pub attempts: Vec<DeliveryAttempt>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip() {
        for state in DeliveryState::ALL {
            assert_eq!(DeliveryState::parse(state.as_str()), Some(state));
        }
        assert_eq!(DeliveryState::parse("Pending"), None);
        for view in DeliveryView::ALL {
            assert_eq!(DeliveryView::parse(view.as_str()), Some(view));
        }
    }

    #[test]
    fn failed_without_an_attempt_is_skipped() {
        let status = |state, attempts| DeliveryStatus {
            state,
            attempts,
            next_attempt_at: None,
            delivered_at: None,
        };
        assert_eq!(
            DeliveryView::of(&status(DeliveryState::Failed, 0)),
            DeliveryView::Skipped
        );
        assert_eq!(
            DeliveryView::of(&status(DeliveryState::Failed, 3)),
            DeliveryView::Failed
        );
        assert_eq!(
            DeliveryView::of(&status(DeliveryState::Pending, 3)),
            DeliveryView::Pending
        );
    }
}

/// The outbox's backlog in one environment (the webhook queue metrics,
/// [`OutboxStore::backlog`](crate::ports::OutboxStore::backlog)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutboxBacklog {
    /// Events still to be delivered (pending: due now, waiting for a retry, or in flight).
    pub pending: u64,
    /// Pending events that are due now and under no claim: waiting for a delivery worker.
    pub due: u64,
    /// The earliest due time among those (`next_attempt_at`): how far behind delivery runs.
    pub oldest_due_at: Option<OffsetDateTime>,
}
