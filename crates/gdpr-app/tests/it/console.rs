//! The console's people: users created by the operator with a generated password (argon2id),
//! sign-in that says nothing of which half was wrong, sessions that end at sign-out, when
//! idle, at their lifetime, when their user goes or their password is reset; wrong
//! passwords limited per user; the signed-in user named in the audit chain.

use gdpr_app::{AppError, ConsoleConfig, ConsoleRole};
use gdpr_audit::{Actor, AuditAction};
use gdpr_ports::{DocumentKind, DocumentStore as _, Owner};
use secrecy::{ExposeSecret as _, SecretString};
use time::Duration;

use crate::helpers::{World, audited, world};

fn secret(text: &str) -> SecretString {
    SecretString::from(text.to_owned())
}

/// A DPO of the world's tenant and their password.
async fn dpo(w: &World) -> (gdpr_app::ConsoleUser, SecretString) {
    let issued = w
        .app
        .create_console_user(
            Actor::Operator,
            w.ctx.tenant,
            "DPO@LogAlto.example",
            ConsoleRole::Dpo,
        )
        .await
        .unwrap();
    (issued.user, issued.password)
}

#[tokio::test]
async fn a_user_signs_in_with_the_password_issued_and_nothing_else() {
    let w = world().await;
    let (user, password) = dpo(&w).await;
    assert_eq!(user.email, "dpo@logalto.example", "normalised");
    assert_eq!(password.expose_secret().len(), 20);

    // The same answer for a wrong password and an unknown address.
    for (email, pw) in [
        ("dpo@logalto.example", "wrong password"),
        ("nobody@logalto.example", password.expose_secret()),
        ("not an address", password.expose_secret()),
    ] {
        assert!(matches!(
            w.app.console_sign_in(email, &secret(pw)).await,
            Err(AppError::Unauthorized)
        ));
    }
    let signed_in = w
        .app
        .console_sign_in(" Dpo@logalto.example ", &password)
        .await
        .unwrap();
    assert_eq!(signed_in.session.user.id, user.id);
    assert_eq!(signed_in.session.user.role, ConsoleRole::Dpo);
    // The token finds the session; its CSRF token is its own.
    let session = w.app.console_session(&signed_in.token).await.unwrap();
    assert_eq!(session.id, signed_in.session.id);
    assert!(session.csrf_matches(signed_in.session.csrf.expose_secret()));
    assert!(!session.csrf_matches(""));
    assert!(!session.csrf_matches("0".repeat(64).as_str()));

    // The store holds the password's argon2id hash and the session under its token's hash:
    // neither secret itself.
    let users = w
        .store
        .list_documents(Owner::Tenant(w.ctx.tenant), DocumentKind::ConsoleUser)
        .await
        .unwrap();
    assert!(users[0].body.contains("$argon2id$"), "{}", users[0].body);
    assert!(!users[0].body.contains(password.expose_secret()));
    let sessions = w
        .store
        .list_documents(Owner::Tenant(w.ctx.tenant), DocumentKind::ConsoleSession)
        .await
        .unwrap();
    let secret_half = signed_in.token.expose_secret().split_once('.').unwrap().1;
    assert_eq!(sessions.len(), 1);
    assert!(!sessions[0].body.contains(secret_half));
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(secret_half.as_bytes());
    assert_eq!(
        sessions[0].id.as_bytes()[..],
        digest[..16],
        "the id is the secret's hash"
    );

    // The chain names the user (never the address).
    let records = w.app.audit_log(w.ctx, 0, 1000).await.unwrap();
    let signed = records
        .iter()
        .find(|r| r.event.action == AuditAction::ConsoleSignedIn)
        .unwrap();
    assert_eq!(signed.event.actor, Actor::ConsoleUser(user.id));
    assert!(
        records
            .iter()
            .all(|r| !format!("{:?}", r.event).contains("logalto.example"))
    );
}

#[tokio::test]
async fn a_sign_in_finds_its_user_through_the_address_claim_alone() {
    let w = world().await;
    let (user, password) = dpo(&w).await;
    let owner = Owner::Tenant(w.ctx.tenant);
    let claims = w
        .store
        .list_documents(owner, DocumentKind::ConsoleAddress)
        .await
        .unwrap();
    assert_eq!(claims.len(), 1);
    let claim = claims[0].clone();
    let refused = |email: &'static str| {
        let (app, password) = (&w.app, &password);
        async move {
            matches!(
                app.console_sign_in(email, password).await,
                Err(AppError::Unauthorized)
            )
        }
    };

    let signed_in = w
        .app
        .console_sign_in("dpo@logalto.example", &password)
        .await
        .unwrap();
    assert_eq!(signed_in.session.user.id, user.id);

    // Without its claim, the user's document signs no one in (it is how an address is
    // found: two reads by id, never a read of every user).
    w.store
        .delete_document(owner, DocumentKind::ConsoleAddress, claim.id)
        .await
        .unwrap();
    assert!(refused("dpo@logalto.example").await);
    // A claim naming a user whose address is not the one signed in with signs no one in;
    // nor one whose user is gone.
    w.store.insert_document(&claim).await.unwrap();
    let someone = w
        .app
        .create_console_user(
            Actor::Operator,
            w.ctx.tenant,
            "someone@logalto.example",
            ConsoleRole::Viewer,
        )
        .await
        .unwrap();
    let mut theirs = w
        .store
        .list_documents(owner, DocumentKind::ConsoleAddress)
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.body.contains(&someone.user.id.to_string()))
        .unwrap();
    theirs.body.clone_from(&claim.body);
    w.store.put_document(&theirs).await.unwrap();
    assert!(refused("someone@logalto.example").await);
    // A claimed user that does not read back is refused, not an error.
    let mut theirs_user = w
        .store
        .get_document(owner, DocumentKind::ConsoleUser, *user.id.as_uuid())
        .await
        .unwrap();
    theirs_user.body = "{".into();
    w.store.put_document(&theirs_user).await.unwrap();
    assert!(refused("dpo@logalto.example").await);
    w.store
        .delete_document(owner, DocumentKind::ConsoleUser, *user.id.as_uuid())
        .await
        .unwrap();
    assert!(refused("dpo@logalto.example").await);
}

#[tokio::test]
async fn one_address_is_one_user_in_the_whole_deployment() {
    let w = world().await;
    dpo(&w).await;
    let other = w.other_tenant().await;
    let again = w
        .app
        .create_console_user(
            Actor::Operator,
            other.tenant,
            "dpo@logalto.example",
            ConsoleRole::Viewer,
        )
        .await;
    assert!(matches!(again, Err(AppError::Conflict(_))), "{again:?}");
    let bad = w
        .app
        .create_console_user(
            Actor::Operator,
            w.ctx.tenant,
            "no at sign",
            ConsoleRole::Viewer,
        )
        .await;
    assert!(matches!(
        bad,
        Err(AppError::InvalidInput { field: "email", .. })
    ));
    let unknown = w
        .app
        .create_console_user(
            Actor::Operator,
            gdpr_pii::TenantId::at(time::OffsetDateTime::UNIX_EPOCH),
            "x@example.org",
            ConsoleRole::Viewer,
        )
        .await;
    assert!(matches!(unknown, Err(AppError::NotFound(_))));
    assert_eq!(w.app.console_users(w.ctx.tenant).await.unwrap().len(), 1);
    assert!(w.app.console_users(other.tenant).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_session_ends_when_idle_at_its_lifetime_and_at_sign_out() {
    let w = world().await;
    let (_, password) = dpo(&w).await;
    let config = ConsoleConfig::default();
    let sign_in = || w.app.console_sign_in("dpo@logalto.example", &password);

    // Used every 20 minutes, it lasts until its lifetime, not a minute more.
    let kept = sign_in().await.unwrap();
    let mut used = Duration::ZERO;
    while used + Duration::minutes(20) < config.lifetime {
        w.clock.advance(Duration::minutes(20));
        used += Duration::minutes(20);
        w.app.console_session(&kept.token).await.unwrap();
    }
    w.clock.advance(config.lifetime - used);
    assert!(matches!(
        w.app.console_session(&kept.token).await,
        Err(AppError::Unauthorized)
    ));

    // Idle for its idle time: ended.
    let idle = sign_in().await.unwrap();
    w.clock.advance(config.idle - Duration::seconds(1));
    w.app.console_session(&idle.token).await.unwrap();
    w.clock.advance(config.idle);
    assert!(matches!(
        w.app.console_session(&idle.token).await,
        Err(AppError::Unauthorized)
    ));

    // Signed out: ended at once, and audited.
    let out = sign_in().await.unwrap();
    w.app.console_sign_out(&out.session).await.unwrap();
    assert!(matches!(
        w.app.console_session(&out.token).await,
        Err(AppError::Unauthorized)
    ));
    assert!(audited(&w, &[AuditAction::ConsoleSignedOut]).await.len() == 1);

    // A malformed token, or one of another tenant, opens nothing.
    let valid = sign_in().await.unwrap();
    let other = w.other_tenant().await;
    let (_, secret_half) = valid.token.expose_secret().split_once('.').unwrap();
    for bad in [
        String::new(),
        "x".repeat(97),
        format!("{}.{secret_half}", other.tenant.as_uuid().simple()),
    ] {
        assert!(matches!(
            w.app.console_session(&secret(&bad)).await,
            Err(AppError::Unauthorized)
        ));
    }
}

#[tokio::test]
async fn removing_a_user_or_resetting_their_password_ends_their_sessions() {
    let w = world().await;
    let (user, password) = dpo(&w).await;
    let viewer = w
        .app
        .create_console_user(
            Actor::Operator,
            w.ctx.tenant,
            "viewer@logalto.example",
            ConsoleRole::Viewer,
        )
        .await
        .unwrap();
    let theirs = w
        .app
        .console_sign_in("viewer@logalto.example", &viewer.password)
        .await
        .unwrap();
    let session = w
        .app
        .console_sign_in("dpo@logalto.example", &password)
        .await
        .unwrap();

    let reset = w
        .app
        .reset_console_password(Actor::Operator, w.ctx.tenant, user.id)
        .await
        .unwrap();
    assert_ne!(reset.password.expose_secret(), password.expose_secret());
    assert!(matches!(
        w.app.console_session(&session.token).await,
        Err(AppError::Unauthorized)
    ));
    assert!(matches!(
        w.app
            .console_sign_in("dpo@logalto.example", &password)
            .await,
        Err(AppError::Unauthorized)
    ));
    // The other user's session is untouched.
    w.app.console_session(&theirs.token).await.unwrap();

    w.app
        .remove_console_user(Actor::Operator, w.ctx.tenant, viewer.user.id)
        .await
        .unwrap();
    assert!(matches!(
        w.app.console_session(&theirs.token).await,
        Err(AppError::Unauthorized)
    ));
    assert!(matches!(
        w.app
            .remove_console_user(Actor::Operator, w.ctx.tenant, viewer.user.id)
            .await,
        Err(AppError::NotFound(_))
    ));
    assert_eq!(
        audited(
            &w,
            &[
                AuditAction::ConsoleUserCreated,
                AuditAction::ConsoleUserPasswordReset,
                AuditAction::ConsoleUserRemoved
            ]
        )
        .await,
        [
            AuditAction::ConsoleUserCreated,
            AuditAction::ConsoleUserCreated,
            AuditAction::ConsoleUserPasswordReset,
            AuditAction::ConsoleUserRemoved
        ]
    );
}

#[tokio::test]
async fn wrong_passwords_never_lock_a_user_out_and_say_nothing_of_the_address() {
    // Passwords are generated (116 bits): guessing is hopeless, so no lockout that anyone
    // could use to keep the DPO out; the HTTP layer limits each source instead.
    let w = world().await;
    let (_, password) = dpo(&w).await;
    for _ in 0..30 {
        for email in ["dpo@logalto.example", "nobody@logalto.example"] {
            assert!(matches!(
                w.app.console_sign_in(email, &secret("guess")).await,
                Err(AppError::Unauthorized)
            ));
        }
    }
    w.app
        .console_sign_in("dpo@logalto.example", &password)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_session_from_before_a_password_reset_is_refused_even_written_back() {
    let w = world().await;
    let (user, password) = dpo(&w).await;
    let signed_in = w
        .app
        .console_sign_in("dpo@logalto.example", &password)
        .await
        .unwrap();
    let owner = Owner::Tenant(w.ctx.tenant);
    let session = w
        .store
        .get_document(owner, DocumentKind::ConsoleSession, signed_in.session.id)
        .await
        .unwrap();
    w.app
        .reset_console_password(Actor::Operator, w.ctx.tenant, user.id)
        .await
        .unwrap();
    // A sign-in that read the old password before the reset writes its session after it
    // (or a page's last-use update writes one back): still refused.
    w.store.put_document(&session).await.unwrap();
    assert!(matches!(
        w.app.console_session(&signed_in.token).await,
        Err(AppError::Unauthorized)
    ));
}

/// The claim is a create-only write (`DocumentStore::insert_document`), which the storage
/// adapter's tests race across connections; here, the rule over it.
#[tokio::test]
async fn one_address_added_twice_makes_one_user_in_any_tenant_and_is_free_again_once_removed() {
    let w = world().await;
    let add = || {
        w.app.create_console_user(
            Actor::Operator,
            w.ctx.tenant,
            "dpo@logalto.example",
            ConsoleRole::Dpo,
        )
    };
    let (a, b) = tokio::join!(add(), add());
    let made: Vec<_> = [a, b].into_iter().filter_map(Result::ok).collect();
    assert_eq!(made.len(), 1, "one of two creations");
    assert_eq!(w.app.console_users(w.ctx.tenant).await.unwrap().len(), 1);
    let other = w.other_tenant().await;
    let elsewhere = w
        .app
        .create_console_user(
            Actor::Operator,
            other.tenant,
            "DPO@logalto.example",
            ConsoleRole::Viewer,
        )
        .await;
    assert!(
        matches!(elsewhere, Err(AppError::Conflict(_))),
        "{elsewhere:?}"
    );
    w.app
        .remove_console_user(Actor::Operator, w.ctx.tenant, made[0].user.id)
        .await
        .unwrap();
    add().await.unwrap();
}

#[tokio::test]
async fn an_operator_session_needs_the_admin_token_it_was_opened_with() {
    let w = world().await;
    let (_, token) = w.app.operator_sign_in("key-one").await.unwrap();
    w.app
        .operator_session(&token, Some("key-one"))
        .await
        .unwrap();
    for now in [None, Some("key-two")] {
        assert!(matches!(
            w.app.operator_session(&token, now).await,
            Err(AppError::Unauthorized)
        ));
    }
    // Ended for good: the old token coming back does not revive it.
    assert!(matches!(
        w.app.operator_session(&token, Some("key-one")).await,
        Err(AppError::Unauthorized)
    ));
    // A tenant's session token is no operator's, nor the reverse.
    let (_, password) = dpo(&w).await;
    let staff = w
        .app
        .console_sign_in("dpo@logalto.example", &password)
        .await
        .unwrap();
    assert!(matches!(
        w.app.operator_session(&staff.token, Some("key-one")).await,
        Err(AppError::Unauthorized)
    ));
    assert!(matches!(
        w.app.console_session(&token).await,
        Err(AppError::Unauthorized)
    ));
}

#[tokio::test]
async fn an_offboarding_tenant_cannot_sign_in_and_ended_sessions_are_pruned() {
    let w = world().await;
    let (_, password) = dpo(&w).await;
    let session = w
        .app
        .console_sign_in("dpo@logalto.example", &password)
        .await
        .unwrap();
    let stale = w
        .app
        .console_sign_in("dpo@logalto.example", &password)
        .await
        .unwrap();
    w.clock.advance(Duration::minutes(20));
    w.app.console_session(&session.token).await.unwrap();
    w.clock.advance(Duration::minutes(15));
    // The stale one (idle 35 minutes) goes; the one used 15 minutes ago stays.
    assert_eq!(w.app.prune_console_sessions().await.unwrap(), 1);
    w.app.console_session(&session.token).await.unwrap();
    assert!(matches!(
        w.app.console_session(&stale.token).await,
        Err(AppError::Unauthorized)
    ));

    w.app
        .schedule_offboarding(Actor::Operator, w.ctx.tenant, Some(30))
        .await
        .unwrap();
    assert!(matches!(
        w.app.console_session(&session.token).await,
        Err(AppError::TenantOffboarding { .. })
    ));
    assert!(matches!(
        w.app
            .console_sign_in("dpo@logalto.example", &password)
            .await,
        Err(AppError::TenantOffboarding { .. })
    ));
}

#[tokio::test]
async fn a_user_removed_or_reset_after_a_backup_stays_so_after_a_restore() {
    use crate::backup_restore::{back_up, config, on_an_empty_store, progress};
    let w = crate::helpers::world_with(config()).await;
    let (dpo, dpo_password) = dpo(&w).await;
    let viewer = w
        .app
        .create_console_user(
            Actor::Operator,
            w.ctx.tenant,
            "viewer@logalto.example",
            ConsoleRole::Viewer,
        )
        .await
        .unwrap();
    // A third user's password reset before the backup: in force in the backup already.
    let early = w
        .app
        .create_console_user(
            Actor::Operator,
            w.ctx.tenant,
            "early@logalto.example",
            ConsoleRole::Viewer,
        )
        .await
        .unwrap();
    w.clock.advance(time::Duration::minutes(1));
    let early_password = w
        .app
        .reset_console_password(Actor::Operator, w.ctx.tenant, early.user.id)
        .await
        .unwrap()
        .password;
    w.clock.advance(time::Duration::minutes(1));
    let backup = back_up(&w).await;
    w.clock.advance(time::Duration::minutes(1));
    w.app
        .remove_console_user(Actor::Operator, w.ctx.tenant, viewer.user.id)
        .await
        .unwrap();
    w.app
        .reset_console_password(Actor::Operator, w.ctx.tenant, dpo.id)
        .await
        .unwrap();
    let kinds: Vec<&str> = crate::journal::decisions(&w)
        .iter()
        .map(gdpr_rights::Decision::kind)
        .collect();
    assert_eq!(kinds, ["console_user_revoked"; 3]);

    // The database is lost; the backup holds both users as they were.
    let (_, recovered) = on_an_empty_store(&w);
    let report = recovered
        .restore_tenant(
            w.ctx.tenant,
            Some(&backup),
            false,
            &gdpr_testkit::EnvelopeDecryptor,
            &progress(),
        )
        .await
        .unwrap();
    assert_eq!(report.decisions_replayed, 2, "{report:?}");
    let users = recovered.console_users(w.ctx.tenant).await.unwrap();
    assert_eq!(users.len(), 2, "the removed viewer stays removed");
    // The reset the backup already held locks nothing.
    recovered
        .console_sign_in("early@logalto.example", &early_password)
        .await
        .unwrap();
    // Neither the old password (the backup's) nor any other opens the reset user's account
    // until the operator resets it again.
    for password in [
        dpo_password.expose_secret(),
        "!locked: reset after a restore",
    ] {
        assert!(matches!(
            recovered
                .console_sign_in("dpo@logalto.example", &secret(password))
                .await,
            Err(AppError::Unauthorized)
        ));
    }
    assert!(matches!(
        recovered
            .console_sign_in("viewer@logalto.example", &viewer.password)
            .await,
        Err(AppError::Unauthorized)
    ));
    let fresh = recovered
        .reset_console_password(Actor::Operator, w.ctx.tenant, dpo.id)
        .await
        .unwrap();
    recovered
        .console_sign_in("dpo@logalto.example", &fresh.password)
        .await
        .unwrap();
}
