//! Running list queries; the cursor clause itself is [`custody_sql::push_page`], shared with
//! the SQLite store.

use custody_core::page::{Page, PageRequest};
use custody_core::ports::StoreError;
pub(crate) use custody_sql::push_page;
use sqlx::postgres::PgRow;
use sqlx::{Postgres, QueryBuilder};

use crate::error::db_err;
use crate::row::{decode_all, Cols};

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
