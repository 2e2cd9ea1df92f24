//! The console's people and their sessions: users a tenant's staff sign in as (created by the
//! operator, with a role), passwords hashed with argon2id, sessions found by their token's
//! hash, each with its own CSRF token.
//!
//! Users and sessions are documents of the tenant (encrypted at rest with its key, in its
//! backups, deleted with it); an address is claimed with a create-only document whose id is
//! derived from it, so one address is one user in the whole deployment, whoever races. A
//! password is generated here (116 bits) and shown once, like an API key; the operator resets
//! it the same way. Nobody chooses a password, so guessing one online is hopeless: sign-in
//! failures are limited per source by the HTTP layer, as for API keys, and there is no
//! per-account lockout (which would let anyone lock the DPO out). A session ends at sign-out,
//! after [`ConsoleConfig::idle`] without use, after [`ConsoleConfig::lifetime`] whatever its
//! use, when its user is removed, or when their password is reset (each reset moves the user's
//! credential generation, which every session carries); its role is read from the user at
//! each use, so a change takes effect at once.

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use gdpr_audit::{Actor, AuditAction, AuditEvent};
use gdpr_pii::{ConsoleUserId, Email, TenantId};
use gdpr_ports::{Clock as _, Document, DocumentKind, DocumentStore, Owner, Ports, StoreError};
use gdpr_rights::Decision;
use rand::{Rng as _, RngCore as _};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::{App, AppError, Ctx};

/// What a console user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsoleRole {
    /// The data protection officer's work: requests, breaches, erasures, exports.
    Dpo,
    /// Reads everything the console shows; changes nothing.
    Viewer,
}

impl ConsoleRole {
    /// Its name (`dpo`, `viewer`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Dpo => "dpo",
            Self::Viewer => "viewer",
        }
    }

    /// The role a name stands for.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Dpo, Self::Viewer]
            .into_iter()
            .find(|r| r.as_str() == name)
    }
}

/// The console's session and sign-in limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsoleConfig {
    /// A session unused this long ends.
    pub idle: Duration,
    /// A session ends this long after sign-in, however much it is used.
    pub lifetime: Duration,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self {
            idle: Duration::minutes(30),
            lifetime: Duration::hours(8),
        }
    }
}

/// A console user (never their password's hash; its `Debug` leaves the address out, so that
/// no log line or error made of it carries one).
#[derive(Clone, PartialEq, Eq)]
pub struct ConsoleUser {
    /// Their id.
    pub id: ConsoleUserId,
    /// Their tenant.
    pub tenant: TenantId,
    /// The address they sign in with.
    pub email: String,
    /// What they may do.
    pub role: ConsoleRole,
    /// When the operator created them.
    pub created_at: OffsetDateTime,
}

impl std::fmt::Debug for ConsoleUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleUser")
            .field("id", &self.id)
            .field("tenant", &self.tenant)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// A user just created or whose password was just reset: the password is shown once.
#[derive(Debug)]
pub struct IssuedConsoleUser {
    /// The user.
    pub user: ConsoleUser,
    /// Their password, generated here.
    pub password: SecretString,
}

/// A signed-in user, as each page sees them.
#[derive(Debug, Clone)]
pub struct ConsoleSession {
    /// The session's id (the hash of its token's secret, shortened).
    pub id: Uuid,
    /// Who.
    pub user: ConsoleUser,
    /// The token every form of this session must carry back.
    pub csrf: SecretString,
}

impl ConsoleSession {
    /// The context the session's use cases run in: its tenant, its user as the actor.
    #[must_use]
    pub const fn ctx(&self) -> Ctx {
        Ctx::new(self.user.tenant, Actor::ConsoleUser(self.user.id))
    }

    /// Whether `token` is this session's CSRF token (compared in constant time).
    #[must_use]
    pub fn csrf_matches(&self, token: &str) -> bool {
        csrf_eq(&self.csrf, token)
    }
}

/// A sign-in that succeeded: the session, and the token the browser keeps in its cookie.
#[derive(Debug)]
pub struct SignedIn {
    /// The session.
    pub session: ConsoleSession,
    /// `<tenant>.<secret>`: the cookie's value, never stored.
    pub token: SecretString,
}

/// The operator signed in to the console's operator pages (with the admin token, which the
/// HTTP layer checks): a session of the deployment, with its own CSRF token.
#[derive(Debug, Clone)]
pub struct OperatorSession {
    /// The session's id (the hash of its token's secret, shortened).
    pub id: Uuid,
    /// The token every form of this session must carry back.
    pub csrf: SecretString,
}

impl OperatorSession {
    /// Whether `token` is this session's CSRF token (compared in constant time).
    #[must_use]
    pub fn csrf_matches(&self, token: &str) -> bool {
        csrf_eq(&self.csrf, token)
    }
}

/// The first part of an operator session's token (a tenant's is the tenant's id).
const OPERATOR: &str = "operator";

#[derive(Serialize, Deserialize)]
struct StoredUser {
    email: String,
    role: ConsoleRole,
    /// The argon2id hash, in the PHC string format.
    password: String,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    /// When the password was set (created, or reset): a reset replayed from the journal
    /// applies only to a password older than it.
    #[serde(with = "time::serde::rfc3339::option", default)]
    password_set_at: Option<OffsetDateTime>,
    /// Moved by each reset: a session of an earlier generation is refused.
    #[serde(default)]
    generation: u64,
}

#[derive(Serialize, Deserialize)]
struct StoredSession {
    user: Uuid,
    /// The user's credential generation at sign-in.
    #[serde(default)]
    generation: u64,
    /// An operator session's admin-token fingerprint at sign-in: the session ends when the
    /// token changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    admin_key: Option<String>,
    csrf: String,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    seen_at: OffsetDateTime,
}

impl StoredSession {
    /// Past its lifetime, or unused for its idle time.
    fn ended(&self, now: OffsetDateTime, config: &ConsoleConfig) -> bool {
        now - self.created_at >= config.lifetime || now - self.seen_at >= config.idle
    }
}

/// Whether `token` is the session's CSRF token `ours` (compared in constant time; an empty
/// one never matches).
fn csrf_eq(ours: &SecretString, token: &str) -> bool {
    let ours = ours.expose_secret().as_bytes();
    !ours.is_empty() && bool::from(ours.ct_eq(token.as_bytes()))
}

/// Letters and digits that cannot be mistaken for one another (no 0/O, 1/l/I).
const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
/// A generated password's length: 20 of 56 symbols, 116 bits.
const PASSWORD_LEN: usize = 20;
/// The password hash of a user whose reset was replayed from the journal: not a PHC string,
/// so no password matches it.
const LOCKED: &str = "!locked: reset after a restore";
/// A session's last use is written at most this often (not at every page).
const SEEN_EVERY: Duration = Duration::minutes(1);

fn generate_password() -> SecretString {
    let mut rng = rand::rngs::OsRng;
    let password: String = (0..PASSWORD_LEN)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect();
    SecretString::from(password)
}

fn hash_password(password: &SecretString) -> Result<String, AppError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.expose_secret().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| AppError::invalid("password", "cannot be hashed"))
}

fn password_matches(password: &str, hash: &str) -> bool {
    let verify = |hash: &PasswordHash<'_>| {
        Argon2::default()
            .verify_password(password.as_bytes(), hash)
            .is_ok()
    };
    match PasswordHash::new(hash) {
        Ok(parsed) => verify(&parsed),
        // A locked user's: as much work as any, so that nothing tells it apart.
        Err(_) => {
            if let Ok(decoy) = PasswordHash::new(decoy_hash()) {
                verify(&decoy);
            }
            false
        }
    }
}

/// A hash no password matches, checked when no user has the address given: a sign-in takes
/// as long whether or not the address is known.
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password(&generate_password()).unwrap_or_default())
}

/// The id of an address's claim: a name-based UUID of the normalised address, so that a
/// create-only write of it fails when any user already has the address.
fn address_claim(email: &str) -> Uuid {
    const NAMESPACE: Uuid = Uuid::from_u128(0x6b1f_3a4e_2c9d_4e57_9a0b_7c1d_5e3f_2a8b);
    Uuid::new_v5(&NAMESPACE, email.as_bytes())
}

fn random_hex() -> String {
    let bytes: [u8; 32] = rand::rngs::OsRng.r#gen();
    hex::encode(bytes)
}

/// The stored id of a session: the first half of its secret's SHA-256.
fn session_id(secret: &str) -> Uuid {
    let digest = Sha256::digest(secret.as_bytes());
    let mut id = [0u8; 16];
    id.copy_from_slice(&digest[..16]);
    Uuid::from_bytes(id)
}

fn parse_token(token: &str) -> Option<(TenantId, Uuid)> {
    let (tenant, secret) = token.split_once('.')?;
    let tenant = Uuid::try_parse(tenant).ok()?;
    (secret.len() == 64 && secret.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| (TenantId::from_uuid(tenant), session_id(secret)))
}

fn corrupt(_: serde_json::Error) -> AppError {
    AppError::Store(StoreError::Corrupt("a console document".into()))
}

fn user_of(doc: &Document, tenant: TenantId) -> Result<(ConsoleUser, StoredUser), AppError> {
    let stored: StoredUser = serde_json::from_str(&doc.body).map_err(corrupt)?;
    let user = ConsoleUser {
        id: ConsoleUserId::from_uuid(doc.id),
        tenant,
        email: stored.email.clone(),
        role: stored.role,
        created_at: stored.created_at,
    };
    Ok((user, stored))
}

impl<P: Ports> App<P> {
    /// Creates a console user for a tenant (an operator action), with a generated password
    /// shown once. One address is one user in the whole deployment: it says which tenant a
    /// sign-in is for.
    ///
    /// # Errors
    /// [`AppError::NotFound`] for the tenant; [`AppError::InvalidInput`] for the address;
    /// [`AppError::Conflict`] when the address already has a user; storage errors.
    pub async fn create_console_user(
        &self,
        actor: Actor,
        tenant: TenantId,
        email: &str,
        role: ConsoleRole,
    ) -> Result<IssuedConsoleUser, AppError> {
        self.tenant(tenant).await?;
        let email = Email::parse(email).map_err(|e| AppError::invalid("email", e))?;
        let now = self.clock.now();
        let id = ConsoleUserId::at(now);
        // The address claimed first, create-only: of two operators adding it at once (a
        // double click), one succeeds.
        let claim = Document {
            id: address_claim(email.expose_pii()),
            kind: DocumentKind::ConsoleAddress,
            owner: Owner::Tenant(tenant),
            created_at: now,
            body: serde_json::json!({ "user": id }).to_string(),
        };
        match self.store.insert_document(&claim).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => {
                return Err(AppError::Conflict(
                    "this address already signs in to a console".into(),
                ));
            }
            Err(e) => return Err(AppError::store(e)),
        }
        let password = generate_password();
        let stored = StoredUser {
            email: email.expose_pii().to_owned(),
            role,
            password: hash_password(&password)?,
            created_at: now,
            password_set_at: Some(now),
            generation: 0,
        };
        if let Err(e) = self.put_console_user(tenant, id, &stored, now).await {
            // The claim given back, whatever came of the write's cleanup.
            let _ = self
                .store
                .delete_document(
                    Owner::Tenant(tenant),
                    DocumentKind::ConsoleAddress,
                    claim.id,
                )
                .await;
            return Err(e);
        }
        let event = AuditEvent::new(now, Some(tenant), actor, AuditAction::ConsoleUserCreated)
            .with("user", id)
            .with("role", role.as_str());
        self.audit(event).await?;
        let user = ConsoleUser {
            id,
            tenant,
            email: stored.email,
            role,
            created_at: now,
        };
        Ok(IssuedConsoleUser { user, password })
    }

    /// A tenant's console users, oldest first.
    ///
    /// # Errors
    /// [`AppError::NotFound`] for the tenant; storage errors.
    pub async fn console_users(&self, tenant: TenantId) -> Result<Vec<ConsoleUser>, AppError> {
        self.tenant(tenant).await?;
        self.store
            .list_documents(Owner::Tenant(tenant), DocumentKind::ConsoleUser)
            .await
            .map_err(AppError::store)?
            .iter()
            .map(|doc| user_of(doc, tenant).map(|(user, _)| user))
            .collect()
    }

    /// Replaces a console user's password with a new generated one, shown once; their
    /// sessions end.
    ///
    /// # Errors
    /// [`AppError::NotFound`]; storage errors.
    pub async fn reset_console_password(
        &self,
        actor: Actor,
        tenant: TenantId,
        id: ConsoleUserId,
    ) -> Result<IssuedConsoleUser, AppError> {
        let (doc, (user, mut stored)) = self.console_user(tenant, id).await?;
        self.journal_revocation(tenant, id, false).await?;
        let password = generate_password();
        stored.password = hash_password(&password)?;
        stored.password_set_at = Some(self.clock.now());
        // Every session of another generation is refused from now on, even one a sign-in
        // racing this reset writes after the sessions below are deleted. Random, not a
        // count: of two resets racing, the one written last wins, and its generation is its own.
        stored.generation = rand::rngs::OsRng.next_u64();
        self.put_console_user(tenant, id, &stored, doc.created_at)
            .await?;
        self.end_sessions_of(tenant, id).await?;
        let event = AuditEvent::new(
            self.clock.now(),
            Some(tenant),
            actor,
            AuditAction::ConsoleUserPasswordReset,
        )
        .with("user", id);
        self.audit(event).await?;
        Ok(IssuedConsoleUser { user, password })
    }

    /// Removes a console user; their sessions end at once.
    ///
    /// # Errors
    /// [`AppError::NotFound`]; storage errors.
    pub async fn remove_console_user(
        &self,
        actor: Actor,
        tenant: TenantId,
        id: ConsoleUserId,
    ) -> Result<(), AppError> {
        let (_, (user, _)) = self.console_user(tenant, id).await?;
        self.journal_revocation(tenant, id, true).await?;
        self.delete_console_user(tenant, id, &user.email).await?;
        let event = AuditEvent::new(
            self.clock.now(),
            Some(tenant),
            actor,
            AuditAction::ConsoleUserRemoved,
        )
        .with("user", id);
        self.audit(event).await
    }

    /// Signs a user in: a new session, audited.
    ///
    /// # Errors
    /// [`AppError::Unauthorized`] for an unknown address, a wrong password or a locked user
    /// (the same answer, after the same work); [`AppError::TenantOffboarding`]; storage
    /// errors.
    pub async fn console_sign_in(
        &self,
        email: &str,
        password: &SecretString,
    ) -> Result<SignedIn, AppError> {
        let now = self.clock.now();
        let found = match Email::parse(email) {
            Ok(email) => self.console_user_by_email(email.expose_pii()).await?,
            Err(_) => None,
        };
        let Some((user, stored)) = found else {
            password_matches(password.expose_secret(), decoy_hash());
            return Err(AppError::Unauthorized);
        };
        if !password_matches(password.expose_secret(), &stored.password) {
            return Err(AppError::Unauthorized);
        }
        self.ensure_not_offboarding(user.tenant).await?;
        let secret = random_hex();
        let id = session_id(&secret);
        let session = StoredSession {
            user: *user.id.as_uuid(),
            generation: stored.generation,
            admin_key: None,
            csrf: random_hex(),
            created_at: now,
            seen_at: now,
        };
        self.put_session_of(Owner::Tenant(user.tenant), id, &session, now)
            .await?;
        let event = AuditEvent::new(
            now,
            Some(user.tenant),
            Actor::ConsoleUser(user.id),
            AuditAction::ConsoleSignedIn,
        )
        .with("session", id);
        self.audit(event).await?;
        let token = SecretString::from(format!("{}.{secret}", user.tenant.as_uuid().simple()));
        Ok(SignedIn {
            session: ConsoleSession {
                id,
                user,
                csrf: SecretString::from(session.csrf),
            },
            token,
        })
    }

    /// The session a token opens, if it is still open: its user as they are now.
    ///
    /// # Errors
    /// [`AppError::Unauthorized`] for a malformed, unknown, ended or expired session, or one
    /// whose user was removed; [`AppError::TenantOffboarding`]; storage errors.
    pub async fn console_session(&self, token: &SecretString) -> Result<ConsoleSession, AppError> {
        let (tenant, id) = parse_token(token.expose_secret()).ok_or(AppError::Unauthorized)?;
        let stored = self.live_session(Owner::Tenant(tenant), id).await?;
        let user = match self
            .console_user(tenant, ConsoleUserId::from_uuid(stored.user))
            .await
        {
            // A session from before the user's last password reset is over.
            Ok((_, (user, now))) if now.generation == stored.generation => user,
            Ok(_) | Err(AppError::NotFound(_)) => return Err(AppError::Unauthorized),
            Err(e) => return Err(e),
        };
        self.ensure_not_offboarding(tenant).await?;
        Ok(ConsoleSession {
            id,
            user,
            csrf: SecretString::from(stored.csrf),
        })
    }

    /// Ends a session (sign-out), audited.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn console_sign_out(&self, session: &ConsoleSession) -> Result<(), AppError> {
        self.delete_session_of(Owner::Tenant(session.user.tenant), session.id)
            .await?;
        self.audit(
            self.event(session.ctx(), AuditAction::ConsoleSignedOut)
                .with("session", session.id),
        )
        .await
    }

    /// Opens an operator session, once the caller has checked the admin token, whose
    /// fingerprint (`admin_key`) the session keeps: it ends when the token changes. Audited
    /// in the system chain. The session and the token for its cookie.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn operator_sign_in(
        &self,
        admin_key: &str,
    ) -> Result<(OperatorSession, SecretString), AppError> {
        let now = self.clock.now();
        let secret = random_hex();
        let id = session_id(&secret);
        let stored = StoredSession {
            user: Uuid::nil(),
            generation: 0,
            admin_key: Some(admin_key.to_owned()),
            csrf: random_hex(),
            created_at: now,
            seen_at: now,
        };
        self.put_session_of(Owner::Deployment, id, &stored, now)
            .await?;
        let event = AuditEvent::new(now, None, Actor::Operator, AuditAction::ConsoleSignedIn)
            .with("session", id);
        self.audit(event).await?;
        let session = OperatorSession {
            id,
            csrf: SecretString::from(stored.csrf),
        };
        Ok((session, SecretString::from(format!("{OPERATOR}.{secret}"))))
    }

    /// The operator session a token opens, if it is still open and the admin token is still
    /// the one it was opened with (`admin_key`, its fingerprint now; `None`: the admin routes
    /// are off, and so is every operator session).
    ///
    /// # Errors
    /// [`AppError::Unauthorized`] for a malformed, unknown, ended or expired session, or one of
    /// another admin token; storage errors.
    pub async fn operator_session(
        &self,
        token: &SecretString,
        admin_key: Option<&str>,
    ) -> Result<OperatorSession, AppError> {
        let secret = token
            .expose_secret()
            .strip_prefix(OPERATOR)
            .and_then(|rest| rest.strip_prefix('.'))
            .filter(|s| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or(AppError::Unauthorized)?;
        let id = session_id(secret);
        let stored = self.live_session(Owner::Deployment, id).await?;
        let same_key = match (stored.admin_key.as_deref(), admin_key) {
            (Some(then), Some(now)) => bool::from(then.as_bytes().ct_eq(now.as_bytes())),
            _ => false,
        };
        if !same_key {
            self.delete_session_of(Owner::Deployment, id).await?;
            return Err(AppError::Unauthorized);
        }
        Ok(OperatorSession {
            id,
            csrf: SecretString::from(stored.csrf),
        })
    }

    /// Ends an operator session, audited in the system chain.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn operator_sign_out(&self, session: &OperatorSession) -> Result<(), AppError> {
        self.delete_session_of(Owner::Deployment, session.id)
            .await?;
        let event = AuditEvent::new(
            self.clock.now(),
            None,
            Actor::Operator,
            AuditAction::ConsoleSignedOut,
        )
        .with("session", session.id);
        self.audit(event).await
    }

    /// Deletes every session past its idle time or lifetime (the hourly `prune-portal` job);
    /// how many.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn prune_console_sessions(&self) -> Result<usize, AppError> {
        let now = self.clock.now();
        let config = &self.config.console;
        let mut pruned = 0;
        for doc in self
            .store
            .all_documents(DocumentKind::ConsoleSession)
            .await
            .map_err(AppError::store)?
        {
            let ended = serde_json::from_str::<StoredSession>(&doc.body)
                .map_or(true, |s| s.ended(now, config));
            if ended
                && self
                    .store
                    .delete_document(doc.owner, DocumentKind::ConsoleSession, doc.id)
                    .await
                    .map_err(AppError::store)?
            {
                pruned += 1;
            }
        }
        Ok(pruned)
    }

    /// Journals a user's removal or password reset before it is made, outside the database:
    /// a restore must not bring back a user the operator removed, nor a password replaced.
    async fn journal_revocation(
        &self,
        tenant: TenantId,
        user: ConsoleUserId,
        removed: bool,
    ) -> Result<(), AppError> {
        let at = self.clock.now();
        self.journal(
            tenant,
            vec![Decision::ConsoleUserRevoked { user, removed, at }],
        )
        .await
        .map(drop)
    }

    /// Applies a journaled removal or password reset again after a restore: the user deleted,
    /// or left with no password that works (the new one is not in the journal: the operator
    /// resets it again); their sessions ended. The audit record to write, if anything changed.
    pub(crate) async fn replay_console_revocation(
        &self,
        tenant: TenantId,
        user: ConsoleUserId,
        removed: bool,
        at: OffsetDateTime,
    ) -> Result<
        Option<(
            AuditAction,
            &'static str,
            String,
            Option<gdpr_pii::SubjectId>,
        )>,
        AppError,
    > {
        let (doc, (found, mut stored)) = match self.console_user(tenant, user).await {
            Ok(found) => found,
            // Removed already, or created after the backup (and so not restored).
            Err(AppError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let action = if removed {
            self.delete_console_user(tenant, user, &found.email).await?;
            AuditAction::ConsoleUserRemoved
        } else {
            // The journal is replayed from its checkpoint, not from the backup: a reset the
            // restored password already postdates is in force, and must not lock it.
            let set_at = stored.password_set_at.unwrap_or(doc.created_at);
            if stored.password == LOCKED || set_at >= at {
                return Ok(None);
            }
            stored.password = LOCKED.to_owned();
            stored.password_set_at = Some(at);
            stored.generation = rand::rngs::OsRng.next_u64();
            self.put_console_user(tenant, user, &stored, doc.created_at)
                .await?;
            self.end_sessions_of(tenant, user).await?;
            AuditAction::ConsoleUserPasswordReset
        };
        Ok(Some((action, "user", user.to_string(), None)))
    }

    /// Deletes a user, its address's claim and its sessions.
    async fn delete_console_user(
        &self,
        tenant: TenantId,
        id: ConsoleUserId,
        email: &str,
    ) -> Result<(), AppError> {
        let owner = Owner::Tenant(tenant);
        self.store
            .delete_document(owner, DocumentKind::ConsoleUser, *id.as_uuid())
            .await
            .map_err(AppError::store)?;
        self.store
            .delete_document(owner, DocumentKind::ConsoleAddress, address_claim(email))
            .await
            .map_err(AppError::store)?;
        self.end_sessions_of(tenant, id).await
    }

    async fn console_user(
        &self,
        tenant: TenantId,
        id: ConsoleUserId,
    ) -> Result<(Document, (ConsoleUser, StoredUser)), AppError> {
        let doc = self
            .store
            .get_document(
                Owner::Tenant(tenant),
                DocumentKind::ConsoleUser,
                *id.as_uuid(),
            )
            .await
            .map_err(AppError::not_found("console user"))?;
        let user = user_of(&doc, tenant)?;
        Ok((doc, user))
    }

    /// The user an address signs in as, through the address's claim (every user has one,
    /// written before the user): two reads by primary key, however many users the deployment
    /// has, on a route anyone may call. A claim whose user is gone (a creation cut short) or
    /// unreadable signs no one in.
    async fn console_user_by_email(
        &self,
        email: &str,
    ) -> Result<Option<(ConsoleUser, StoredUser)>, AppError> {
        let claim = match self
            .store
            .document_by_id(DocumentKind::ConsoleAddress, address_claim(email))
            .await
        {
            Ok(claim) => claim,
            Err(StoreError::NotFound) => {
                // The second read a known address costs, so that the database's part of a
                // sign-in is alike too (argon2, tens of milliseconds, is the rest).
                let _ = self
                    .store
                    .document_by_id(DocumentKind::ConsoleUser, Uuid::nil())
                    .await;
                return Ok(None);
            }
            Err(e) => return Err(AppError::store(e)),
        };
        let Owner::Tenant(tenant) = claim.owner else {
            return Ok(None);
        };
        let Some(user) = serde_json::from_str::<serde_json::Value>(&claim.body)
            .ok()
            .and_then(|body| body["user"].as_str().and_then(|u| Uuid::try_parse(u).ok()))
        else {
            return Ok(None);
        };
        match self
            .console_user(tenant, ConsoleUserId::from_uuid(user))
            .await
        {
            // The address as the user has it now, not only as the claim was made.
            Ok((_, found)) if found.1.email == email => Ok(Some(found)),
            Ok(_) | Err(AppError::NotFound(_) | AppError::Store(StoreError::Corrupt(_))) => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    async fn put_console_user(
        &self,
        tenant: TenantId,
        id: ConsoleUserId,
        stored: &StoredUser,
        created_at: OffsetDateTime,
    ) -> Result<(), AppError> {
        let body = serde_json::to_string(stored).map_err(corrupt)?;
        self.store
            .put_document(&Document {
                id: *id.as_uuid(),
                kind: DocumentKind::ConsoleUser,
                owner: Owner::Tenant(tenant),
                created_at,
                body,
            })
            .await
            .map_err(AppError::store)
    }

    /// The stored session `id` of `owner` while it is open (an ended one is deleted), its
    /// last use written if it is a minute old.
    async fn live_session(&self, owner: Owner, id: Uuid) -> Result<StoredSession, AppError> {
        let doc = match self
            .store
            .get_document(owner, DocumentKind::ConsoleSession, id)
            .await
        {
            Ok(doc) => doc,
            Err(StoreError::NotFound) => return Err(AppError::Unauthorized),
            Err(e) => return Err(AppError::store(e)),
        };
        let mut stored: StoredSession = serde_json::from_str(&doc.body).map_err(corrupt)?;
        let now = self.clock.now();
        if stored.ended(now, &self.config.console) {
            self.delete_session_of(owner, id).await?;
            return Err(AppError::Unauthorized);
        }
        if now - stored.seen_at >= SEEN_EVERY {
            stored.seen_at = now;
            let body = serde_json::to_string(&stored).map_err(corrupt)?;
            // Replaced, never re-created: a sign-out (or a revocation) that deleted the
            // session since it was read above stays done.
            match self.store.replace_document(&Document { body, ..doc }).await {
                Ok(()) => {}
                Err(StoreError::NotFound) => return Err(AppError::Unauthorized),
                Err(e) => return Err(AppError::store(e)),
            }
        }
        Ok(stored)
    }

    async fn put_session_of(
        &self,
        owner: Owner,
        id: Uuid,
        stored: &StoredSession,
        created_at: OffsetDateTime,
    ) -> Result<(), AppError> {
        let body = serde_json::to_string(stored).map_err(corrupt)?;
        self.store
            .put_document(&Document {
                id,
                kind: DocumentKind::ConsoleSession,
                owner,
                created_at,
                body,
            })
            .await
            .map_err(AppError::store)
    }

    async fn delete_session_of(&self, owner: Owner, id: Uuid) -> Result<(), AppError> {
        self.store
            .delete_document(owner, DocumentKind::ConsoleSession, id)
            .await
            .map(drop)
            .map_err(AppError::store)
    }

    async fn end_sessions_of(&self, tenant: TenantId, user: ConsoleUserId) -> Result<(), AppError> {
        let owner = Owner::Tenant(tenant);
        for doc in self
            .store
            .list_documents(owner, DocumentKind::ConsoleSession)
            .await
            .map_err(AppError::store)?
        {
            let theirs = serde_json::from_str::<StoredSession>(&doc.body)
                .map_or(true, |s| s.user == *user.as_uuid());
            if theirs {
                self.delete_session_of(Owner::Tenant(tenant), doc.id)
                    .await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_users_debug_form_names_no_address() {
        let user = ConsoleUser {
            id: ConsoleUserId::at(OffsetDateTime::UNIX_EPOCH),
            tenant: TenantId::at(OffsetDateTime::UNIX_EPOCH),
            email: "dpo@logalto.example".into(),
            role: ConsoleRole::Dpo,
            created_at: OffsetDateTime::UNIX_EPOCH,
        };
        let shown = format!("{user:?}");
        assert!(
            shown.contains("Dpo") && !shown.contains("logalto"),
            "{shown}"
        );
    }

    #[test]
    fn tokens_must_have_the_exact_shape() {
        let tenant = Uuid::new_v4().simple().to_string();
        let secret = random_hex();
        assert!(parse_token(&format!("{tenant}.{secret}")).is_some());
        for bad in [
            String::new(),
            tenant.clone(),
            format!("{tenant}.{}", &secret[1..]),
            format!("{tenant}.{}g", &secret[1..]),
            format!("nope.{secret}"),
        ] {
            assert!(parse_token(&bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn a_generated_password_is_long_unambiguous_and_matches_only_its_hash() {
        let password = generate_password();
        let text = password.expose_secret();
        assert_eq!(text.len(), PASSWORD_LEN);
        assert!(!text.contains(['0', 'O', '1', 'l', 'I']));
        let hash = hash_password(&password).unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(password_matches(text, &hash));
        assert!(!password_matches(&format!("{text}x"), &hash));
        assert!(!password_matches(text, "not a hash"));
    }
}
