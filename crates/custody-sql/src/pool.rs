//! Connection pool usage, for the pool metrics of `custody serve`.

/// One connection pool's usage at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolUsage {
    /// Which pool: `postgres`, or `sqlite_writer` / `sqlite_reader`.
    pub pool: &'static str,
    /// Connections open now (idle and in use).
    pub open: u32,
    /// Open connections not in use.
    pub idle: u32,
    /// The most the pool opens.
    pub max: u32,
}

impl PoolUsage {
    /// Connections in use (checked out).
    pub const fn in_use(&self) -> u32 {
        self.open.saturating_sub(self.idle)
    }
}

/// The usage of an sqlx pool.
pub fn of<DB: sqlx::Database>(pool: &'static str, p: &sqlx::Pool<DB>) -> PoolUsage {
    PoolUsage {
        pool,
        open: p.size(),
        idle: u32::try_from(p.num_idle()).unwrap_or(u32::MAX),
        max: p.options().get_max_connections(),
    }
}
