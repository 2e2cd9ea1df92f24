//! Data subjects: registering, reading, looking up by e-mail, rectifying (Art. 16).

use gdpr_audit::AuditAction;
use gdpr_pii::{Email, FullName, IpAddress, Subject, SubjectId};
use gdpr_ports::{Clock, Page, Ports, SubjectStore};

use crate::{App, AppError, Ctx};

/// A subject as the caller gives it: raw strings, parsed here.
#[derive(Debug, Default, Clone)]
pub struct NewSubject {
    /// E-mail address.
    pub email: Option<String>,
    /// Full name.
    pub full_name: Option<String>,
    /// IP address.
    pub ip_address: Option<String>,
}

/// A rectification: `None` leaves a field as it is, `Some(None)` clears it, `Some(Some(v))`
/// sets it.
#[derive(Debug, Default, Clone)]
#[allow(
    clippy::option_option,
    reason = "absent, cleared and set are three different requests"
)]
pub struct Rectification {
    /// E-mail address.
    pub email: Option<Option<String>>,
    /// Full name.
    pub full_name: Option<Option<String>>,
    /// IP address.
    pub ip_address: Option<Option<String>>,
}

fn parse_email(raw: &str) -> Result<Email, AppError> {
    Email::parse(raw).map_err(|e| AppError::invalid("email", e))
}

fn parse_name(raw: &str) -> Result<FullName, AppError> {
    FullName::parse(raw).map_err(|e| AppError::invalid("full_name", e))
}

fn parse_ip(raw: &str) -> Result<IpAddress, AppError> {
    IpAddress::parse(raw).map_err(|e| AppError::invalid("ip_address", e))
}

impl<P: Ports> App<P> {
    /// Registers a subject; their data key is created with them.
    ///
    /// # Errors
    /// [`AppError::InvalidInput`] naming the first invalid field; [`AppError::Conflict`] when
    /// the tenant already has a subject with this e-mail; storage errors.
    pub async fn register_subject(&self, ctx: Ctx, new: NewSubject) -> Result<Subject, AppError> {
        let subject = self.parse_subject(ctx, new)?;
        // The subject, its key and its audit entry in one transaction.
        let event = self
            .event(ctx, AuditAction::SubjectCreated)
            .about(subject.id);
        self.store
            .insert_subjects(std::slice::from_ref(&subject), vec![event])
            .await
            .map_err(AppError::store)?;
        Ok(subject)
    }

    fn parse_subject(&self, ctx: Ctx, new: NewSubject) -> Result<Subject, AppError> {
        let now = self.clock.now();
        Ok(Subject {
            id: SubjectId::at(now),
            tenant: ctx.tenant,
            email: new.email.as_deref().map(parse_email).transpose()?,
            full_name: new.full_name.as_deref().map(parse_name).transpose()?,
            ip_address: new.ip_address.as_deref().map(parse_ip).transpose()?,
            created_at: now,
            updated_at: now,
        })
    }

    /// Registers many subjects, the way a SaaS migrates its existing users in: each one is
    /// registered whole or refused whole, with its reason, in input order. Valid subjects are
    /// stored in one transaction; if any of them conflicts (an e-mail already taken), they are
    /// stored one by one instead, so that only the conflicting ones are refused.
    ///
    /// # Errors
    /// Storage errors (outer); each subject's own refusal is in its inner result.
    pub async fn import_subjects(
        &self,
        ctx: Ctx,
        batch: Vec<NewSubject>,
    ) -> Result<Vec<Result<Subject, AppError>>, AppError> {
        let parsed: Vec<Result<Subject, AppError>> = batch
            .into_iter()
            .map(|new| self.parse_subject(ctx, new))
            .collect();
        let valid: Vec<Subject> = parsed
            .iter()
            .filter_map(|r| r.as_ref().ok().cloned())
            .collect();
        let audit = valid
            .iter()
            .map(|s| {
                self.event(ctx, AuditAction::SubjectCreated)
                    .about(s.id)
                    .with("import", true)
            })
            .collect();
        match self.store.insert_subjects(&valid, audit).await {
            Ok(()) => Ok(parsed),
            Err(gdpr_ports::StoreError::Conflict(_)) => {
                let mut out = Vec::with_capacity(parsed.len());
                for result in parsed {
                    out.push(match result {
                        Ok(subject) => {
                            let event = self
                                .event(ctx, AuditAction::SubjectCreated)
                                .about(subject.id)
                                .with("import", true);
                            match self
                                .store
                                .insert_subjects(std::slice::from_ref(&subject), vec![event])
                                .await
                            {
                                Ok(()) => Ok(subject),
                                Err(gdpr_ports::StoreError::Conflict(rule)) => {
                                    Err(AppError::Conflict(rule.to_owned()))
                                }
                                Err(e) => return Err(AppError::store(e)),
                            }
                        }
                        Err(e) => Err(e),
                    });
                }
                Ok(out)
            }
            Err(e) => Err(AppError::store(e)),
        }
    }

    /// A subject's profile (an access to personal data: audited).
    ///
    /// # Errors
    /// [`AppError::NotFound`]; storage errors.
    pub async fn subject(&self, ctx: Ctx, id: SubjectId) -> Result<Subject, AppError> {
        let subject = self.load_subject(ctx, id).await?;
        self.audit_about(ctx, AuditAction::SubjectViewed, id, &[])
            .await?;
        Ok(subject)
    }

    /// That the tenant has this subject ([`AppError::NotFound`] if not), without decrypting
    /// its profile: for use cases that need the subject to exist, not its personal data.
    pub(crate) async fn ensure_subject(&self, ctx: Ctx, id: SubjectId) -> Result<(), AppError> {
        match self.store.subject_exists(ctx.tenant, id).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(AppError::NotFound("subject")),
            Err(e) => Err(AppError::store(e)),
        }
    }

    pub(crate) async fn load_subject(&self, ctx: Ctx, id: SubjectId) -> Result<Subject, AppError> {
        self.store
            .get_subject(ctx.tenant, id)
            .await
            .map_err(AppError::not_found("subject"))
    }

    /// The subject with this e-mail address.
    ///
    /// # Errors
    /// [`AppError::InvalidInput`] for an invalid address; [`AppError::NotFound`]; storage errors.
    pub async fn find_subject_by_email(&self, ctx: Ctx, email: &str) -> Result<Subject, AppError> {
        let email = parse_email(email)?;
        let subject = self
            .store
            .find_subject_by_email(ctx.tenant, &email)
            .await
            .map_err(AppError::store)?
            .ok_or(AppError::NotFound("subject"))?;
        self.audit_about(ctx, AuditAction::SubjectLookedUp, subject.id, &[])
            .await?;
        Ok(subject)
    }

    /// The tenant's subjects, a page at a time.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn subjects(&self, ctx: Ctx, page: Page) -> Result<Vec<Subject>, AppError> {
        let list = self
            .store
            .list_subjects(ctx.tenant, page)
            .await
            .map_err(AppError::store)?;
        let event = self
            .event(ctx, AuditAction::SubjectsListed)
            .with("count", list.len())
            .with("offset", page.offset);
        self.audit(event).await?;
        Ok(list)
    }

    /// Corrects a subject's profile (Art. 16). The audit entry names the fields changed, never
    /// their values.
    ///
    /// # Errors
    /// [`AppError::NotFound`]; [`AppError::InvalidInput`]; [`AppError::Conflict`] when the new
    /// e-mail belongs to another subject; storage errors.
    pub async fn rectify_subject(
        &self,
        ctx: Ctx,
        id: SubjectId,
        change: Rectification,
    ) -> Result<Subject, AppError> {
        let mut subject = self.load_subject(ctx, id).await?;
        let mut fields = Vec::new();
        if let Some(email) = change.email {
            subject.email = email.as_deref().map(parse_email).transpose()?;
            fields.push("email");
        }
        if let Some(name) = change.full_name {
            subject.full_name = name.as_deref().map(parse_name).transpose()?;
            fields.push("full_name");
        }
        if let Some(ip) = change.ip_address {
            subject.ip_address = ip.as_deref().map(parse_ip).transpose()?;
            fields.push("ip_address");
        }
        if fields.is_empty() {
            // An empty patch changes nothing (as an empty JSON merge patch): nothing is
            // written, but the profile it answers with is a read, audited as one.
            self.audit_about(ctx, AuditAction::SubjectViewed, id, &[])
                .await?;
            return Ok(subject);
        }
        subject.updated_at = self.clock.now();
        self.store
            .update_subject(&subject)
            .await
            .map_err(AppError::store)?;
        self.audit_about(
            ctx,
            AuditAction::SubjectRectified,
            id,
            &[("fields", &fields.join(","))],
        )
        .await?;
        Ok(subject)
    }
}
