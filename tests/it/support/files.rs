//! Reading what the service left behind: every text form of every column, as a forensic
//! reader would scan a database.

use sqlx::Row;

/// Every text form of every column of every table that contains one of the needles.
pub async fn scan(db_url: &str, raw: &sqlx::AnyPool, needles: &[String]) -> Vec<String> {
    let postgres = db_url.starts_with("postgres");
    let columns_sql = if postgres {
        "SELECT CAST(table_name AS TEXT) AS t, CAST(column_name AS TEXT) AS c FROM information_schema.columns \
         WHERE table_schema = 'public'"
    } else {
        "SELECT m.name AS t, p.name AS c FROM sqlite_master m JOIN pragma_table_info(m.name) p WHERE m.type = 'table'"
    };
    let columns = sqlx::query(columns_sql).fetch_all(raw).await.unwrap();
    let mut found = Vec::new();
    for column in &columns {
        let (table, name): (String, String) = (column.get("t"), column.get("c"));
        // Text of any column type; SQLite's quote() also renders blobs (as hex).
        let as_text = if postgres { format!("CAST({name} AS TEXT)") } else { format!("quote({name})") };
        let values =
            sqlx::query(&format!("SELECT {as_text} AS v FROM {table}")).fetch_all(raw).await.unwrap();
        for value in values {
            let text: Option<String> = value.get("v");
            let text = text.unwrap_or_default();
            for needle in needles {
                if text.contains(needle.as_str()) {
                    found.push(format!("{table}.{name} holds {needle}"));
                }
            }
        }
    }
    found
}
