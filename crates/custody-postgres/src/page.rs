//! Cursor pagination by id, the same for every list.
//!
//! Ids of one table share their prefix and end in a fixed-width, upper-case ULID, so ordering
//! the stored text orders by ULID (creation order). A page fetches `limit + 1` rows to learn
//! `has_more`: ascending after an `After` cursor (or with none), descending before a `Before`
//! cursor, which [`Page::from_overfetch`] turns back into ascending order.

use custody_core::page::{Cursor, Page, PageRequest};
use custody_core::ports::StoreError;
use sqlx::postgres::PgRow;
use sqlx::{Postgres, QueryBuilder};

use crate::error::db_err;
use crate::row::{decode_all, Cols};

/// Appends the cursor condition (`AND id > …` / `AND id < …`), the order and the limit to a
/// query whose `WHERE` clause is already open.
pub(crate) fn push_page(qb: &mut QueryBuilder<'_, Postgres>, prefix: &str, page: &PageRequest) {
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

/// Runs a built list query and decodes one page.
pub(crate) async fn fetch_page<T>(
    mut qb: QueryBuilder<'_, Postgres>,
    pool: &sqlx::PgPool,
    page: &PageRequest,
    decode: impl Fn(&Cols<'_>) -> Result<T, StoreError>,
) -> Result<Page<T>, StoreError> {
    let rows: Vec<PgRow> = qb.build().fetch_all(pool).await.map_err(db_err)?;
    let items = decode_all(&rows, decode)?;
    Ok(Page::from_overfetch(items, page))
}
