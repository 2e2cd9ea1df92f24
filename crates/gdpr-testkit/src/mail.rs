//! E-mail in tests: a mailer that keeps what it is asked to send (for `gdpr-app`'s tests),
//! and, with the `smtp` feature, a real SMTP server on 127.0.0.1 that keeps what it receives
//! (for the SMTP adapter's and the service's own tests).

use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use gdpr_ports::{Mail, MailError, Mailer};

/// Keeps every message; sends nothing. Clones share the same record.
#[derive(Debug, Clone, Default)]
pub struct RecordingMailer {
    sent: Arc<Mutex<Vec<Mail>>>,
    failing: Arc<Mutex<Option<MailError>>>,
}

impl RecordingMailer {
    /// A mailer that accepts every message.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Every message sent so far, oldest first.
    #[must_use]
    pub fn sent(&self) -> Vec<Mail> {
        self.sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// From now on, every send fails with `error` (`None`: succeeds again).
    pub fn fail_with(&self, error: Option<MailError>) {
        *self.failing.lock().unwrap_or_else(PoisonError::into_inner) = error;
    }
}

#[async_trait]
impl Mailer for RecordingMailer {
    async fn send(&self, mail: Mail) -> Result<(), MailError> {
        if let Some(e) = self
            .failing
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
        {
            return Err(e);
        }
        self.sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(mail);
        Ok(())
    }
}

/// A real SMTP server (RFC 5321's commands, no TLS, no authentication) on 127.0.0.1 that
/// keeps each message it accepts. Enough for a client speaking the protocol over TCP to
/// deliver to it, as to a mail relay.
#[cfg(feature = "smtp")]
pub mod smtp {
    use std::net::SocketAddr;
    use std::sync::{Arc, Mutex, PoisonError};

    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    use tokio::net::{TcpListener, TcpStream};

    /// One message as the server got it.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Received {
        /// `MAIL FROM`'s address.
        pub from: String,
        /// Each `RCPT TO`'s address.
        pub to: Vec<String>,
        /// The message (headers and body) as sent, dot-unstuffed, lines joined by `\r\n`.
        pub data: String,
    }

    /// The server. Dropping it stops accepting.
    #[derive(Debug)]
    pub struct SmtpServer {
        /// Where it listens.
        pub addr: SocketAddr,
        received: Arc<Mutex<Vec<Received>>>,
        task: tokio::task::JoinHandle<()>,
    }

    impl Drop for SmtpServer {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    impl SmtpServer {
        /// Starts one on a free port of 127.0.0.1.
        ///
        /// # Panics
        /// When no port can be bound.
        pub async fn start() -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind SMTP");
            let addr = listener.local_addr().expect("SMTP address");
            let received = Arc::new(Mutex::new(Vec::new()));
            let kept = received.clone();
            let task = tokio::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let kept = kept.clone();
                    tokio::spawn(async move {
                        let _ = session(stream, &kept).await;
                    });
                }
            });
            Self {
                addr,
                received,
                task,
            }
        }

        /// Every message received so far, oldest first.
        #[must_use]
        pub fn received(&self) -> Vec<Received> {
            self.received
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone()
        }

        /// Waits (up to ten seconds) until `n` messages have arrived, and returns them.
        ///
        /// # Panics
        /// When they do not.
        pub async fn wait_for(&self, n: usize) -> Vec<Received> {
            for _ in 0..200 {
                let got = self.received();
                if got.len() >= n {
                    return got;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            panic!(
                "the SMTP server got {} messages, not {n}",
                self.received().len()
            );
        }
    }

    /// The path inside `MAIL FROM:<...>` or `RCPT TO:<...>`.
    fn path(arg: &str) -> String {
        let start = arg.find('<').map_or(0, |i| i + 1);
        let end = arg[start..].find('>').map_or(arg.len(), |i| start + i);
        arg[start..end].to_owned()
    }

    async fn session(stream: TcpStream, kept: &Mutex<Vec<Received>>) -> std::io::Result<()> {
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        write
            .write_all(b"220 127.0.0.1 ESMTP test server\r\n")
            .await?;
        let mut from = String::new();
        let mut to = Vec::new();
        while let Some(line) = lines.next_line().await? {
            let upper = line.to_ascii_uppercase();
            let reply: &[u8] = if upper.starts_with("EHLO") {
                b"250-127.0.0.1\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n"
            } else if upper.starts_with("HELO") || upper.starts_with("NOOP") {
                b"250 OK\r\n"
            } else if upper.starts_with("MAIL FROM:") {
                from = path(&line[10..]);
                to.clear();
                b"250 OK\r\n"
            } else if upper.starts_with("RCPT TO:") {
                to.push(path(&line[8..]));
                b"250 OK\r\n"
            } else if upper.starts_with("RSET") {
                from.clear();
                to.clear();
                b"250 OK\r\n"
            } else if upper == "DATA" {
                write
                    .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let mut data = Vec::new();
                while let Some(line) = lines.next_line().await? {
                    if line == "." {
                        break;
                    }
                    // Dot-stuffing (RFC 5321, 4.5.2).
                    data.push(line.strip_prefix('.').map_or(line.clone(), str::to_owned));
                }
                kept.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(Received {
                        from: std::mem::take(&mut from),
                        to: std::mem::take(&mut to),
                        data: data.join("\r\n"),
                    });
                b"250 OK: queued\r\n"
            } else if upper == "QUIT" {
                write.write_all(b"221 Bye\r\n").await?;
                return Ok(());
            } else {
                b"502 Command not implemented\r\n"
            };
            write.write_all(reply).await?;
        }
        Ok(())
    }
}
