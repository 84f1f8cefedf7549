//! Shared fixtures: keys generated once per test binary, and the real GnuPG
//! tools run in throwaway homes so the machine's keyrings are never touched.

use std::{
    ffi::OsStr,
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::OnceLock,
};

use depot_sign::{KeyAlgorithm, PgpKey};

/// A Release file as depot's apt renderer writes it: LF line endings, ends
/// with "\n", checksum lines start with a space.
pub const RELEASE: &str = "\
Origin: depot
Label: depot
Suite: stable
Codename: bookworm
Date: Sat, 21 Nov 2026 10:00:00 UTC
Architectures: amd64
Components: main
Description: depot test repository
MD5Sum:
 d41d8cd98f00b204e9800998ecf8427e        0 main/binary-amd64/Packages
SHA256:
 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855        0 main/binary-amd64/Packages
";

pub fn ed25519_key() -> PgpKey {
    static KEY: OnceLock<PgpKey> = OnceLock::new();
    KEY.get_or_init(|| {
        PgpKey::generate(KeyAlgorithm::Ed25519, "depot test <ed25519@depot.test>").unwrap()
    })
    .clone()
}

/// RSA-4096 generation takes seconds: once per test binary.
pub fn rsa_key() -> PgpKey {
    static KEY: OnceLock<PgpKey> = OnceLock::new();
    KEY.get_or_init(|| {
        PgpKey::generate(KeyAlgorithm::Rsa4096, "depot test <rsa@depot.test>").unwrap()
    })
    .clone()
}

/// A second, unrelated key, for "signed by someone else".
pub fn other_key() -> PgpKey {
    static KEY: OnceLock<PgpKey> = OnceLock::new();
    KEY.get_or_init(|| {
        PgpKey::generate(KeyAlgorithm::Ed25519, "someone else <other@depot.test>").unwrap()
    })
    .clone()
}

pub fn both_keys() -> [(KeyAlgorithm, PgpKey); 2] {
    [
        (KeyAlgorithm::Ed25519, ed25519_key()),
        (KeyAlgorithm::Rsa4096, rsa_key()),
    ]
}

/// A temporary GnuPG home. `gpg` and `gpgv` always run with `GNUPGHOME`
/// pointing here; the agent gpg may have started is stopped on drop.
pub struct GnupgHome {
    dir: tempfile::TempDir,
}

impl GnupgHome {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new().prefix("gh").tempdir().unwrap();
        // gpg refuses group/world-accessible homes with a warning.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        }
        GnupgHome { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `contents` to a file in the home and returns its path.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    /// Runs `gpg --batch` with an empty passphrase prompt answered by
    /// loopback; never asks anything.
    pub fn gpg(&self, args: &[&str]) -> Output {
        self.run(
            "gpg",
            &[
                &["--batch", "--no-tty", "--pinentry-mode", "loopback"][..],
                args,
            ]
            .concat(),
        )
    }

    /// Like [`GnupgHome::gpg`] but panics with gpg's stderr on failure.
    pub fn gpg_ok(&self, args: &[&str]) -> Output {
        let out = self.gpg(args);
        assert!(
            out.status.success(),
            "gpg {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Runs `gpgv --status-fd 1 --keyring <keyring> <args>`.
    pub fn gpgv(&self, keyring: &Path, args: &[&OsStr]) -> Output {
        Command::new("gpgv")
            .args(["--status-fd", "1", "--keyring"])
            .arg(keyring)
            .args(args)
            .env("GNUPGHOME", self.path())
            .output()
            .expect("gpgv is installed (Debian package gpgv)")
    }

    fn run(&self, program: &str, args: &[&str]) -> Output {
        Command::new(program)
            .args(args)
            .env("GNUPGHOME", self.path())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
    }
}

impl Drop for GnupgHome {
    fn drop(&mut self) {
        // Stops only the agent of this home (it is keyed by GNUPGHOME).
        let _ = Command::new("gpgconf")
            .args(["--kill", "gpg-agent"])
            .env("GNUPGHOME", self.path())
            .output();
    }
}

/// stdout and stderr of a tool run, for assertion messages.
pub fn describe(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Replaces the first occurrence of `from` in `s`, panicking if there is none
/// (so a tamper test cannot silently tamper with nothing).
pub fn tamper(s: &str, from: &str, to: &str) -> String {
    assert!(s.contains(from), "{from:?} not in {s:?}");
    s.replacen(from, to, 1)
}
