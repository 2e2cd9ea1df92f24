//! An `application/x-ndjson` request body, streamed.

use poem::{Body, FromRequest, Request, RequestBody};
use poem_openapi::payload::{ParsePayload, Payload};
use poem_openapi::registry::{MetaSchema, MetaSchemaRef};

/// A newline-delimited JSON body, read as a stream.
pub(crate) struct Ndjson(pub(crate) Body);

impl Payload for Ndjson {
    const CONTENT_TYPE: &'static str = "application/x-ndjson";

    fn check_content_type(content_type: &str) -> bool {
        content_type
            .split(';')
            .next()
            .is_some_and(|essence| essence.trim().eq_ignore_ascii_case(Self::CONTENT_TYPE))
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            format: Some("binary"),
            ..MetaSchema::new("string")
        }))
    }
}

impl ParsePayload for Ndjson {
    const IS_REQUIRED: bool = true;

    async fn from_request(req: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        Ok(Self(Body::from_request(req, body).await?))
    }
}

// The two-argument form: the one-argument arm recurses by bare name, unusable through a path.
poem_openapi::impl_apirequest_for_payload!(Ndjson,);
