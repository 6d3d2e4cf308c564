//! Rows and values: the SQLite side of the shared codec.
//!
//! Physical types (see `migrations/sqlite/`): timestamps are INTEGER microseconds since the Unix
//! epoch, amounts canonical decimal TEXT, JSON TEXT, booleans INTEGER 0/1, bytes BLOB.

use custody_core::ports::StoreError;
use custody_sql::{corrupt, Columns};
use serde_json::Value;
use sqlx::sqlite::SqliteRow;
use sqlx::Row as _;
use time::OffsetDateTime;

use crate::error::db_err;

/// A row readable by the shared codec (a newtype: neither the trait nor `SqliteRow` is ours).
pub(crate) struct Row(pub(crate) SqliteRow);

impl Columns for Row {
    fn text(&self, col: &str) -> Result<String, StoreError> {
        self.0.try_get::<String, _>(col).map_err(db_err)
    }
    fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError> {
        self.0.try_get::<Option<String>, _>(col).map_err(db_err)
    }
    fn int(&self, col: &str) -> Result<i64, StoreError> {
        self.0.try_get::<i64, _>(col).map_err(db_err)
    }
    fn opt_int(&self, col: &str) -> Result<Option<i64>, StoreError> {
        self.0.try_get::<Option<i64>, _>(col).map_err(db_err)
    }
    fn boolean(&self, col: &str) -> Result<bool, StoreError> {
        match self.int(col)? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(corrupt(format_args!("{col}: {other} is not a boolean"))),
        }
    }
    fn bytes(&self, col: &str) -> Result<Vec<u8>, StoreError> {
        self.0.try_get::<Vec<u8>, _>(col).map_err(db_err)
    }
    fn opt_bytes(&self, col: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.0.try_get::<Option<Vec<u8>>, _>(col).map_err(db_err)
    }
    fn time(&self, col: &str) -> Result<OffsetDateTime, StoreError> {
        from_micros(col, self.int(col)?)
    }
    fn opt_time(&self, col: &str) -> Result<Option<OffsetDateTime>, StoreError> {
        self.opt_int(col)?.map(|m| from_micros(col, m)).transpose()
    }
    fn json(&self, col: &str) -> Result<Value, StoreError> {
        parse_json(col, &self.text(col)?)
    }
    fn opt_json(&self, col: &str) -> Result<Option<Value>, StoreError> {
        self.opt_text(col)?
            .map(|raw| parse_json(col, &raw))
            .transpose()
    }
}

fn parse_json(col: &str, raw: &str) -> Result<Value, StoreError> {
    serde_json::from_str(raw).map_err(|e| corrupt(format_args!("{col}: {e}")))
}

/// A time as stored: whole microseconds since the Unix epoch. Sub-microsecond precision is
/// dropped (floored), which is what PostgreSQL's `timestamptz` keeps too. Every
/// `OffsetDateTime` (years ±9999) fits an `i64` of microseconds.
pub(crate) fn micros(t: OffsetDateTime) -> i64 {
    let us = t.unix_timestamp_nanos().div_euclid(1_000);
    i64::try_from(us).unwrap_or(if us < 0 { i64::MIN } else { i64::MAX })
}

fn from_micros(col: &str, us: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1_000)
        .map_err(|e| corrupt(format_args!("{col}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micros_floor_and_round_trip() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_789).unwrap();
        assert_eq!(micros(t), 1_700_000_000_123_456);
        let back = from_micros("t", micros(t)).unwrap();
        assert_eq!(back.unix_timestamp_nanos(), 1_700_000_000_123_456_000);
        let before = OffsetDateTime::from_unix_timestamp_nanos(-1).unwrap();
        assert_eq!(micros(before), -1);
    }
}
