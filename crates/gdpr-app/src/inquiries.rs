//! Requests from someone the vault may not hold (Art. 12(2), 12(6), 15): an inquiry by e-mail
//! address, answered the same way whether or not the address is known until the requester's
//! identity is verified; then a request of the subject found (its deadline from the inquiry's
//! receipt), or "nothing held" with the evidence of the search: when, how (the keyed
//! blind-index look-up of the normalised address), and the verification. The address is kept
//! only until then (sealed, as every register's document), and erased with the answer.

use gdpr_audit::AuditAction;
use gdpr_pii::{Email, RequestId};
use gdpr_ports::{Clock as _, Document, DocumentKind, DocumentStore, Owner, Ports, SubjectStore};
use gdpr_rights::{IdentityVerification, RequestKind, SubjectRequest, VerificationMethod};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{App, AppError, Ctx};

/// What a second answer to an inquiry is told.
const ANSWERED: &str = "the inquiry was already answered";

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
    /// Refused before the requester's identity could be verified (Art. 12(6)), with the
    /// reasons the requester is told (Art. 12(4)); nothing was searched.
    Refused {
        /// The reasons.
        reason: String,
        /// When.
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
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
    /// A one-time code's challenge, for an inquiry opened on the request portal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    challenge: Option<Challenge>,
}

/// The code an inquiry opened on the portal waits for: kept as a salted hash, until it
/// expires, for a number of tries; spent (removed) when given back right.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Challenge {
    /// `portal::code_hash` of the code.
    pub(crate) hash: String,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) expires_at: OffsetDateTime,
    /// How many codes may be given back. Each one given, right or wrong, first takes one of
    /// the numbered tries with a create-only write ([`try_slot`]), so codes posted at once
    /// (on one replica or several) take one try each; the inquiry itself is never written
    /// back, so a slow wrong try cannot undo the right one or bring a deleted inquiry back.
    /// (Named as it was when this counted down, so that inquiries stored then still read.)
    #[serde(rename = "tries_left")]
    pub(crate) tries: u8,
}

/// The id of the document that says inquiry `id`'s answer was claimed.
fn claim_of(id: Uuid) -> Uuid {
    Uuid::new_v5(&id, b"claim")
}

/// An inquiry's answer, claimed ([`App::claim_inquiry_code`]): given back with
/// [`App::release_inquiry_claim`] when the answer could not be written.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AnswerClaim {
    inquiry: Uuid,
    /// The try the code took, if a code claimed it.
    try_taken: Option<u8>,
}

impl AnswerClaim {
    /// The claim of an answer given through the API (no code, no try).
    fn by_api(inquiry: Uuid) -> Self {
        Self {
            inquiry,
            try_taken: None,
        }
    }
}

/// The id of the document that says try `n` (from 1) of inquiry `id`'s code was taken.
fn try_slot(id: Uuid, n: u8) -> Uuid {
    Uuid::new_v5(&id, format!("try:{n}").as_bytes())
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
        self.open_inquiry_with(ctx, Uuid::now_v7(), email, kind, None)
            .await
    }

    /// Opens inquiry `id` (with the portal's code challenge, if any).
    pub(crate) async fn open_inquiry_with(
        &self,
        ctx: Ctx,
        id: Uuid,
        email: Email,
        kind: RequestKind,
        challenge: Option<Challenge>,
    ) -> Result<InquiryView, AppError> {
        let now = self.clock.now();
        let stored = Stored {
            kind,
            received_at: now,
            email: email.expose_pii().to_owned(),
            verification: None,
            outcome: None,
            challenge,
        };
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

    /// An inquiry not answered yet, with its document; [`AppError::Conflict`] saying
    /// `answered` otherwise.
    async fn unanswered_inquiry(
        &self,
        ctx: Ctx,
        id: Uuid,
        answered: &str,
    ) -> Result<(Document, Stored), AppError> {
        let doc = self
            .store
            .get_document(Owner::Tenant(ctx.tenant), DocumentKind::Inquiry, id)
            .await
            .map_err(AppError::not_found("inquiry"))?;
        let stored = parse(&doc)?;
        if stored.outcome.is_some() {
            return Err(AppError::Conflict(answered.to_owned()));
        }
        Ok((doc, stored))
    }

    /// Checks a code given back for a portal inquiry and, when right, claims the answer
    /// ([`Self::claim_answer`]); returns the claim. Every code given takes a try first; an
    /// expired code, or the last try given wrong, deletes the inquiry, unless it was claimed
    /// meanwhile (then it is being answered, and stays).
    pub(crate) async fn claim_inquiry_code(
        &self,
        ctx: Ctx,
        id: Uuid,
        code: &str,
    ) -> Result<AnswerClaim, AppError> {
        use subtle::ConstantTimeEq as _;
        const ONCE: &str = "this request was answered already: a code works once";
        let (_, stored) = self.unanswered_inquiry(ctx, id, ONCE).await?;
        // An inquiry opened through the API has no code to give back.
        let challenge = stored.challenge.ok_or(AppError::NotFound("inquiry"))?;
        if challenge.expires_at <= self.clock.now() {
            return Err(self.drop_unclaimed(ctx, id, ONCE).await);
        }
        let Some(taken) = self.take_try(ctx, id, challenge.tries).await? else {
            // Every try was taken meanwhile (codes posted at once).
            return Err(self.drop_unclaimed(ctx, id, ONCE).await);
        };
        let given = crate::portal::code_hash(id, code);
        if bool::from(given.as_bytes().ct_eq(challenge.hash.as_bytes())) {
            self.claim_answer(ctx, id, ONCE).await?;
            return Ok(AnswerClaim {
                inquiry: id,
                try_taken: Some(taken),
            });
        }
        let left = challenge.tries - taken;
        if left == 0 {
            return Err(self.drop_unclaimed(ctx, id, ONCE).await);
        }
        Err(AppError::invalid(
            "code",
            format!("this is not the code sent; {left} tries left"),
        ))
    }

    /// Claims the answer to inquiry `id` with a create-only write: of two answers begun at
    /// once (two replicas given the right code, a code and a refusal), one goes on and the
    /// other is told `answered`.
    async fn claim_answer(&self, ctx: Ctx, id: Uuid, answered: &str) -> Result<(), AppError> {
        let written = self
            .store
            .insert_document(&Document {
                id: claim_of(id),
                kind: DocumentKind::InquiryClaim,
                owner: Owner::Tenant(ctx.tenant),
                created_at: self.clock.now(),
                body: "{}".into(),
            })
            .await;
        match written {
            Ok(()) => Ok(()),
            Err(gdpr_ports::StoreError::Conflict(_)) => Err(AppError::Conflict(answered.into())),
            Err(e) => Err(AppError::store(e)),
        }
    }

    /// Deletes a portal inquiry that can no longer be confirmed, unless its answer was
    /// claimed (it is being answered); the error to give either way.
    async fn drop_unclaimed(&self, ctx: Ctx, id: Uuid, answered: &str) -> AppError {
        let claimed = self
            .store
            .get_document(
                Owner::Tenant(ctx.tenant),
                DocumentKind::InquiryClaim,
                claim_of(id),
            )
            .await;
        match claimed {
            Ok(_) => AppError::Conflict(answered.into()),
            Err(gdpr_ports::StoreError::NotFound) => match self.drop_inquiry(ctx, id).await {
                Ok(()) => AppError::Gone("the code"),
                Err(e) => e,
            },
            Err(e) => AppError::store(e),
        }
    }

    /// Takes the first free try of inquiry `id`'s `tries` (a create-only write each, so no
    /// two callers take the same one); `None` when all are taken.
    async fn take_try(&self, ctx: Ctx, id: Uuid, tries: u8) -> Result<Option<u8>, AppError> {
        for n in 1..=tries {
            let taken = self
                .store
                .insert_document(&Document {
                    id: try_slot(id, n),
                    kind: DocumentKind::InquiryClaim,
                    owner: Owner::Tenant(ctx.tenant),
                    created_at: self.clock.now(),
                    body: "{}".into(),
                })
                .await;
            match taken {
                Ok(()) => return Ok(Some(n)),
                Err(gdpr_ports::StoreError::Conflict(_)) => {}
                Err(e) => return Err(AppError::store(e)),
            }
        }
        Ok(None)
    }

    /// Gives a claim back (the answer could not be written), with the try its code took:
    /// the code may be given again, at no cost.
    pub(crate) async fn release_inquiry_claim(&self, ctx: Ctx, claim: AnswerClaim) {
        let owner = Owner::Tenant(ctx.tenant);
        let tries = claim.try_taken.map(|n| try_slot(claim.inquiry, n));
        for doc in std::iter::once(claim_of(claim.inquiry)).chain(tries) {
            let _ = self
                .store
                .delete_document(owner, DocumentKind::InquiryClaim, doc)
                .await;
        }
    }

    /// Deletes a portal inquiry that can no longer be confirmed, and the address with it.
    /// The record of its tries stays until the hourly prune: a code posted meanwhile,
    /// which read the inquiry just before, finds every try taken.
    async fn drop_inquiry(&self, ctx: Ctx, id: Uuid) -> Result<(), AppError> {
        self.store
            .delete_document(Owner::Tenant(ctx.tenant), DocumentKind::Inquiry, id)
            .await
            .map(drop)
            .map_err(AppError::store)
    }

    /// Deletes every portal inquiry whose code expired unanswered (an address someone typed,
    /// a code never given back, a message that could not be sent): nothing can confirm it
    /// any more, and the address it keeps must not outlive that (Art. 5(1)(e)); then the
    /// records of tries and claims no code can need any more. Returns how many inquiries
    /// went. Inquiries opened through the API wait for the operator's verification.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn prune_portal_inquiries(&self) -> Result<usize, AppError> {
        let now = self.clock.now();
        let mut pruned = 0;
        for doc in self
            .store
            .all_documents(DocumentKind::Inquiry)
            .await
            .map_err(AppError::store)?
        {
            let Ok(stored) = parse(&doc) else { continue };
            let expired = stored.outcome.is_none()
                && stored
                    .challenge
                    .as_ref()
                    .is_some_and(|c| c.expires_at <= now);
            if expired
                && self
                    .store
                    .delete_document(doc.owner, DocumentKind::Inquiry, doc.id)
                    .await
                    .map_err(AppError::store)?
            {
                pruned += 1;
            }
        }
        // Tries taken and codes claimed, once no code they were for can be given back: an
        // hour past a code's life, every inquiry of theirs is answered, expired or gone.
        let settled = now - self.config.portal.code_ttl - time::Duration::HOUR;
        for doc in self
            .store
            .all_documents(DocumentKind::InquiryClaim)
            .await
            .map_err(AppError::store)?
        {
            if doc.created_at <= settled {
                self.store
                    .delete_document(doc.owner, DocumentKind::InquiryClaim, doc.id)
                    .await
                    .map_err(AppError::store)?;
            }
        }
        Ok(pruned)
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
        self.unanswered_inquiry(ctx, id, ANSWERED).await?;
        self.claim_answer(ctx, id, ANSWERED).await?;
        let answered = self.answer_inquiry(ctx, id, method, note).await;
        if answered.is_err() {
            self.release_inquiry_claim(ctx, AnswerClaim::by_api(id))
                .await;
        }
        answered
    }

    /// [`Self::verify_inquiry`] once its answer is claimed (by the API's call, or by the
    /// right code on the portal).
    pub(crate) async fn answer_inquiry(
        &self,
        ctx: Ctx,
        id: Uuid,
        method: VerificationMethod,
        note: Option<&str>,
    ) -> Result<InquiryView, AppError> {
        let (mut doc, mut stored) = self.unanswered_inquiry(ctx, id, ANSWERED).await?;
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
                self.insert_opened_request(ctx, &request, Some(id)).await?;
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
        stored.challenge = None;
        stored.verification = verification;
        stored.outcome = Some(outcome);
        doc.body = serde_json::to_string(&stored).unwrap_or_default();
        self.store
            .put_document(&doc)
            .await
            .map_err(AppError::store)?;
        Ok(view(id, stored))
    }

    /// Refuses an inquiry whose requester's identity could not be verified (Art. 12(6)),
    /// with the reasons they are told (Art. 12(4)). The vault is not searched, so nothing is
    /// said of the address, which is erased (a portal inquiry's code with it). Audited.
    ///
    /// # Errors
    /// [`AppError::NotFound`]; [`AppError::Conflict`] when already answered;
    /// [`AppError::Request`] for a reason blank or over 2,000 characters; storage errors.
    pub async fn refuse_inquiry(
        &self,
        ctx: Ctx,
        id: Uuid,
        reason: &str,
    ) -> Result<InquiryView, AppError> {
        let reason = gdpr_rights::check_reason(reason)?;
        let (mut doc, mut stored) = self.unanswered_inquiry(ctx, id, ANSWERED).await?;
        // Of a refusal and a code given back at once, one answers.
        self.claim_answer(ctx, id, ANSWERED).await?;
        let at = self.clock.now();
        stored.email.clear();
        stored.challenge = None;
        stored.outcome = Some(InquiryOutcome::Refused { reason, at });
        doc.body = serde_json::to_string(&stored).unwrap_or_default();
        // Update-only: an inquiry deleted meanwhile (its code expired) is not brought back.
        let written = self.store.replace_document(&doc).await;
        if written.is_err() {
            self.release_inquiry_claim(ctx, AnswerClaim::by_api(id))
                .await;
        }
        written.map_err(AppError::not_found("inquiry"))?;
        self.audit(
            self.event(ctx, AuditAction::InquiryRefused)
                .with("inquiry", id),
        )
        .await?;
        Ok(view(id, stored))
    }
}
