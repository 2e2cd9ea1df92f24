//! A world of in-memory adapters with a tenant, and shortcuts to populate it.

use gdpr_app::{Adapters, App, AppConfig, Ctx, GiveConsent, NewSubject};
use gdpr_audit::Actor;
use gdpr_consent::{ConsentForm, ConsentMethod, Form, LawfulBasis};
use gdpr_pii::{ApiKeyId, IpAddress, Subject};
use gdpr_ports::Ports;
use gdpr_testkit::{
    InMemory, InMemoryStore, ManualClock, MemoryObjectStore, RecordingEncryptor,
    RecordingErrorReporter, fake,
};
use serde_json::json;
use time::macros::datetime;

pub(crate) const PGP_KEY: &str =
    "-----BEGIN PGP PUBLIC KEY BLOCK-----\n(test)\n-----END PGP PUBLIC KEY BLOCK-----";

pub(crate) struct World {
    pub(crate) app: App<InMemory>,
    pub(crate) store: InMemoryStore,
    pub(crate) backups: MemoryObjectStore,
    pub(crate) encryptor: RecordingEncryptor,
    pub(crate) reporter: RecordingErrorReporter,
    pub(crate) clock: ManualClock,
    pub(crate) ctx: Ctx,
}

pub(crate) fn clock() -> ManualClock {
    ManualClock::at(datetime!(2026-01-31 10:00 UTC))
}

/// An app over any ports, from its parts (and the default signer).
pub(crate) fn app<P: Ports>(
    store: P::Store,
    backups: P::Backups,
    encryptor: P::Encryptor,
    reporter: P::Reporter,
    clock: P::Clock,
    config: AppConfig,
) -> App<P>
where
    P::Signer: Default,
{
    App::new(
        Adapters {
            store,
            backups,
            encryptor,
            reporter,
            clock,
            signer: P::Signer::default(),
        },
        config,
    )
}

pub(crate) async fn world_with(config: AppConfig) -> World {
    let (store, backups, reporter, clock) = (
        InMemoryStore::default(),
        MemoryObjectStore::default(),
        RecordingErrorReporter::default(),
        clock(),
    );
    let encryptor = RecordingEncryptor::with_recipients(&[PGP_KEY]);
    let app = app::<InMemory>(
        store.clone(),
        backups.clone(),
        encryptor.clone(),
        reporter.clone(),
        clock.clone(),
        config,
    );
    let tenant = app
        .create_tenant(Actor::Operator, "LogAlto SAS", "dpo@logalto.example")
        .await
        .unwrap();
    World {
        app,
        store,
        backups,
        encryptor,
        reporter,
        clock,
        ctx: Ctx::new(
            tenant.id,
            Actor::ApiKey(ApiKeyId::at(time::OffsetDateTime::UNIX_EPOCH)),
        ),
    }
}

pub(crate) async fn world() -> World {
    world_with(AppConfig::default()).await
}

pub(crate) fn web(ip: Option<&str>) -> GiveConsent {
    GiveConsent {
        method: ConsentMethod::WebForm,
        source_ip: ip.map(|ip| IpAddress::parse(ip).unwrap()),
        version: None,
    }
}

impl World {
    /// The same adapters and data under another configuration.
    pub(crate) fn reconfigured(self, config: AppConfig) -> Self {
        Self {
            app: self.another_app(config),
            ..self
        }
    }

    /// Another application over the same adapters and data (another replica).
    pub(crate) fn another_app(&self, config: AppConfig) -> App<InMemory> {
        app::<InMemory>(
            self.store.clone(),
            self.backups.clone(),
            self.encryptor.clone(),
            self.reporter.clone(),
            self.clock.clone(),
            config,
        )
    }

    /// A subject (of `seed`) who consents to the "Contractors" form's purpose.
    pub(crate) async fn consenting_subject(&self, seed: u64) -> (Form, ConsentForm, Subject) {
        let (form, consent) = self.contractors().await;
        let s = self.subject(seed).await;
        self.app
            .give_consent(self.ctx, s.id, consent.id, web(None))
            .await
            .unwrap();
        (form, consent, s)
    }

    /// Another tenant of the same deployment.
    pub(crate) async fn other_tenant(&self) -> Ctx {
        let t = self
            .app
            .create_tenant(Actor::Operator, "Other Corp", "privacy@other.example")
            .await
            .unwrap();
        Ctx::new(
            t.id,
            Actor::ApiKey(ApiKeyId::at(time::OffsetDateTime::UNIX_EPOCH)),
        )
    }

    pub(crate) async fn subject_in(&self, ctx: Ctx, seed: u64) -> Subject {
        self.app
            .register_subject(
                ctx,
                NewSubject {
                    email: Some(fake::email(seed).expose_pii().to_owned()),
                    full_name: Some(fake::full_name(seed).expose_pii().to_owned()),
                    ip_address: Some(fake::ip(seed).expose_pii().to_string()),
                },
            )
            .await
            .unwrap()
    }

    pub(crate) async fn subject(&self, seed: u64) -> Subject {
        self.subject_in(self.ctx, seed).await
    }

    /// The policy's "Contractors" form under a consent-based purpose, with its consent form.
    pub(crate) async fn contractors_in(&self, ctx: Ctx) -> (Form, ConsentForm) {
        self.app
            .define_purpose(
                ctx,
                "contractors",
                "Managing contractors' assignments",
                LawfulBasis::Consent,
            )
            .await
            .unwrap();
        let consent = self
            .app
            .publish_consent_form(
                ctx,
                "contractors",
                "Contractor data",
                "I agree that my data is kept to manage my assignments.",
            )
            .await
            .unwrap();
        let form = self
            .app
            .define_form(
                ctx,
                "Contractors",
                fake::contractors_schema().specs(),
                "contractors",
            )
            .await
            .unwrap();
        let form = self
            .app
            .attach_consent_form(ctx, form.id, consent.id)
            .await
            .unwrap();
        (form, consent)
    }

    pub(crate) async fn contractors(&self) -> (Form, ConsentForm) {
        self.contractors_in(self.ctx).await
    }
}

pub(crate) fn contractor(seed: u64) -> serde_json::Value {
    json!({
        "email": fake::email(seed).expose_pii(),
        "full_name": fake::full_name(seed).expose_pii(),
        "phone": "+33 1 23 45 67 89",
        "day_rate": 500,
    })
}

/// The actions of the tenant's audit chain among `kept`, in chain order.
pub(crate) async fn audited(
    w: &World,
    kept: &[gdpr_audit::AuditAction],
) -> Vec<gdpr_audit::AuditAction> {
    w.app
        .audit_log(w.ctx, 0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.event.action)
        .filter(|a| kept.contains(a))
        .collect()
}
