//! The real `gpg`, in a throwaway home: keys made by it, and its own encryption and decryption,
//! for interop tests of what we encrypt and decrypt.

use std::path::Path;
use std::process::{Command, Stdio};

/// A temporary `GNUPGHOME` with one key; its agent is stopped on drop.
#[derive(Debug)]
pub struct GpgHome {
    home: tempfile::TempDir,
}

impl GpgHome {
    /// A home with a key for `uid`; `algo` as gpg names it: `default` (RSA) or
    /// `future-default` (Curve25519, much faster to make). `passphrase` may be empty.
    ///
    /// # Panics
    /// When gpg is missing or fails.
    #[must_use]
    pub fn generate(uid: &str, passphrase: &str, algo: &str) -> Self {
        let home = GpgHome {
            home: tempfile::tempdir().expect("a temporary folder"),
        };
        let args = ["--quick-gen-key", uid, algo, "default", "never"].map(std::ffi::OsStr::new);
        home.run(passphrase, &args);
        home
    }

    /// A home with no key, for a test that makes its own with [`GpgHome::batch`].
    ///
    /// # Panics
    /// When no temporary folder can be made.
    #[must_use]
    pub fn empty() -> Self {
        GpgHome {
            home: tempfile::tempdir().expect("a temporary folder"),
        }
    }

    /// `gpg --batch` with these arguments (keys without passphrase); its stdout.
    ///
    /// # Panics
    /// When gpg fails.
    pub fn batch(&self, args: &[&str]) -> Vec<u8> {
        let args: Vec<&std::ffi::OsStr> = args.iter().map(std::ffi::OsStr::new).collect();
        self.run("", &args)
    }

    /// A gpg command in this home.
    #[must_use]
    pub fn cmd(&self) -> Command {
        let mut cmd = Command::new("gpg");
        cmd.env("GNUPGHOME", self.home.path());
        cmd
    }

    /// The home folder (to write files beside the keys).
    #[must_use]
    pub fn path(&self) -> &Path {
        self.home.path()
    }

    /// Runs gpg in batch mode with `passphrase` for any key it unlocks; its stdout.
    fn run(&self, passphrase: &str, args: &[&std::ffi::OsStr]) -> Vec<u8> {
        let out = self
            .cmd()
            .args([
                "--batch",
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                passphrase,
            ])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("gpg runs");
        assert!(
            out.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    fn armored(&self, passphrase: &str, what: &str, uid: &str) -> String {
        let out = self.run(
            passphrase,
            &["--armor".as_ref(), what.as_ref(), uid.as_ref()],
        );
        String::from_utf8(out).expect("armor is text")
    }

    /// The armored public key of `uid`.
    ///
    /// # Panics
    /// When gpg fails.
    #[must_use]
    pub fn public_key(&self, uid: &str) -> String {
        self.armored("", "--export", uid)
    }

    /// The armored secret key of `uid`, still protected by `passphrase`.
    ///
    /// # Panics
    /// When gpg fails.
    #[must_use]
    pub fn secret_key(&self, uid: &str, passphrase: &str) -> String {
        self.armored(passphrase, "--export-secret-keys", uid)
    }

    /// `gpg --encrypt` to `uid`.
    ///
    /// # Panics
    /// When gpg fails.
    #[must_use]
    pub fn encrypt(&self, uid: &str, plaintext: &[u8]) -> Vec<u8> {
        let file = self.path().join("plain.bin");
        std::fs::write(&file, plaintext).expect("a writable folder");
        let args: [&std::ffi::OsStr; 8] = [
            "--trust-model".as_ref(),
            "always".as_ref(),
            "--output".as_ref(),
            "-".as_ref(),
            "--recipient".as_ref(),
            uid.as_ref(),
            "--encrypt".as_ref(),
            file.as_os_str(),
        ];
        self.run("", &args)
    }

    /// `gpg --decrypt` of `ciphertext`.
    ///
    /// # Panics
    /// When gpg fails (wrong key, tampered data).
    #[must_use]
    pub fn decrypt(&self, ciphertext: &[u8]) -> Vec<u8> {
        let file = self.path().join("message.pgp");
        std::fs::write(&file, ciphertext).expect("a writable folder");
        self.decrypt_file(&file)
    }

    /// `gpg --decrypt` of `ciphertext`, with gpg's status lines (`GOODSIG ...` for a good
    /// signature by a key this home knows).
    ///
    /// # Panics
    /// When gpg fails.
    #[must_use]
    pub fn decrypt_with_status(&self, ciphertext: &[u8]) -> (Vec<u8>, String) {
        let file = self.path().join("message.pgp");
        std::fs::write(&file, ciphertext).expect("a writable folder");
        let out = self
            .cmd()
            .args([
                "--batch",
                "--status-fd",
                "2",
                "--trust-model",
                "always",
                "--decrypt",
            ])
            .arg(&file)
            .stdin(Stdio::null())
            .output()
            .expect("gpg runs");
        let status = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "gpg --decrypt: {status}");
        (out.stdout, status)
    }

    /// `gpg --decrypt` of a file.
    ///
    /// # Panics
    /// When gpg fails.
    #[must_use]
    pub fn decrypt_file(&self, file: &Path) -> Vec<u8> {
        self.run(
            "",
            &["--quiet".as_ref(), "--decrypt".as_ref(), file.as_os_str()],
        )
    }
}

impl Drop for GpgHome {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", self.home.path())
            .args(["--kill", "gpg-agent"])
            .status();
    }
}
