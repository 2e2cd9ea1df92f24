//! Object storage is not trusted: whoever can write to the bucket can plant a backup, swap a
//! keyring shard, or remove or alter a journal entry. Each is refused, saying which object
//! failed, and nothing is restored.

use gdpr_app::AppError;
use gdpr_app::backup::format::{
    JournalEntry, KeyringShard, MANIFEST, Manifest, PAYLOAD, journal_key,
};
use gdpr_audit::Actor;
use gdpr_testkit::{EnvelopeDecryptor, HmacSigner};

use crate::backup_restore::{
    back_up, config, folder, on_an_empty_store, progress, signed, write_signed,
};
use crate::erasure::subject_with_data;
use crate::helpers::{World, world_with};

/// The error of restoring the newest backup into an empty store, and that store's rows.
async fn restore_into_empty(w: &World, backup: Option<&str>) -> (AppError, usize) {
    let (fresh, recovered) = on_an_empty_store(w);
    let err = recovered
        .restore_tenant(w.ctx.tenant, backup, false, &EnvelopeDecryptor, &progress())
        .await
        .unwrap_err();
    (err, fresh.tenant_rows(w.ctx.tenant))
}

fn untrusted_object(err: &AppError) -> &str {
    match err {
        AppError::Untrusted { object, .. } => object,
        other => panic!("expected an untrusted object, got {other:?}"),
    }
}

/// A copy of backup `id` under a new id that sorts last, its manifest (and shards) signed by
/// `signer`: what an attacker with write access to the bucket and the recipients' public keys
/// can make.
async fn plant(w: &World, id: &str, signer: Option<&HmacSigner>) -> String {
    let planted = "99991231T000000Z-deadbeef".to_owned();
    let (from, to) = (folder(w.ctx.tenant, id), folder(w.ctx.tenant, &planted));
    let payload = w.backups.bytes(&format!("{from}{PAYLOAD}")).unwrap();
    w.backups.insert(
        &format!("{to}{PAYLOAD}"),
        &payload,
        time::OffsetDateTime::UNIX_EPOCH,
    );
    let mut manifest: Manifest = signed(w, &format!("{from}{MANIFEST}"));
    manifest.backup_id.clone_from(&planted);
    for listed in &mut manifest.keyring {
        let mut shard: KeyringShard = signed(w, &format!("{from}{}", listed.name));
        shard.backup.clone_from(&planted);
        let content = serde_json::to_vec(&shard).unwrap();
        listed.sha256 = gdpr_app::backup::format::content_sha256(&content);
        match signer {
            Some(signer) => {
                write_signed(w, &format!("{to}{}", listed.name), &shard, signer).await;
            }
            None => w.backups.insert(
                &format!("{to}{}", listed.name),
                &content,
                time::OffsetDateTime::UNIX_EPOCH,
            ),
        }
    }
    match signer {
        Some(signer) => write_signed(w, &format!("{to}{MANIFEST}"), &manifest, signer).await,
        None => w.backups.insert(
            &format!("{to}{MANIFEST}"),
            &serde_json::to_vec(&manifest).unwrap(),
            time::OffsetDateTime::UNIX_EPOCH,
        ),
    }
    planted
}

#[tokio::test]
async fn a_planted_backup_unsigned_or_signed_by_another_key_is_refused_and_restores_nothing() {
    let w = world_with(config()).await;
    subject_with_data(&w, 1).await;
    let id = back_up(&w).await;
    for signer in [None, Some(HmacSigner::new("attacker"))] {
        let planted = plant(&w, &id, signer.as_ref()).await;
        // It sorts last: the default restore picks it, and refuses it.
        let listed = w.app.list_backups(w.ctx.tenant).await.unwrap();
        assert_eq!(listed.last().unwrap().id, planted);
        let (err, rows) = restore_into_empty(&w, None).await;
        assert_eq!(
            untrusted_object(&err),
            format!("{}{MANIFEST}", folder(w.ctx.tenant, &planted))
        );
        assert_eq!(rows, 0, "nothing restored");
        // Verification names it too, and marks nothing.
        let outcomes = w
            .app
            .verify_backups(Some(w.ctx.tenant), &EnvelopeDecryptor, &progress())
            .await
            .unwrap();
        let planted_outcome = outcomes.iter().find(|o| o.backup == planted).unwrap();
        assert!(
            planted_outcome
                .problem
                .as_deref()
                .unwrap()
                .contains("not trusted"),
            "{planted_outcome:?}"
        );
        let genuine = outcomes.iter().find(|o| o.backup == id).unwrap();
        assert_eq!(genuine.problem, None);
        // The genuine one, named, still restores.
        let (_, recovered) = on_an_empty_store(&w);
        recovered
            .restore_tenant(
                w.ctx.tenant,
                Some(&id),
                false,
                &EnvelopeDecryptor,
                &progress(),
            )
            .await
            .unwrap();
        for key in w.backups.keys() {
            if key.contains(&planted) {
                w.backups.remove(&key);
            }
        }
    }
}

#[tokio::test]
async fn a_keyring_shard_swapped_from_another_backup_is_refused() {
    let w = world_with(config()).await;
    let a = subject_with_data(&w, 1).await;
    let first = back_up(&w).await;
    w.clock.advance(time::Duration::hours(1));
    let second = back_up(&w).await;
    // The first backup's shard (validly signed, holding the same key) put in the second's.
    let shard = gdpr_app::backup::format::shard_of(a.id);
    let genuine = w
        .backups
        .bytes(&format!("{}{shard}", folder(w.ctx.tenant, &first)))
        .unwrap();
    let target = format!("{}{shard}", folder(w.ctx.tenant, &second));
    w.backups
        .insert(&target, &genuine, time::OffsetDateTime::UNIX_EPOCH);
    let (err, rows) = restore_into_empty(&w, Some(&second)).await;
    assert_eq!(untrusted_object(&err), target);
    assert_eq!(rows, 0);
    let outcomes = w
        .app
        .verify_backups(Some(w.ctx.tenant), &EnvelopeDecryptor, &progress())
        .await
        .unwrap();
    let second = outcomes.iter().find(|o| o.backup == second).unwrap();
    assert!(
        second.problem.as_deref().unwrap().contains(&target),
        "{second:?}"
    );
}

/// A tenant with a backup, then two erasures journaled after it; the journal's keys.
async fn journaled_after_a_backup(w: &World) -> (String, [String; 2]) {
    let a = subject_with_data(w, 1).await;
    let b = subject_with_data(w, 2).await;
    subject_with_data(w, 3).await;
    let id = back_up(w).await;
    w.app.erase_subject(w.ctx, a.id, None).await.unwrap();
    w.app.erase_subject(w.ctx, b.id, None).await.unwrap();
    (
        id,
        [journal_key(w.ctx.tenant, 1), journal_key(w.ctx.tenant, 2)],
    )
}

#[tokio::test]
async fn a_removed_journal_entry_is_refused_and_nothing_is_restored() {
    let w = world_with(config()).await;
    let (id, [first, second]) = journaled_after_a_backup(&w).await;
    // The first entry removed: the second no longer starts the journal.
    let kept = w.backups.bytes(&first).unwrap();
    w.backups.remove(&first);
    let (err, rows) = restore_into_empty(&w, Some(&id)).await;
    assert_eq!(untrusted_object(&err), second);
    assert_eq!(rows, 0);
    w.backups
        .insert(&first, &kept, time::OffsetDateTime::UNIX_EPOCH);

    // The newest entries removed after a backup saw them: the manifest's mark is missing.
    let later = back_up(&w).await;
    w.backups.remove(&second);
    let (err, rows) = restore_into_empty(&w, Some(&later)).await;
    assert_eq!(untrusted_object(&err), second);
    assert_eq!(rows, 0);
}

#[tokio::test]
async fn an_altered_or_foreign_journal_entry_is_refused() {
    let w = world_with(config()).await;
    let (id, [first, second]) = journaled_after_a_backup(&w).await;
    // Altered: the erasure of one subject dropped from the entry, the signature kept.
    let original = w.backups.bytes(&first).unwrap();
    let mut entry: JournalEntry = signed(&w, &first);
    entry.decisions.clear();
    let text = String::from_utf8(original.to_vec()).unwrap();
    let stored: gdpr_app::backup::format::Envelope<'_> = serde_json::from_str(&text).unwrap();
    let tampered =
        gdpr_app::backup::format::envelope(&serde_json::to_vec(&entry).unwrap(), &stored.signature);
    w.backups
        .insert(&first, &tampered, time::OffsetDateTime::UNIX_EPOCH);
    let (err, rows) = restore_into_empty(&w, Some(&id)).await;
    assert_eq!(untrusted_object(&err), first);
    assert_eq!(rows, 0);
    // Replaced by a validly signed entry of its own making: the next one no longer follows.
    write_signed(&w, &first, &entry, &HmacSigner::default()).await;
    let (err, _) = restore_into_empty(&w, Some(&id)).await;
    assert_eq!(untrusted_object(&err), second);
    // Signed by another key.
    write_signed(&w, &first, &entry, &HmacSigner::new("attacker")).await;
    let (err, _) = restore_into_empty(&w, Some(&id)).await;
    assert_eq!(untrusted_object(&err), first);
}

#[tokio::test]
async fn a_restore_never_brings_back_an_api_key_revoked_after_the_backup() {
    let w = world_with(config()).await;
    subject_with_data(&w, 1).await;
    let key = w
        .app
        .create_api_key(Actor::Operator, w.ctx.tenant, false)
        .await
        .unwrap();
    let id = back_up(&w).await;
    w.app
        .revoke_api_key(Actor::Operator, w.ctx.tenant, key.record.id)
        .await
        .unwrap();
    assert!(w.app.authenticate(&key.token).await.is_err());

    // The database is lost and restored from the backup, which still holds the key live.
    let (_, recovered) = on_an_empty_store(&w);
    let report = recovered
        .restore_tenant(
            w.ctx.tenant,
            Some(&id),
            false,
            &EnvelopeDecryptor,
            &progress(),
        )
        .await
        .unwrap();
    assert_eq!(report.decisions_replayed, 1);
    assert!(
        matches!(
            recovered.authenticate(&key.token).await,
            Err(AppError::Unauthorized)
        ),
        "the revoked key stays revoked"
    );
    let audit = recovered.audit_log(w.ctx, 0, 1000).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|r| r.event.action == gdpr_audit::AuditAction::ApiKeyRevoked
                && r.event.details.contains_key("replayed_from_journal"))
    );
    // Restoring again replays nothing more (idempotent).
    let again = recovered
        .restore_tenant(
            w.ctx.tenant,
            Some(&id),
            true,
            &EnvelopeDecryptor,
            &progress(),
        )
        .await
        .unwrap();
    assert_eq!(
        again.decisions_replayed, 1,
        "the backup's live key is revoked again"
    );
    assert!(recovered.authenticate(&key.token).await.is_err());
}
