//! The consortium secret and the keys derived from it.
//!
//! The secret comes from the environment (`BRAID_SECRET`), from a key file
//! named by the environment (`BRAID_SECRET_FILE`) or, for the demo only, from
//! a key file named in the configuration. It is never stored in the
//! configuration itself, never logged and never written anywhere.
//!
//! Every use gets its own key, derived with `blake3::derive_key` from a
//! versioned context string, so that a token made for one field can never be
//! compared with a token made for another, and so that a record key cannot be
//! turned into a match token. The key id is a public fingerprint of the
//! secret, stored with every encoding so that a rotation is detectable.

use std::path::PathBuf;

use serde::Deserialize;

use crate::error::{Error, Result};

/// Version of the key-derivation contexts. Bump it (and re-protect from the
/// source extracts) if the derivation ever changes.
pub const KDF_VERSION: &str = "braid 2026-11 v1";

/// Minimum length of the secret in bytes.
pub const MIN_SECRET_BYTES: usize = 32;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretConfig {
    /// A key file to use when neither `BRAID_SECRET` nor `BRAID_SECRET_FILE`
    /// is set. Only the demo should use this; production keys belong in the
    /// environment or a file outside the repository.
    pub key_file: Option<String>,
}

/// Where the secret was found; reported (never the secret itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    Env,
    EnvFile(PathBuf),
    ConfigFile(PathBuf),
}

/// The purposes that get their own key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Purpose {
    /// Partner record ids -> record keys.
    RecordKey,
    /// Employer ids in wage files.
    EmployerKey,
    /// Deterministic match tokens (blocking and exact comparisons).
    Token,
    /// Bloom-filter bit positions.
    Bloom,
    /// Entries of the consent-withdrawal list.
    Forget,
}

impl Purpose {
    fn context(self) -> String {
        let name = match self {
            Purpose::RecordKey => "record key",
            Purpose::EmployerKey => "employer key",
            Purpose::Token => "match token",
            Purpose::Bloom => "bloom filter",
            Purpose::Forget => "forget list",
        };
        format!("{KDF_VERSION} {name}")
    }
}

/// The loaded secret, reduced to the derived keys braid needs.
#[derive(Clone)]
pub struct Keys {
    master: [u8; 32],
    key_id: String,
    source: SecretSource,
    demo: bool,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("Keys")
            .field("key_id", &self.key_id)
            .field("source", &self.source)
            .field("demo", &self.demo)
            .finish()
    }
}

impl Keys {
    /// Load the secret following the documented order:
    /// `BRAID_SECRET`, then `BRAID_SECRET_FILE`, then `[secret] key_file`.
    pub fn load(cfg: &SecretConfig) -> Result<Keys> {
        // Set but empty is a mistake (a secrets manager that exported
        // nothing), not a wish for the next source: it could be the demo key.
        for var in ["BRAID_SECRET", "BRAID_SECRET_FILE"] {
            if std::env::var_os(var).is_some_and(|v| v.to_string_lossy().trim().is_empty()) {
                return Err(Error::Secret(format!("{var} is set but empty; set it, or unset it to use the next source (README, \"The secret\")")));
            }
        }
        if let Ok(s) = std::env::var("BRAID_SECRET") {
            return Keys::from_secret(s.trim().as_bytes(), SecretSource::Env);
        }
        if let Ok(p) = std::env::var("BRAID_SECRET_FILE") {
            let path = PathBuf::from(p);
            let bytes = read_key_file(&path)?;
            return Keys::from_secret(&bytes, SecretSource::EnvFile(path));
        }
        if let Some(p) = &cfg.key_file {
            let path = crate::config::resolve(p);
            let bytes = read_key_file(&path)?;
            return Keys::from_secret(&bytes, SecretSource::ConfigFile(path));
        }
        Err(Error::Secret(
            "no hashing secret: set BRAID_SECRET or BRAID_SECRET_FILE \
             (see README, \"The secret\")"
                .into(),
        ))
    }

    /// The secret being rotated away from (`braid rotate`), from
    /// `BRAID_PREVIOUS_SECRET` or `BRAID_PREVIOUS_SECRET_FILE`; `None` when
    /// neither is set.
    pub fn load_previous() -> Result<Option<Keys>> {
        for var in ["BRAID_PREVIOUS_SECRET", "BRAID_PREVIOUS_SECRET_FILE"] {
            if std::env::var_os(var).is_some_and(|v| v.to_string_lossy().trim().is_empty()) {
                return Err(Error::Secret(format!("{var} is set but empty")));
            }
        }
        if let Ok(s) = std::env::var("BRAID_PREVIOUS_SECRET") {
            return Keys::from_secret(s.trim().as_bytes(), SecretSource::Env).map(Some);
        }
        if let Ok(p) = std::env::var("BRAID_PREVIOUS_SECRET_FILE") {
            let path = PathBuf::from(p);
            let bytes = read_key_file(&path)?;
            return Keys::from_secret(&bytes, SecretSource::EnvFile(path)).map(Some);
        }
        Ok(None)
    }

    /// Build keys from secret bytes. The secret must be at least 32 bytes.
    pub fn from_secret(secret: &[u8], source: SecretSource) -> Result<Keys> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(Error::Secret(format!(
                "the secret is {} bytes; at least {MIN_SECRET_BYTES} are required \
                 (e.g. `openssl rand -hex 32`)",
                secret.len()
            )));
        }
        let demo = secret.starts_with(b"DEMO");
        let master = blake3::derive_key(&format!("{KDF_VERSION} master"), secret);
        let id = blake3::derive_key(&format!("{KDF_VERSION} key id"), &master);
        let key_id = id[..4].iter().map(|b| format!("{b:02x}")).collect::<String>();
        Ok(Keys { master, key_id, source, demo })
    }

    /// A key for tests, from a fixed phrase.
    pub fn for_tests() -> Keys {
        Keys::from_secret(b"TEST-ONLY secret for unit tests, never for real data", SecretSource::Env)
            .expect("long enough")
    }

    /// Public fingerprint of the secret (8 hex digits).
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// True when the secret is the shipped demo key (it starts with `DEMO`).
    pub fn is_demo(&self) -> bool {
        self.demo
    }

    pub fn source(&self) -> &SecretSource {
        &self.source
    }

    /// The key for one purpose.
    pub fn key(&self, purpose: Purpose) -> [u8; 32] {
        blake3::derive_key(&purpose.context(), &self.master)
    }

    /// The key for one purpose and one field (e.g. `Token` + `"given"`).
    pub fn field_key(&self, purpose: Purpose, field: &str) -> [u8; 32] {
        blake3::derive_key(&format!("{} {field}", purpose.context()), &self.master)
    }
}

fn read_key_file(path: &std::path::Path) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path)
        .map_err(|e| Error::Secret(format!("cannot read key file {}: {e}", path.display())))?;
    // A key file may end in a newline; the key is the first non-comment line.
    let text = String::from_utf8_lossy(&bytes);
    let key = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap_or("")
        .as_bytes()
        .to_vec();
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_secrets_are_refused() {
        let e = Keys::from_secret(b"short", SecretSource::Env).unwrap_err().to_string();
        assert!(e.contains("at least 32"), "{e}");
        assert!(!e.contains("short\""), "the secret must not be echoed: {e}");
    }

    #[test]
    fn keys_differ_by_purpose_and_field() {
        let k = Keys::for_tests();
        assert_ne!(k.key(Purpose::Token), k.key(Purpose::Bloom));
        assert_ne!(k.field_key(Purpose::Token, "given"), k.field_key(Purpose::Token, "family"));
        assert_eq!(k.field_key(Purpose::Token, "given"), k.field_key(Purpose::Token, "given"));
    }

    #[test]
    fn key_id_is_stable_and_secret_dependent() {
        let a = Keys::from_secret(&[7u8; 40], SecretSource::Env).unwrap();
        let b = Keys::from_secret(&[7u8; 40], SecretSource::Env).unwrap();
        let c = Keys::from_secret(&[8u8; 40], SecretSource::Env).unwrap();
        assert_eq!(a.key_id(), b.key_id());
        assert_ne!(a.key_id(), c.key_id());
        assert_eq!(a.key_id().len(), 8);
        assert!(!format!("{a:?}").contains("master"));
    }

    #[test]
    fn key_file_comments_are_skipped() {
        let dir = std::env::temp_dir().join(format!("braid-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("k");
        std::fs::write(&p, "# comment\nDEMO-0123456789abcdef0123456789abcdef\n").unwrap();
        let bytes = read_key_file(&p).unwrap();
        assert!(bytes.starts_with(b"DEMO-"));
        let k = Keys::from_secret(&bytes, SecretSource::ConfigFile(p)).unwrap();
        assert!(k.is_demo());
    }
}
