//! Composing a payout statement: per payee, the views gained on verified posts in the period
//! and the clawbacks of posts paid before and since removed or flagged; the evidence hash
//! over every (post, views, last snapshot) and clawback behind the totals; a fresh id. Pure:
//! the store reads the inputs and persists the result.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::domain::{Clawback, PostViews, StatementDraft, StatementTotal, Timestamp};

/// Composes the statement of `[from, to)` from the period's post gains and the clawbacks due.
pub fn compose(
    from: Timestamp,
    to: Timestamp,
    posts: Vec<PostViews>,
    clawbacks: Vec<Clawback>,
) -> StatementDraft {
    let mut evidence = Sha256::new();
    let mut totals: BTreeMap<(String, &str), i64> = BTreeMap::new();
    for p in &posts {
        evidence.update(format!("views {} {} {}\n", p.post_id, p.views, p.last_snapshot_id));
        *totals.entry((p.creator_id.to_string(), "views")).or_default() += p.views as i64;
    }
    for c in &clawbacks {
        evidence.update(format!("clawback {} {}\n", c.post_id, c.views));
        *totals.entry((c.payee_id.clone(), "clawback")).or_default() -= c.views;
    }
    let lines = totals
        .into_iter()
        .map(|((payee_id, kind), views)| StatementTotal { payee_id, line_kind: kind.to_owned(), views })
        .collect();
    StatementDraft {
        id: format!("st_{}", Uuid::new_v4().simple()),
        period_start: from,
        period_end: to,
        evidence_hash: hex::encode(evidence.finalize()),
        lines,
        posts,
        clawbacks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CreatorId, PostId};
    use chrono::{TimeZone, Utc};

    #[test]
    fn totals_add_up_per_payee_and_the_evidence_names_every_post() {
        let (ada, bob) = (CreatorId::from_uuid(Uuid::from_u128(1)), CreatorId::from_uuid(Uuid::from_u128(2)));
        let at = |h| Utc.with_ymd_and_hms(2026, 1, 1, h, 0, 0).unwrap();
        let post = |creator, n: u128, views| PostViews {
            creator_id: creator,
            post_id: PostId::from_uuid(Uuid::from_u128(100 + n)),
            views,
            last_snapshot_id: n as i64,
        };
        let posts = vec![post(ada, 1, 10), post(ada, 2, 5), post(bob, 3, 7)];
        let clawback =
            Clawback { payee_id: bob.to_string(), post_id: Uuid::from_u128(99).to_string(), views: 4 };
        let draft = compose(at(0), at(1), posts.clone(), vec![clawback.clone()]);
        let line = |payee: CreatorId, kind: &str| {
            draft
                .lines
                .iter()
                .find(|l| l.payee_id == payee.to_string() && l.line_kind == kind)
                .map(|l| l.views)
        };
        assert_eq!(line(ada, "views"), Some(15));
        assert_eq!(line(bob, "views"), Some(7));
        assert_eq!(line(bob, "clawback"), Some(-4));
        assert_eq!(line(ada, "clawback"), None);
        // The same inputs give the same evidence, whatever the id; any change of a post changes it.
        let again = compose(at(0), at(1), posts.clone(), vec![clawback.clone()]);
        assert_eq!(again.evidence_hash, draft.evidence_hash);
        assert_ne!(again.id, draft.id);
        let mut changed = posts;
        changed[0].last_snapshot_id += 1;
        assert_ne!(compose(at(0), at(1), changed, vec![clawback]).evidence_hash, draft.evidence_hash);
    }
}
