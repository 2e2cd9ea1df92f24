//! Where backups live in object storage: `backups/<tenant>/<backup id>/...`, whose id starts
//! with its UTC creation time (so pruning decides from a listing alone), and how a tenant's
//! listing is read back into backup folders.

use std::collections::BTreeMap;

use gdpr_pii::TenantId;
use gdpr_ports::{BackupStore, Ports};
use time::format_description::FormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

use super::format::MANIFEST;
use crate::{App, AppError};

const ID_TIME: &[FormatItem<'static>] =
    format_description!("[year][month][day]T[hour][minute][second]Z");

/// The naming of backup objects.
#[derive(Debug, Clone, Copy)]
pub struct BackupLayout;

impl BackupLayout {
    /// The object that marks a backup verified.
    pub const VERIFIED: &'static str = "VERIFIED";

    /// How old the objects of a backup without a manifest must be before pruning removes them
    /// (no backup takes that long, so none is still being written).
    pub const ABANDONED_AFTER: time::Duration = time::Duration::DAY;

    /// The prefix of every backup of a tenant.
    #[must_use]
    pub fn tenant_prefix(tenant: TenantId) -> String {
        format!("backups/{tenant}/")
    }

    /// A new backup id for a backup taken at `at`: `20260131T020000Z-1a2b3c4d`.
    #[must_use]
    pub fn new_id(at: OffsetDateTime) -> String {
        let at = at.to_offset(time::UtcOffset::UTC);
        let stamp = at.format(ID_TIME).unwrap_or_default();
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        format!("{stamp}-{}", &suffix[..8])
    }

    /// The creation time encoded in a backup id.
    #[must_use]
    pub fn created_at(id: &str) -> Option<OffsetDateTime> {
        let stamp = id.split('-').next()?;
        PrimitiveDateTime::parse(stamp, ID_TIME)
            .ok()
            .map(PrimitiveDateTime::assume_utc)
    }
}

impl<P: Ports> App<P> {
    /// The tenant's backup folders by id, and the keys under its prefix that belong to none.
    pub(crate) async fn backup_folders(
        &self,
        tenant: TenantId,
    ) -> Result<(BTreeMap<String, Folder>, Vec<String>), AppError> {
        let prefix = BackupLayout::tenant_prefix(tenant);
        let objects = self.backups.list(&prefix).await.map_err(AppError::Backup)?;
        let mut folders: BTreeMap<String, Folder> = BTreeMap::new();
        let mut unrecognised = Vec::new();
        for object in objects {
            let rest = &object.key[prefix.len()..];
            let Some((id, name)) = rest.split_once('/') else {
                unrecognised.push(object.key);
                continue;
            };
            let Some(created_at) = BackupLayout::created_at(id) else {
                unrecognised.push(object.key);
                continue;
            };
            let folder = folders.entry(id.to_owned()).or_insert_with(|| Folder {
                created_at,
                complete: false,
                verified: false,
                objects: Vec::new(),
            });
            folder.complete |= name == MANIFEST;
            folder.verified |= name == BackupLayout::VERIFIED;
            folder.objects.push(object.key);
        }
        Ok((folders, unrecognised))
    }
}

/// One backup folder, complete or not.
#[derive(Debug, Clone)]
pub(crate) struct Folder {
    pub(crate) created_at: OffsetDateTime,
    /// It has its manifest.
    pub(crate) complete: bool,
    pub(crate) verified: bool,
    pub(crate) objects: Vec<String>,
}
