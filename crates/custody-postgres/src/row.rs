//! [`Columns`] over a PostgreSQL row. Amounts arrive as decimal text (the shared select lists
//! cast them); everything else is read with its natural sqlx type.

use custody_core::ports::StoreError;
use custody_sql::Columns;
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::{Column, Row as _, TypeInfo};
use time::OffsetDateTime;

use crate::error::db_err;

/// A row readable by the shared codec (a newtype: neither the trait nor `PgRow` is ours).
pub(crate) struct Row(pub(crate) PgRow);

impl Row {
    fn get<'r, T>(&'r self, col: &str) -> Result<T, StoreError>
    where
        T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
    {
        self.0.try_get::<T, _>(col).map_err(db_err)
    }
}

impl Columns for Row {
    fn text(&self, col: &str) -> Result<String, StoreError> {
        self.get(col)
    }

    fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError> {
        self.get(col)
    }

    fn int(&self, col: &str) -> Result<i64, StoreError> {
        self.opt_int(col)?
            .ok_or_else(|| custody_sql::corrupt(format_args!("{col}: unexpected null")))
    }

    fn opt_int(&self, col: &str) -> Result<Option<i64>, StoreError> {
        let column = self.0.try_column(col).map_err(db_err)?;
        match column.type_info().name() {
            "INT2" => Ok(self.get::<Option<i16>>(col)?.map(i64::from)),
            "INT4" => Ok(self.get::<Option<i32>>(col)?.map(i64::from)),
            _ => self.get(col),
        }
    }

    fn boolean(&self, col: &str) -> Result<bool, StoreError> {
        self.get(col)
    }

    fn bytes(&self, col: &str) -> Result<Vec<u8>, StoreError> {
        self.get(col)
    }

    fn opt_bytes(&self, col: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.get(col)
    }

    fn time(&self, col: &str) -> Result<OffsetDateTime, StoreError> {
        self.get(col)
    }

    fn opt_time(&self, col: &str) -> Result<Option<OffsetDateTime>, StoreError> {
        self.get(col)
    }

    fn json(&self, col: &str) -> Result<Value, StoreError> {
        self.get(col)
    }

    fn opt_json(&self, col: &str) -> Result<Option<Value>, StoreError> {
        self.get(col)
    }
}
