//! What both engines share below the store: which engine a URL names (and its migrations),
//! and how domain values are written in columns: times as UTC Unix milliseconds, ids as
//! text, payloads as signed 64-bit integers.

use chrono::{TimeZone, Utc};
use sqlx::migrate::Migrator;
use uuid::Uuid;

use super::{postgres, sqlite, StoreError, StoreResult};
use crate::domain::Timestamp;

/// Which database engine a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend a URL names, or `None` for anything else (refused at start).
    pub fn from_url(url: &str) -> Option<Backend> {
        let scheme = url.split_once(':')?.0;
        match scheme {
            "sqlite" => Some(Backend::Sqlite),
            "postgres" | "postgresql" => Some(Backend::Postgres),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    pub(super) fn migrator(self) -> &'static Migrator {
        match self {
            Backend::Sqlite => &sqlite::MIGRATOR,
            Backend::Postgres => &postgres::MIGRATOR,
        }
    }
}

pub(super) fn to_ms(t: Timestamp) -> i64 {
    t.timestamp_millis()
}

pub(super) fn from_ms(ms: i64) -> StoreResult<Timestamp> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .ok_or_else(|| StoreError::Corrupt(format!("timestamp out of range: {ms}")))
}

pub(super) fn opt_from_ms(ms: Option<i64>) -> StoreResult<Option<Timestamp>> {
    ms.map(from_ms).transpose()
}

/// `$first, $first+1, ...`: `count` numbered placeholders for an `IN (...)` list.
pub(super) fn placeholders(first: usize, count: usize) -> String {
    (first..first + count).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// A record id from its stored text form, as whichever id type the row holds.
pub(super) fn parse_id<Id: From<Uuid>>(text: &str) -> StoreResult<Id> {
    Uuid::parse_str(text).map(Id::from).map_err(|_| StoreError::Corrupt(format!("bad id: {text}")))
}

/// Payloads are unsigned 64-bit; both engines store signed 64-bit, so the bits are kept as is.
pub(super) fn payload_to_db(payload: u64) -> i64 {
    payload as i64
}

pub(super) fn payload_from_db(stored: i64) -> u64 {
    stored as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_schemes_pick_the_backend() {
        assert_eq!(Backend::from_url("sqlite://data/x.db"), Some(Backend::Sqlite));
        assert_eq!(Backend::from_url("sqlite::memory:"), Some(Backend::Sqlite));
        assert_eq!(Backend::from_url("postgres://localhost/x"), Some(Backend::Postgres));
        assert_eq!(Backend::from_url("postgresql://localhost/x"), Some(Backend::Postgres));
        assert_eq!(Backend::from_url("mysql://localhost/x"), None);
        assert_eq!(Backend::from_url("nonsense"), None);
    }

    #[test]
    fn payload_bits_survive_the_round_trip() {
        for p in [0u64, 1, u64::MAX, 1 << 63, 0xdead_beef_cafe_f00d] {
            assert_eq!(payload_from_db(payload_to_db(p)), p);
        }
    }
}

/// The SQL type of a column unpacked from JSON rows.
#[derive(Debug, Clone, Copy)]
pub(super) enum JsonColumn {
    Text,
    BigInt,
}

/// A row source, aliased `x`, unpacking the JSON array of objects bound at `$param` into the
/// named columns: many rows travel as one parameter, so a statement's cost does not grow with
/// a parameter count (`json_to_recordset` on PostgreSQL, `json_each` on SQLite).
pub(super) fn json_rows(backend: Backend, param: usize, columns: &[(&str, JsonColumn)]) -> String {
    match backend {
        Backend::Postgres => {
            let typed = columns
                .iter()
                .map(|(name, kind)| {
                    let sql_type = match kind {
                        JsonColumn::Text => "TEXT",
                        JsonColumn::BigInt => "BIGINT",
                    };
                    format!("{name} {sql_type}")
                })
                .collect::<Vec<_>>()
                .join(", ");
            format!("json_to_recordset(${param}::json) AS x({typed})")
        }
        Backend::Sqlite => {
            let fields = columns
                .iter()
                .map(|(name, _)| format!("json_extract(value, '$.{name}') AS {name}"))
                .collect::<Vec<_>>()
                .join(", ");
            format!("(SELECT {fields} FROM json_each(${param})) AS x")
        }
    }
}

/// One value of a row given to [`insert_rows`].
#[derive(Debug, Clone)]
pub(super) enum Cell {
    Text(String),
    Int(i64),
}

impl Cell {
    fn json(&self) -> serde_json::Value {
        match self {
            Cell::Text(text) => serde_json::Value::from(text.as_str()),
            Cell::Int(n) => serde_json::Value::from(*n),
        }
    }
}

/// Inserts many rows into `table`, each `parent` (bound as `$1`) and one value per column of
/// `columns`. On SQLite, where binding grows dearer per parameter, the rows travel as one
/// JSON parameter ([`json_rows`]); on PostgreSQL as multi-row `VALUES`, which measured
/// faster there (`docs/payouts.md`, Performance).
pub(super) async fn insert_rows(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    backend: Backend,
    table: &str,
    parent: (&str, &str),
    columns: &[(&str, JsonColumn)],
    rows: &[Vec<Cell>],
) -> StoreResult<()> {
    let names = columns.iter().map(|(name, _)| *name).collect::<Vec<_>>();
    let head = format!("INSERT INTO {table} ({}, {})", parent.0, names.join(", "));
    match backend {
        Backend::Sqlite => {
            let sql = format!(
                "{head} SELECT $1, {} FROM {}",
                names.iter().map(|n| format!("x.{n}")).collect::<Vec<_>>().join(", "),
                json_rows(backend, 2, columns)
            );
            for chunk in rows.chunks(10_000) {
                let objects: Vec<serde_json::Value> = chunk
                    .iter()
                    .map(|row| names.iter().zip(row).map(|(n, c)| ((*n).to_owned(), c.json())).collect())
                    .collect();
                let json = serde_json::Value::from(objects).to_string();
                sqlx::query(&sql).bind(parent.1).bind(json).execute(&mut **tx).await?;
            }
        }
        Backend::Postgres => {
            for chunk in rows.chunks(1_000) {
                let width = columns.len();
                let values = (0..chunk.len())
                    .map(|i| format!("($1, {})", placeholders(2 + i * width, width)))
                    .collect::<Vec<_>>()
                    .join(", ");
                let sql = format!("{head} VALUES {values}");
                let mut insert = sqlx::query(&sql).bind(parent.1);
                for cell in chunk.iter().flatten() {
                    insert = match cell {
                        Cell::Text(text) => insert.bind(text.clone()),
                        Cell::Int(n) => insert.bind(*n),
                    };
                }
                insert.execute(&mut **tx).await?;
            }
        }
    }
    Ok(())
}
