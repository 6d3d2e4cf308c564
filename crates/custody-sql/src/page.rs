//! Cursor pagination by id, the same for every list of both stores.
//!
//! Ids of one table share their prefix and end in a fixed-width, upper-case ULID, so ordering
//! the stored text orders by ULID (creation order). A page fetches `limit + 1` rows to learn
//! `has_more`: ascending after an `After` cursor (or with none), descending before a `Before`
//! cursor, which [`Page::from_overfetch`](custody_core::page::Page::from_overfetch) turns back
//! into ascending order.

use custody_core::page::{Cursor, PageRequest};
use sqlx::{Database, Encode, QueryBuilder, Type};

/// Appends the cursor condition (`AND id > …` / `AND id < …`), the order and `LIMIT limit + 1`
/// to a list query whose `WHERE` clause is already open. `prefix` is the table's id prefix
/// (`vlt_`, …): a cursor is a bare ULID, stored ids are prefixed.
pub fn push_page<'a, DB: Database>(qb: &mut QueryBuilder<'a, DB>, prefix: &str, page: &PageRequest)
where
    String: 'a + Encode<'a, DB> + Type<DB>,
    i64: 'a + Encode<'a, DB> + Type<DB>,
{
    match page.cursor() {
        Some(Cursor::After(after)) => {
            qb.push(" AND id > ").push_bind(format!("{prefix}{after}"));
            qb.push(" ORDER BY id ASC");
        }
        Some(Cursor::Before(before)) => {
            qb.push(" AND id < ").push_bind(format!("{prefix}{before}"));
            qb.push(" ORDER BY id DESC");
        }
        None => {
            qb.push(" ORDER BY id ASC");
        }
    }
    qb.push(" LIMIT ").push_bind(i64::from(page.limit()) + 1);
}
