//! A JSON request body kept byte for byte beside its parsed value: a signature is over the
//! bytes as they were sent, which re-serialising the value would not reproduce. Small: it is
//! read before anything authenticates it, and then hashed.

use poem::http::StatusCode;
use poem::{Request, RequestBody};
use poem_openapi::error::ParseRequestPayloadError;
use poem_openapi::payload::{Json, ParsePayload, Payload};
use poem_openapi::registry::{MetaSchemaRef, Registry};
use poem_openapi::types::{ParseFromJSON, Type};

/// The most a signed body may hold (413 past it): a signed call carries a few ids.
const SIGNED_BODY_LIMIT: usize = 4096;

/// A JSON body, parsed and documented as `Json<T>`, with its exact bytes.
pub(crate) struct SignedJson<T> {
    /// The bytes as received.
    pub(crate) raw: Vec<u8>,
    /// Their value.
    pub(crate) value: T,
}

impl<T: Type> Payload for SignedJson<T> {
    const CONTENT_TYPE: &'static str = <Json<T> as Payload>::CONTENT_TYPE;

    fn check_content_type(content_type: &str) -> bool {
        <Json<T> as Payload>::check_content_type(content_type)
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: ParseFromJSON> ParsePayload for SignedJson<T> {
    const IS_REQUIRED: bool = true;

    async fn from_request(req: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let raw = <Vec<u8> as poem::FromRequest>::from_request(req, body).await?;
        if raw.len() > SIGNED_BODY_LIMIT {
            return Err(poem::Error::from_status(StatusCode::PAYLOAD_TOO_LARGE));
        }
        let json = serde_json::from_slice(&raw).map_err(|e| ParseRequestPayloadError {
            reason: e.to_string(),
        })?;
        let value = T::parse_from_json(Some(json)).map_err(|e| ParseRequestPayloadError {
            reason: e.into_message(),
        })?;
        Ok(Self { raw, value })
    }
}

// The two-argument form: the one-argument arm recurses by bare name, unusable through a path.
poem_openapi::impl_apirequest_for_payload!(SignedJson<T>, T: ParseFromJSON);
