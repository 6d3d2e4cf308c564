use std::sync::Arc;

use ulid::Ulid;

/// New identifiers and random bytes. Core never draws randomness itself.
#[cfg_attr(feature = "mocks", mockall::automock)]
pub trait IdGenerator: Send + Sync {
    /// A new ULID. Production adapters must make them monotonic within a millisecond so ids
    /// created in one request sort in creation order.
    fn ulid(&self) -> Ulid;

    /// 32 bytes from a cryptographically secure source, for API keys and signing secrets.
    fn secret_bytes(&self) -> [u8; 32];
}

/// Shared id generator handle.
pub type DynIdGenerator = Arc<dyn IdGenerator>;

/// A deterministic generator for tests and tools: ULIDs count up from a start time, secret
/// bytes repeat a counter. Never use it to mint real keys.
#[derive(Debug)]
pub struct SequentialIds {
    timestamp_ms: u64,
    next: std::sync::atomic::AtomicU64,
}

impl SequentialIds {
    /// Ids at `timestamp_ms`, randomness counting from 1.
    pub fn new(timestamp_ms: u64) -> SequentialIds {
        SequentialIds {
            timestamp_ms,
            next: std::sync::atomic::AtomicU64::new(1),
        }
    }

    fn bump(&self) -> u64 {
        self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }
}

impl IdGenerator for SequentialIds {
    fn ulid(&self) -> Ulid {
        Ulid::from_parts(self.timestamp_ms, u128::from(self.bump()))
    }

    fn secret_bytes(&self) -> [u8; 32] {
        let n = self.bump().to_be_bytes();
        let mut out = [0u8; 32];
        for chunk in out.chunks_mut(8) {
            chunk.copy_from_slice(&n);
        }
        out
    }
}
