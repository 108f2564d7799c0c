//! Opaque page cursors: where a page ended, as (creation time, id), so the next page starts
//! strictly after it whatever was inserted meanwhile.

use base64::Engine;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::error::ApiError;

pub fn encode(created_at: DateTime<Utc>, id: impl Into<Uuid>) -> String {
    let id = id.into();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{}.{id}", created_at.timestamp_millis()))
}

pub fn decode<Id: From<Uuid>>(text: &str) -> Result<(DateTime<Utc>, Id), ApiError> {
    let bad = || ApiError::bad_request("bad_cursor", "cursor is not one this service issued");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text).map_err(|_| bad())?;
    let raw = String::from_utf8(raw).map_err(|_| bad())?;
    let (ms, id) = raw.split_once('.').ok_or_else(bad)?;
    let created_at = ms.parse::<i64>().ok().and_then(DateTime::from_timestamp_millis).ok_or_else(bad)?;
    Ok((created_at, Uuid::parse_str(id).map(Id::from).map_err(|_| bad())?))
}
