//! The hot path from memory: API-key authentication and processing checks answered from an
//! in-process cache, on the terms of `DECISIONS.md` (2026-12-06).
//!
//! - What it holds: API keys, tenants' offboarding state, processing checks (subject and
//!   purpose), the tenant's forms as submissions read them, and the record submissions a
//!   subject was admitted to (subject and form: consent to the form's consent form, no
//!   restriction or objection; only admissions, never refusals).
//! - The replica that takes a change (withdrawal, restriction, objection, erasure, key
//!   revocation, a tenant's purposes, forms or consent forms, offboarding, a restore) forgets what it
//!   rests on before it answers, then publishes the change ([`gdpr_ports::CacheBus`]) for the
//!   other replicas and processes.
//! - A replica answers from memory only while its watcher of those messages is up
//!   ([`CacheSignal::Up`]); while it is down, every answer comes from the database, and it
//!   starts again empty.
//! - A fill races with a change: the reads began before the change and their answer would land
//!   after it. Every fill carries the epoch at which its reads began ([`Ticket`]); every
//!   invalidation moves the epoch, and a fill from an older epoch is dropped.
//! - Entries age out after a bound (a safety net for a message lost with the process that
//!   should have sent it), and the cache holds at most a set number of entries.
//!
//! Nothing here does I/O; the use cases fill and read it.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use gdpr_consent::Form;
use gdpr_consent::PurposeId;
use gdpr_pii::{ApiKeyId, FormId, SubjectId, TenantId};
use gdpr_ports::{ApiKeyRecord, CacheBus as _, CacheSignal, Invalidation, Offboarding, Ports};

use crate::{App, ProcessingCheck};

/// How the hot-path cache behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HotCacheConfig {
    /// How long an entry is believed at most (a message lost with a replica that crashed
    /// between its commit and its publication is forgotten after this).
    pub ttl: Duration,
    /// How many entries it holds at most; reaching it empties the cache.
    pub capacity: usize,
}

impl Default for HotCacheConfig {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(30),
            capacity: 100_000,
        }
    }
}

/// The epoch at which a fill's reads began: its answer is kept only if nothing was
/// invalidated since.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ticket(u64);

struct Entry<T> {
    value: T,
    at: Instant,
}

#[derive(Default)]
struct State {
    /// Whether the watcher of invalidations is up: otherwise nothing is answered or kept.
    up: bool,
    epoch: u64,
    len: usize,
    keys: HashMap<ApiKeyId, Entry<ApiKeyRecord>>,
    offboarding: HashMap<TenantId, Entry<Option<Offboarding>>>,
    checks: HashMap<(TenantId, SubjectId), HashMap<PurposeId, Entry<ProcessingCheck>>>,
    forms: HashMap<(TenantId, FormId), Entry<Form>>,
    /// The forms whose records a subject may be submitted through (see `App::submit_record`).
    admissions: HashMap<(TenantId, SubjectId), HashMap<FormId, Entry<()>>>,
}

impl State {
    fn clear(&mut self) {
        self.epoch += 1;
        self.len = 0;
        self.keys.clear();
        self.offboarding.clear();
        self.checks.clear();
        self.forms.clear();
        self.admissions.clear();
    }

    fn forget(&mut self, what: Invalidation) {
        self.epoch += 1;
        match what {
            Invalidation::ApiKey(key) => {
                self.len -= usize::from(self.keys.remove(&key).is_some());
            }
            Invalidation::Subject { tenant, subject } => {
                self.len -= self
                    .checks
                    .remove(&(tenant, subject))
                    .map_or(0, |c| c.len());
                self.len -= self
                    .admissions
                    .remove(&(tenant, subject))
                    .map_or(0, |a| a.len());
            }
            Invalidation::Tenant(tenant) => {
                let before = self.keys.len() + self.offboarding.len();
                self.keys.retain(|_, k| k.value.tenant != tenant);
                self.offboarding.remove(&tenant);
                let mut removed = before - self.keys.len() - self.offboarding.len();
                self.checks.retain(|(t, _), checks| {
                    let keep = *t != tenant;
                    if !keep {
                        removed += checks.len();
                    }
                    keep
                });
                self.admissions.retain(|(t, _), forms| {
                    let keep = *t != tenant;
                    if !keep {
                        removed += forms.len();
                    }
                    keep
                });
                let forms = self.forms.len();
                self.forms.retain(|(t, _), _| *t != tenant);
                removed += forms - self.forms.len();
                self.len -= removed;
            }
            Invalidation::Everything => self.clear(),
        }
    }
}

/// The cache itself: one per [`crate::App`].
pub(crate) struct HotCache {
    config: Option<HotCacheConfig>,
    state: Mutex<State>,
}

impl HotCache {
    /// A cache (none: every answer comes from the database). It starts down: it answers once
    /// told [`CacheSignal::Up`].
    pub(crate) fn new(config: Option<HotCacheConfig>) -> Self {
        Self {
            config,
            state: Mutex::default(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn fresh<T: Clone>(&self, entry: Option<&Entry<T>>) -> Option<T> {
        let ttl = self.config?.ttl;
        entry
            .filter(|e| e.at.elapsed() < ttl)
            .map(|e| e.value.clone())
    }

    /// Leave to fill the cache with what is read from now on (none while it is down).
    pub(crate) fn ticket(&self) -> Option<Ticket> {
        self.config?;
        let state = self.state();
        state.up.then_some(Ticket(state.epoch))
    }

    /// Whether an entry read under `ticket` may be stored, making room for it when it is
    /// `new` (not replacing one aged out).
    fn admit(&self, state: &mut State, ticket: Ticket, new: bool) -> bool {
        let Some(config) = self.config else {
            return false;
        };
        if !state.up || state.epoch != ticket.0 {
            return false;
        }
        if !new {
            return true;
        }
        if state.len >= config.capacity {
            // Crude but bounded: a full cache starts again (the epoch does not move: nothing
            // changed in the data).
            let epoch = state.epoch;
            state.clear();
            state.epoch = epoch;
        }
        state.len += 1;
        true
    }

    /// A key as last read, if still fresh.
    pub(crate) fn key(&self, id: ApiKeyId) -> Option<ApiKeyRecord> {
        let state = self.state();
        if !state.up {
            return None;
        }
        self.fresh(state.keys.get(&id))
    }

    pub(crate) fn put_key(&self, ticket: Ticket, key: ApiKeyRecord) {
        let mut state = self.state();
        let new = !state.keys.contains_key(&key.id);
        if self.admit(&mut state, ticket, new) {
            state.keys.insert(key.id, entry(key));
        }
    }

    /// A tenant's offboarding as last read, if still fresh.
    pub(crate) fn offboarding(&self, tenant: TenantId) -> Option<Option<Offboarding>> {
        let state = self.state();
        if !state.up {
            return None;
        }
        self.fresh(state.offboarding.get(&tenant))
    }

    pub(crate) fn put_offboarding(
        &self,
        ticket: Ticket,
        tenant: TenantId,
        offboarding: Option<Offboarding>,
    ) {
        let mut state = self.state();
        let new = !state.offboarding.contains_key(&tenant);
        if self.admit(&mut state, ticket, new) {
            state.offboarding.insert(tenant, entry(offboarding));
        }
    }

    /// A processing check as last answered, if still fresh.
    pub(crate) fn check(
        &self,
        tenant: TenantId,
        subject: SubjectId,
        purpose: &PurposeId,
    ) -> Option<ProcessingCheck> {
        let state = self.state();
        if !state.up {
            return None;
        }
        self.fresh(
            state
                .checks
                .get(&(tenant, subject))
                .and_then(|c| c.get(purpose)),
        )
    }

    pub(crate) fn put_check(
        &self,
        ticket: Ticket,
        tenant: TenantId,
        subject: SubjectId,
        purpose: PurposeId,
        check: ProcessingCheck,
    ) {
        let mut state = self.state();
        let new = !state
            .checks
            .get(&(tenant, subject))
            .is_some_and(|c| c.contains_key(&purpose));
        if self.admit(&mut state, ticket, new) {
            state
                .checks
                .entry((tenant, subject))
                .or_default()
                .insert(purpose, entry(check));
        }
    }

    /// A form as last read, if still fresh.
    pub(crate) fn form(&self, tenant: TenantId, form: FormId) -> Option<Form> {
        let state = self.state();
        if !state.up {
            return None;
        }
        self.fresh(state.forms.get(&(tenant, form)))
    }

    pub(crate) fn put_form(&self, ticket: Ticket, form: Form) {
        let mut state = self.state();
        let key = (form.tenant, form.id);
        let new = !state.forms.contains_key(&key);
        if self.admit(&mut state, ticket, new) {
            state.forms.insert(key, entry(form));
        }
    }

    /// Whether the subject was admitted to submit records through `form`, if still fresh.
    pub(crate) fn admitted(&self, tenant: TenantId, subject: SubjectId, form: FormId) -> bool {
        let state = self.state();
        state.up
            && self
                .fresh(
                    state
                        .admissions
                        .get(&(tenant, subject))
                        .and_then(|a| a.get(&form)),
                )
                .is_some()
    }

    pub(crate) fn put_admission(
        &self,
        ticket: Ticket,
        tenant: TenantId,
        subject: SubjectId,
        form: FormId,
    ) {
        let mut state = self.state();
        let new = !state
            .admissions
            .get(&(tenant, subject))
            .is_some_and(|a| a.contains_key(&form));
        if self.admit(&mut state, ticket, new) {
            state
                .admissions
                .entry((tenant, subject))
                .or_default()
                .insert(form, entry(()));
        }
    }

    /// Forgets what `what` names.
    pub(crate) fn invalidate(&self, what: Invalidation) {
        self.state().forget(what);
    }

    /// What the watcher of invalidations reports.
    pub(crate) fn signal(&self, signal: CacheSignal) {
        let mut state = self.state();
        match signal {
            CacheSignal::Invalidate(what) => state.forget(what),
            CacheSignal::Down => {
                state.up = false;
                state.clear();
            }
            CacheSignal::Up => {
                state.clear();
                state.up = true;
            }
        }
    }

    /// Whether it answers now (configured, and its watcher up).
    pub(crate) fn is_up(&self) -> bool {
        self.config.is_some() && self.state().up
    }

    /// How many entries it holds.
    pub(crate) fn len(&self) -> usize {
        self.state().len
    }
}

impl<P: Ports> App<P> {
    /// What this replica's watcher of invalidations reports (the composition root runs the
    /// watcher: `NOTIFY` on PostgreSQL, a counter on SQLite). Until it says
    /// [`CacheSignal::Up`], nothing is answered from memory.
    pub fn cache_signal(&self, signal: CacheSignal) {
        self.cache.signal(signal);
    }

    /// Whether the hot path is answered from memory now.
    #[must_use]
    pub fn cache_is_up(&self) -> bool {
        self.cache.is_up()
    }

    /// How many entries the cache holds (for metrics).
    #[must_use]
    pub fn cache_entries(&self) -> usize {
        self.cache.len()
    }

    /// Forgets what `what` names here, then tells the other replicas. Called after the change
    /// was committed and before the request that made it is answered. A publication that
    /// fails is reported (the change is made; the others forget it when their entries age
    /// out, within [`HotCacheConfig::ttl`]).
    pub(crate) async fn invalidate(&self, what: Invalidation) {
        self.cache.invalidate(what);
        if let Err(e) = self.store.publish(what).await {
            self.report_error(gdpr_ports::ErrorReport {
                level: gdpr_ports::ReportLevel::Warning,
                message: "a cache invalidation could not be published to the other replicas".into(),
                person: None,
                context: [("error".to_owned(), e.to_string())].into(),
                request: None,
            });
        }
    }

    /// [`App::invalidate`] for one subject of the tenant.
    pub(crate) async fn invalidate_subject(&self, tenant: TenantId, subject: SubjectId) {
        self.invalidate(Invalidation::Subject { tenant, subject })
            .await;
    }
}

fn entry<T>(value: T) -> Entry<T> {
    Entry {
        value,
        at: Instant::now(),
    }
}

#[cfg(test)]
mod tests {
    use super::{HotCache, HotCacheConfig};
    use crate::ProcessingCheck;
    use gdpr_consent::PurposeId;
    use gdpr_pii::{SubjectId, TenantId};
    use gdpr_ports::{CacheSignal, Invalidation};
    use std::time::Duration;

    const YES: ProcessingCheck = ProcessingCheck {
        consented: true,
        blocked: None,
        may_process: true,
    };

    fn ids() -> (TenantId, SubjectId, PurposeId) {
        let at = time::OffsetDateTime::now_utc();
        (
            TenantId::at(at),
            SubjectId::at(at),
            PurposeId::parse("news").unwrap(),
        )
    }

    fn up(config: HotCacheConfig) -> HotCache {
        let cache = HotCache::new(Some(config));
        cache.signal(CacheSignal::Up);
        cache
    }

    #[test]
    fn a_fill_whose_reads_began_before_an_invalidation_is_dropped() {
        let cache = up(HotCacheConfig::default());
        let (t, s, p) = ids();
        let ticket = cache.ticket().unwrap();
        // The change lands while the reads are under way.
        cache.invalidate(Invalidation::Subject {
            tenant: t,
            subject: s,
        });
        cache.put_check(ticket, t, s, p.clone(), YES);
        assert_eq!(cache.check(t, s, &p), None);
        let ticket = cache.ticket().unwrap();
        cache.put_check(ticket, t, s, p.clone(), YES);
        assert_eq!(cache.check(t, s, &p), Some(YES));
    }

    #[test]
    fn a_subject_a_tenant_and_everything_are_forgotten_each_to_its_reach() {
        let cache = up(HotCacheConfig::default());
        let (t, s, p) = ids();
        let other = SubjectId::at(time::OffsetDateTime::now_utc());
        let fill = |subject| cache.put_check(cache.ticket().unwrap(), t, subject, p.clone(), YES);
        fill(s);
        fill(other);
        cache.invalidate(Invalidation::Subject {
            tenant: t,
            subject: s,
        });
        assert_eq!(cache.check(t, s, &p), None);
        assert_eq!(cache.check(t, other, &p), Some(YES));
        assert_eq!(cache.len(), 1);
        cache.invalidate(Invalidation::Tenant(t));
        assert_eq!(cache.check(t, other, &p), None);
        assert_eq!(cache.len(), 0);
        fill(s);
        cache.invalidate(Invalidation::Everything);
        assert_eq!(cache.check(t, s, &p), None);
    }

    #[test]
    fn while_the_watcher_is_down_nothing_is_answered_or_kept_and_it_comes_back_empty() {
        let cache = up(HotCacheConfig::default());
        let (t, s, p) = ids();
        cache.put_check(cache.ticket().unwrap(), t, s, p.clone(), YES);
        let before_down = cache.ticket().unwrap();
        cache.signal(CacheSignal::Down);
        assert!(!cache.is_up());
        assert_eq!(cache.ticket(), None);
        assert_eq!(cache.check(t, s, &p), None);
        cache.put_check(before_down, t, s, p.clone(), YES);
        cache.signal(CacheSignal::Up);
        assert_eq!(cache.check(t, s, &p), None, "what was known before is gone");
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn entries_age_out_and_the_cache_stays_within_its_capacity() {
        let cache = up(HotCacheConfig {
            ttl: Duration::from_millis(30),
            capacity: 2,
        });
        let (t, s, p) = ids();
        cache.put_check(cache.ticket().unwrap(), t, s, p.clone(), YES);
        assert_eq!(cache.check(t, s, &p), Some(YES));
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(cache.check(t, s, &p), None, "older than its ttl");
        cache.put_check(cache.ticket().unwrap(), t, s, p.clone(), YES);
        assert_eq!(
            cache.check(t, s, &p),
            Some(YES),
            "read again, it is kept again"
        );
        assert_eq!(cache.len(), 1);
        for _ in 0..5 {
            let subject = SubjectId::at(time::OffsetDateTime::now_utc());
            cache.put_check(cache.ticket().unwrap(), t, subject, p.clone(), YES);
            assert!(cache.len() <= 2);
        }
    }

    #[test]
    fn admissions_go_with_their_subject_and_forms_with_their_tenant() {
        let cache = up(HotCacheConfig::default());
        let (t, s, _) = ids();
        let other = SubjectId::at(time::OffsetDateTime::now_utc());
        let form = gdpr_consent::Form::define(
            t,
            "Notes",
            gdpr_pii::FormSchema::new(vec![gdpr_pii::FieldSpec::new(
                "notes",
                gdpr_pii::FieldKind::Text,
                gdpr_pii::PiiCategory::FreeText,
                false,
            )])
            .unwrap(),
            &gdpr_consent::Purpose::new(
                PurposeId::parse("news").unwrap(),
                "n",
                gdpr_consent::LawfulBasis::Contract,
            )
            .unwrap(),
            time::OffsetDateTime::now_utc(),
        )
        .unwrap();
        let ticket = cache.ticket().unwrap();
        cache.put_form(ticket, form.clone());
        cache.put_admission(ticket, t, s, form.id);
        cache.put_admission(ticket, t, other, form.id);
        assert_eq!(cache.form(t, form.id), Some(form.clone()));
        assert!(cache.admitted(t, s, form.id));
        assert_eq!(cache.len(), 3);
        // A withdrawal (or restriction, erasure...) of one subject: its admission only.
        cache.invalidate(Invalidation::Subject {
            tenant: t,
            subject: s,
        });
        assert!(!cache.admitted(t, s, form.id));
        assert!(cache.admitted(t, other, form.id));
        assert_eq!(cache.form(t, form.id), Some(form.clone()));
        // A form's consent form changed (or a consent form's version): the tenant's all.
        cache.invalidate(Invalidation::Tenant(t));
        assert!(!cache.admitted(t, other, form.id));
        assert_eq!(cache.form(t, form.id), None);
        assert_eq!(cache.len(), 0);
        // An admission read before a change lands after it: dropped.
        let ticket = cache.ticket().unwrap();
        cache.invalidate(Invalidation::Subject {
            tenant: t,
            subject: s,
        });
        cache.put_admission(ticket, t, s, form.id);
        assert!(!cache.admitted(t, s, form.id));
    }

    #[test]
    fn no_configuration_means_no_cache() {
        let cache = HotCache::new(None);
        cache.signal(CacheSignal::Up);
        assert!(!cache.is_up());
        assert_eq!(cache.ticket(), None);
    }
}
