//! Views shared by several routes: how the API shows a domain value.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::{Content, ContentId, CreatorId, MediaKind};

/// A content as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ContentView {
    id: ContentId,
    creator_id: CreatorId,
    media_kind: MediaKind,
    width: u32,
    height: u32,
    sha256: String,
    created_at: DateTime<Utc>,
}

impl From<&Content> for ContentView {
    fn from(c: &Content) -> Self {
        ContentView {
            id: c.id,
            creator_id: c.creator_id,
            media_kind: c.media_kind,
            width: c.width,
            height: c.height,
            sha256: c.sha256.clone(),
            created_at: c.created_at,
        }
    }
}
