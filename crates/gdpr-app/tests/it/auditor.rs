//! Exports for auditors: requests and consent events of a period, paged, as CSV, audited.

use gdpr_app::{AppError, Period, consent_events_csv, requests_csv};
use gdpr_audit::AuditAction;
use gdpr_rights::RequestKind;
use time::Duration;
use time::macros::datetime;

use crate::helpers::{web, world};

#[tokio::test]
async fn requests_and_consent_events_of_a_period_page_and_export_as_csv() {
    let w = world().await;
    let (_, consent) = w.contractors().await;
    let mut subjects = Vec::new();
    for seed in 0..5 {
        let s = w.subject(seed).await;
        w.app
            .give_consent(w.ctx, s.id, consent.id, web(Some("203.0.113.9")))
            .await
            .unwrap();
        w.app
            .open_request(w.ctx, s.id, RequestKind::Access)
            .await
            .unwrap();
        subjects.push(s);
        w.clock.advance(Duration::days(1));
    }
    // 2026-01-31 10:00 + n days: the period holds the 2nd, 3rd and 4th (Feb 1 to Feb 3).
    let period = Period::new(
        datetime!(2026-02-01 00:00 UTC),
        datetime!(2026-02-04 00:00 UTC),
    )
    .unwrap();
    let first = w
        .app
        .auditor_requests(w.ctx, period, None, 2)
        .await
        .unwrap();
    assert_eq!(first.len(), 2);
    let after = gdpr_ports::Cursor {
        at: first[1].request.received_at,
        id: *first[1].request.id.as_uuid(),
    };
    let rest = w
        .app
        .auditor_requests(w.ctx, period, Some(after), 2)
        .await
        .unwrap();
    assert_eq!(rest.len(), 1, "the period ends");
    let got: Vec<_> = first
        .iter()
        .chain(&rest)
        .map(|v| v.request.subject)
        .collect();
    assert_eq!(got, [subjects[1].id, subjects[2].id, subjects[3].id]);

    let events = w
        .app
        .auditor_consent_events(w.ctx, period, 0, 2)
        .await
        .unwrap();
    assert_eq!(events.items.len(), 2);
    let more = w
        .app
        .auditor_consent_events(w.ctx, period, events.next.unwrap(), 2)
        .await
        .unwrap();
    assert_eq!(more.items.len(), 1);
    assert_eq!(more.items[0].1.subject, subjects[3].id);

    let csv = requests_csv(&[first, rest].concat());
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 4, "{csv}");
    assert!(lines[0].starts_with("\"id\",\"subject\",\"kind\""), "{csv}");
    assert!(
        lines[1].contains("\"access\"") && lines[1].contains("\"open\""),
        "{csv}"
    );
    let all = [events.items, more.items].concat();
    let csv = consent_events_csv(&all);
    assert!(
        csv.contains("\"given\"") && csv.contains("\"203.0.113.0/24\""),
        "{csv}"
    );
    assert!(
        !csv.contains("203.0.113.9"),
        "the full address was never kept"
    );
    for s in &subjects {
        assert!(!csv.contains(s.email.as_ref().unwrap().expose_pii()));
    }
    let audited = w
        .app
        .audit_log(w.ctx, 0, 1000)
        .await
        .unwrap()
        .iter()
        .filter(|r| r.event.action == AuditAction::AuditorExport)
        .count();
    assert_eq!(audited, 4);
    assert!(matches!(
        Period::new(
            datetime!(2026-02-04 00:00 UTC),
            datetime!(2026-02-01 00:00 UTC)
        ),
        Err(AppError::InvalidInput { field: "to", .. })
    ));
}
