//! The two databases a state store can live in, behind one small SQL
//! interface: SQLite (one file per project, the default) and PostgreSQL
//! (shared by a team). The store's logic is written once against [`Sql`];
//! statements use SQLite's `?N` placeholders and the SQL both engines
//! share, and [`pg_sql`] rewrites the placeholders for PostgreSQL.

use super::{Result, StateError};
use postgres::types::{ToSql, Type};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// A parameter or column value.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    Null,
    Int(i64),
    Text(String),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<u32> for Value {
    fn from(v: u32) -> Self {
        Value::Int(v.into())
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_string())
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Text(v.clone())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// `params![a, b, …]` as an array of [`Value`]s.
macro_rules! params {
    ($($v:expr),* $(,)?) => { [$($crate::db::Value::from($v)),*] };
}
pub(crate) use params;

/// One result row.
#[derive(Debug)]
pub(crate) struct Row(Vec<Value>);

impl Row {
    /// Every column, in order (to copy the row elsewhere).
    pub fn values(&self) -> &[Value] {
        &self.0
    }

    fn get(&self, i: usize) -> Result<&Value> {
        self.0
            .get(i)
            .ok_or_else(|| StateError::Other(format!("column {i} missing from a result")))
    }

    pub fn int(&self, i: usize) -> Result<i64> {
        self.opt_int(i)?
            .ok_or_else(|| StateError::Other(format!("column {i} is unexpectedly NULL")))
    }

    pub fn u32(&self, i: usize) -> Result<u32> {
        Ok(self.int(i)?.clamp(0, u32::MAX.into()) as u32)
    }

    pub fn opt_int(&self, i: usize) -> Result<Option<i64>> {
        match self.get(i)? {
            Value::Null => Ok(None),
            Value::Int(v) => Ok(Some(*v)),
            Value::Text(t) => t
                .parse()
                .map(Some)
                .map_err(|_| StateError::Other(format!("column {i}: {t:?} is not a number"))),
        }
    }

    pub fn text(&self, i: usize) -> Result<String> {
        self.opt_text(i)?
            .ok_or_else(|| StateError::Other(format!("column {i} is unexpectedly NULL")))
    }

    /// A status column, typed.
    pub fn status<T>(&self, i: usize) -> Result<T>
    where
        T: std::str::FromStr<Err = crate::UnknownStatus>,
    {
        Ok(self.text(i)?.parse()?)
    }

    pub fn opt_text(&self, i: usize) -> Result<Option<String>> {
        match self.get(i)? {
            Value::Null => Ok(None),
            Value::Text(t) => Ok(Some(t.clone())),
            Value::Int(v) => Ok(Some(v.to_string())),
        }
    }
}

/// What the store asks of a database connection or transaction.
pub(crate) trait Sql {
    /// Runs a statement; the number of rows it changed.
    fn exec(&mut self, sql: &str, params: &[Value]) -> Result<u64>;
    /// Runs a query; all its rows.
    fn rows(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>>;

    /// The first row of a query, if any.
    fn row(&mut self, sql: &str, params: &[Value]) -> Result<Option<Row>> {
        Ok(self.rows(sql, params)?.into_iter().next())
    }
}

/// Counts statements sent to the database, for `mc … -v` and benchmarks.
pub(crate) static STATEMENTS: AtomicU64 = AtomicU64::new(0);

/// Statements run by this process so far.
pub fn statements_run() -> u64 {
    STATEMENTS.load(Ordering::Relaxed)
}

// ---- SQLite ----------------------------------------------------------------

pub(crate) fn sqlite_exec(conn: &rusqlite::Connection, sql: &str, params: &[Value]) -> Result<u64> {
    STATEMENTS.fetch_add(1, Ordering::Relaxed);
    let mut stmt = conn.prepare_cached(sql)?;
    Ok(stmt.execute(rusqlite::params_from_iter(params.iter().map(sqlite_param)))? as u64)
}

pub(crate) fn sqlite_rows(
    conn: &rusqlite::Connection,
    sql: &str,
    params: &[Value],
) -> Result<Vec<Row>> {
    use rusqlite::types::ValueRef;
    STATEMENTS.fetch_add(1, Ordering::Relaxed);
    let mut stmt = conn.prepare_cached(sql)?;
    let width = stmt.column_count();
    let rows = stmt.query_map(
        rusqlite::params_from_iter(params.iter().map(sqlite_param)),
        |r| {
            let mut row = Vec::with_capacity(width);
            for i in 0..width {
                row.push(match r.get_ref(i)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(v) => Value::Int(v),
                    ValueRef::Real(v) => Value::Int(v as i64),
                    ValueRef::Text(t) | ValueRef::Blob(t) => {
                        Value::Text(String::from_utf8_lossy(t).into_owned())
                    }
                });
            }
            Ok(Row(row))
        },
    )?;
    Ok(rows.collect::<std::result::Result<_, _>>()?)
}

fn sqlite_param(v: &Value) -> rusqlite::types::Value {
    match v {
        Value::Null => rusqlite::types::Value::Null,
        Value::Int(i) => rusqlite::types::Value::Integer(*i),
        Value::Text(t) => rusqlite::types::Value::Text(t.clone()),
    }
}

// ---- PostgreSQL ------------------------------------------------------------

/// A PostgreSQL connection with its prepared statements, so each statement
/// costs one round trip after its first use.
pub(crate) struct PgConn {
    pub client: postgres::Client,
    prepared: HashMap<String, postgres::Statement>,
}

impl PgConn {
    pub fn new(client: postgres::Client) -> PgConn {
        PgConn {
            client,
            prepared: HashMap::new(),
        }
    }

    fn statement(&mut self, sql: &str) -> Result<postgres::Statement> {
        if let Some(s) = self.prepared.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(&pg_sql(sql))?;
        self.prepared.insert(sql.to_string(), s.clone());
        Ok(s)
    }

    /// Runs `f` in a transaction that commits when it returns `Ok`.
    pub fn transaction<T>(&mut self, f: impl FnOnce(&mut PgTx<'_>) -> Result<T>) -> Result<T> {
        self.client.batch_execute("BEGIN")?;
        let out = f(&mut PgTx { conn: self });
        match out {
            Ok(v) => {
                self.client.batch_execute("COMMIT")?;
                Ok(v)
            }
            Err(e) => {
                // The connection may be gone; the server rolls back then.
                let _ = self.client.batch_execute("ROLLBACK");
                Err(e)
            }
        }
    }
}

/// A transaction on a [`PgConn`] (BEGIN … COMMIT on the same session, so
/// prepared statements stay usable).
pub(crate) struct PgTx<'a> {
    conn: &'a mut PgConn,
}

impl Sql for PgTx<'_> {
    fn exec(&mut self, sql: &str, params: &[Value]) -> Result<u64> {
        self.conn.exec(sql, params)
    }
    fn rows(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        self.conn.rows(sql, params)
    }
}

impl Sql for PgConn {
    fn exec(&mut self, sql: &str, params: &[Value]) -> Result<u64> {
        STATEMENTS.fetch_add(1, Ordering::Relaxed);
        let stmt = self.statement(sql)?;
        let boxed = pg_params(params, stmt.params());
        let refs: Vec<&(dyn ToSql + Sync)> = boxed.iter().map(|b| b.as_ref()).collect();
        Ok(self.client.execute(&stmt, &refs)?)
    }

    fn rows(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        STATEMENTS.fetch_add(1, Ordering::Relaxed);
        let stmt = self.statement(sql)?;
        let boxed = pg_params(params, stmt.params());
        let refs: Vec<&(dyn ToSql + Sync)> = boxed.iter().map(|b| b.as_ref()).collect();
        let rows = self.client.query(&stmt, &refs)?;
        rows.iter().map(pg_row).collect()
    }
}

/// Each value as the Rust type PostgreSQL expects for that parameter (a
/// NULL must still carry the parameter's type).
fn pg_params(params: &[Value], types: &[Type]) -> Vec<Box<dyn ToSql + Sync>> {
    params
        .iter()
        .zip(types)
        .map(|(v, ty)| -> Box<dyn ToSql + Sync> {
            let int = |v: Option<i64>| -> Box<dyn ToSql + Sync> {
                match *ty {
                    Type::INT4 => Box::new(v.map(|v| v as i32)),
                    Type::INT2 => Box::new(v.map(|v| v as i16)),
                    Type::BOOL => Box::new(v.map(|v| v != 0)),
                    Type::TEXT | Type::VARCHAR => Box::new(v.map(|v| v.to_string())),
                    _ => Box::new(v),
                }
            };
            match v {
                Value::Int(i) => int(Some(*i)),
                Value::Text(t) => match *ty {
                    Type::INT8 | Type::INT4 | Type::INT2 => int(t.parse().ok()),
                    _ => Box::new(t.clone()),
                },
                Value::Null => match *ty {
                    Type::TEXT | Type::VARCHAR => Box::new(None::<String>),
                    _ => int(None),
                },
            }
        })
        .collect()
}

fn pg_row(r: &postgres::Row) -> Result<Row> {
    let mut row = Vec::with_capacity(r.len());
    for (i, col) in r.columns().iter().enumerate() {
        let v = match *col.type_() {
            Type::INT8 => r.try_get::<_, Option<i64>>(i)?.map(Value::Int),
            Type::INT4 => r
                .try_get::<_, Option<i32>>(i)?
                .map(|v| Value::Int(v.into())),
            Type::INT2 => r
                .try_get::<_, Option<i16>>(i)?
                .map(|v| Value::Int(v.into())),
            Type::BOOL => r
                .try_get::<_, Option<bool>>(i)?
                .map(|v| Value::Int(v.into())),
            _ => r.try_get::<_, Option<String>>(i)?.map(Value::Text),
        };
        row.push(v.unwrap_or(Value::Null));
    }
    Ok(Row(row))
}

/// SQLite's `?N` placeholders as PostgreSQL's `$N` (outside quoted text).
pub(crate) fn pg_sql(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quoted = false;
    for c in sql.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                out.push(c);
            }
            '?' if !quoted => out.push('$'),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_dollar_numbers_outside_quotes() {
        assert_eq!(
            pg_sql("SELECT a FROM t WHERE b = ?1 AND c = '?' AND d IN (?2, ?10)"),
            "SELECT a FROM t WHERE b = $1 AND c = '?' AND d IN ($2, $10)"
        );
    }
}
