//! Contents: what the generator marked for a creator.

use super::{ContentId, CreatorId, Timestamp};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaKind {
    Image,
    Video,
}

impl MediaKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Image => "image",
            MediaKind::Video => "video",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Content {
    pub id: ContentId,
    pub creator_id: CreatorId,
    pub payload: u64,
    pub media_kind: MediaKind,
    pub width: u32,
    pub height: u32,
    pub sha256: String,
    pub created_at: Timestamp,
}
