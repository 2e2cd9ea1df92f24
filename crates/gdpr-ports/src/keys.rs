//! API keys: how a caller proves which tenant it acts for. Secrets are stored only as hashes.

use async_trait::async_trait;
use gdpr_pii::{ApiKeyId, TenantId};
use time::OffsetDateTime;

use crate::StoreError;

/// An API key as stored: its secret only as a hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// The key's id (the public part of the token).
    pub id: ApiKeyId,
    /// The one tenant it opens.
    pub tenant: TenantId,
    /// SHA-256 of the secret part.
    pub secret_hash: [u8; 32],
    /// Whether it may only read.
    pub read_only: bool,
    /// When it was created.
    pub created_at: OffsetDateTime,
    /// When it was revoked, if it was.
    pub revoked_at: Option<OffsetDateTime>,
}

/// API keys.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait ApiKeyStore: Send + Sync {
    /// Stores a new key.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn insert_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError>;

    /// A key by id, of any tenant (authentication does not know the tenant yet).
    ///
    /// # Errors
    /// [`StoreError::NotFound`]; [`StoreError::Unavailable`].
    async fn get_api_key(&self, id: ApiKeyId) -> Result<ApiKeyRecord, StoreError>;

    /// Revokes a key of the tenant.
    ///
    /// # Errors
    /// [`StoreError::NotFound`]; [`StoreError::Unavailable`].
    async fn revoke_api_key(
        &self,
        tenant: TenantId,
        id: ApiKeyId,
        at: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// The tenant's keys, oldest first.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn list_api_keys(&self, tenant: TenantId) -> Result<Vec<ApiKeyRecord>, StoreError>;
}
