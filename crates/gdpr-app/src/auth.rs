//! API keys: issued by the operator for one tenant, shown once, stored as a hash, checked in
//! constant time.
//!
//! A token is `gdpr_<key id>_<secret>`: the id finds the stored key, the secret is compared by
//! SHA-256 hash. Secrets are 256 bits from the OS random source, so a fast hash is enough: there
//! is nothing to brute-force as there would be with a password.

use gdpr_audit::{Actor, AuditAction, AuditEvent};
use gdpr_pii::{ApiKeyId, TenantId};
use gdpr_ports::{ApiKeyRecord, ApiKeyStore, Clock, Ports};
use gdpr_rights::Decision;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::{App, AppError};

/// Every token starts with this, so that scanners and the log redactor can recognise one.
pub const TOKEN_PREFIX: &str = "gdpr_";

/// A key just issued: the token is shown to the operator once and never again.
#[derive(Debug)]
pub struct IssuedKey {
    /// The stored key (hash only).
    pub record: ApiKeyRecord,
    /// The whole token, secret included.
    pub token: SecretString,
}

/// Who a valid token speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Authenticated {
    /// The one tenant it opens.
    pub tenant: TenantId,
    /// The key.
    pub key: ApiKeyId,
    /// Whether it may only read.
    pub read_only: bool,
}

fn random_hex() -> String {
    // Two v4 UUIDs are 244 bits drawn from the operating system's CSPRNG (getrandom).
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

fn parse_token(token: &str) -> Option<(ApiKeyId, &str)> {
    let rest = token.trim().strip_prefix(TOKEN_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let id = id.parse().ok()?;
    (secret.len() == 64 && secret.bytes().all(|b| b.is_ascii_hexdigit())).then_some((id, secret))
}

impl<P: Ports> App<P> {
    /// Issues an API key for a tenant (an operator action).
    ///
    /// # Errors
    /// [`AppError::NotFound`] for the tenant; storage errors.
    pub async fn create_api_key(
        &self,
        actor: Actor,
        tenant: TenantId,
        read_only: bool,
    ) -> Result<IssuedKey, AppError> {
        self.tenant(tenant).await?;
        let id = ApiKeyId::at(self.clock.now());
        let secret = random_hex();
        let record = ApiKeyRecord {
            id,
            tenant,
            secret_hash: Sha256::digest(secret.as_bytes()).into(),
            read_only,
            created_at: self.clock.now(),
            revoked_at: None,
        };
        self.store
            .insert_api_key(&record)
            .await
            .map_err(AppError::store)?;
        let event = AuditEvent::new(
            record.created_at,
            Some(tenant),
            actor,
            AuditAction::ApiKeyCreated,
        )
        .with("key", id)
        .with("read_only", read_only);
        self.audit(event).await?;
        let token = SecretString::from(format!("{TOKEN_PREFIX}{}_{secret}", id.as_uuid().simple()));
        Ok(IssuedKey { record, token })
    }

    /// Checks a token.
    ///
    /// # Errors
    /// [`AppError::Unauthorized`] for a malformed, unknown, wrong or revoked token; storage
    /// errors.
    pub async fn authenticate(&self, token: &SecretString) -> Result<Authenticated, AppError> {
        let (id, secret) = parse_token(token.expose_secret()).ok_or(AppError::Unauthorized)?;
        let record = match self.cache.key(id) {
            Some(record) => record,
            None => {
                let ticket = self.cache.ticket();
                let record = match self.store.get_api_key(id).await {
                    Ok(record) => record,
                    // Unknown ids are not kept: anyone can make up as many as they like.
                    Err(gdpr_ports::StoreError::NotFound) => return Err(AppError::Unauthorized),
                    Err(e) => return Err(AppError::store(e)),
                };
                if let Some(ticket) = ticket {
                    self.cache.put_key(ticket, record.clone());
                }
                record
            }
        };
        let hash: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        if !bool::from(hash.ct_eq(&record.secret_hash)) || record.revoked_at.is_some() {
            return Err(AppError::Unauthorized);
        }
        // A valid key of a tenant being offboarded: refused, saying why.
        self.ensure_not_offboarding(record.tenant).await?;
        Ok(Authenticated {
            tenant: record.tenant,
            key: record.id,
            read_only: record.read_only,
        })
    }

    /// Revokes a key; it stops working at once. The revocation is journaled first, outside
    /// the database, so that a restore never brings back a working key the tenant revoked.
    ///
    /// # Errors
    /// [`AppError::NotFound`]; object storage and signing errors writing the journal (the key
    /// is then not revoked); storage errors.
    pub async fn revoke_api_key(
        &self,
        actor: Actor,
        tenant: TenantId,
        id: ApiKeyId,
    ) -> Result<(), AppError> {
        match self.store.get_api_key(id).await {
            Ok(key) if key.tenant == tenant => {}
            Ok(_) | Err(gdpr_ports::StoreError::NotFound) => {
                return Err(AppError::NotFound("api key"));
            }
            Err(e) => return Err(AppError::store(e)),
        }
        let at = self.clock.now();
        self.journal(tenant, vec![Decision::ApiKeyRevoked { key: id, at }])
            .await?;
        let written = self.store.revoke_api_key(tenant, id, at).await;
        // Forgotten whatever came of the write: it may have committed before failing.
        self.invalidate(gdpr_ports::Invalidation::ApiKey(id)).await;
        written.map_err(AppError::not_found("api key"))?;
        let event = AuditEvent::new(
            self.clock.now(),
            Some(tenant),
            actor,
            AuditAction::ApiKeyRevoked,
        )
        .with("key", id);
        self.audit(event).await
    }

    /// A tenant's keys (hashes only).
    ///
    /// # Errors
    /// Storage errors.
    pub async fn api_keys(&self, tenant: TenantId) -> Result<Vec<ApiKeyRecord>, AppError> {
        self.store
            .list_api_keys(tenant)
            .await
            .map_err(AppError::store)
    }
}

#[cfg(test)]
mod tests {
    use super::parse_token;

    #[test]
    fn tokens_must_have_the_exact_shape() {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let secret = "a".repeat(64);
        assert!(parse_token(&format!("gdpr_{id}_{secret}")).is_some());
        for bad in [
            String::new(),
            format!("gdpr_{id}"),
            format!("gdpr_{id}_{}", "a".repeat(63)),
            format!("gdpr_{id}_{}", "g".repeat(64)),
            format!("xgdpr_{id}_{secret}"),
            format!("gdpr_nope_{secret}"),
        ] {
            assert!(parse_token(&bad).is_none(), "{bad}");
        }
    }
}
