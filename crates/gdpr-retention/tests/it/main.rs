//! Property tests of the pruning decision.

use gdpr_retention::{BackupSummary, KeepReason, RetentionPeriod, is_expired, plan_pruning};
use proptest::prelude::*;
use time::{Duration, OffsetDateTime};

fn backups() -> impl Strategy<Value = Vec<BackupSummary>> {
    prop::collection::vec((0i64..120 * 24, any::<bool>()), 0..40).prop_map(|items| {
        items
            .into_iter()
            .enumerate()
            .map(|(i, (hours, verified))| BackupSummary {
                id: format!("b{i}"),
                created_at: OffsetDateTime::UNIX_EPOCH + Duration::days(200)
                    - Duration::hours(hours),
                verified,
            })
            .collect()
    })
}

proptest! {
    #[test]
    fn pruning_is_a_safe_partition(backups in backups(), days in 1u32..90) {
        let now = OffsetDateTime::UNIX_EPOCH + Duration::days(200);
        let period = RetentionPeriod::days(days).unwrap();
        let plan = plan_pruning(&backups, period, now);
        // Every backup is decided exactly once.
        prop_assert_eq!(plan.keep.len() + plan.delete.len(), backups.len());
        for b in &backups {
            let kept = plan.keep.iter().any(|(id, _)| id == &b.id);
            let deleted = plan.delete.contains(&b.id);
            prop_assert!(kept != deleted);
            // Only expired backups are ever deleted.
            if deleted { prop_assert!(is_expired(b.created_at, period, now)); }
        }
        // The newest verified backup is never deleted.
        if let Some(newest) = backups.iter().filter(|b| b.verified).max_by_key(|b| (b.created_at, b.id.clone())) {
            prop_assert!(!plan.delete.contains(&newest.id));
        }
        // A tenant with backups always keeps at least one.
        if !backups.is_empty() { prop_assert!(!plan.keep.is_empty()); }
        // At most one expired backup is kept, and only for a protection reason.
        let protected = plan.keep.iter().filter(|(_, r)| *r != KeepReason::WithinRetention).count();
        prop_assert!(protected <= 1);
    }
}
