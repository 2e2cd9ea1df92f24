//! Requests from someone the vault may not hold: the same answer whether or not the address
//! is known until the requester's identity is verified; then a request of the subject, due
//! from the inquiry's receipt, or "nothing held" with the evidence of the search.

use gdpr_app::{AppError, InquiryOutcome};
use gdpr_audit::AuditAction;
use gdpr_ports::DocumentStore as _;
use gdpr_rights::{RequestKind, VerificationMethod};
use time::Duration;

use crate::helpers::world;

#[tokio::test]
async fn an_inquiry_says_nothing_before_verification_then_opens_a_request_or_answers_nothing_held()
{
    let w = world().await;
    let s = w.subject(1).await;
    let known = s.email.as_ref().unwrap().expose_pii().to_owned();
    let a = w
        .app
        .open_inquiry(w.ctx, &known, RequestKind::Access)
        .await
        .unwrap();
    let b = w
        .app
        .open_inquiry(w.ctx, "nobody.here@example.org", RequestKind::Access)
        .await
        .unwrap();
    // Nothing tells the two apart before verification.
    assert_eq!((a.outcome.clone(), a.verification.clone()), (None, None));
    assert_eq!((b.outcome.clone(), b.verification.clone()), (None, None));
    let audit = w.app.audit_log(w.ctx, 0, 1000).await.unwrap();
    let log = serde_json::to_string(&audit).unwrap();
    assert!(
        !log.contains(&known) && !log.contains("nobody.here"),
        "no address in the chain"
    );

    w.clock.advance(Duration::days(3));
    let opened = w
        .app
        .verify_inquiry(w.ctx, a.id, VerificationMethod::EmailCode, None)
        .await
        .unwrap();
    let Some(InquiryOutcome::RequestOpened { request }) = opened.outcome else {
        panic!("{opened:?}");
    };
    let r = w.app.request(w.ctx, request).await.unwrap();
    assert_eq!(r.request.subject, s.id);
    assert_eq!(
        r.request.received_at, a.received_at,
        "due from the inquiry's receipt"
    );
    assert!(r.request.verification.is_some(), "verified already");
    w.app.complete_request(w.ctx, request).await.unwrap();

    let none = w
        .app
        .verify_inquiry(w.ctx, b.id, VerificationMethod::EmailCode, None)
        .await
        .unwrap();
    match none.outcome {
        Some(InquiryOutcome::NothingHeld {
            searched_at,
            ref method,
        }) => {
            assert_eq!(searched_at, gdpr_ports::Clock::now(&w.clock));
            assert!(method.contains("blind-index"), "{method}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        w.app
            .verify_inquiry(w.ctx, b.id, VerificationMethod::EmailCode, None)
            .await,
        Err(AppError::Conflict(_))
    ));
    let actions = crate::helpers::audited(
        &w,
        &[
            AuditAction::InquiryReceived,
            AuditAction::InquiryAnsweredNothingHeld,
        ],
    )
    .await;
    assert_eq!(
        actions,
        [
            AuditAction::InquiryReceived,
            AuditAction::InquiryReceived,
            AuditAction::InquiryAnsweredNothingHeld
        ]
    );
    // The address is kept only until the answer.
    let stored = w
        .store
        .list_documents(
            gdpr_ports::Owner::Tenant(w.ctx.tenant),
            gdpr_ports::DocumentKind::Inquiry,
        )
        .await
        .unwrap();
    for d in stored {
        assert!(
            !d.body.contains("example.org") && !d.body.contains(&known),
            "{}",
            d.body
        );
    }
    assert!(matches!(
        w.app
            .open_inquiry(w.ctx, "not an address", RequestKind::Access)
            .await,
        Err(AppError::InvalidInput { field: "email", .. })
    ));
}

#[tokio::test]
async fn an_inquiry_whose_requester_cannot_be_verified_is_refused_with_reasons_and_its_address_erased()
 {
    let w = world().await;
    let s = w.subject(1).await;
    let known = s.email.as_ref().unwrap().expose_pii().to_owned();
    let a = w
        .app
        .open_inquiry(w.ctx, &known, RequestKind::Erasure)
        .await
        .unwrap();
    // A refusal says why.
    for blank in ["", "   "] {
        assert!(matches!(
            w.app.refuse_inquiry(w.ctx, a.id, blank).await,
            Err(AppError::Request(gdpr_rights::RequestError::ReasonRequired))
        ));
    }
    let reason = "the requester could not show they hold the address";
    let refused = w.app.refuse_inquiry(w.ctx, a.id, reason).await.unwrap();
    assert_eq!(
        refused.outcome,
        Some(InquiryOutcome::Refused {
            reason: reason.into(),
            at: gdpr_ports::Clock::now(&w.clock),
        })
    );
    assert_eq!(refused.verification, None);
    assert_eq!(w.app.inquiry(w.ctx, a.id).await.unwrap(), refused);
    // Answered for good: neither verified nor refused again; no request was opened.
    assert!(matches!(
        w.app
            .verify_inquiry(w.ctx, a.id, VerificationMethod::EmailCode, None)
            .await,
        Err(AppError::Conflict(_))
    ));
    assert!(matches!(
        w.app.refuse_inquiry(w.ctx, a.id, reason).await,
        Err(AppError::Conflict(_))
    ));
    assert!(
        w.app
            .requests(w.ctx, false, gdpr_ports::Page::ALL)
            .await
            .unwrap()
            .is_empty()
    );
    // The address is gone; the chain says it was refused, without it.
    let doc = w
        .store
        .get_document(
            gdpr_ports::Owner::Tenant(w.ctx.tenant),
            gdpr_ports::DocumentKind::Inquiry,
            a.id,
        )
        .await
        .unwrap();
    assert!(!doc.body.contains(&known), "{}", doc.body);
    let actions = crate::helpers::audited(&w, &[AuditAction::InquiryRefused]).await;
    assert_eq!(actions, [AuditAction::InquiryRefused]);
    let log = serde_json::to_string(&w.app.audit_log(w.ctx, 0, 1000).await.unwrap()).unwrap();
    assert!(!log.contains(&known));
    // Another tenant's inquiry is not found.
    let other = w.other_tenant().await;
    assert!(matches!(
        w.app.refuse_inquiry(other, a.id, reason).await,
        Err(AppError::NotFound(_))
    ));
}
