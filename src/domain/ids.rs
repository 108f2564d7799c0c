//! The ids of the product's records: one type per kind of record, so a post's id cannot be
//! passed where a creator's is expected. Each is a UUID underneath, shown and stored in its
//! hyphenated text form.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! record_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new, random id.
            pub fn random() -> Self {
                $name(Uuid::new_v4())
            }

            pub const fn from_uuid(id: Uuid) -> Self {
                $name(id)
            }

            pub const fn as_uuid(self) -> Uuid {
                self.0
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                $name(id)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Uuid {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(text).map($name)
            }
        }
    };
}

record_id!(
    /// A creator enrolled in the programme.
    CreatorId
);
record_id!(
    /// A content the generator marked for a creator.
    ContentId
);
record_id!(
    /// A social account a creator linked.
    AccountId
);
record_id!(
    /// A post followed on a linked account.
    PostId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_reads_back_what_it_shows() {
        let id = PostId::random();
        assert_eq!(id.to_string().parse::<PostId>().unwrap(), id);
        assert_eq!(serde_json::to_string(&id).unwrap(), format!("\"{id}\""));
        assert_ne!(PostId::random(), id);
        assert!("not-an-id".parse::<CreatorId>().is_err());
    }
}
