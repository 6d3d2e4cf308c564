//! Statements with named parameters, written once for both stores.
//!
//! A [`Statement`] is SQL text with `:name` placeholders and a value for each name, typed
//! logically ([`Value`]). Each adapter renders it for its database through a [`Dialect`]
//! (`$1` or `?1`, the locking clause) and binds each value its own way: a time as a PostgreSQL
//! `timestamptz` or SQLite integer microseconds, an amount as `numeric` or text, JSON as `jsonb`
//! or text. This is the encoding side of [`codec`](crate::codec).

use std::fmt;

use custody_core::ports::StoreError;
use time::OffsetDateTime;

/// One value bound to a statement, by its logical type. Each variant but `Bool` and `Decimal`
/// may be null, and stays typed when it is (PostgreSQL wants a typed null).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Text(Option<String>),
    Int(Option<i64>),
    Bool(bool),
    Bytes(Option<Vec<u8>>),
    Time(Option<OffsetDateTime>),
    /// An amount or a signed ledger delta, as base-unit decimal text.
    Decimal(String),
    Json(Option<serde_json::Value>),
}

impl Value {
    /// A decimal value (an amount, a delta) from anything that prints as base units.
    pub fn decimal(value: impl fmt::Display) -> Value {
        Value::Decimal(value.to_string())
    }
}

macro_rules! value_from {
    ($($ty:ty => $variant:ident),+ $(,)?) => {$(
        impl From<$ty> for Value {
            fn from(value: $ty) -> Value {
                Value::$variant(Some(value.into()))
            }
        }
        impl From<Option<$ty>> for Value {
            fn from(value: Option<$ty>) -> Value {
                Value::$variant(value.map(Into::into))
            }
        }
    )+};
}

value_from!(
    String => Text,
    &str => Text,
    i64 => Int,
    Vec<u8> => Bytes,
    OffsetDateTime => Time,
    serde_json::Value => Json,
);

impl From<bool> for Value {
    fn from(value: bool) -> Value {
        Value::Bool(value)
    }
}

/// A row lock taken by a `SELECT`. SQLite has none (its writer lock covers the transaction).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lock {
    #[default]
    None,
    /// `FOR SHARE`.
    Share,
    /// `FOR UPDATE`.
    Update,
    /// `FOR UPDATE SKIP LOCKED`.
    UpdateSkipLocked,
}

/// How a database spells placeholders and locks.
pub trait Dialect {
    /// The placeholder of the `n`th distinct value (from 1), e.g. `$3::numeric` or `?3`.
    fn placeholder(&self, n: usize, value: &Value) -> String;
    /// The clause for `lock`, with a leading space, or `""`.
    fn lock(&self, lock: Lock) -> &'static str;
    /// The select-list items `part0` … `part3` (decimal text) of the exact, signed sum of the
    /// integer `column` over the group, which [`exact_sum::read`](crate::exact_sum::read) puts
    /// back together; see [`exact_sum`](crate::exact_sum).
    fn exact_sum(&self, column: &str) -> String;
}

/// PostgreSQL: `$n` (amounts, sent as text, cast to `numeric`) and row locks.
#[derive(Debug, Clone, Copy)]
pub struct PgDialect;

impl Dialect for PgDialect {
    fn placeholder(&self, n: usize, value: &Value) -> String {
        match value {
            Value::Decimal(_) => format!("${n}::numeric"),
            _ => format!("${n}"),
        }
    }

    fn lock(&self, lock: Lock) -> &'static str {
        match lock {
            Lock::None => "",
            Lock::Share => " FOR SHARE",
            Lock::Update => " FOR UPDATE",
            Lock::UpdateSkipLocked => " FOR UPDATE SKIP LOCKED",
        }
    }

    /// `numeric`'s own sum is exact (and 7× faster than the parts at 10⁶ rows): all of it in
    /// `part0`, the other parts zero.
    fn exact_sum(&self, column: &str) -> String {
        crate::exact_sum::whole(column)
    }
}

/// SQLite: `?n`, and no row locks (a write transaction holds the database's write lock).
#[derive(Debug, Clone, Copy)]
pub struct SqliteDialect;

impl Dialect for SqliteDialect {
    fn placeholder(&self, n: usize, _value: &Value) -> String {
        format!("?{n}")
    }

    fn lock(&self, _lock: Lock) -> &'static str {
        ""
    }

    /// Amounts are text here, and `SUM` of text is a float: summed in signed integer parts.
    fn exact_sum(&self, column: &str) -> String {
        crate::exact_sum::in_parts(column)
    }
}

#[derive(Debug, Clone)]
enum Param {
    One(Value),
    List(Vec<Value>),
    Rows(Vec<Vec<Value>>),
}

/// SQL with `:name` placeholders and their values. A name may appear more than once (it is
/// bound once); a list ([`bind_list`](Statement::bind_list)) expands to `a, b, c` (or `NULL`
/// when empty, which matches nothing); rows ([`bind_rows`](Statement::bind_rows)) expand to
/// `(a, b), (c, d)`, for a multi-row `VALUES`. The locking clause goes where the text says
/// `{lock}`, else at the end.
#[derive(Debug, Clone)]
pub struct Statement {
    sql: String,
    params: Vec<(&'static str, Param)>,
    lock: Lock,
    /// The column whose exact sum `{exact_sum}` stands for.
    exact_sum: Option<&'static str>,
}

/// A statement rendered for one database: its SQL and the values in placeholder order.
#[derive(Debug)]
pub struct Rendered {
    pub sql: String,
    pub values: Vec<Value>,
}

impl Statement {
    pub fn new(sql: impl Into<String>) -> Statement {
        Statement {
            sql: sql.into(),
            params: Vec::new(),
            lock: Lock::None,
            exact_sum: None,
        }
    }

    /// Binds `:name`.
    #[must_use]
    pub fn bind(mut self, name: &'static str, value: impl Into<Value>) -> Statement {
        self.params.push((name, Param::One(value.into())));
        self
    }

    /// Binds `:name` to a list, for `IN (:name)`.
    #[must_use]
    pub fn bind_list<V: Into<Value>>(
        mut self,
        name: &'static str,
        values: impl IntoIterator<Item = V>,
    ) -> Statement {
        let values = values.into_iter().map(Into::into).collect();
        self.params.push((name, Param::List(values)));
        self
    }

    /// Binds `:name` to rows of values, for a multi-row `VALUES :name` (one statement for
    /// many rows). Every row must have as many values; an empty set of rows is a bug (the
    /// caller sends no statement then).
    #[must_use]
    pub fn bind_rows(mut self, name: &'static str, rows: Vec<Vec<Value>>) -> Statement {
        self.params.push((name, Param::Rows(rows)));
        self
    }

    /// Appends SQL text (a condition, an order).
    #[must_use]
    pub fn push(mut self, sql: &str) -> Statement {
        self.sql.push_str(sql);
        self
    }

    /// Appends `AND {column} = :{name}` when there is a value, as list filters do.
    #[must_use]
    pub fn filter<V: Into<Value>>(
        self,
        column: &str,
        name: &'static str,
        value: Option<V>,
    ) -> Statement {
        match value {
            Some(value) => self
                .push(&format!(" AND {column} = :{name}"))
                .bind(name, value),
            None => self,
        }
    }

    /// Where the text says `{exact_sum}`, the dialect's exact sum of `column`
    /// ([`Dialect::exact_sum`]).
    #[must_use]
    pub fn exact_sum(mut self, column: &'static str) -> Statement {
        self.exact_sum = Some(column);
        self
    }

    /// Takes `lock` on the rows read.
    #[must_use]
    pub fn lock(mut self, lock: Lock) -> Statement {
        self.lock = lock;
        self
    }

    /// Renders for `dialect`.
    ///
    /// # Errors
    /// `Internal` when a placeholder has no value, a value no placeholder, or a name two
    /// values: a bug in the statement, which the conformance suite runs.
    pub fn render(&self, dialect: &impl Dialect) -> Result<Rendered, StoreError> {
        let lock = dialect.lock(self.lock);
        let sql = if self.sql.contains("{lock}") {
            self.sql.replace("{lock}", lock)
        } else {
            format!("{}{lock}", self.sql)
        };
        let sql = match self.exact_sum {
            Some(column) => sql.replace("{exact_sum}", &dialect.exact_sum(column)),
            None => sql,
        };
        for (i, (name, _)) in self.params.iter().enumerate() {
            if self.params[..i].iter().any(|(n, _)| n == name) {
                return Err(bug(format_args!(":{name} bound twice")));
            }
        }
        let mut out = String::with_capacity(sql.len() + 16);
        let mut values = Vec::new();
        let mut numbered: Vec<(&str, usize)> = Vec::new();
        let mut rest = sql.as_str();
        while let Some(at) = rest.find([':', '\'']) {
            out.push_str(&rest[..at]);
            rest = &rest[at..];
            if rest.starts_with('\'') {
                // A string literal, copied as it is.
                let end = rest[1..].find('\'').map_or(rest.len(), |e| e + 2);
                out.push_str(&rest[..end]);
                rest = &rest[end..];
                continue;
            }
            let name_len = rest[1..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len() - 1);
            if rest.starts_with("::") || name_len == 0 {
                // A cast (`::text`) or a lone colon.
                let skip = if rest.starts_with("::") { 2 } else { 1 };
                out.push_str(&rest[..skip]);
                rest = &rest[skip..];
                continue;
            }
            let name = &rest[1..=name_len];
            rest = &rest[1 + name_len..];
            let param = self
                .params
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, p)| p)
                .ok_or_else(|| bug(format_args!(":{name} has no value")))?;
            match param {
                Param::One(value) => {
                    let n = match numbered.iter().find(|(n, _)| *n == name) {
                        Some((_, n)) => *n,
                        None => {
                            values.push(value.clone());
                            numbered.push((name, values.len()));
                            values.len()
                        }
                    };
                    out.push_str(&dialect.placeholder(n, value));
                }
                Param::List(list) => {
                    numbered.push((name, 0));
                    if list.is_empty() {
                        out.push_str("NULL");
                    }
                    for (i, value) in list.iter().enumerate() {
                        values.push(value.clone());
                        if i > 0 {
                            out.push_str(", ");
                        }
                        out.push_str(&dialect.placeholder(values.len(), value));
                    }
                }
                Param::Rows(rows) => {
                    numbered.push((name, 0));
                    let width = rows.first().map_or(0, Vec::len);
                    if width == 0 || rows.iter().any(|row| row.len() != width) {
                        return Err(bug(format_args!(":{name} has no rows or uneven ones")));
                    }
                    for (i, row) in rows.iter().enumerate() {
                        out.push_str(if i > 0 { ", (" } else { "(" });
                        for (j, value) in row.iter().enumerate() {
                            values.push(value.clone());
                            if j > 0 {
                                out.push_str(", ");
                            }
                            out.push_str(&dialect.placeholder(values.len(), value));
                        }
                        out.push(')');
                    }
                }
            }
        }
        out.push_str(rest);
        if let Some((name, _)) = self
            .params
            .iter()
            .find(|(name, _)| !numbered.iter().any(|(n, _)| n == name))
        {
            return Err(bug(format_args!(":{name} is bound but not used")));
        }
        Ok(Rendered { sql: out, values })
    }
}

fn bug(what: impl fmt::Display) -> StoreError {
    StoreError::Internal(format!("statement: {what}").into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_number_once_and_casts_and_literals_pass_through() {
        let r = Statement::new(
            "SELECT amount::text FROM t WHERE a = :a AND b = :b AND c = :a AND s = 'x:y' \
             AND d = :d",
        )
        .bind("b", 2_i64)
        .bind("a", "one")
        .bind("d", Value::decimal(7))
        .lock(Lock::Update)
        .render(&PgDialect)
        .unwrap();
        assert_eq!(
            r.sql,
            "SELECT amount::text FROM t WHERE a = $1 AND b = $2 AND c = $1 AND s = 'x:y' \
             AND d = $3::numeric FOR UPDATE"
        );
        assert_eq!(
            r.values,
            vec![
                Value::Text(Some("one".into())),
                Value::Int(Some(2)),
                Value::Decimal("7".into())
            ]
        );
    }

    #[test]
    fn lists_expand_and_the_lock_goes_where_asked() {
        let r = Statement::new("WITH x AS (SELECT id FROM t WHERE id IN (:ids){lock}) SELECT 1")
            .bind_list("ids", ["a", "b"])
            .lock(Lock::UpdateSkipLocked)
            .render(&PgDialect)
            .unwrap();
        assert_eq!(
            r.sql,
            "WITH x AS (SELECT id FROM t WHERE id IN ($1, $2) FOR UPDATE SKIP LOCKED) SELECT 1"
        );
        let empty = Statement::new("SELECT 1 WHERE id IN (:ids) AND a = :a")
            .bind_list("ids", Vec::<String>::new())
            .bind("a", 1_i64)
            .lock(Lock::Update)
            .render(&SqliteDialect)
            .unwrap();
        assert_eq!(empty.sql, "SELECT 1 WHERE id IN (NULL) AND a = ?1");
    }

    #[test]
    fn rows_expand_to_a_multi_row_values() {
        let rows = vec![
            vec![Value::from("a"), Value::decimal(1)],
            vec![Value::from("b"), Value::decimal(2)],
        ];
        let r = Statement::new(
            "INSERT INTO t (e, x, y) SELECT :e, column1, column2 FROM (VALUES :rows) AS v",
        )
        .bind("e", "live")
        .bind_rows("rows", rows)
        .render(&PgDialect)
        .unwrap();
        assert_eq!(
            r.sql,
            "INSERT INTO t (e, x, y) SELECT $1, column1, column2 FROM (VALUES ($2, $3::numeric), \
             ($4, $5::numeric)) AS v"
        );
        assert_eq!(r.values.len(), 5);
        let sqlite = Statement::new("INSERT INTO t VALUES :rows")
            .bind_rows(
                "rows",
                vec![vec![Value::from(1_i64)], vec![Value::from(2_i64)]],
            )
            .render(&SqliteDialect)
            .unwrap();
        assert_eq!(sqlite.sql, "INSERT INTO t VALUES (?1), (?2)");
        for bad in [vec![], vec![vec![Value::from(1_i64)], vec![]]] {
            let r = Statement::new("INSERT INTO t VALUES :rows")
                .bind_rows("rows", bad)
                .render(&SqliteDialect);
            assert!(matches!(r, Err(StoreError::Internal(_))));
        }
    }

    #[test]
    fn missing_unused_or_doubled_values_are_bugs() {
        let missing = Statement::new("SELECT :a").render(&PgDialect);
        let unused = Statement::new("SELECT 1")
            .bind("a", 1_i64)
            .render(&PgDialect);
        let twice = Statement::new("SELECT :a")
            .bind("a", 1_i64)
            .bind("a", 2_i64)
            .render(&PgDialect);
        for r in [missing, unused, twice] {
            assert!(matches!(r, Err(StoreError::Internal(_))));
        }
    }
}
