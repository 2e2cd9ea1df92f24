//! The request portal's use cases: a code goes to the address given, known or not; only the
//! code opens the request (verified `email_code`) or answers "nothing held"; codes expire,
//! work once, for five tries; codes sent are limited per address and per source.

use gdpr_app::{AppError, Lang, PortalAnswer};
use gdpr_audit::{Actor, AuditAction};
use gdpr_ports::{DocumentStore as _, MailError, RequestStore as _};
use gdpr_rights::{RequestKind, VerificationMethod};
use gdpr_testkit::RecordingMailer;
use time::Duration;

use crate::helpers::{World, audited, world};

/// A world whose app sends mail to `mailer`.
async fn portal_world() -> (World, RecordingMailer) {
    let mut w = world().await;
    let mailer = RecordingMailer::new();
    let app = w.app;
    w.app = app.with_mailer(std::sync::Arc::new(mailer.clone()));
    (w, mailer)
}

/// Someone asks for access to what `address` has on the world's tenant, from `source`.
async fn ask(
    w: &World,
    address: &str,
    source: &str,
    lang: Lang,
) -> Result<gdpr_app::PortalTicket, AppError> {
    w.app
        .portal_open(w.ctx.tenant, address, RequestKind::Access, source, lang)
        .await
}

/// The eight digits the last message to `address` carries.
fn code_sent_to(mailer: &RecordingMailer, address: &str) -> String {
    let mail = mailer
        .sent()
        .into_iter()
        .rev()
        .find(|m| m.to.expose_pii() == address)
        .expect("a message to the address");
    let at = mail.body.find("code: ").expect("the code's line") + "code: ".len();
    let code = mail.body[at..at + 8].to_owned();
    assert!(code.chars().all(|c| c.is_ascii_digit()), "{code}");
    assert!(mail.subject.contains(&code));
    code
}

/// An eight-digit code that is not `code`.
fn wrong_code(code: &str) -> &'static str {
    if code == "00000000" {
        "00000001"
    } else {
        "00000000"
    }
}

/// Gives `wrong` back `n` times for the world's tenant's `inquiry`: each refused as a wrong
/// code, the inquiry kept.
async fn give_wrong_codes(w: &World, inquiry: uuid::Uuid, wrong: &str, n: usize) {
    for _ in 0..n {
        assert!(matches!(
            w.app.portal_confirm(w.ctx.tenant, inquiry, wrong).await,
            Err(AppError::InvalidInput { field: "code", .. })
        ));
    }
}

#[tokio::test]
async fn a_code_goes_to_the_address_known_or_not_and_only_it_opens_the_request() {
    let (w, mailer) = portal_world().await;
    let tenant = w.ctx.tenant;
    let s = w.subject(1).await;
    let known = s.email.as_ref().unwrap().expose_pii().to_owned();
    let a = w
        .app
        .portal_open(
            tenant,
            &known,
            RequestKind::Erasure,
            "198.51.100.7",
            Lang::En,
        )
        .await
        .unwrap();
    let b = w
        .app
        .portal_open(
            tenant,
            "nobody.here@example.org",
            RequestKind::Erasure,
            "198.51.100.8",
            Lang::En,
        )
        .await
        .unwrap();
    // The same answer, and a message each, whether or not the address is known.
    assert_eq!(a.expires_at, b.expires_at);
    assert_eq!(mailer.sent().len(), 2);
    assert!(
        w.store
            .list_requests(Some(tenant), gdpr_ports::Page::ALL)
            .await
            .unwrap()
            .is_empty(),
        "no request before the code comes back"
    );
    let code_a = code_sent_to(&mailer, &known);
    let code_b = code_sent_to(&mailer, "nobody.here@example.org");
    let mail = &mailer.sent()[0];
    assert!(mail.body.contains("LogAlto SAS") && mail.body.contains("15 minutes"));

    let opened = w
        .app
        .portal_confirm(tenant, a.inquiry, &code_a)
        .await
        .unwrap();
    let PortalAnswer::RequestOpened { request, due } = opened else {
        panic!("{opened:?}");
    };
    let r = w.app.request(w.ctx, request).await.unwrap();
    assert_eq!(r.request.subject, s.id);
    assert_eq!(r.request.kind, RequestKind::Erasure);
    assert_eq!(due, r.due_date);
    let verification = r.request.verification.expect("verified");
    assert_eq!(verification.method, VerificationMethod::EmailCode);
    assert_eq!(verification.by, "portal");

    assert_eq!(
        w.app
            .portal_confirm(tenant, b.inquiry, &code_b)
            .await
            .unwrap(),
        PortalAnswer::NothingHeld
    );
    // A code works once.
    assert!(matches!(
        w.app.portal_confirm(tenant, a.inquiry, &code_a).await,
        Err(AppError::Conflict(_))
    ));

    // The chain says who acted (the portal) and never the addresses.
    let audit = w.app.audit_log(w.ctx, 0, 1000).await.unwrap();
    let log = serde_json::to_string(&audit).unwrap();
    assert!(!log.contains(&known) && !log.contains("nobody.here"));
    assert!(
        audit
            .iter()
            .any(|r| r.event.action == AuditAction::RequestOpened && r.event.actor == Actor::Portal)
    );
    assert_eq!(
        audited(
            &w,
            &[
                AuditAction::InquiryReceived,
                AuditAction::InquiryAnsweredNothingHeld
            ]
        )
        .await,
        [
            AuditAction::InquiryReceived,
            AuditAction::InquiryReceived,
            AuditAction::InquiryAnsweredNothingHeld
        ]
    );
}

#[tokio::test]
async fn a_wrong_code_costs_a_try_and_the_last_try_or_time_ends_it() {
    let (w, mailer) = portal_world().await;
    let tenant = w.ctx.tenant;
    let address = "grace@example.org";
    let t = ask(&w, address, "198.51.100.7", Lang::Fr).await.unwrap();
    let mail = &mailer.sent()[0];
    assert!(mail.subject.starts_with("Votre code"), "{}", mail.subject);
    let code = mail.body.split("Votre code : ").nth(1).unwrap()[..8].to_owned();
    let wrong = wrong_code(&code);
    // What is not eight digits costs nothing.
    for garbage in ["", "1234", "abcdefgh", "123456789"] {
        assert!(matches!(
            w.app.portal_confirm(tenant, t.inquiry, garbage).await,
            Err(AppError::InvalidInput { field: "code", .. })
        ));
    }
    // Nor does another tenant's portal know the inquiry.
    let other = w.other_tenant().await;
    assert!(matches!(
        w.app.portal_confirm(other.tenant, t.inquiry, &code).await,
        Err(AppError::NotFound(_))
    ));
    give_wrong_codes(&w, t.inquiry, wrong, 4).await;
    assert!(matches!(
        w.app.portal_confirm(tenant, t.inquiry, wrong).await,
        Err(AppError::Gone(_))
    ));
    // Out of tries: the inquiry is gone, address and all; the right code finds nothing.
    // The five tries stay recorded (ids only) until the hourly prune.
    assert!(matches!(
        w.app.portal_confirm(tenant, t.inquiry, &code).await,
        Err(AppError::NotFound(_))
    ));
    assert!(inquiry_kept(&w, t.inquiry).await.is_none());
    assert_eq!(tries_kept(&w).await, 5);

    // A new code, given back too late: gone too.
    let t = ask(&w, address, "198.51.100.7", Lang::En).await.unwrap();
    let code = code_sent_to(&mailer, address);
    w.clock.advance(Duration::minutes(15));
    assert!(matches!(
        w.app.portal_confirm(tenant, t.inquiry, &code).await,
        Err(AppError::Gone(_))
    ));
    assert!(inquiry_kept(&w, t.inquiry).await.is_none());
    // An inquiry opened through the API has no code to give back.
    let api = w
        .app
        .open_inquiry(w.ctx, address, RequestKind::Access)
        .await
        .unwrap();
    assert!(matches!(
        w.app.portal_confirm(tenant, api.id, &code).await,
        Err(AppError::NotFound(_))
    ));
}

/// How many records of tries taken (and codes claimed) the tenant keeps.
async fn tries_kept(w: &World) -> usize {
    w.store
        .list_documents(
            gdpr_ports::Owner::Tenant(w.ctx.tenant),
            gdpr_ports::DocumentKind::InquiryClaim,
        )
        .await
        .unwrap()
        .len()
}

/// The inquiry's stored document, if it is still kept.
async fn inquiry_kept(w: &World, id: uuid::Uuid) -> Option<gdpr_ports::Document> {
    use gdpr_ports::DocumentStore as _;
    w.store
        .get_document(
            gdpr_ports::Owner::Tenant(w.ctx.tenant),
            gdpr_ports::DocumentKind::Inquiry,
            id,
        )
        .await
        .ok()
}

#[tokio::test]
async fn two_replicas_given_the_right_code_at_once_open_one_request() {
    let (w, mailer) = portal_world().await;
    let s = w.subject(1).await;
    let address = s.email.as_ref().unwrap().expose_pii().to_owned();
    let t = ask(&w, &address, "198.51.100.7", Lang::En).await.unwrap();
    let code = code_sent_to(&mailer, &address);
    let other = w.another_app(gdpr_app::AppConfig::default());
    let (a, b) = tokio::join!(
        w.app.portal_confirm(w.ctx.tenant, t.inquiry, &code),
        other.portal_confirm(w.ctx.tenant, t.inquiry, &code)
    );
    let answered = [&a, &b].iter().filter(|r| r.is_ok()).count();
    assert_eq!(answered, 1, "{a:?} {b:?}");
    assert!(
        matches!(a, Err(AppError::Conflict(_))) || matches!(b, Err(AppError::Conflict(_))),
        "{a:?} {b:?}"
    );
    let requests = w
        .store
        .list_requests(Some(w.ctx.tenant), gdpr_ports::Page::ALL)
        .await
        .unwrap();
    assert_eq!(requests.len(), 1);
}

#[tokio::test]
async fn unconfirmed_portal_inquiries_are_deleted_once_their_code_expired() {
    let (w, mailer) = portal_world().await;
    let never = ask(&w, "never@example.org", "198.51.100.7", Lang::En)
        .await
        .unwrap();
    let answered = ask(&w, "ada@example.org", "198.51.100.7", Lang::En)
        .await
        .unwrap();
    let code = code_sent_to(&mailer, "ada@example.org");
    w.app
        .portal_confirm(w.ctx.tenant, answered.inquiry, &code)
        .await
        .unwrap();
    let api = w
        .app
        .open_inquiry(w.ctx, "grace@example.org", RequestKind::Access)
        .await
        .unwrap();
    // A wrong code for the one never confirmed: a try taken.
    let wrong = wrong_code(&code_sent_to(&mailer, "never@example.org"));
    assert!(matches!(
        w.app
            .portal_confirm(w.ctx.tenant, never.inquiry, wrong)
            .await,
        Err(AppError::InvalidInput { field: "code", .. })
    ));
    // The answered one's try and claim, the other's try.
    assert_eq!(tries_kept(&w).await, 3);
    // Within the code's life: nothing goes.
    assert_eq!(w.app.prune_portal_inquiries().await.unwrap(), 0);
    w.clock.advance(Duration::minutes(15));
    assert_eq!(w.app.prune_portal_inquiries().await.unwrap(), 1);
    assert!(inquiry_kept(&w, never.inquiry).await.is_none());
    // The records of tries and claims go an hour past the codes' life.
    assert_eq!(tries_kept(&w).await, 3);
    w.clock.advance(Duration::minutes(59));
    w.app.prune_portal_inquiries().await.unwrap();
    assert_eq!(tries_kept(&w).await, 3);
    w.clock.advance(Duration::minutes(1));
    w.app.prune_portal_inquiries().await.unwrap();
    assert_eq!(tries_kept(&w).await, 0);
    // The answered one keeps its evidence; the API's waits for the operator.
    assert!(inquiry_kept(&w, answered.inquiry).await.is_some());
    assert!(inquiry_kept(&w, api.id).await.is_some());
}

#[tokio::test]
async fn codes_are_limited_per_address_and_per_source() {
    let (w, mailer) = portal_world().await;
    let open = |address: &'static str, source: &'static str| ask(&w, address, source, Lang::En);
    for source in ["198.51.100.1", "198.51.100.2", "198.51.100.3"] {
        open("ada@example.org", source).await.unwrap();
    }
    // A fourth code to one address within the hour, from wherever: refused, nothing sent.
    assert!(matches!(
        open("ada@example.org", "198.51.100.4").await,
        Err(AppError::TooManyRequests(_))
    ));
    assert_eq!(mailer.sent().len(), 3);
    w.clock.advance(Duration::hours(1));
    open("ada@example.org", "198.51.100.4").await.unwrap();

    // Ten codes from one source, then it waits; another source does not.
    let addresses: Vec<&'static str> = (0..11)
        .map(|i| &*Box::leak(format!("person{i}@example.org").into_boxed_str()))
        .collect();
    for address in &addresses[..10] {
        open(address, "203.0.113.9").await.unwrap();
    }
    assert!(matches!(
        open(addresses[10], "203.0.113.9").await,
        Err(AppError::TooManyRequests(_))
    ));
    open(addresses[10], "203.0.113.10").await.unwrap();

    // An IPv6 source is its /64: another address in it is the same source.
    for address in &addresses[..10] {
        open(address, "2001:db8::1").await.unwrap();
    }
    assert!(matches!(
        open(addresses[10], "2001:db8::ffff").await,
        Err(AppError::TooManyRequests(_))
    ));
    open(addresses[10], "2001:db8:0:1::1").await.unwrap();

    // Ten a day to one address: Ada has had four; two more this hour, three the next, one
    // the hour after; then the day is full, though the hour is not.
    for source in ["198.51.100.5", "198.51.100.5"] {
        open("ada@example.org", source).await.unwrap();
    }
    w.clock.advance(Duration::hours(1));
    for _ in 0..3 {
        open("ada@example.org", "198.51.100.6").await.unwrap();
    }
    w.clock.advance(Duration::hours(1));
    open("ada@example.org", "198.51.100.6").await.unwrap();
    assert!(matches!(
        open("ada@example.org", "198.51.100.6").await,
        Err(AppError::TooManyRequests(_))
    ));
    // A day after the first three, they no longer count.
    w.clock.advance(Duration::hours(21));
    open("ada@example.org", "198.51.100.6").await.unwrap();
}

#[tokio::test]
async fn codes_are_limited_per_tenant_whatever_the_sources() {
    let config = gdpr_app::AppConfig {
        portal: gdpr_app::PortalConfig {
            codes_per_tenant: 2,
            ..gdpr_app::PortalConfig::default()
        },
        ..gdpr_app::AppConfig::default()
    };
    let mut w = crate::helpers::world_with(config).await;
    let app = w.app;
    w.app = app.with_mailer(std::sync::Arc::new(RecordingMailer::new()));
    ask(&w, "a@example.org", "198.51.100.1", Lang::En)
        .await
        .unwrap();
    ask(&w, "b@example.org", "198.51.100.2", Lang::En)
        .await
        .unwrap();
    assert!(matches!(
        ask(&w, "c@example.org", "198.51.100.3", Lang::En).await,
        Err(AppError::TooManyRequests(_))
    ));
    // Another tenant's portal is not held back.
    let other = w.other_tenant().await;
    w.app
        .portal_open(
            other.tenant,
            "c@example.org",
            RequestKind::Access,
            "198.51.100.3",
            Lang::En,
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_code_that_cannot_be_sent_is_said_and_bad_input_changes_nothing() {
    let (w, mailer) = portal_world().await;
    mailer.fail_with(Some(MailError::Unavailable));
    assert!(matches!(
        ask(&w, "ada@example.org", "198.51.100.7", Lang::En).await,
        Err(AppError::Mail(MailError::Unavailable))
    ));
    mailer.fail_with(None);
    assert!(matches!(
        ask(&w, "not an address", "198.51.100.7", Lang::En).await,
        Err(AppError::InvalidInput { field: "email", .. })
    ));
    assert!(matches!(
        w.app
            .portal_open(
                gdpr_pii::TenantId::at(time::OffsetDateTime::UNIX_EPOCH),
                "ada@example.org",
                RequestKind::Access,
                "198.51.100.7",
                Lang::En
            )
            .await,
        Err(AppError::NotFound(_))
    ));
    assert!(mailer.sent().is_empty());
}

#[tokio::test]
async fn without_a_mailer_the_portal_says_it_cannot_send() {
    let w = world().await;
    assert!(matches!(
        ask(&w, "ada@example.org", "198.51.100.7", Lang::En).await,
        Err(AppError::Mail(MailError::Unavailable))
    ));
}

#[tokio::test]
async fn a_code_and_a_refusal_answer_once_and_an_inquiry_being_answered_is_never_dropped() {
    let (w, mailer) = portal_world().await;
    let tenant = w.ctx.tenant;
    let reason = "the requester could not show they hold the address";
    // Refused first: the right code given back then answers nothing.
    let t = ask(&w, "ada@example.org", "198.51.100.7", Lang::En)
        .await
        .unwrap();
    let code = code_sent_to(&mailer, "ada@example.org");
    w.app
        .refuse_inquiry(w.ctx, t.inquiry, reason)
        .await
        .unwrap();
    assert!(matches!(
        w.app.portal_confirm(tenant, t.inquiry, &code).await,
        Err(AppError::Conflict(_))
    ));
    assert!(matches!(
        w.app.inquiry(w.ctx, t.inquiry).await.unwrap().outcome,
        Some(gdpr_app::InquiryOutcome::Refused { .. })
    ));

    // Another, whose answer is being written (its claim taken, by a code or an API call):
    // a refusal is told it is answered, and wrong codes, the last one included, never
    // delete it.
    let t = ask(&w, "grace@example.org", "198.51.100.8", Lang::En)
        .await
        .unwrap();
    let code = code_sent_to(&mailer, "grace@example.org");
    let wrong = wrong_code(&code);
    w.store
        .insert_document(&gdpr_ports::Document {
            id: uuid::Uuid::new_v5(&t.inquiry, b"claim"),
            kind: gdpr_ports::DocumentKind::InquiryClaim,
            owner: gdpr_ports::Owner::Tenant(tenant),
            created_at: gdpr_ports::Clock::now(&w.clock),
            body: "{}".into(),
        })
        .await
        .unwrap();
    assert!(matches!(
        w.app.refuse_inquiry(w.ctx, t.inquiry, reason).await,
        Err(AppError::Conflict(_))
    ));
    give_wrong_codes(&w, t.inquiry, wrong, 4).await;
    assert!(matches!(
        w.app.portal_confirm(tenant, t.inquiry, wrong).await,
        Err(AppError::Conflict(_))
    ));
    assert!(inquiry_kept(&w, t.inquiry).await.is_some());
    assert_eq!(w.app.inquiry(w.ctx, t.inquiry).await.unwrap().outcome, None);
}
