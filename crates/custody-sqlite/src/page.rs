//! Cursor pagination by id, the same for every list.

use custody_core::page::{Cursor, Page, PageRequest};
use custody_core::ports::StoreError;
use sqlx::{QueryBuilder, Sqlite, SqlitePool};

use crate::row::{db, decode_all, Row};

/// Finishes a list query whose `WHERE` clause is already in `query`: adds the cursor condition,
/// the order and `LIMIT limit + 1`, runs it on `pool` and builds the page.
///
/// `prefix` is the id prefix of the table (`vlt_`, …): a cursor is a bare ULID, stored ids are
/// prefixed, and since every id of a table has the same prefix and ULIDs have a fixed length,
/// comparing the prefixed strings orders them as their ULIDs.
pub(crate) async fn fetch_page<T>(
    mut query: QueryBuilder<'_, Sqlite>,
    page: &PageRequest,
    prefix: &str,
    pool: &SqlitePool,
    decode: impl Fn(&Row<'_>) -> Result<T, StoreError>,
) -> Result<Page<T>, StoreError> {
    match page.cursor() {
        Some(Cursor::After(after)) => {
            query
                .push(" AND id > ")
                .push_bind(format!("{prefix}{after}"));
            query.push(" ORDER BY id ASC");
        }
        Some(Cursor::Before(before)) => {
            query
                .push(" AND id < ")
                .push_bind(format!("{prefix}{before}"));
            query.push(" ORDER BY id DESC");
        }
        None => {
            query.push(" ORDER BY id ASC");
        }
    }
    query.push(" LIMIT ").push_bind(i64::from(page.limit()) + 1);
    let rows = query.build().fetch_all(pool).await.map_err(db)?;
    Ok(Page::from_overfetch(decode_all(&rows, decode)?, page))
}
