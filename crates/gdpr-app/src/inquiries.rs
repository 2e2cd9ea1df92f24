//! Requests from someone the vault may not hold (Art. 12(2), 12(6), 15): an inquiry by e-mail
//! address, answered the same way whether or not the address is known until the requester's
//! identity is verified; then a request of the subject found (its deadline from the inquiry's
//! receipt), or "nothing held" with the evidence of the search: when, how (the keyed
//! blind-index look-up of the normalised address), and the verification. The address is kept
//! only until then (sealed, as every register's document), and erased with the answer.

use gdpr_audit::AuditAction;
use gdpr_pii::{Email, RequestId};
use gdpr_ports::{
    Clock as _, Document, DocumentKind, DocumentStore, Owner, Ports, RequestStore, SubjectStore,
};
use gdpr_rights::{IdentityVerification, RequestKind, SubjectRequest, VerificationMethod};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{App, AppError, Ctx};

/// How the vault was searched, as the evidence says.
pub const SEARCH_METHOD: &str =
    "keyed blind-index look-up of the normalised e-mail address among the tenant's subjects";

/// What came of an inquiry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum InquiryOutcome {
    /// The person is a subject: a request of theirs was opened.
    RequestOpened {
        /// The request.
        request: RequestId,
    },
    /// Nothing is held about the person.
    NothingHeld {
        /// When the vault was searched.
        #[serde(with = "time::serde::rfc3339")]
        searched_at: OffsetDateTime,
        /// How.
        method: String,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Stored {
    kind: RequestKind,
    #[serde(with = "time::serde::rfc3339")]
    received_at: OffsetDateTime,
    /// The normalised address, until the answer; then empty.
    email: String,
    verification: Option<IdentityVerification>,
    outcome: Option<InquiryOutcome>,
}

/// An inquiry as its caller sees it: before verification, nothing says whether the address
/// is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InquiryView {
    /// Its id.
    pub id: Uuid,
    /// The right asked for.
    pub kind: RequestKind,
    /// When it was received (a request opened from it is due from then).
    pub received_at: OffsetDateTime,
    /// How the requester's identity was verified, once it was.
    pub verification: Option<IdentityVerification>,
    /// What came of it, once verified.
    pub outcome: Option<InquiryOutcome>,
}

fn view(id: Uuid, s: Stored) -> InquiryView {
    InquiryView {
        id,
        kind: s.kind,
        received_at: s.received_at,
        verification: s.verification,
        outcome: s.outcome,
    }
}

fn parse(doc: &Document) -> Result<Stored, AppError> {
    serde_json::from_str(&doc.body).map_err(|_| {
        AppError::store(gdpr_ports::StoreError::Corrupt(
            "an inquiry does not read back".into(),
        ))
    })
}

impl<P: Ports> App<P> {
    /// Receives a request from someone known only by an e-mail address. The answer is the
    /// same whether or not the vault holds the address. Audited (without the address).
    ///
    /// # Errors
    /// [`AppError::InvalidInput`] on `email`; storage errors.
    pub async fn open_inquiry(
        &self,
        ctx: Ctx,
        email: &str,
        kind: RequestKind,
    ) -> Result<InquiryView, AppError> {
        let email = Email::parse(email).map_err(|e| AppError::invalid("email", e))?;
        let now = self.clock.now();
        let stored = Stored {
            kind,
            received_at: now,
            email: email.expose_pii().to_owned(),
            verification: None,
            outcome: None,
        };
        let id = Uuid::now_v7();
        self.store
            .put_document(&Document {
                id,
                kind: DocumentKind::Inquiry,
                owner: Owner::Tenant(ctx.tenant),
                created_at: now,
                body: serde_json::to_string(&stored).unwrap_or_default(),
            })
            .await
            .map_err(AppError::store)?;
        self.audit(
            self.event(ctx, AuditAction::InquiryReceived)
                .with("inquiry", id),
        )
        .await?;
        Ok(view(id, stored))
    }

    /// An inquiry.
    ///
    /// # Errors
    /// [`AppError::NotFound`]; storage errors.
    pub async fn inquiry(&self, ctx: Ctx, id: Uuid) -> Result<InquiryView, AppError> {
        let doc = self
            .store
            .get_document(Owner::Tenant(ctx.tenant), DocumentKind::Inquiry, id)
            .await
            .map_err(AppError::not_found("inquiry"))?;
        Ok(view(id, parse(&doc)?))
    }

    /// Records how the requester's identity was verified, then searches the vault: a
    /// request of the subject found is opened (verified, due from the inquiry's receipt), or
    /// the inquiry is answered "nothing held" with the evidence of the search. The address
    /// is erased either way. Audited.
    ///
    /// # Errors
    /// [`AppError::NotFound`]; [`AppError::Conflict`] when already answered;
    /// [`AppError::Request`] for a note over 500 characters; storage errors.
    pub async fn verify_inquiry(
        &self,
        ctx: Ctx,
        id: Uuid,
        method: VerificationMethod,
        note: Option<&str>,
    ) -> Result<InquiryView, AppError> {
        let mut doc = self
            .store
            .get_document(Owner::Tenant(ctx.tenant), DocumentKind::Inquiry, id)
            .await
            .map_err(AppError::not_found("inquiry"))?;
        let mut stored = parse(&doc)?;
        if stored.outcome.is_some() {
            return Err(AppError::Conflict(
                "the inquiry was already answered".into(),
            ));
        }
        let now = self.clock.now();
        let verification = Some(
            IdentityVerification {
                method,
                by: crate::requests::verifier(ctx),
                at: now,
                note: note.map(str::to_owned),
            }
            .checked()?,
        );
        let email = Email::parse(&stored.email).map_err(|e| AppError::invalid("email", e))?;
        let found = self
            .store
            .find_subject_by_email(ctx.tenant, &email)
            .await
            .map_err(AppError::store)?;
        let outcome = match found {
            Some(subject) => {
                let mut request =
                    SubjectRequest::open(ctx.tenant, subject.id, stored.kind, stored.received_at);
                request.verification = verification.clone();
                self.store
                    .insert_request(&request)
                    .await
                    .map_err(AppError::store)?;
                self.audit_about(
                    ctx,
                    AuditAction::RequestOpened,
                    subject.id,
                    &[("request", &request.id), ("inquiry", &id)],
                )
                .await?;
                InquiryOutcome::RequestOpened {
                    request: request.id,
                }
            }
            None => {
                self.audit(
                    self.event(ctx, AuditAction::InquiryAnsweredNothingHeld)
                        .with("inquiry", id),
                )
                .await?;
                InquiryOutcome::NothingHeld {
                    searched_at: now,
                    method: SEARCH_METHOD.to_owned(),
                }
            }
        };
        stored.email.clear();
        stored.verification = verification;
        stored.outcome = Some(outcome);
        doc.body = serde_json::to_string(&stored).unwrap_or_default();
        self.store
            .put_document(&doc)
            .await
            .map_err(AppError::store)?;
        Ok(view(id, stored))
    }
}
