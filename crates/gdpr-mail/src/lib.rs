//! Sends the service's e-mail (`lettre`): over SMTP, with TLS unless the relay is on this
//! host, or into an outbox folder of `.eml` files (the embedded default, so that the service
//! starts with nothing else installed; an operator or a test reads them there).
//!
//! Owns the wire: building a well-formed message, the transport, and turning its failures
//! into [`MailError`]s that carry neither the address nor the server's words (a server's
//! refusal often quotes the address). It never logs. It knows nothing of what a message
//! says or why it is sent: `gdpr-app` composes it.

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use gdpr_ports::{Mail, MailError, Mailer};
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};

/// How the connection to the relay is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tls {
    /// TLS from the first byte (SMTPS, usually port 465).
    Implicit,
    /// Plain, then `STARTTLS`, which the relay must offer (usually port 587).
    StartTls,
    /// None: only for a relay on the loopback interface (a local MTA, the tests' server).
    None,
}

/// Where the SMTP relay is and how to sign in to it.
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    /// Its host name (checked against its certificate) or address.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// How the connection is protected.
    pub tls: Tls,
    /// The account to sign in with, if the relay asks for one.
    pub username: Option<String>,
    /// Its password.
    pub password: Option<SecretString>,
    /// How long each SMTP command may take (lettre's timeout is per command, not per message).
    pub timeout: Duration,
}

/// Why an SMTP setting cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsError(pub String);

impl std::fmt::Display for SettingsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SettingsError {}

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Outbox(AsyncFileTransport<Tokio1Executor>),
}

/// Sends messages from one sender address.
pub struct LettreMailer {
    from: Mailbox,
    transport: Transport,
}

impl std::fmt::Debug for LettreMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let transport = match self.transport {
            Transport::Smtp(_) => "smtp",
            Transport::Outbox(_) => "outbox",
        };
        f.debug_struct("LettreMailer")
            .field("transport", &transport)
            .finish_non_exhaustive()
    }
}

fn sender(from: &str) -> Result<Mailbox, SettingsError> {
    from.parse()
        .map_err(|e| SettingsError(format!("from: not a mailbox ({e})")))
}

fn loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl LettreMailer {
    /// Sends through an SMTP relay.
    ///
    /// # Errors
    /// `from` is not a mailbox (`Name <address>` or `address`); TLS is off for a relay
    /// that is not on the loopback interface (the codes it would carry are credentials);
    /// a password without a user name.
    pub fn smtp(from: &str, settings: &SmtpSettings) -> Result<Self, SettingsError> {
        let from = sender(from)?;
        let builder = match settings.tls {
            Tls::Implicit => AsyncSmtpTransport::<Tokio1Executor>::relay(&settings.host),
            Tls::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&settings.host),
            Tls::None if loopback(&settings.host) => Ok(
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.host),
            ),
            Tls::None => {
                return Err(SettingsError(
                    "tls: \"none\" is only for a relay on this host (127.0.0.1, ::1, \
                     localhost)"
                        .into(),
                ));
            }
        }
        .map_err(|_| SettingsError("host: not a name TLS can check".into()))?;
        let mut builder = builder.port(settings.port).timeout(Some(settings.timeout));
        match (&settings.username, &settings.password) {
            (Some(user), Some(password)) => {
                builder = builder.credentials(Credentials::new(
                    user.clone(),
                    password.expose_secret().to_owned(),
                ));
            }
            (None, Some(_)) => {
                return Err(SettingsError("password: given without a username".into()));
            }
            (Some(user), None) => {
                builder = builder.credentials(Credentials::new(user.clone(), String::new()));
            }
            (None, None) => {}
        }
        Ok(Self {
            from,
            transport: Transport::Smtp(builder.build()),
        })
    }

    /// Writes each message to `dir` as `<uuid>.eml` (created if missing).
    ///
    /// # Errors
    /// `from` is not a mailbox; `dir` cannot be created.
    pub fn outbox(from: &str, dir: impl Into<PathBuf>) -> Result<Self, SettingsError> {
        let from = sender(from)?;
        let dir = dir.into();
        std::fs::create_dir_all(&dir)
            .map_err(|e| SettingsError(format!("outbox: {}: {e}", dir.display())))?;
        Ok(Self {
            from,
            transport: Transport::Outbox(AsyncFileTransport::new(dir)),
        })
    }
}

#[async_trait]
impl Mailer for LettreMailer {
    async fn send(&self, mail: Mail) -> Result<(), MailError> {
        // The address was checked when it was parsed into an `Email`; one lettre refuses is
        // a message that cannot be written, said without the address.
        let to: Mailbox = mail
            .to
            .expose_pii()
            .parse()
            .map_err(|_| MailError::Write("the address is not one SMTP carries".into()))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject)
            .header(ContentType::TEXT_PLAIN)
            .body(mail.body)
            .map_err(|e| MailError::Write(e.to_string()))?;
        match &self.transport {
            Transport::Smtp(t) => t.send(message).await.map(drop).map_err(|e| {
                if e.is_permanent() {
                    MailError::Refused
                } else {
                    MailError::Unavailable
                }
            }),
            Transport::Outbox(t) => t
                .send(message)
                .await
                .map(drop)
                .map_err(|e| MailError::Write(e.to_string())),
        }
    }
}
