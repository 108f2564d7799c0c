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
