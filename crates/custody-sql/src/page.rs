//! Cursor pagination by id, the same for every list of both stores.
//!
//! Ids of one table share their prefix and end in a fixed-width, upper-case ULID, so ordering
//! the stored text orders by ULID (creation order). A page fetches `limit + 1` rows to learn
//! `has_more`: ascending after an `After` cursor (or with none), descending before a `Before`
//! cursor, which [`Page::from_overfetch`](custody_core::page::Page::from_overfetch) turns back
//! into ascending order.

use custody_core::page::{Cursor, PageRequest};

use crate::statement::Statement;

/// Appends the cursor condition (`AND id > …` / `AND id < …`), the order and `LIMIT limit + 1`
/// to a list statement whose `WHERE` clause is already open. `prefix` is the table's id prefix
/// (`vlt_`, …): a cursor is a bare ULID, stored ids are prefixed.
pub fn paged(stmt: Statement, prefix: &str, page: &PageRequest) -> Statement {
    let stmt = match page.cursor() {
        Some(Cursor::After(after)) => stmt
            .push(" AND id > :cursor ORDER BY id ASC")
            .bind("cursor", format!("{prefix}{after}")),
        Some(Cursor::Before(before)) => stmt
            .push(" AND id < :cursor ORDER BY id DESC")
            .bind("cursor", format!("{prefix}{before}")),
        None => stmt.push(" ORDER BY id ASC"),
    };
    stmt.push(" LIMIT :limit")
        .bind("limit", i64::from(page.limit()) + 1)
}
