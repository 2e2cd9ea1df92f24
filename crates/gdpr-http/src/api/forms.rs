//! Purposes, forms and records.

use std::sync::Arc;

use gdpr_app::{App, ReadUse};
use gdpr_pii::{ConsentFormId, FieldSpec, FormId, RecordId, SubjectId};
use gdpr_ports::Ports;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};
use uuid::Uuid;

use crate::api::{Tag, cursor_text, page, reader, writer};
use crate::auth::TenantKey;
use crate::convert;
use crate::dto::{
    AttachIn, CursorParam, FormIn, FormOut, PurposeIn, PurposeOut, ReadUseDto, RecordIn, RecordOut,
    RecordPage,
};
use crate::problem::ApiError;

/// 201 with the created purpose.
#[derive(ApiResponse)]
pub(crate) enum PurposeCreated {
    /// Created.
    #[oai(status = 201)]
    Created(Json<PurposeOut>),
}

/// 201 with the created form.
#[derive(ApiResponse)]
pub(crate) enum FormCreated {
    /// Created.
    #[oai(status = 201)]
    Created(Json<FormOut>),
}

/// 201 with the created record.
#[derive(ApiResponse)]
pub(crate) enum RecordCreated {
    /// Created.
    #[oai(status = 201)]
    Created(Json<RecordOut>),
}

/// 204.
#[derive(ApiResponse)]
pub(crate) enum Deleted {
    /// Deleted.
    #[oai(status = 204)]
    Done,
}

pub(crate) struct FormsApi<P: Ports>(pub(crate) Arc<App<P>>);

#[OpenApi(tag = "Tag::Forms")]
impl<P: Ports> FormsApi<P> {
    /// Declare a purpose of processing with its one lawful basis.
    #[oai(path = "/purposes", method = "post")]
    async fn create_purpose(
        &self,
        auth: TenantKey,
        body: Json<PurposeIn>,
    ) -> Result<PurposeCreated, ApiError> {
        let ctx = writer(&auth)?;
        let p = self
            .0
            .define_purpose(ctx, &body.id, &body.description, body.lawful_basis.into())
            .await?;
        Ok(PurposeCreated::Created(Json(convert::purpose(p))))
    }

    /// List purposes.
    #[oai(path = "/purposes", method = "get")]
    async fn list_purposes(&self, auth: TenantKey) -> Result<Json<Vec<PurposeOut>>, ApiError> {
        Ok(Json(
            self.0
                .purposes(reader(&auth))
                .await?
                .into_iter()
                .map(convert::purpose)
                .collect(),
        ))
    }

    /// Define a form: every field must carry a PII category (or `not_personal`).
    #[oai(path = "/forms", method = "post")]
    async fn create_form(
        &self,
        auth: TenantKey,
        body: Json<FormIn>,
    ) -> Result<FormCreated, ApiError> {
        let ctx = writer(&auth)?;
        let body = body.0;
        let fields = body
            .fields
            .into_iter()
            .map(|f| f.into_inner())
            .map(|f| FieldSpec {
                name: f.name.into(),
                kind: f.kind.into(),
                category: f.category.map(Into::into),
                required: f.required,
            })
            .collect();
        let form = self
            .0
            .define_form(ctx, &body.name, fields, &body.purpose)
            .await?;
        Ok(FormCreated::Created(Json(convert::form(form))))
    }

    /// List forms.
    #[oai(path = "/forms", method = "get")]
    async fn list_forms(&self, auth: TenantKey) -> Result<Json<Vec<FormOut>>, ApiError> {
        Ok(Json(
            self.0
                .forms(reader(&auth))
                .await?
                .into_iter()
                .map(convert::form)
                .collect(),
        ))
    }

    /// Read a form.
    #[oai(path = "/forms/:id", method = "get")]
    async fn get_form(&self, auth: TenantKey, id: Path<Uuid>) -> Result<Json<FormOut>, ApiError> {
        Ok(Json(convert::form(
            self.0.form(reader(&auth), FormId::from_uuid(id.0)).await?,
        )))
    }

    /// Attach the consent form that this form's records require.
    #[oai(path = "/forms/:id/consent-form", method = "put")]
    async fn attach(
        &self,
        auth: TenantKey,
        id: Path<Uuid>,
        body: Json<AttachIn>,
    ) -> Result<Json<FormOut>, ApiError> {
        let ctx = writer(&auth)?;
        let form = self
            .0
            .attach_consent_form(
                ctx,
                FormId::from_uuid(id.0),
                ConsentFormId::from_uuid(body.consent_form),
            )
            .await?;
        Ok(Json(convert::form(form)))
    }

    /// Submit a record; refused when it breaks the form's schema or lacks current consent.
    #[oai(path = "/records", method = "post")]
    async fn create_record(
        &self,
        auth: TenantKey,
        body: Json<RecordIn>,
    ) -> Result<RecordCreated, ApiError> {
        let ctx = writer(&auth)?;
        let r = self
            .0
            .submit_record(
                ctx,
                FormId::from_uuid(body.form),
                SubjectId::from_uuid(body.subject),
                &body.values,
            )
            .await?;
        Ok(RecordCreated::Created(Json(convert::record(r))))
    }

    /// List records, optionally of one form and/or subject, oldest first; page with `after`
    /// (the `next` of the page before), which costs the same however deep. Read for processing
    /// (the default `use`), a subject whose processing is stopped has their records withheld
    /// (counted in `withheld`), and asking for that subject's records is refused with 409.
    #[oai(path = "/records", method = "get")]
    #[allow(
        clippy::too_many_arguments,
        reason = "poem-openapi takes each query parameter as an argument"
    )]
    async fn list_records(
        &self,
        auth: TenantKey,
        form: Query<Option<Uuid>>,
        subject: Query<Option<Uuid>>,
        #[oai(validator(minimum(value = "0"), maximum(value = "1000000000000000")))] offset: Query<
            Option<u64>,
        >,
        #[oai(validator(minimum(value = "1"), maximum(value = "1000")))] limit: Query<Option<u32>>,
        #[oai(name = "use")] use_: Query<Option<ReadUseDto>>,
        after: Query<Option<CursorParam>>,
    ) -> Result<Json<RecordPage>, ApiError> {
        let page = page(offset.0, limit.0, after.0.as_deref())?;
        let list = self
            .0
            .record_page(
                reader(&auth),
                form.0.map(FormId::from_uuid),
                subject.0.map(SubjectId::from_uuid),
                page,
                use_.0.map_or(ReadUse::Processing, Into::into),
            )
            .await?;
        Ok(Json(RecordPage {
            next: list.next.map(cursor_text),
            items: list.items.into_iter().map(convert::record).collect(),
            withheld: list.withheld,
            offset: page.offset,
            limit: page.limit,
        }))
    }

    /// Read a record: for processing (the default `use`; 409 while the subject's processing
    /// is stopped), or for legal claims.
    #[oai(path = "/records/:id", method = "get")]
    async fn get_record(
        &self,
        auth: TenantKey,
        id: Path<Uuid>,
        #[oai(name = "use")] use_: Query<Option<ReadUseDto>>,
    ) -> Result<Json<RecordOut>, ApiError> {
        Ok(Json(convert::record(
            self.0
                .record_for(
                    reader(&auth),
                    RecordId::from_uuid(id.0),
                    use_.0.map_or(ReadUse::Processing, Into::into),
                )
                .await?,
        )))
    }

    /// Delete a record.
    #[oai(path = "/records/:id", method = "delete")]
    async fn delete_record(&self, auth: TenantKey, id: Path<Uuid>) -> Result<Deleted, ApiError> {
        let ctx = writer(&auth)?;
        self.0.delete_record(ctx, RecordId::from_uuid(id.0)).await?;
        Ok(Deleted::Done)
    }
}
