//! Delivering an access or portability export (Art. 15, 20): encrypted, kept in object
//! storage for a limited time, downloadable once, then gone.
//!
//! An export is `exports/<tenant>/<id>/ticket.json` (who, what, until when: no personal data)
//! beside `exports/<tenant>/<id>/export.pgp` (the OpenPGP ciphertext). The first download
//! removes both; an hourly job removes what was never fetched once it expires.

use bytes::Bytes;
use futures_util::StreamExt;
use gdpr_audit::{Actor, AuditAction, AuditEvent};
use gdpr_pii::{FormId, SubjectId, TenantId};
use gdpr_ports::{
    BackupError, BackupStore, Clock, Encryptor, Page, Ports, Recipients, RecordStore,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::objects::once;
use crate::{App, AppError, Ctx};

/// What an export holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "format", rename_all = "snake_case")]
pub enum ExportFormat {
    /// The whole bundle as JSON (`docs/export.schema.json`).
    Json,
    /// The subject's records of one form as CSV (RFC 4180), for portability.
    Csv {
        /// The form.
        form: FormId,
    },
}

/// An export waiting to be downloaded. Ids and times only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportTicket {
    /// The export's id.
    pub id: Uuid,
    /// The tenant.
    pub tenant: TenantId,
    /// The subject.
    pub subject: SubjectId,
    /// What it holds.
    #[serde(flatten)]
    pub format: ExportFormat,
    /// When it was made.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// After this it is deleted unread.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// The ciphertext's size in bytes.
    pub size: u64,
}

fn folder(tenant: TenantId, id: Uuid) -> String {
    format!("exports/{tenant}/{id}/")
}

const TICKET: &str = "ticket.json";
const CIPHERTEXT: &str = "export.pgp";
/// Written, create-only, by the download that takes the export.
const CLAIM: &str = "claimed";

/// One CSV field, quoted (RFC 4180): every field is quoted and inner quotes doubled, so commas,
/// quotes and line breaks in values survive. A value a spreadsheet would run as a formula
/// (starting with `=`, `+`, `-`, `@`, a tab or a carriage return) gets a leading `'`, as OWASP
/// advises against CSV injection; values are not altered otherwise: this is the subject's own
/// data, returned as it is held.
fn csv_field(out: &mut String, value: &str) {
    out.push('"');
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        out.push('\'');
    }
    out.push_str(&value.replace('"', "\"\""));
    out.push('"');
}

pub(crate) fn csv_line(out: &mut String, fields: impl IntoIterator<Item = String>) {
    for (i, field) in fields.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        csv_field(out, &field);
    }
    out.push_str("\r\n");
}

impl<P: Ports> App<P> {
    /// The subject's records of one form as CSV: `id`, `created_at`, then each field of the
    /// form in its order (empty when a record has no value).
    async fn records_csv(
        &self,
        ctx: Ctx,
        subject: SubjectId,
        form: FormId,
    ) -> Result<String, AppError> {
        let form = self.form(ctx, form).await?;
        let fields: Vec<String> = form.schema.specs().into_iter().map(|f| f.name).collect();
        let records = self
            .store
            .list_records(ctx.tenant, Some(form.id), Some(subject), Page::ALL)
            .await
            .map_err(AppError::store)?;
        let mut out = String::new();
        csv_line(
            &mut out,
            ["id".to_owned(), "created_at".to_owned()]
                .into_iter()
                .chain(fields.iter().cloned()),
        );
        for r in &records {
            let values = r.values.expose_pii_json();
            let cells = fields.iter().map(|f| match values.get(f) {
                None | Some(serde_json::Value::Null) => String::new(),
                Some(serde_json::Value::String(s)) => s.clone(),
                // Numbers are held as floating point: 700, not 700.0, for a spreadsheet.
                Some(serde_json::Value::Number(n)) => match n.as_f64() {
                    Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => format!("{f:.0}"),
                    _ => n.to_string(),
                },
                Some(other) => other.to_string(),
            });
            let created = r
                .created_at
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default();
            csv_line(
                &mut out,
                [r.id.to_string(), created].into_iter().chain(cells),
            );
        }
        Ok(out)
    }

    /// Makes an export of the subject, encrypted to `recipient_key` (the requester's own
    /// armored public key) or, without one, to the tenant's configured recipients, and keeps it
    /// for [`crate::AppConfig::export_ttl`]. Audited.
    ///
    /// # Errors
    /// [`AppError::Encryption`] (no or bad recipient: nothing is stored);
    /// [`AppError::NotFound`] (subject, form); storage and object storage errors.
    pub async fn create_export(
        &self,
        ctx: Ctx,
        subject: SubjectId,
        format: ExportFormat,
        recipient_key: Option<String>,
    ) -> Result<ExportTicket, AppError> {
        let plaintext = match format {
            ExportFormat::Json => {
                let bundle = self.build_export(ctx, subject).await?;
                serde_json::to_vec(&bundle).map_err(|e| AppError::invalid("bundle", e))?
            }
            ExportFormat::Csv { form } => {
                self.ensure_subject(ctx, subject).await?;
                self.records_csv(ctx, subject, form).await?.into_bytes()
            }
        };
        let recipients =
            recipient_key.map_or(Recipients::Configured, |k| Recipients::Armored(vec![k]));
        let mut ciphertext = self
            .encryptor
            .encrypt(recipients, once(Bytes::from(plaintext)))
            .await?;
        // Small (one subject): gathered, so that an encryption failure stores nothing.
        let mut sealed = Vec::new();
        while let Some(chunk) = ciphertext.next().await {
            sealed.extend_from_slice(&chunk.map_err(gdpr_ports::EncryptError::Source)?);
        }
        let now = self.clock.now();
        let ticket = ExportTicket {
            id: Uuid::new_v4(),
            tenant: ctx.tenant,
            subject,
            format,
            created_at: now,
            expires_at: now + self.config.export_ttl,
            size: sealed.len() as u64,
        };
        let dir = folder(ctx.tenant, ticket.id);
        self.backups
            .put(&format!("{dir}{CIPHERTEXT}"), once(Bytes::from(sealed)))
            .await
            .map_err(AppError::Backup)?;
        let body = serde_json::to_vec(&ticket).unwrap_or_else(|_| unreachable!("plain data"));
        self.backups
            .put(&format!("{dir}{TICKET}"), once(Bytes::from(body)))
            .await
            .map_err(AppError::Backup)?;
        self.audit_about(
            ctx,
            AuditAction::ExportAssembled,
            subject,
            &[("export", &ticket.id), ("encrypted", &true)],
        )
        .await?;
        Ok(ticket)
    }

    async fn ticket(&self, tenant: TenantId, id: Uuid) -> Result<ExportTicket, AppError> {
        match self
            .read_json::<ExportTicket>(&format!("{}{TICKET}", folder(tenant, id)))
            .await
        {
            Ok(ticket) if ticket.tenant == tenant && ticket.id == id => Ok(ticket),
            Ok(_) | Err(AppError::Backup(BackupError::NotFound(_))) => {
                Err(AppError::NotFound("export"))
            }
            Err(e) => Err(e),
        }
    }

    /// Hands the export's ciphertext over once: the first call deletes it. An expired export
    /// is deleted and refused.
    ///
    /// # Errors
    /// [`AppError::NotFound`] (never existed, already downloaded, another tenant's);
    /// [`AppError::Gone`] (expired); object storage errors.
    pub async fn download_export(
        &self,
        ctx: Ctx,
        id: Uuid,
    ) -> Result<(ExportTicket, Vec<u8>), AppError> {
        let ticket = self.ticket(ctx.tenant, id).await?;
        let dir = folder(ctx.tenant, id);
        if self.clock.now() >= ticket.expires_at {
            self.delete_export(&ticket).await?;
            return Err(AppError::Gone("export"));
        }
        // Claimed before it is read, create-only: of downloads racing for it, one wins and the
        // others find it gone.
        let claim = format!("{dir}{CLAIM}");
        match self.backups.put_new(&claim, Bytes::new()).await {
            Ok(_) => {}
            Err(BackupError::AlreadyExists(_)) => return Err(AppError::NotFound("export")),
            Err(e) => return Err(AppError::Backup(e)),
        }
        let handed = async {
            // A download that read the ticket just before another finished (and released its
            // claim) finds the export gone.
            let sealed = self
                .read_object(&format!("{dir}{CIPHERTEXT}"))
                .await
                .map_err(|e| match e {
                    AppError::Backup(BackupError::NotFound(_)) => AppError::NotFound("export"),
                    other => other,
                })?;
            // Audited before it is deleted: a failure here leaves the export in place.
            self.audit_about(
                ctx,
                AuditAction::ExportDownloaded,
                ticket.subject,
                &[("export", &id)],
            )
            .await?;
            Ok::<_, AppError>(sealed)
        }
        .await;
        let sealed = match handed {
            Ok(sealed) => sealed,
            Err(e) => {
                // Not handed over: released, so that the download can be tried again.
                let _ = self.backups.delete(&claim).await;
                return Err(e);
            }
        };
        self.delete_export(&ticket).await?;
        Ok((ticket, sealed))
    }

    async fn delete_export(&self, ticket: &ExportTicket) -> Result<(), AppError> {
        let dir = folder(ticket.tenant, ticket.id);
        // The ticket first: once it is gone, no download can start; the claim last.
        for name in [TICKET, CIPHERTEXT, CLAIM] {
            self.backups
                .delete(&format!("{dir}{name}"))
                .await
                .map_err(AppError::Backup)?;
        }
        Ok(())
    }

    /// Deletes the exports of erased subjects still waiting to be downloaded.
    pub(crate) async fn forget_pending_exports(
        &self,
        tenant: TenantId,
        subjects: &std::collections::BTreeSet<SubjectId>,
    ) -> Result<(), AppError> {
        let prefix = format!("exports/{tenant}/");
        let objects = self.backups.list(&prefix).await.map_err(AppError::Backup)?;
        for object in objects
            .iter()
            .filter(|o| o.key.ends_with(&format!("/{TICKET}")))
        {
            match self.read_json::<ExportTicket>(&object.key).await {
                Ok(ticket) if subjects.contains(&ticket.subject) => {
                    self.delete_export(&ticket).await?;
                }
                Ok(_) | Err(AppError::Backup(BackupError::NotFound(_))) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Deletes every export past its expiry that was never downloaded (run hourly). Returns
    /// how many.
    ///
    /// # Errors
    /// Object storage errors; storage errors writing the audit entries.
    pub async fn prune_exports(&self) -> Result<usize, AppError> {
        let now = self.clock.now();
        let objects = self
            .backups
            .list("exports/")
            .await
            .map_err(AppError::Backup)?;
        let mut pruned = 0;
        for object in objects
            .iter()
            .filter(|o| o.key.ends_with(&format!("/{TICKET}")))
        {
            let ticket: ExportTicket = match self.read_json(&object.key).await {
                Ok(t) => t,
                Err(AppError::Backup(BackupError::NotFound(_))) => continue,
                Err(e) => return Err(e),
            };
            if now < ticket.expires_at {
                continue;
            }
            self.delete_export(&ticket).await?;
            let event = AuditEvent::new(
                now,
                Some(ticket.tenant),
                Actor::System,
                AuditAction::ExportExpired,
            )
            .about(ticket.subject)
            .with("export", ticket.id);
            self.audit(event).await?;
            pruned += 1;
        }
        // A ciphertext whose ticket was never written (a crash in between): gone after a day.
        for object in objects
            .iter()
            .filter(|o| o.key.ends_with(&format!("/{CIPHERTEXT}")))
        {
            let ticket_key = object.key.replace(CIPHERTEXT, TICKET);
            let orphan = !objects.iter().any(|o| o.key == ticket_key);
            if orphan && object.last_modified + time::Duration::DAY < now {
                self.backups
                    .delete(&object.key)
                    .await
                    .map_err(AppError::Backup)?;
            }
        }
        Ok(pruned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_every_field_and_doubles_inner_quotes() {
        let mut out = String::new();
        csv_line(
            &mut out,
            [
                "a".into(),
                "b,c".into(),
                "say \"hi\"\nthen".into(),
                String::new(),
            ],
        );
        assert_eq!(out, "\"a\",\"b,c\",\"say \"\"hi\"\"\nthen\",\"\"\r\n");
    }
}
