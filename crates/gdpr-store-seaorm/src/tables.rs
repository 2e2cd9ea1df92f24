//! The registry of a tenant's tables: the one list from which a backup's dump order, a
//! restore's delete order and its insert dispatch, and the tests' list of tables all come.
//!
//! Adding a table that holds a tenant's data is one edit: an entity, a [`TenantTable`]
//! implementation saying how its rows are scoped, ordered and checked, and a line in
//! [`REGISTRY`] (parents before children). A table a migration creates that is in neither the
//! registry nor [`LEFT_OUT_OF_BACKUPS`] fails `it/dump::every_migrated_table_is_backed_up_or_left_out_on_purpose`.

use std::collections::BTreeSet;
use std::future::Future;
use std::marker::PhantomData;

use async_trait::async_trait;
use futures_util::StreamExt;
use gdpr_pii::{SubjectId, TenantId};
use gdpr_ports::{DocumentKind, DumpItem, DumpRow, RestoredCounts, StoreError, WrappedKey};
use sea_orm::sea_query::{Query, SelectStatement};
use sea_orm::{
    ActiveValue, ColumnTrait, Condition, DatabaseTransaction, DbBackend, DbErr, EntityTrait,
    IntoActiveModel, ModelTrait, QueryFilter, QueryOrder, Select,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::audit::chain_key;
use crate::dump::{DumpFailure, Prepared, Sender, insert_all, insert_rows, send};
use crate::entity::{
    api_key, audit_entry, consent_event, consent_form, consent_form_version, document,
    erasure_receipt, form, legal_hold, processing_limit, purpose, record, request, subject,
    subject_key, tenant, tombstone,
};
use crate::{corrupt, unavailable};

/// Tables that backups leave out on purpose, each with its reason.
pub const LEFT_OUT_OF_BACKUPS: [&str; 5] = [
    // A counter of the whole deployment that wakes the server's cache (see `invalidations`):
    // no data, nothing of a tenant.
    "cache_epoch",
    // Background work of the whole deployment, not of a tenant: a restored tenant must not
    // run an old job again (a batch erasure would be replayed from a stale list).
    "jobs",
    // SeaORM's record of the migrations applied: the schema's, written by `gdpr migrate`.
    "seaql_migrations",
    // Operational: how far each webhook endpoint was fed from its tenant's audit chain (which a
    // restore never replaces), and the deliveries made. A restored tenant must not resend
    // what it sent; an endpoint without a cursor is fed from its creation. Deleted with the
    // tenant.
    "webhook_cursors",
    "webhook_deliveries",
];

/// The names of the tables a tenant's backup holds, in dump order.
pub fn backed_up_tables() -> impl Iterator<Item = &'static str> {
    REGISTRY.iter().map(|t| t.name())
}

/// How a table's rows fare when a tenant is restored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// The tenant's rows are deleted, then the backup's inserted.
    Replaced,
    /// The subjects' data keys: they travel in the backup's keyring, not its rows; deleted
    /// with the tenant's rows and inserted for the subjects restored.
    Keys,
    /// Accountability records (tombstones, erasure receipts): never deleted; the backup's are
    /// added where missing.
    Kept,
    /// The audit chain: never deleted; the backup's rows go into an empty chain only (an
    /// existing chain is the truth about what happened since).
    Chain,
}

/// What a restore learns as it goes, for the checks of the tables after.
#[derive(Default)]
pub(crate) struct RestoreState {
    /// The database already holds the tenant's audit chain.
    pub(crate) keep_audit: bool,
    /// Consent forms restored (their versions must belong to one).
    pub(crate) consent_forms: BTreeSet<Uuid>,
    /// Subjects restored (only their keys are inserted).
    pub(crate) subjects: BTreeSet<Uuid>,
    /// What was written.
    pub(crate) counts: RestoredCounts,
}

/// How one table takes part in a tenant's backup and restore. The defaults fit a table with
/// a `tenant_id` column and no personal data; the special tables override the hooks.
pub(crate) trait TenantTable:
    EntityTrait<Model: TableModel<Self>, ActiveModel: Send>
{
    /// Its name in a dump (the SQL table's).
    const NAME: &'static str;
    /// How a restore treats its rows.
    const ROLE: Role = Role::Replaced;
    /// Whether a batch can be parsed, checked and built into one insert before the batches
    /// ahead of it are written: its check needs nothing a restore learns on the way.
    const OFF_TASK: bool = true;

    /// Which rows are the tenant's.
    fn scope(tenant: Uuid) -> Condition;

    /// Which of the tenant's rows a restore deletes before inserting the backup's: all of
    /// them, unless the table keeps some (then its [`Self::insert_restored`] adds the
    /// backup's copies of those where missing).
    fn replaced(tenant: Uuid) -> Condition {
        Self::scope(tenant)
    }

    /// The dump's order of the rows (stable, parents' order first).
    fn order(select: Select<Self>) -> Select<Self>;

    /// Whose row it is, for the check that a restored row is the tenant's.
    fn owner(model: &Self::Model) -> Uuid;

    /// The subject whose personal data a row holds, if any.
    fn subject(_model: &Self::Model) -> Option<Uuid> {
        None
    }

    /// Sets what a restored row's columns repeat of its other columns from those (a backup
    /// of an earlier schema may lack them).
    fn derive(_model: &mut Self::Model) {}

    /// Whether a restored row belongs to `tenant`.
    fn belongs(model: &Self::Model, tenant: Uuid, _state: &RestoreState) -> bool {
        Self::owner(model) == tenant
    }

    /// The data key a row is, for the table of keys (which leave apart from the rows).
    fn as_key(_model: &Self::Model) -> Option<WrappedKey> {
        None
    }

    /// What a restore remembers of these rows for the tables after.
    fn remember(_models: &[Self::Model], _state: &mut RestoreState) {}

    /// Writes restored rows.
    fn insert_restored(
        txn: &DatabaseTransaction,
        models: Vec<Self::Model>,
    ) -> impl Future<Output = Result<(), DbErr>> + Send {
        insert_rows::<Self>(txn, models, Self::ROLE == Role::Kept)
    }
}

/// What the registry needs of a table's model.
pub(crate) trait TableModel<E: EntityTrait>:
    ModelTrait<Entity = E>
    + IntoActiveModel<E::ActiveModel>
    + Serialize
    + DeserializeOwned
    + Send
    + Sync
{
}

impl<E: EntityTrait, M> TableModel<E> for M where
    M: ModelTrait<Entity = E>
        + IntoActiveModel<E::ActiveModel>
        + Serialize
        + DeserializeOwned
        + Send
        + Sync
{
}

/// Implements [`TenantTable`] for a table scoped by its `tenant_id` column, with the hooks
/// given in braces.
macro_rules! owned_by_tenant {
    (
        $module:ident, $name:literal, order: [$($order:ident),+]
        $(, subject: $subject:ident)? $(, role: $role:expr)? $(, off_task: $off_task:expr)?
        $(, { $($hooks:tt)* })?
    ) => {
        impl TenantTable for $module::Entity {
            const NAME: &'static str = $name;
            $(const ROLE: Role = $role;)?
            $(const OFF_TASK: bool = $off_task;)?

            fn scope(tenant: Uuid) -> Condition {
                Condition::all().add($module::Column::TenantId.eq(tenant))
            }

            fn order(select: Select<Self>) -> Select<Self> {
                select$(.order_by_asc($module::Column::$order))+
            }

            fn owner(model: &$module::Model) -> Uuid {
                model.tenant_id
            }

            $(fn subject(model: &$module::Model) -> Option<Uuid> {
                Some(model.$subject)
            })?

            $($($hooks)*)?
        }
    };
}

impl TenantTable for tenant::Entity {
    const NAME: &'static str = "tenants";

    fn scope(tenant: Uuid) -> Condition {
        Condition::all().add(tenant::Column::Id.eq(tenant))
    }

    fn order(select: Select<Self>) -> Select<Self> {
        select
    }

    fn owner(model: &tenant::Model) -> Uuid {
        model.id
    }
}

owned_by_tenant!(api_key, "api_keys", order: [Id]);
owned_by_tenant!(purpose, "purposes", order: [Id]);

owned_by_tenant!(consent_form, "consent_forms", order: [Id], off_task: false, {
    fn remember(models: &[consent_form::Model], state: &mut RestoreState) {
        state.consent_forms.extend(models.iter().map(|m| m.id));
    }
});

/// The ids of the tenant's consent forms, for the versions that hang off them.
fn tenant_consent_forms(tenant: Uuid) -> SelectStatement {
    Query::select()
        .column(consent_form::Column::Id)
        .from(consent_form::Entity)
        .and_where(consent_form::Column::TenantId.eq(tenant))
        .to_owned()
}

impl TenantTable for consent_form_version::Entity {
    const NAME: &'static str = "consent_form_versions";
    const OFF_TASK: bool = false;

    fn scope(tenant: Uuid) -> Condition {
        Condition::all()
            .add(consent_form_version::Column::FormId.in_subquery(tenant_consent_forms(tenant)))
    }

    fn order(select: Select<Self>) -> Select<Self> {
        select
            .order_by_asc(consent_form_version::Column::FormId)
            .order_by_asc(consent_form_version::Column::Number)
    }

    fn owner(model: &consent_form_version::Model) -> Uuid {
        model.form_id
    }

    /// A version belongs to the tenant when its consent form was restored just before.
    fn belongs(model: &consent_form_version::Model, _: Uuid, state: &RestoreState) -> bool {
        state.consent_forms.contains(&model.form_id)
    }
}

owned_by_tenant!(form, "forms", order: [CreatedAt, Id]);

owned_by_tenant!(subject, "subjects", order: [CreatedAt, Id], subject: id, off_task: false, {
    fn remember(models: &[subject::Model], state: &mut RestoreState) {
        state.subjects.extend(models.iter().map(|m| m.id));
    }
});

owned_by_tenant!(subject_key, "subject_keys", order: [SubjectId], role: Role::Keys, {
    fn as_key(model: &subject_key::Model) -> Option<WrappedKey> {
        Some(WrappedKey {
            subject: SubjectId::from_uuid(model.subject_id),
            wrapped: model.wrapped.clone(),
        })
    }
});
owned_by_tenant!(record, "records", order: [CreatedAt, Id], subject: subject_id);

owned_by_tenant!(consent_event, "consent_events", order: [Seq], subject: subject_id, off_task: false, {
    /// The sequence is global: new numbers, in the dumped order, so that a restore never
    /// collides with another tenant's events.
    fn insert_restored(
        txn: &DatabaseTransaction,
        models: Vec<consent_event::Model>,
    ) -> impl Future<Output = Result<(), DbErr>> + Send {
        let models: Vec<consent_event::ActiveModel> = models
            .into_iter()
            .map(|m| {
                let mut active = m.into_active_model();
                active.seq = ActiveValue::NotSet;
                active
            })
            .collect();
        insert_all(txn, models, false)
    }
});

owned_by_tenant!(request, "requests", order: [ReceivedAt, Id], {
    /// Whether a request is open is taken from its body, not from the backup's column
    /// (which backups of earlier schemas do not have).
    fn derive(model: &mut request::Model) {
        model.is_open = crate::from_json::<gdpr_rights::SubjectRequest>(&model.body, "a request")
            .ok()
            .map(|r| r.status == gdpr_rights::RequestStatus::Open);
    }
});
owned_by_tenant!(legal_hold, "legal_holds", order: [Id]);
owned_by_tenant!(processing_limit, "processing_limits", order: [Id], subject: subject_id);
/// The kinds of documents a restore keeps (erasure confirmations), by stored name.
fn kept_kinds() -> impl Iterator<Item = &'static str> {
    DocumentKind::ALL
        .into_iter()
        .filter(|k| k.kept_through_restore())
        .map(DocumentKind::as_str)
}

// Written on the restoring task (`off_task: false`): its rows go in two inserts.
owned_by_tenant!(document, "documents", order: [Kind, CreatedAt, Id], off_task: false, {
    /// The kinds kept through a restore stay.
    fn replaced(tenant: Uuid) -> Condition {
        Self::scope(tenant).add(document::Column::Kind.is_not_in(kept_kinds()))
    }

    /// The backup's documents of kinds restored where free (kept kinds, address claims)
    /// are added where their id is free; any other document whose id is taken fails the
    /// restore, as in every replaced table.
    fn insert_restored(
        txn: &DatabaseTransaction,
        models: Vec<document::Model>,
    ) -> impl Future<Output = Result<(), DbErr>> + Send {
        let (where_free, replaced): (Vec<_>, Vec<_>) = models.into_iter().partition(|m| {
            DocumentKind::parse(&m.kind).is_some_and(DocumentKind::restored_where_free)
        });
        async move {
            insert_rows::<Self>(txn, replaced, false).await?;
            insert_rows::<Self>(txn, where_free, true).await
        }
    }
});
owned_by_tenant!(tombstone, "tombstones", order: [ErasedAt, ReceiptId], role: Role::Kept);
owned_by_tenant!(erasure_receipt, "erasure_receipts", order: [Id], role: Role::Kept);

impl TenantTable for audit_entry::Entity {
    const NAME: &'static str = "audit_log";
    const ROLE: Role = Role::Chain;
    const OFF_TASK: bool = false;

    fn scope(tenant: Uuid) -> Condition {
        Condition::all()
            .add(audit_entry::Column::Chain.eq(chain_key(Some(TenantId::from_uuid(tenant)))))
    }

    fn order(select: Select<Self>) -> Select<Self> {
        select.order_by_asc(audit_entry::Column::Seq)
    }

    /// Audit rows carry their chain, not a tenant column: checked in [`Self::belongs`].
    fn owner(_: &audit_entry::Model) -> Uuid {
        Uuid::nil()
    }

    fn belongs(model: &audit_entry::Model, tenant: Uuid, _: &RestoreState) -> bool {
        model.chain == chain_key(Some(TenantId::from_uuid(tenant)))
    }
}

/// A table of the registry, as the dump and the restore use it.
#[async_trait]
pub(crate) trait Table: Send + Sync {
    /// Its name in a dump.
    fn name(&self) -> &'static str;

    /// How a restore treats it.
    fn role(&self) -> Role;

    /// Streams the tenant's rows (or keys) into `tx`, in dump order.
    async fn dump(
        &self,
        txn: &DatabaseTransaction,
        tenant: Uuid,
        tx: &Sender,
    ) -> Result<(), DumpFailure>;

    /// Deletes the tenant's rows (its deletion); how many.
    async fn clear(&self, txn: &DatabaseTransaction, tenant: Uuid) -> Result<u64, DbErr>;

    /// Deletes the tenant's rows a restore replaces (all but those the table keeps); how many.
    async fn clear_replaced(&self, txn: &DatabaseTransaction, tenant: Uuid) -> Result<u64, DbErr>;

    /// Parses, checks and builds one insert for a batch off the writing task, where the table
    /// allows it (see [`TenantTable::OFF_TASK`]) and the backend has such an insert.
    fn prepare(
        &self,
        rows: &[String],
        tenant: Uuid,
        backend: DbBackend,
    ) -> Result<Option<Prepared>, StoreError>;

    /// Parses, checks and inserts a batch of restored rows.
    async fn restore(
        &self,
        txn: &DatabaseTransaction,
        tenant: Uuid,
        rows: &[String],
        state: &mut RestoreState,
    ) -> Result<(), StoreError>;
}

/// [`Table`] for a [`TenantTable`].
struct Entry<T>(PhantomData<fn() -> T>);

impl<T> Entry<T> {
    const NEW: Self = Self(PhantomData);
}

/// Parses a batch of `T`'s rows, each of which must belong to `tenant`.
fn checked<T: TenantTable>(
    rows: &[String],
    tenant: Uuid,
    state: &RestoreState,
) -> Result<Vec<T::Model>, StoreError> {
    let models = rows
        .iter()
        .map(|json| {
            let mut model = serde_json::from_str(json)
                .map_err(|_| corrupt(&format!("a {} row does not parse", T::NAME)))?;
            T::derive(&mut model);
            Ok(model)
        })
        .collect::<Result<Vec<T::Model>, StoreError>>()?;
    if models.iter().any(|m| !T::belongs(m, tenant, state)) {
        return Err(corrupt(&format!(
            "a {} row belongs to another tenant",
            T::NAME
        )));
    }
    Ok(models)
}

/// Deletes the rows of `T` that `condition` selects; how many.
async fn delete_where<T: TenantTable>(
    txn: &DatabaseTransaction,
    condition: Condition,
) -> Result<u64, DbErr> {
    Ok(T::delete_many()
        .filter(condition)
        .exec(txn)
        .await?
        .rows_affected)
}

#[async_trait]
impl<T: TenantTable> Table for Entry<T> {
    fn name(&self) -> &'static str {
        T::NAME
    }

    fn role(&self) -> Role {
        T::ROLE
    }

    async fn dump(
        &self,
        txn: &DatabaseTransaction,
        tenant: Uuid,
        tx: &Sender,
    ) -> Result<(), DumpFailure> {
        let select = T::order(T::find().filter(T::scope(tenant)));
        let mut rows = Box::pin(select.stream(txn).await?);
        while let Some(row) = rows.next().await {
            let row = row?;
            let item = match T::as_key(&row) {
                Some(key) => DumpItem::Key(key),
                None => DumpItem::Row(DumpRow {
                    table: T::NAME.to_owned(),
                    subject: T::subject(&row).map(SubjectId::from_uuid),
                    json: serde_json::to_string(&row)
                        .unwrap_or_else(|_| unreachable!("rows of plain columns serialise")),
                }),
            };
            send(tx, item).await?;
        }
        Ok(())
    }

    async fn clear(&self, txn: &DatabaseTransaction, tenant: Uuid) -> Result<u64, DbErr> {
        delete_where::<T>(txn, T::scope(tenant)).await
    }

    async fn clear_replaced(&self, txn: &DatabaseTransaction, tenant: Uuid) -> Result<u64, DbErr> {
        delete_where::<T>(txn, T::replaced(tenant)).await
    }

    fn prepare(
        &self,
        rows: &[String],
        tenant: Uuid,
        backend: DbBackend,
    ) -> Result<Option<Prepared>, StoreError> {
        if !T::OFF_TASK || backend != DbBackend::Postgres {
            return Ok(None);
        }
        let models = checked::<T>(rows, tenant, &RestoreState::default())?;
        Ok(
            crate::bulk::unnest_insert::<T>(&models, T::ROLE == Role::Kept).map(|statement| {
                Prepared::Insert {
                    table: T::NAME,
                    count: models.len() as u64,
                    statement,
                }
            }),
        )
    }

    async fn restore(
        &self,
        txn: &DatabaseTransaction,
        tenant: Uuid,
        rows: &[String],
        state: &mut RestoreState,
    ) -> Result<(), StoreError> {
        let models = checked::<T>(rows, tenant, state)?;
        T::remember(&models, state);
        match T::ROLE {
            Role::Keys => return Err(corrupt("data keys come in the keyring, not as rows")),
            Role::Chain if state.keep_audit => {}
            _ => T::insert_restored(txn, models).await.map_err(unavailable)?,
        }
        *state.counts.rows.entry(T::NAME.to_owned()).or_default() += rows.len() as u64;
        Ok(())
    }
}

/// Every table of a tenant, parents before children: the dump's order (keys first, see
/// [`Role::Keys`]) and the restore's insert order; a restore deletes in the reverse order.
pub(crate) static REGISTRY: [&dyn Table; 17] = [
    &Entry::<tenant::Entity>::NEW,
    &Entry::<api_key::Entity>::NEW,
    &Entry::<purpose::Entity>::NEW,
    &Entry::<consent_form::Entity>::NEW,
    &Entry::<consent_form_version::Entity>::NEW,
    &Entry::<form::Entity>::NEW,
    &Entry::<subject::Entity>::NEW,
    &Entry::<subject_key::Entity>::NEW,
    &Entry::<record::Entity>::NEW,
    &Entry::<consent_event::Entity>::NEW,
    &Entry::<request::Entity>::NEW,
    &Entry::<legal_hold::Entity>::NEW,
    &Entry::<processing_limit::Entity>::NEW,
    &Entry::<document::Entity>::NEW,
    &Entry::<tombstone::Entity>::NEW,
    &Entry::<erasure_receipt::Entity>::NEW,
    &Entry::<audit_entry::Entity>::NEW,
];

/// The registry's entry for a table named in a dump.
pub(crate) fn table(name: &str) -> Option<&'static dyn Table> {
    REGISTRY.iter().copied().find(|t| t.name() == name)
}

/// The data keys of restored subjects, as rows of `subject_keys`.
pub(crate) fn key_rows(
    keys: Vec<WrappedKey>,
    tenant: Uuid,
    state: &RestoreState,
) -> Vec<subject_key::Model> {
    keys.into_iter()
        .filter(|k| state.subjects.contains(k.subject.as_uuid()))
        .map(|k| subject_key::Model {
            subject_id: *k.subject.as_uuid(),
            tenant_id: tenant,
            wrapped: k.wrapped,
        })
        .collect()
}
