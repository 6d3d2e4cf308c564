//! Cursor pagination by id, the same for every list.

use custody_core::page::{Page, PageRequest};
use custody_core::ports::StoreError;
use sqlx::{QueryBuilder, Sqlite, SqlitePool};

use crate::row::{db, decode_all, Row};

/// Finishes a list query whose `WHERE` clause is already in `query`: adds the cursor condition,
/// the order and `LIMIT limit + 1` ([`custody_sql::push_page`]), runs it on `pool` and builds
/// the page.
pub(crate) async fn fetch_page<T>(
    mut query: QueryBuilder<'_, Sqlite>,
    page: &PageRequest,
    prefix: &str,
    pool: &SqlitePool,
    decode: impl Fn(&Row<'_>) -> Result<T, StoreError>,
) -> Result<Page<T>, StoreError> {
    custody_sql::push_page(&mut query, prefix, page);
    let rows = query.build().fetch_all(pool).await.map_err(db)?;
    Ok(Page::from_overfetch(decode_all(&rows, decode)?, page))
}
