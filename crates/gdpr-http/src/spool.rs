//! A JSON answer too long to hold in memory: its one long array (an import's ids) is written
//! to an anonymous temporary file as it grows, and the answer is streamed from it, between the
//! object's other fields. The file holds ids only (no personal data) and disappears when the
//! answer is sent or dropped.

use std::io::Cursor;
use std::marker::PhantomData;

use poem::{Body, IntoResponse, Response};
use poem_openapi::ApiResponse;
use poem_openapi::payload::Payload;
use poem_openapi::registry::{MetaMediaType, MetaResponse, MetaResponses, MetaSchemaRef, Registry};
use poem_openapi::types::Type;
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _, AsyncWriteExt as _, BufWriter};

/// The array's items so far, as JSON text separated by commas, in a temporary file.
pub(crate) struct Spool {
    file: BufWriter<tokio::fs::File>,
    items: u64,
}

impl Spool {
    /// An empty array.
    ///
    /// # Errors
    /// When no temporary file can be made.
    pub(crate) fn new() -> std::io::Result<Self> {
        let file = tempfile::tempfile()?;
        Ok(Self {
            file: BufWriter::with_capacity(64 * 1024, tokio::fs::File::from_std(file)),
            items: 0,
        })
    }

    /// Appends one item, already JSON.
    pub(crate) async fn push(&mut self, json: &str) -> std::io::Result<()> {
        if self.items > 0 {
            self.file.write_all(b",").await?;
        }
        self.file.write_all(json.as_bytes()).await?;
        self.items += 1;
        Ok(())
    }

    /// The answer: `head`, the array, then `tail` (`head` ends with `[`, `tail` starts with
    /// `]`), typed as `T` in the API's description.
    pub(crate) async fn answer<T>(
        self,
        head: String,
        tail: String,
    ) -> std::io::Result<SpooledJson<T>> {
        let mut file = self.file;
        file.flush().await?;
        let mut file = file.into_inner();
        file.rewind().await?;
        let reader = Cursor::new(head.into_bytes())
            .chain(file)
            .chain(Cursor::new(tail.into_bytes()));
        Ok(SpooledJson(Body::from_async_read(reader), PhantomData))
    }
}

/// A JSON body streamed from a [`Spool`], described as a `T`.
pub(crate) struct SpooledJson<T>(Body, PhantomData<T>);

impl<T: Type> Payload for SpooledJson<T> {
    const CONTENT_TYPE: &'static str = "application/json; charset=utf-8";

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Type> IntoResponse for SpooledJson<T> {
    fn into_response(self) -> Response {
        Response::builder()
            .content_type(<Self as Payload>::CONTENT_TYPE)
            .body(self.0)
    }
}

impl<T: Type> ApiResponse for SpooledJson<T> {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![MetaResponse {
                description: "",
                status: Some(200),
                status_range: None,
                content: vec![MetaMediaType {
                    content_type: Self::CONTENT_TYPE,
                    schema: Self::schema_ref(),
                }],
                headers: vec![],
            }],
        }
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}
