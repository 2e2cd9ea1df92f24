//! The breach register (Art. 33, 34): per tenant and deployment-wide; the 72-hour clock, the
//! authority's notification, the decision whether the people affected must be told, the people
//! a selector finds (counts; their ids go out as webhook events when they are to be told), and
//! the notification draft. Every step is in the audit chain: the tenant's, or the system one
//! for a deployment-wide breach.

use std::fmt::Write as _;

use gdpr_audit::{Actor, AuditAction, AuditEvent};
use gdpr_pii::TenantId;
use gdpr_ports::{Clock as _, Document, DocumentKind, DocumentStore, Owner, Ports};
use gdpr_rights::{Affected, AuthorityNotice, BatchSelector, Breach, BreachError, Clock};
use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{App, AppError, Ctx};

/// Whose register: a tenant's (its API key, or the operator for it), or the deployment's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreachScope {
    /// A tenant's breach.
    Tenant(Ctx),
    /// The deployment's (the operator's), touching every tenant.
    Deployment,
}

impl BreachScope {
    const fn owner(self) -> Owner {
        match self {
            Self::Tenant(ctx) => Owner::Tenant(ctx.tenant),
            Self::Deployment => Owner::Deployment,
        }
    }

    const fn tenant(self) -> Option<TenantId> {
        match self {
            Self::Tenant(ctx) => Some(ctx.tenant),
            Self::Deployment => None,
        }
    }

    const fn actor(self) -> Actor {
        match self {
            Self::Tenant(ctx) => ctx.actor,
            Self::Deployment => Actor::Operator,
        }
    }
}

/// A breach and where its clock stands.
#[derive(Debug, Clone, PartialEq)]
pub struct BreachView {
    /// Its id.
    pub id: Uuid,
    /// Whether it is the deployment's.
    pub deployment: bool,
    /// The breach.
    pub breach: Breach,
    /// Its 72-hour clock now.
    pub clock: Clock,
}

/// What the supervisory authority asks for (Art. 33(3)), ready to paste into its form.
#[derive(Debug, Clone, Serialize)]
pub struct NotificationDraft {
    /// The breach's id in this register.
    pub breach: Uuid,
    /// The controller (the tenant, or the operator for a deployment-wide breach).
    pub controller: String,
    /// Its contact point, the DPO's (Art. 33(3)(b)).
    pub contact: String,
    /// The breach as recorded.
    pub facts: Breach,
    /// When the authority must be notified.
    #[serde(with = "time::serde::rfc3339")]
    pub due_at: OffsetDateTime,
    /// Whether the 72 hours are past (a late notification must say why).
    pub late: bool,
    /// When the draft was made.
    #[serde(with = "time::serde::rfc3339")]
    pub generated_at: OffsetDateTime,
}

impl From<BreachError> for AppError {
    fn from(e: BreachError) -> Self {
        match e {
            // The state (the breach's detection, the clock) refuses these, not the body's shape.
            BreachError::AlreadyNotified
            | BreachError::AlreadyTold
            | BreachError::NotDecided
            | BreachError::Times
            | BreachError::NoticeTime
            | BreachError::LateWithoutReason => Self::Conflict(e.to_string()),
            other => Self::InvalidInput {
                field: other.field(),
                reason: other.to_string(),
            },
        }
    }
}

fn parse(doc: &Document) -> Result<Breach, AppError> {
    serde_json::from_str(&doc.body).map_err(|_| {
        AppError::store(gdpr_ports::StoreError::Corrupt(
            "a breach does not read back".into(),
        ))
    })
}

impl<P: Ports> App<P> {
    fn breach_event(&self, scope: BreachScope, action: AuditAction, id: Uuid) -> AuditEvent {
        AuditEvent::new(self.clock.now(), scope.tenant(), scope.actor(), action).with("breach", id)
    }

    async fn load_breach(
        &self,
        scope: BreachScope,
        id: Uuid,
    ) -> Result<(Document, Breach), AppError> {
        let doc = self
            .store
            .get_document(scope.owner(), DocumentKind::Breach, id)
            .await
            .map_err(AppError::not_found("breach"))?;
        let breach = parse(&doc)?;
        Ok((doc, breach))
    }

    async fn save_breach(
        &self,
        scope: BreachScope,
        mut doc: Document,
        breach: &Breach,
        event: AuditEvent,
    ) -> Result<BreachView, AppError> {
        doc.body = serde_json::to_string(breach).unwrap_or_default();
        self.store
            .put_document(&doc)
            .await
            .map_err(AppError::store)?;
        self.audit(event).await?;
        Ok(self.breach_view(scope, doc.id, breach.clone()))
    }

    fn breach_view(&self, scope: BreachScope, id: Uuid, breach: Breach) -> BreachView {
        BreachView {
            id,
            deployment: scope == BreachScope::Deployment,
            clock: breach.clock(self.clock.now()),
            breach,
        }
    }

    /// Records a breach; its 72-hour clock runs from `detected_at`. Audited (a tenant's
    /// endpoints hear `breach.recorded`).
    ///
    /// # Errors
    /// [`AppError::InvalidInput`] naming the field; storage errors.
    pub async fn record_breach(
        &self,
        scope: BreachScope,
        breach: Breach,
    ) -> Result<BreachView, AppError> {
        let now = self.clock.now();
        let mut breach = breach.checked(now)?;
        breach.authority = None;
        breach.subjects = None;
        breach.subjects_notified_at = None;
        breach.affected = None;
        let doc = Document {
            id: Uuid::now_v7(),
            kind: DocumentKind::Breach,
            owner: scope.owner(),
            created_at: now,
            body: String::new(),
        };
        let event = self
            .breach_event(scope, AuditAction::BreachRecorded, doc.id)
            .with("subjects_approx", breach.subjects_approx);
        self.save_breach(scope, doc, &breach, event).await
    }

    /// The register, oldest first.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn breaches(&self, scope: BreachScope) -> Result<Vec<BreachView>, AppError> {
        let docs = self
            .store
            .list_documents(scope.owner(), DocumentKind::Breach)
            .await
            .map_err(AppError::store)?;
        docs.iter()
            .map(|d| Ok(self.breach_view(scope, d.id, parse(d)?)))
            .collect()
    }

    /// One breach.
    ///
    /// # Errors
    /// [`AppError::NotFound`]; storage errors.
    pub async fn breach(&self, scope: BreachScope, id: Uuid) -> Result<BreachView, AppError> {
        let (_, breach) = self.load_breach(scope, id).await?;
        Ok(self.breach_view(scope, id, breach))
    }

    /// Updates what is known of a breach as the investigation goes on (its notification,
    /// decision and the people found stay as recorded). Audited.
    ///
    /// # Errors
    /// [`AppError::NotFound`]; [`AppError::InvalidInput`]; storage errors.
    pub async fn update_breach(
        &self,
        scope: BreachScope,
        id: Uuid,
        facts: Breach,
    ) -> Result<BreachView, AppError> {
        let (doc, old) = self.load_breach(scope, id).await?;
        let mut breach = facts.checked(self.clock.now())?;
        breach.authority = old.authority;
        breach.subjects = old.subjects;
        breach.subjects_notified_at = old.subjects_notified_at;
        breach.affected = old.affected;
        let event = self.breach_event(scope, AuditAction::BreachUpdated, id);
        self.save_breach(scope, doc, &breach, event).await
    }

    /// Records the supervisory authority's notification (after 72 hours, with the reason).
    /// Audited, with whether it was late.
    ///
    /// # Errors
    /// [`AppError::NotFound`]; [`AppError::InvalidInput`]; [`AppError::Conflict`] when
    /// already notified; storage errors.
    pub async fn notify_authority(
        &self,
        scope: BreachScope,
        id: Uuid,
        notice: AuthorityNotice,
    ) -> Result<BreachView, AppError> {
        let (doc, mut breach) = self.load_breach(scope, id).await?;
        let now = self.clock.now();
        breach.notify_authority(notice, now)?;
        let late = matches!(breach.clock(now), Clock::Notified { late: true, .. });
        let event = self
            .breach_event(scope, AuditAction::BreachAuthorityNotified, id)
            .with("late", late);
        self.save_breach(scope, doc, &breach, event).await
    }

    /// Records whether the people affected must be told, and why (Art. 34). Audited.
    ///
    /// # Errors
    /// [`AppError::NotFound`]; [`AppError::InvalidInput`]; [`AppError::Conflict`] once they
    /// were told; storage errors.
    pub async fn decide_breach_subjects(
        &self,
        scope: BreachScope,
        id: Uuid,
        notify: bool,
        reason: &str,
    ) -> Result<BreachView, AppError> {
        let (doc, mut breach) = self.load_breach(scope, id).await?;
        breach.decide(notify, reason, self.clock.now())?;
        let event = self
            .breach_event(scope, AuditAction::BreachSubjectsDecided, id)
            .with("notify", notify);
        self.save_breach(scope, doc, &breach, event).await
    }

    /// Finds the tenant's people a breach touches with a selector (a form, a creation
    /// window, a field's value, listed ids, ...): their count and their records', kept with
    /// the breach. Audited.
    ///
    /// # Errors
    /// [`AppError::NotFound`]; storage errors.
    pub async fn scope_breach(
        &self,
        ctx: Ctx,
        id: Uuid,
        selector: BatchSelector,
    ) -> Result<BreachView, AppError> {
        let scope = BreachScope::Tenant(ctx);
        let (doc, mut breach) = self.load_breach(scope, id).await?;
        let plan = self.plan_batch_erasure(ctx, &selector).await?;
        let subjects = (plan.subjects.len() + plan.blocked.len()) as u64;
        breach.affected = Some(Affected {
            selector,
            subjects,
            records: plan.records,
            computed_at: self.clock.now(),
        });
        let event = self
            .breach_event(scope, AuditAction::BreachScoped, id)
            .with("subjects", subjects)
            .with("records", plan.records);
        self.save_breach(scope, doc, &breach, event).await
    }

    /// Tells the people a breach touches, once it was decided they must be: one audit record
    /// per person (`breach_subject_notified`, ids only), which the tenant's endpoints hear as
    /// `breach.subject_notified` and the SaaS turns into its message to each. Returns how
    /// many.
    ///
    /// # Errors
    /// [`AppError::NotFound`]; [`AppError::Conflict`] without a decision to tell them, or
    /// without the people found ([`App::scope_breach`]), or when already done; storage
    /// errors.
    pub async fn notify_breach_subjects(&self, ctx: Ctx, id: Uuid) -> Result<u64, AppError> {
        let scope = BreachScope::Tenant(ctx);
        let (doc, mut breach) = self.load_breach(scope, id).await?;
        let Some(affected) = breach.affected.clone() else {
            return Err(AppError::Conflict(
                "find the people affected first (POST .../scope)".into(),
            ));
        };
        breach.mark_subjects_told(self.clock.now())?;
        let plan = self.plan_batch_erasure(ctx, &affected.selector).await?;
        let people: Vec<_> = plan.subjects.into_iter().chain(plan.blocked).collect();
        for chunk in people.chunks(500) {
            for subject in chunk {
                let event = self
                    .breach_event(scope, AuditAction::BreachSubjectNotified, id)
                    .about(*subject);
                self.audit(event).await?;
            }
        }
        let n = people.len() as u64;
        let event = self
            .breach_event(scope, AuditAction::BreachSubjectsNotified, id)
            .with("subjects", n);
        self.save_breach(scope, doc, &breach, event).await?;
        Ok(n)
    }

    /// The draft of the authority's notification: every field Art. 33(3) asks for.
    ///
    /// # Errors
    /// [`AppError::NotFound`]; storage errors.
    pub async fn breach_draft(
        &self,
        scope: BreachScope,
        id: Uuid,
        operator: &str,
    ) -> Result<NotificationDraft, AppError> {
        let (_, breach) = self.load_breach(scope, id).await?;
        let (controller, contact) = match scope {
            BreachScope::Tenant(ctx) => {
                let t = self.tenant(ctx.tenant).await?;
                (t.name, t.privacy_contact)
            }
            BreachScope::Deployment => (operator.to_owned(), operator.to_owned()),
        };
        let now = self.clock.now();
        Ok(NotificationDraft {
            breach: id,
            controller,
            contact,
            due_at: breach.due_at(),
            late: now > breach.due_at() && breach.authority.is_none()
                || matches!(breach.clock(now), Clock::Notified { late: true, .. }),
            facts: breach,
            generated_at: now,
        })
    }

    /// The tenant's breaches and the deployment's whose clock ran out with no notification
    /// recorded: what the attestation fails on.
    pub(crate) async fn overdue_breaches(&self, tenant: TenantId) -> Result<Vec<Uuid>, AppError> {
        let now = self.clock.now();
        let mut late = Vec::new();
        for owner in [Owner::Tenant(tenant), Owner::Deployment] {
            for doc in self
                .store
                .list_documents(owner, DocumentKind::Breach)
                .await
                .map_err(AppError::store)?
            {
                if matches!(parse(&doc)?.clock(now), Clock::Overdue { .. }) {
                    late.push(doc.id);
                }
            }
        }
        Ok(late)
    }
}

impl NotificationDraft {
    /// The draft as Markdown (every text made inert, as the register's).
    #[must_use]
    pub fn to_markdown(&self) -> String {
        let md = crate::register::inert;
        let f = &self.facts;
        let mut out = String::new();
        let _ = writeln!(out, "# Personal data breach notification (GDPR Art. 33)\n");
        let _ = writeln!(out, "- Breach: {} ({})", md(&f.title), self.breach);
        let _ = writeln!(out, "- Controller: {}", md(&self.controller));
        let _ = writeln!(
            out,
            "- Contact point (Art. 33(3)(b)): {}",
            md(&self.contact)
        );
        let _ = writeln!(out, "- Detected: {}", f.detected_at);
        if let Some(at) = f.occurred_at {
            let _ = writeln!(out, "- Began: {at}");
        }
        let _ = writeln!(
            out,
            "- Notification due: {}{}",
            self.due_at,
            if self.late {
                " (late: give the reasons for the delay)"
            } else {
                ""
            }
        );
        let kinds: Vec<&str> = f
            .kinds
            .iter()
            .map(|k| match k {
                gdpr_rights::BreachKind::Confidentiality => "confidentiality",
                gdpr_rights::BreachKind::Integrity => "integrity",
                gdpr_rights::BreachKind::Availability => "availability",
            })
            .collect();
        let _ = writeln!(
            out,
            "\n## Nature (Art. 33(3)(a))\n\n- Kind: {}",
            kinds.join(", ")
        );
        let _ = writeln!(out, "- What happened: {}", md(&f.nature));
        let cats: Vec<&str> = f.categories.iter().map(|c| c.description()).collect();
        let _ = writeln!(out, "- Categories of personal data: {}", cats.join(", "));
        let _ = writeln!(
            out,
            "- People concerned, approximately: {}",
            f.subjects_approx
        );
        let _ = writeln!(
            out,
            "- Records concerned, approximately: {}",
            f.records_approx
        );
        if let Some(a) = &f.affected {
            let _ = writeln!(
                out,
                "- Found by selector on {}: {} people, {} records",
                a.computed_at, a.subjects, a.records
            );
        }
        let _ = writeln!(
            out,
            "\n## Likely consequences (Art. 33(3)(c))\n\n{}",
            md(&f.consequences)
        );
        let _ = writeln!(
            out,
            "\n## Measures taken or proposed (Art. 33(3)(d))\n\n{}",
            md(&f.measures)
        );
        let _ = writeln!(out, "\n## Telling the people concerned (Art. 34)\n");
        match &f.subjects {
            Some(d) if d.notify => {
                let _ = writeln!(out, "They are to be told: {}", md(&d.reason));
            }
            Some(d) => {
                let _ = writeln!(out, "They are not to be told: {}", md(&d.reason));
            }
            None => {
                let _ = writeln!(out, "Not decided yet.");
            }
        }
        out
    }
}
