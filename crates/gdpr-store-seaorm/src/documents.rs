//! Registers kept as documents (`documents` table): a tenant's rows carry its id, the
//! deployment's the nil id (no tenant has it), so a tenant's backup, restore and deletion
//! take its documents with its other rows and never the deployment's. Bodies are sealed
//! (XChaCha20-Poly1305) under a key of their owner derived from the master secret, bound to
//! their kind and id: a webhook endpoint's signing secrets are in its body.

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use gdpr_pii::TenantId;
use gdpr_ports::{Document, DocumentKind, DocumentStore, Owner, StoreError};
use sea_orm::sea_query::{ExprTrait, OnConflict};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use crate::entity::document;
use crate::{SeaOrmStore, corrupt, from_nanos, nanos, unavailable};

fn owner_id(owner: Owner) -> Uuid {
    match owner {
        Owner::Deployment => Uuid::nil(),
        Owner::Tenant(t) => *t.as_uuid(),
    }
}

/// Whose a row is: the nil tenant is the deployment.
fn owner_of(row: &document::Model) -> Owner {
    if row.tenant_id.is_nil() {
        Owner::Deployment
    } else {
        Owner::Tenant(TenantId::from_uuid(row.tenant_id))
    }
}

/// Where a document's ciphertext belongs: its kind and id (its owner picks the key).
fn place(kind: &str, id: Uuid) -> String {
    format!("documents/{kind}/{id}")
}

impl SeaOrmStore {
    /// A body as stored: sealed under its owner's documents key, base64.
    fn seal_body(&self, doc: &Document) -> String {
        let sealed = self.master.seal_document(
            TenantId::from_uuid(owner_id(doc.owner)),
            &place(doc.kind.as_str(), doc.id),
            doc.body.as_bytes(),
        );
        B64.encode(sealed)
    }

    fn open_row(&self, row: document::Model, owner: Owner) -> Result<Document, StoreError> {
        let kind = DocumentKind::parse(&row.kind).ok_or_else(|| corrupt("a document's kind"))?;
        let sealed = B64
            .decode(&row.body)
            .map_err(|_| corrupt("a document's body"))?;
        let body = self
            .master
            .open_document(
                TenantId::from_uuid(row.tenant_id),
                &place(&row.kind, row.id),
                &sealed,
            )
            .map_err(|_| corrupt("a document (it does not open under its owner's key)"))?;
        Ok(Document {
            id: row.id,
            kind,
            owner,
            created_at: from_nanos(row.created_at),
            body: String::from_utf8(body).map_err(|_| corrupt("a document's body"))?,
        })
    }
}

fn scoped(owner: Owner, kind: DocumentKind) -> sea_orm::Condition {
    use document::Column as C;
    sea_orm::Condition::all()
        .add(C::TenantId.eq(owner_id(owner)))
        .add(C::Kind.eq(kind.as_str()))
}

impl SeaOrmStore {
    /// The row that stores `doc`, its body sealed.
    fn row(&self, doc: &Document) -> document::ActiveModel {
        document::ActiveModel {
            id: Set(doc.id),
            tenant_id: Set(owner_id(doc.owner)),
            kind: Set(doc.kind.as_str().to_owned()),
            created_at: Set(nanos(doc.created_at)),
            body: Set(self.seal_body(doc)),
        }
    }
}

#[async_trait]
impl DocumentStore for SeaOrmStore {
    async fn put_document(&self, doc: &Document) -> Result<(), StoreError> {
        use document::Column as C;
        // One statement: insert, or replace the body of the same owner's document of the same
        // kind; an id of another owner or kind is left alone and reported.
        let insert = document::Entity::insert(self.row(doc)).on_conflict(
            OnConflict::column(C::Id)
                .update_column(C::Body)
                .action_and_where(
                    C::TenantId
                        .eq(owner_id(doc.owner))
                        .and(C::Kind.eq(doc.kind.as_str())),
                )
                .to_owned(),
        );
        match insert.exec_without_returning(&self.db).await {
            Ok(1) => Ok(()),
            Ok(_) => Err(StoreError::Conflict("document id")),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn insert_document(&self, doc: &Document) -> Result<(), StoreError> {
        use document::Column as C;
        // One statement: the database's unique id decides which of two writers wins.
        let insert = document::Entity::insert(self.row(doc))
            .on_conflict(OnConflict::column(C::Id).do_nothing().to_owned());
        match insert.exec_without_returning(&self.db).await {
            Ok(1) => Ok(()),
            Ok(_) | Err(sea_orm::DbErr::RecordNotInserted) => {
                Err(StoreError::Conflict("document id"))
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn replace_document(&self, doc: &Document) -> Result<(), StoreError> {
        use document::Column as C;
        let update = document::Entity::update_many()
            .col_expr(
                C::Body,
                sea_orm::sea_query::Expr::value(self.seal_body(doc)),
            )
            .filter(C::Id.eq(doc.id))
            .filter(scoped(doc.owner, doc.kind));
        crate::update_found(&self.db, update).await
    }

    async fn get_document(
        &self,
        owner: Owner,
        kind: DocumentKind,
        id: Uuid,
    ) -> Result<Document, StoreError> {
        let row = document::Entity::find_by_id(id)
            .filter(scoped(owner, kind))
            .one(&self.db)
            .await
            .map_err(unavailable)?
            .ok_or(StoreError::NotFound)?;
        self.open_row(row, owner)
    }

    async fn list_documents(
        &self,
        owner: Owner,
        kind: DocumentKind,
    ) -> Result<Vec<Document>, StoreError> {
        use document::Column as C;
        document::Entity::find()
            .filter(scoped(owner, kind))
            .order_by_asc(C::CreatedAt)
            .order_by_asc(C::Id)
            .all(&self.db)
            .await
            .map_err(unavailable)?
            .into_iter()
            .map(|row| self.open_row(row, owner))
            .collect()
    }

    async fn document_by_id(&self, kind: DocumentKind, id: Uuid) -> Result<Document, StoreError> {
        use document::Column as C;
        let row = document::Entity::find_by_id(id)
            .filter(C::Kind.eq(kind.as_str()))
            .one(&self.db)
            .await
            .map_err(unavailable)?
            .ok_or(StoreError::NotFound)?;
        let owner = owner_of(&row);
        self.open_row(row, owner)
    }

    async fn all_documents(&self, kind: DocumentKind) -> Result<Vec<Document>, StoreError> {
        use document::Column as C;
        document::Entity::find()
            .filter(C::Kind.eq(kind.as_str()))
            .order_by_asc(C::CreatedAt)
            .order_by_asc(C::Id)
            .all(&self.db)
            .await
            .map_err(unavailable)?
            .into_iter()
            .map(|row| {
                let owner = owner_of(&row);
                self.open_row(row, owner)
            })
            .collect()
    }

    async fn delete_document(
        &self,
        owner: Owner,
        kind: DocumentKind,
        id: Uuid,
    ) -> Result<bool, StoreError> {
        let done = document::Entity::delete_many()
            .filter(document::Column::Id.eq(id))
            .filter(scoped(owner, kind))
            .exec(&self.db)
            .await
            .map_err(unavailable)?;
        Ok(done.rows_affected > 0)
    }
}
