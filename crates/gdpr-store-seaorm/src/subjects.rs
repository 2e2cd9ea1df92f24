//! Subjects: every personal field sealed under the subject's data key, the e-mail also kept as
//! a keyed blind index for look-ups and uniqueness.

use std::sync::Arc;

use async_trait::async_trait;
use gdpr_audit::AuditEvent;
use gdpr_pii::{Email, FullName, IpAddress, Subject, SubjectId, TenantId};
use gdpr_ports::{Page, StoreError, SubjectStore};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use crate::audit::append_many_in;
use crate::crypto::{DataKey, MasterKey, TenantKeys};
use crate::entity::{record, subject, subject_key};
use crate::{
    SeaOrmStore, after_cursor, corrupt, db_err, from_nanos, is_unique_violation, limit, nanos,
    unavailable,
};

const PLACE: &str = "subjects";
/// Rows per INSERT statement: well under SQLite's and PostgreSQL's bound-parameter limits.
const CHUNK: usize = 500;
/// Subjects sealed at a time, the next chunk while the database writes the current one.
const SEALED_CHUNK: usize = 1_000;

enum Batch {
    Taken,
    Db(sea_orm::DbErr),
}

impl From<sea_orm::DbErr> for Batch {
    fn from(e: sea_orm::DbErr) -> Self {
        Self::Db(e)
    }
}
const TAKEN: &str = "a subject with this e-mail already exists";

fn sealed(key: &DataKey, field: &str, value: Option<&[u8]>) -> Option<Vec<u8>> {
    value.map(|v| key.seal(PLACE, field, v))
}

fn opened(
    key: &DataKey,
    field: &str,
    value: Option<&Vec<u8>>,
) -> Result<Option<String>, StoreError> {
    value
        .map(|ct| {
            let bytes = key
                .open(PLACE, field, ct)
                .map_err(|_| corrupt("a subject's field does not decrypt under its key"))?;
            String::from_utf8(bytes).map_err(|_| corrupt("a decrypted field is not UTF-8"))
        })
        .transpose()
}

impl SeaOrmStore {
    fn subject_row(tenant_keys: &TenantKeys, s: &Subject, key: &DataKey) -> subject::ActiveModel {
        let email = s.email.as_ref().map(Email::expose_pii);
        let ip = s.ip_address.map(|ip| ip.expose_pii().to_string());
        subject::ActiveModel {
            id: Set(*s.id.as_uuid()),
            tenant_id: Set(*s.tenant.as_uuid()),
            email_ct: Set(sealed(key, "email", email.map(str::as_bytes))),
            email_bidx: Set(email.map(|e| tenant_keys.blind_index(e))),
            full_name_ct: Set(sealed(
                key,
                "full_name",
                s.full_name.as_ref().map(|n| n.expose_pii().as_bytes()),
            )),
            ip_ct: Set(sealed(key, "ip_address", ip.as_deref().map(str::as_bytes))),
            created_at: Set(nanos(s.created_at)),
            updated_at: Set(nanos(s.updated_at)),
            records_deleted_at: sea_orm::ActiveValue::NotSet,
        }
    }

    /// A chunk's rows and wrapped keys: a fresh data key per subject, every field sealed.
    fn sealed_chunk(
        master: &MasterKey,
        chunk: &[Subject],
    ) -> (Vec<subject::ActiveModel>, Vec<subject_key::ActiveModel>) {
        let mut tenant_keys = std::collections::HashMap::new();
        let mut rows = Vec::with_capacity(chunk.len());
        let mut keys = Vec::with_capacity(chunk.len());
        for s in chunk {
            // Each tenant's keys derived once per chunk, not once per subject.
            let tenant_keys = tenant_keys
                .entry(s.tenant)
                .or_insert_with(|| master.tenant(s.tenant));
            let (wrapped, key) = tenant_keys.new_data_key(s.id);
            rows.push(Self::subject_row(tenant_keys, s, &key));
            keys.push(subject_key::ActiveModel {
                subject_id: Set(*s.id.as_uuid()),
                tenant_id: Set(*s.tenant.as_uuid()),
                wrapped: Set(wrapped),
            });
        }
        (rows, keys)
    }

    async fn insert_batch(
        &self,
        subjects: &[Subject],
        indexes: &std::collections::BTreeSet<(uuid::Uuid, Vec<u8>)>,
        audit: &[AuditEvent],
    ) -> Result<(), Batch> {
        // The first chunk is sealed before the write lock is taken: nothing overlaps it.
        let mut chunks = subjects.chunks(SEALED_CHUNK);
        let ready = chunks.next().map(|c| Self::sealed_chunk(&self.master, c));
        let txn = self.write_txn().await?;
        match self.write_batch(&txn, ready, chunks, audit).await {
            Ok(()) => Ok(txn.commit().await?),
            // The e-mails' unique index said no, or a race for an id or a chain position was
            // lost: which one is asked after the rollback, so that the usual case, nothing
            // taken, pays no read.
            Err(e) if is_unique_violation(&e) => {
                txn.rollback().await?;
                if self.any_taken(indexes).await? {
                    Err(Batch::Taken)
                } else {
                    Err(Batch::Db(e))
                }
            }
            Err(e) => Err(Batch::Db(e)),
        }
    }

    /// Whether a subject already holds one of these (tenant, blind index) pairs.
    async fn any_taken(
        &self,
        indexes: &std::collections::BTreeSet<(uuid::Uuid, Vec<u8>)>,
    ) -> Result<bool, sea_orm::DbErr> {
        let mut by_tenant: std::collections::BTreeMap<uuid::Uuid, Vec<Vec<u8>>> =
            std::collections::BTreeMap::new();
        for (tenant, index) in indexes {
            by_tenant.entry(*tenant).or_default().push(index.clone());
        }
        for (tenant, wanted) in by_tenant {
            for chunk in wanted.chunks(CHUNK) {
                let taken = subject::Entity::find()
                    .filter(subject::Column::TenantId.eq(tenant))
                    .filter(subject::Column::EmailBidx.is_in(chunk.to_vec()))
                    .one(&self.db)
                    .await?;
                if taken.is_some() {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    /// The rows of [`Self::insert_batch`], in its transaction.
    async fn write_batch(
        &self,
        txn: &sea_orm::DatabaseTransaction,
        mut ready: Option<(Vec<subject::ActiveModel>, Vec<subject_key::ActiveModel>)>,
        mut chunks: std::slice::Chunks<'_, Subject>,
        audit: &[AuditEvent],
    ) -> Result<(), sea_orm::DbErr> {
        // Sealing is CPU work and writing is the database's: while one chunk is written, the
        // next is sealed on the blocking pool, so the two overlap on two cores.
        while let Some((rows, keys)) = ready.take() {
            let next = chunks.next().map(|c| {
                let (master, c) = (Arc::clone(&self.master), c.to_vec());
                tokio::task::spawn_blocking(move || Self::sealed_chunk(&master, &c))
            });
            // Subjects first: their keys refer to them.
            for part in rows.chunks(CHUNK) {
                subject::Entity::insert_many(part.to_vec())
                    .exec(txn)
                    .await?;
            }
            for part in keys.chunks(CHUNK) {
                subject_key::Entity::insert_many(part.to_vec())
                    .exec(txn)
                    .await?;
            }
            if let Some(next) = next {
                ready = Some(match next.await {
                    Ok(sealed) => sealed,
                    // A bug, not an outage: carried on as the panic it was.
                    Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                    Err(_) => {
                        return Err(sea_orm::DbErr::Custom(
                            "the runtime is shutting down".into(),
                        ));
                    }
                });
            }
        }
        append_many_in(txn, &self.audit_heads, audit).await?;
        Ok(())
    }

    pub(crate) fn subject_of(row: &subject::Model, key: &DataKey) -> Result<Subject, StoreError> {
        let bad = |_| corrupt("a decrypted field no longer parses");
        Ok(Subject {
            id: SubjectId::from_uuid(row.id),
            tenant: TenantId::from_uuid(row.tenant_id),
            email: opened(key, "email", row.email_ct.as_ref())?
                .map(|e| {
                    Email::parse(&e).map_err(|_| corrupt("a decrypted e-mail no longer parses"))
                })
                .transpose()?,
            full_name: opened(key, "full_name", row.full_name_ct.as_ref())?
                .map(|n| FullName::parse(&n).map_err(bad))
                .transpose()?,
            ip_address: opened(key, "ip_address", row.ip_ct.as_ref())?
                .map(|ip| {
                    IpAddress::parse(&ip).map_err(|_| corrupt("a decrypted IP no longer parses"))
                })
                .transpose()?,
            created_at: from_nanos(row.created_at),
            updated_at: from_nanos(row.updated_at),
        })
    }

    async fn decrypt_rows<C: ConnectionTrait>(
        &self,
        c: &C,
        tenant: TenantId,
        rows: &[subject::Model],
    ) -> Result<Vec<Subject>, StoreError> {
        let ids: Vec<SubjectId> = rows.iter().map(|r| SubjectId::from_uuid(r.id)).collect();
        let keys = self.data_keys(c, tenant, &ids).await?;
        rows.iter()
            .map(|row| {
                let key = keys
                    .get(&SubjectId::from_uuid(row.id))
                    .ok_or_else(|| corrupt("a subject has no data key"))?;
                Self::subject_of(row, key)
            })
            .collect()
    }
}

impl SeaOrmStore {
    /// [`SubjectStore::insert_subjects`], written now, in one transaction.
    pub(crate) async fn insert_now(
        &self,
        subjects: &[Subject],
        audit: Vec<AuditEvent>,
    ) -> Result<(), StoreError> {
        // Blind indexes first: two lines of one batch with one e-mail are refused before any
        // write, and the database is asked about all of them at once.
        let mut tenant_keys = std::collections::HashMap::new();
        let mut indexes = std::collections::BTreeSet::new();
        for s in subjects {
            let tenant_keys = tenant_keys
                .entry(s.tenant)
                .or_insert_with(|| self.master.tenant(s.tenant));
            if let Some(email) = &s.email
                && !indexes.insert((
                    *s.tenant.as_uuid(),
                    tenant_keys.blind_index(email.expose_pii()),
                ))
            {
                return Err(StoreError::Conflict(TAKEN));
            }
        }
        // A race for the audit chain's next position rolled everything back: run it again.
        let race = |b: &Batch| matches!(b, Batch::Db(e) if is_unique_violation(e));
        match self
            .retrying(|| self.insert_batch(subjects, &indexes, &audit), race)
            .await
        {
            Ok(()) => Ok(()),
            Err(Batch::Taken) => Err(StoreError::Conflict(TAKEN)),
            Err(Batch::Db(e)) => Err(unavailable(e)),
        }
    }
}

#[async_trait]
impl SubjectStore for SeaOrmStore {
    async fn insert_subjects(
        &self,
        subjects: &[Subject],
        audit: Vec<AuditEvent>,
    ) -> Result<(), StoreError> {
        self.insert_grouped(subjects, audit).await
    }

    async fn get_subject(&self, tenant: TenantId, id: SubjectId) -> Result<Subject, StoreError> {
        let row = subject::Entity::find_by_id(*id.as_uuid())
            .filter(subject::Column::TenantId.eq(*tenant.as_uuid()))
            .one(&self.db)
            .await
            .map_err(unavailable)?
            .ok_or(StoreError::NotFound)?;
        let key = self
            .data_key(&self.db, tenant, id)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => corrupt("a subject has no data key"),
                other => other,
            })?;
        Self::subject_of(&row, &key)
    }

    async fn subject_exists(&self, tenant: TenantId, id: SubjectId) -> Result<bool, StoreError> {
        let found: Option<uuid::Uuid> = subject::Entity::find_by_id(*id.as_uuid())
            .filter(subject::Column::TenantId.eq(*tenant.as_uuid()))
            .select_only()
            .column(subject::Column::Id)
            .into_tuple()
            .one(&self.db)
            .await
            .map_err(unavailable)?;
        Ok(found.is_some())
    }

    async fn find_subject_by_email(
        &self,
        tenant: TenantId,
        email: &Email,
    ) -> Result<Option<Subject>, StoreError> {
        let index = self.master.tenant(tenant).blind_index(email.expose_pii());
        let rows = subject::Entity::find()
            .filter(subject::Column::TenantId.eq(*tenant.as_uuid()))
            .filter(subject::Column::EmailBidx.eq(index))
            .all(&self.db)
            .await
            .map_err(unavailable)?;
        Ok(self
            .decrypt_rows(&self.db, tenant, &rows)
            .await?
            .into_iter()
            .next())
    }

    async fn update_subject(&self, s: &Subject) -> Result<(), StoreError> {
        let key = self.data_key(&self.db, s.tenant, s.id).await?;
        let mut row = Self::subject_row(&self.master.tenant(s.tenant), s, &key);
        row.created_at = sea_orm::ActiveValue::NotSet;
        let result = subject::Entity::update_many()
            .set(row)
            .filter(subject::Column::Id.eq(*s.id.as_uuid()))
            .filter(subject::Column::TenantId.eq(*s.tenant.as_uuid()))
            .exec(&self.db)
            .await
            .map_err(db_err(TAKEN))?;
        if result.rows_affected == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn list_subjects(
        &self,
        tenant: TenantId,
        page: Page,
    ) -> Result<Vec<Subject>, StoreError> {
        let (offset, limit) = limit(page);
        let rows = subject::Entity::find()
            .filter(subject::Column::TenantId.eq(*tenant.as_uuid()))
            .filter(after_cursor(
                page,
                subject::Column::CreatedAt,
                subject::Column::Id,
            ))
            .order_by_asc(subject::Column::CreatedAt)
            .order_by_asc(subject::Column::Id)
            .offset(offset)
            .limit(limit)
            .all(&self.db)
            .await
            .map_err(unavailable)?;
        self.decrypt_rows(&self.db, tenant, &rows).await
    }

    async fn idle_subjects(
        &self,
        tenant: TenantId,
        before: time::OffsetDateTime,
    ) -> Result<Vec<(SubjectId, time::OffsetDateTime)>, StoreError> {
        use sea_orm::Condition;
        use sea_orm::sea_query::{Expr, ExprTrait as _, Query};
        use subject::Column as C;
        let before = nanos(before);
        let has_records = Query::select()
            .expr(Expr::val(1))
            .from(record::Entity)
            .and_where(
                Expr::col((record::Entity, record::Column::SubjectId))
                    .equals((subject::Entity, C::Id)),
            )
            .take();
        let rows: Vec<(uuid::Uuid, i64, Option<i64>)> = subject::Entity::find()
            .select_only()
            .column(C::Id)
            .column(C::UpdatedAt)
            .column(C::RecordsDeletedAt)
            .filter(C::TenantId.eq(*tenant.as_uuid()))
            .filter(C::UpdatedAt.lte(before))
            .filter(
                Condition::any()
                    .add(C::RecordsDeletedAt.is_null())
                    .add(C::RecordsDeletedAt.lte(before)),
            )
            .filter(Condition::all().add(Expr::exists(has_records)).not())
            .order_by_asc(C::Id)
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(unavailable)?;
        Ok(rows
            .into_iter()
            .map(|(id, updated, deleted)| {
                let last = deleted.map_or(updated, |d| std::cmp::max(d, updated));
                (SubjectId::from_uuid(id), from_nanos(last))
            })
            .collect())
    }
}
