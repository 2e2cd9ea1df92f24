//! Purposes, consent forms with their immutable versions, and the append-only consent history.

use async_trait::async_trait;
use gdpr_consent::{
    ConsentEvent, ConsentForm, ConsentFormVersion, ContentHash, LawfulBasis, Purpose, PurposeId,
};
use gdpr_pii::{ConsentFormId, SubjectId, TenantId};
use gdpr_ports::{ConsentStore, StoreError};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use crate::entity::{consent_event, consent_form, consent_form_version, purpose, subject};
use crate::{
    SeaOrmStore, corrupt, db_err, from_json, from_nanos, missing_parent, nanos, to_json,
    unavailable,
};

fn basis_of(s: &str) -> Result<LawfulBasis, StoreError> {
    from_json(&format!("\"{s}\""), "a purpose's lawful basis")
}

fn purpose_of(row: purpose::Model) -> Result<Purpose, StoreError> {
    Ok(Purpose {
        id: PurposeId::parse(&row.id).map_err(|_| corrupt("a purpose id"))?,
        description: row.description,
        basis: basis_of(&row.basis)?,
    })
}

impl SeaOrmStore {
    /// The tenant's consent events (one subject's, when given), in append order.
    async fn consent_events(
        &self,
        tenant: TenantId,
        subject: Option<SubjectId>,
    ) -> Result<Vec<ConsentEvent>, StoreError> {
        let mut query = consent_event::Entity::find()
            .filter(consent_event::Column::TenantId.eq(*tenant.as_uuid()));
        if let Some(subject) = subject {
            query = query.filter(consent_event::Column::SubjectId.eq(*subject.as_uuid()));
        }
        query
            .order_by_asc(consent_event::Column::Seq)
            .all(&self.db)
            .await
            .map_err(unavailable)?
            .iter()
            .map(|row| from_json(&row.body, "a consent event"))
            .collect()
    }

    async fn load_consent_form<C: ConnectionTrait>(
        &self,
        c: &C,
        tenant: TenantId,
        id: ConsentFormId,
    ) -> Result<ConsentForm, StoreError> {
        let row = consent_form::Entity::find_by_id(*id.as_uuid())
            .filter(consent_form::Column::TenantId.eq(*tenant.as_uuid()))
            .one(c)
            .await
            .map_err(unavailable)?
            .ok_or(StoreError::NotFound)?;
        let versions = consent_form_version::Entity::find()
            .filter(consent_form_version::Column::FormId.eq(row.id))
            .order_by_asc(consent_form_version::Column::Number)
            .all(c)
            .await
            .map_err(unavailable)?
            .into_iter()
            .map(|v| {
                Ok(ConsentFormVersion {
                    number: u32::try_from(v.number).map_err(|_| corrupt("a version number"))?,
                    hash: ContentHash::parse(&v.hash).map_err(|_| corrupt("a version hash"))?,
                    text: v.body,
                    published_at: from_nanos(v.published_at),
                    requires_reconsent: v.requires_reconsent,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let mut form = ConsentForm::from_parts(
            id,
            tenant,
            PurposeId::parse(&row.purpose).map_err(|_| corrupt("a purpose id"))?,
            row.title,
            versions,
        )
        .map_err(|_| corrupt("a consent form's versions do not match their hashes"))?;
        form.retired_at = row.retired_at.map(from_nanos);
        Ok(form)
    }
}

#[async_trait]
impl ConsentStore for SeaOrmStore {
    async fn insert_purpose(&self, tenant: TenantId, p: &Purpose) -> Result<(), StoreError> {
        purpose::ActiveModel {
            tenant_id: Set(*tenant.as_uuid()),
            id: Set(p.id.to_string()),
            description: Set(p.description.clone()),
            basis: Set(p.basis.as_str().to_owned()),
        }
        .insert(&self.db)
        .await
        .map(drop)
        .map_err(db_err("a purpose with this id already exists"))
    }

    async fn get_purpose(&self, tenant: TenantId, id: &PurposeId) -> Result<Purpose, StoreError> {
        purpose::Entity::find_by_id((*tenant.as_uuid(), id.to_string()))
            .one(&self.db)
            .await
            .map_err(unavailable)?
            .ok_or(StoreError::NotFound)
            .and_then(purpose_of)
    }

    async fn list_purposes(&self, tenant: TenantId) -> Result<Vec<Purpose>, StoreError> {
        purpose::Entity::find()
            .filter(purpose::Column::TenantId.eq(*tenant.as_uuid()))
            .order_by_asc(purpose::Column::Id)
            .all(&self.db)
            .await
            .map_err(unavailable)?
            .into_iter()
            .map(purpose_of)
            .collect()
    }

    async fn save_consent_form(&self, form: &ConsentForm) -> Result<(), StoreError> {
        let txn = self.write_txn().await.map_err(unavailable)?;
        let stored = match self.load_consent_form(&txn, form.tenant, form.id).await {
            Ok(stored) => stored.versions().to_vec(),
            Err(StoreError::NotFound) => {
                let exists_elsewhere = consent_form::Entity::find_by_id(*form.id.as_uuid())
                    .one(&txn)
                    .await
                    .map_err(unavailable)?
                    .is_some();
                if exists_elsewhere {
                    return Err(StoreError::NotFound);
                }
                consent_form::ActiveModel {
                    id: Set(*form.id.as_uuid()),
                    tenant_id: Set(*form.tenant.as_uuid()),
                    purpose: Set(form.purpose.to_string()),
                    title: Set(form.title.clone()),
                    retired_at: Set(form.retired_at.map(nanos)),
                }
                .insert(&txn)
                .await
                .map_err(db_err("consent form id already exists"))?;
                Vec::new()
            }
            Err(e) => return Err(e),
        };
        let unchanged = stored.len() <= form.versions().len()
            && stored
                .iter()
                .zip(form.versions())
                .all(|(old, new)| old == new);
        if !unchanged {
            return Err(StoreError::Conflict(
                "published consent-form versions are immutable",
            ));
        }
        for v in &form.versions()[stored.len()..] {
            consent_form_version::ActiveModel {
                form_id: Set(*form.id.as_uuid()),
                number: Set(i32::try_from(v.number).unwrap_or(i32::MAX)),
                hash: Set(v.hash.to_string()),
                body: Set(v.text.clone()),
                published_at: Set(nanos(v.published_at)),
                requires_reconsent: Set(v.requires_reconsent),
            }
            .insert(&txn)
            .await
            .map_err(db_err("published consent-form versions are immutable"))?;
        }
        txn.commit().await.map_err(unavailable)
    }

    async fn get_consent_form(
        &self,
        tenant: TenantId,
        id: ConsentFormId,
    ) -> Result<ConsentForm, StoreError> {
        self.load_consent_form(&self.db, tenant, id).await
    }

    async fn retire_consent_form(
        &self,
        tenant: TenantId,
        id: ConsentFormId,
        at: time::OffsetDateTime,
    ) -> Result<(), StoreError> {
        let updated = consent_form::Entity::update_many()
            .col_expr(
                consent_form::Column::RetiredAt,
                sea_orm::sea_query::Expr::value(nanos(at)),
            )
            .filter(consent_form::Column::Id.eq(*id.as_uuid()))
            .filter(consent_form::Column::TenantId.eq(*tenant.as_uuid()))
            .filter(consent_form::Column::RetiredAt.is_null())
            .exec(&self.db)
            .await
            .map_err(unavailable)?;
        if updated.rows_affected == 0 {
            // Retired already (kept as it was), or not this tenant's.
            self.load_consent_form(&self.db, tenant, id).await?;
        }
        Ok(())
    }

    async fn tenant_consent_events(
        &self,
        tenant: TenantId,
    ) -> Result<Vec<ConsentEvent>, StoreError> {
        self.consent_events(tenant, None).await
    }

    async fn consent_events_page(
        &self,
        tenant: TenantId,
        after: u64,
        limit: u32,
    ) -> Result<Vec<(u64, ConsentEvent)>, StoreError> {
        consent_event::Entity::find()
            .filter(consent_event::Column::TenantId.eq(*tenant.as_uuid()))
            .filter(consent_event::Column::Seq.gt(i64::try_from(after).unwrap_or(i64::MAX)))
            .order_by_asc(consent_event::Column::Seq)
            .limit(u64::from(limit))
            .all(&self.db)
            .await
            .map_err(unavailable)?
            .iter()
            .map(|row| {
                let event = from_json(&row.body, "a consent event")?;
                Ok((u64::try_from(row.seq).unwrap_or_default(), event))
            })
            .collect()
    }

    async fn list_consent_forms(&self, tenant: TenantId) -> Result<Vec<ConsentForm>, StoreError> {
        let rows = consent_form::Entity::find()
            .filter(consent_form::Column::TenantId.eq(*tenant.as_uuid()))
            .all(&self.db)
            .await
            .map_err(unavailable)?;
        let mut forms = Vec::with_capacity(rows.len());
        for row in rows {
            forms.push(
                self.load_consent_form(&self.db, tenant, ConsentFormId::from_uuid(row.id))
                    .await?,
            );
        }
        forms.sort_by_key(|f| (f.versions()[0].published_at, f.id));
        Ok(forms)
    }

    async fn append_consent_event(&self, event: &ConsentEvent) -> Result<(), StoreError> {
        let subject_exists = subject::Entity::find_by_id(*event.subject.as_uuid())
            .filter(subject::Column::TenantId.eq(*event.tenant.as_uuid()))
            .one(&self.db)
            .await
            .map_err(unavailable)?
            .is_some();
        if !subject_exists {
            return Err(StoreError::NotFound);
        }
        // The foreign key catches a subject erased between the check and the insert.
        consent_event::ActiveModel {
            id: Set(event.id.0),
            tenant_id: Set(*event.tenant.as_uuid()),
            subject_id: Set(*event.subject.as_uuid()),
            body: Set(to_json(event)),
            ..Default::default()
        }
        .insert(&self.db)
        .await
        .map(drop)
        .map_err(|e| match e.sql_err() {
            Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => {
                StoreError::Conflict("consent event id already exists")
            }
            _ => missing_parent(e),
        })
    }

    async fn consent_history(
        &self,
        tenant: TenantId,
        subject: SubjectId,
    ) -> Result<Vec<ConsentEvent>, StoreError> {
        self.consent_events(tenant, Some(subject)).await
    }
}
