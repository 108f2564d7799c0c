//! PostgreSQL specifics: its own migrations (identity columns, PL/pgSQL triggers).

use sqlx::migrate::Migrator;

pub(super) static MIGRATOR: Migrator = sqlx::migrate!("migrations/postgres");
