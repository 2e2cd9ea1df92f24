//! The mail adapter against a real SMTP server on 127.0.0.1 (gdpr-testkit's) and a real
//! outbox folder: what arrives is a well-formed message to the right address, from the
//! configured sender, with the body intact; failures carry no address.

use std::time::Duration;

use gdpr_mail::{LettreMailer, SmtpSettings, Tls};
use gdpr_pii::Email;
use gdpr_ports::{Mail, MailError, Mailer};
use gdpr_testkit::smtp::SmtpServer;

fn mail(to: &str) -> Mail {
    Mail {
        to: Email::parse(to).unwrap(),
        subject: "Votre code : 123456".into(),
        body: "Your code is 123456.\n.a line that starts with a dot\nÉté.".into(),
    }
}

fn settings(port: u16) -> SmtpSettings {
    SmtpSettings {
        host: "127.0.0.1".into(),
        port,
        tls: Tls::None,
        username: None,
        password: None,
        timeout: Duration::from_secs(5),
    }
}

#[tokio::test]
async fn a_message_reaches_the_smtp_server_whole() {
    let server = SmtpServer::start().await;
    let mailer = LettreMailer::smtp(
        "Privacy desk <privacy@vault.example>",
        &settings(server.addr.port()),
    )
    .unwrap();
    mailer.send(mail("ada@example.org")).await.unwrap();
    let got = server.wait_for(1).await;
    assert_eq!(got[0].from, "privacy@vault.example");
    assert_eq!(got[0].to, ["ada@example.org"]);
    let data = &got[0].data;
    assert!(data.contains("To: ada@example.org"), "{data}");
    assert!(
        data.contains("From: \"Privacy desk\" <privacy@vault.example>")
            || data.contains("From: Privacy desk <privacy@vault.example>"),
        "{data}"
    );
    assert!(
        data.contains("Content-Type: text/plain; charset=utf-8"),
        "{data}"
    );
    // The body survives transfer encoding and dot-stuffing.
    let body = decoded_body(data);
    assert!(body.contains("Your code is 123456."), "{body}");
    assert!(body.contains(".a line that starts with a dot"), "{body}");
    assert!(body.contains("Été."), "{body}");
}

/// The body of a message, undoing quoted-printable or base64 as its header says.
fn decoded_body(data: &str) -> String {
    use base64::Engine as _;
    let data = data.replace("\r\n", "\n");
    let (headers, body) = data.split_once("\n\n").unwrap();
    if headers.contains("Content-Transfer-Encoding: base64") {
        let joined: String = body.lines().collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(joined.trim())
            .unwrap();
        String::from_utf8(bytes).unwrap()
    } else if headers.contains("Content-Transfer-Encoding: quoted-printable") {
        quoted_printable(body)
    } else {
        body.to_owned()
    }
}

fn quoted_printable(body: &str) -> String {
    let joined = body.replace("=\n", "");
    let mut out = Vec::new();
    let mut i = 0;
    while i < joined.len() {
        let byte = joined.as_bytes()[i];
        let escaped = (byte == b'=')
            .then(|| joined.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn a_relay_that_is_down_is_unavailable_and_says_no_address() {
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let mailer = LettreMailer::smtp("privacy@vault.example", &settings(port)).unwrap();
    let err = mailer.send(mail("ada@example.org")).await.unwrap_err();
    assert_eq!(err, MailError::Unavailable);
    assert!(!err.to_string().contains("ada"), "{err}");
}

#[test]
fn tls_is_required_off_this_host_and_settings_are_checked() {
    let mut far = settings(25);
    far.host = "smtp.example.org".into();
    let err = LettreMailer::smtp("privacy@vault.example", &far).unwrap_err();
    assert!(err.0.contains("tls"), "{err}");
    far.tls = Tls::StartTls;
    assert!(LettreMailer::smtp("privacy@vault.example", &far).is_ok());
    let err = LettreMailer::smtp("not a mailbox", &far).unwrap_err();
    assert!(err.0.contains("from"), "{err}");
    far.password = Some("s3cret".to_owned().into());
    let err = LettreMailer::smtp("privacy@vault.example", &far).unwrap_err();
    assert!(
        err.0.contains("password") && !err.0.contains("s3cret"),
        "{err}"
    );
}

#[tokio::test]
async fn the_outbox_keeps_each_message_as_an_eml_file() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = dir.path().join("outbox");
    let mailer = LettreMailer::outbox("privacy@vault.example", &outbox).unwrap();
    mailer.send(mail("ada@example.org")).await.unwrap();
    mailer.send(mail("grace@example.org")).await.unwrap();
    let mut files: Vec<_> = std::fs::read_dir(&outbox)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 2);
    assert!(
        files
            .iter()
            .all(|f| f.extension().is_some_and(|e| e == "eml"))
    );
    let texts: Vec<String> = files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    assert!(texts.iter().any(|t| t.contains("To: ada@example.org")));
    assert!(texts.iter().any(|t| t.contains("To: grace@example.org")));
    assert!(
        texts
            .iter()
            .all(|t| decoded_body(t).contains("Your code is 123456."))
    );
}
