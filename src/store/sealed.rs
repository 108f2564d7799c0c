//! Values sealed under a creator's data key, and the columns that hold them. Each value is
//! bound to its owner, its column and its row (`sealing`), so a database writer who copies
//! one onto another row or column makes it unreadable instead of misread. `store::reseal`
//! rewrites values of the earlier layout, bound to their owner only, once at migration.

use uuid::Uuid;

use super::{StoreError, StoreResult};
use crate::domain::CreatorId;
use crate::store::sealing::Sealer;

/// A column holding values sealed under a creator's data key. A value is bound to its column
/// and its row besides its owner: a database writer who moves it elsewhere makes it unreadable
/// instead of misread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealedColumn {
    CreatorProfile,
    ContentReferences,
    AccountHandle,
    AccountToken,
    PostPlatformId,
    PostUrl,
    DisputeNote,
    DisputeAnswer,
}

impl SealedColumn {
    pub const ALL: [SealedColumn; 8] = [
        SealedColumn::CreatorProfile,
        SealedColumn::ContentReferences,
        SealedColumn::AccountHandle,
        SealedColumn::AccountToken,
        SealedColumn::PostPlatformId,
        SealedColumn::PostUrl,
        SealedColumn::DisputeNote,
        SealedColumn::DisputeAnswer,
    ];

    pub fn table(self) -> &'static str {
        match self {
            SealedColumn::CreatorProfile => "creators",
            SealedColumn::ContentReferences => "contents",
            SealedColumn::AccountHandle | SealedColumn::AccountToken => "social_accounts",
            SealedColumn::PostPlatformId | SealedColumn::PostUrl => "posts",
            SealedColumn::DisputeNote | SealedColumn::DisputeAnswer => "post_disputes",
        }
    }

    pub fn column(self) -> &'static str {
        match self {
            SealedColumn::CreatorProfile => "profile_enc",
            SealedColumn::ContentReferences => "reference_enc",
            SealedColumn::AccountHandle => "handle_enc",
            SealedColumn::AccountToken => "oauth_token_enc",
            SealedColumn::PostPlatformId => "post_id_enc",
            SealedColumn::PostUrl => "url_enc",
            SealedColumn::DisputeNote => "note_enc",
            SealedColumn::DisputeAnswer => "answer_enc",
        }
    }

    /// The column naming the row's creator.
    pub fn owner_column(self) -> &'static str {
        match self {
            SealedColumn::CreatorProfile => "id",
            _ => "creator_id",
        }
    }

    /// `table.column`, a zero byte, then the row id's 16 bytes.
    fn context(self, row: impl Into<Uuid>) -> Vec<u8> {
        let mut context = format!("{}.{}\0", self.table(), self.column()).into_bytes();
        context.extend_from_slice(row.into().as_bytes());
        context
    }
}

/// One creator's data key.
#[derive(Clone)]
pub struct DataKey {
    owner: CreatorId,
    sealer: Sealer,
}

impl DataKey {
    pub(super) fn new(owner: CreatorId, key: &[u8; 32]) -> DataKey {
        DataKey { owner, sealer: Sealer::new(key) }
    }

    /// Seals a value for `column` of the row `row`.
    pub fn seal(&self, column: SealedColumn, row: impl Into<Uuid>, plain: &[u8]) -> StoreResult<Vec<u8>> {
        self.sealer
            .seal(self.owner.as_uuid(), &column.context(row), plain)
            .map_err(|_| StoreError::Corrupt("sealing failed".into()))
    }

    /// Opens a value sealed for `column` of the row `row`; `KeyUnavailable` for anything else.
    pub fn open(&self, column: SealedColumn, row: impl Into<Uuid>, sealed: &[u8]) -> StoreResult<Vec<u8>> {
        self.sealer
            .open(self.owner.as_uuid(), &column.context(row), sealed)
            .map_err(|_| StoreError::KeyUnavailable)
    }

    pub fn open_text(
        &self,
        column: SealedColumn,
        row: impl Into<Uuid>,
        sealed: &[u8],
    ) -> StoreResult<String> {
        String::from_utf8(self.open(column, row, sealed)?)
            .map_err(|_| StoreError::Corrupt("sealed text is not UTF-8".into()))
    }

    /// Opens a value of the layout bound to its owner only (see `store::reseal`).
    pub(super) fn open_layout_1(&self, sealed: &[u8]) -> StoreResult<Vec<u8>> {
        self.sealer.open_layout_1(self.owner.as_uuid(), sealed).map_err(|_| StoreError::KeyUnavailable)
    }

    /// Seals in the layout bound to its owner only: for tests of the reseal.
    #[doc(hidden)]
    pub fn seal_layout_1(&self, plain: &[u8]) -> StoreResult<Vec<u8>> {
        self.sealer
            .seal_layout_1(self.owner.as_uuid(), plain)
            .map_err(|_| StoreError::Corrupt("sealing failed".into()))
    }
}
