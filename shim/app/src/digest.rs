//! Content digests (`sha256:<64 lowercase hex>`), validated when they are parsed.
//!
//! A digest comes from an untrusted locked app or OCI manifest and ends up in file
//! names (blob cache, compile cache). Only a [`Sha256Digest`] may be used there, and
//! one can only be made from text of exactly this shape or by hashing bytes, so no
//! `/`, `..` or other path syntax can ever reach a path.

use std::fmt;
use std::io::Read;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

/// A SHA-256 content digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256Digest {
    hex: String,
}

/// Why a digest string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("digest {shown:?} is not of the form sha256:<64 lowercase hex digits>")]
pub struct DigestError {
    shown: String,
}

impl Sha256Digest {
    /// Parses `sha256:<64 lowercase hex>`; anything else is refused.
    pub fn parse(text: &str) -> Result<Self, DigestError> {
        let refuse = || DigestError {
            // Long hostile input is cut so errors stay readable.
            shown: text.chars().take(100).collect(),
        };
        let hex = text.strip_prefix("sha256:").ok_or_else(refuse)?;
        if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(refuse());
        }
        Ok(Self { hex: hex.into() })
    }

    /// The digest of some bytes.
    pub fn of(bytes: &[u8]) -> Self {
        Self {
            hex: hex::encode(Sha256::digest(bytes)),
        }
    }

    /// A digest from the 32 bytes of a finished SHA-256.
    pub fn from_raw(hash: [u8; 32]) -> Self {
        Self {
            hex: hex::encode(hash),
        }
    }

    /// The digest of everything `reader` yields, and how many bytes that was, read in
    /// chunks (never whole into memory).
    pub fn of_reader(mut reader: impl Read) -> std::io::Result<(Self, u64)> {
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 64 << 10];
        let mut total = 0u64;
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            hasher.update(&buf[..n]);
            total += n as u64;
        }
        Ok((
            Self {
                hex: hex::encode(hasher.finalize()),
            },
            total,
        ))
    }

    /// The 64 hex digits: safe to use as a file name.
    pub fn hex(&self) -> &str {
        &self.hex
    }
}

impl fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl Serialize for Sha256Digest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Sha256Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELLO: &str = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

    #[test]
    fn parses_only_the_canonical_form() {
        assert_eq!(Sha256Digest::parse(HELLO).unwrap().to_string(), HELLO);
        let bad = [
            "",
            "sha256:",
            "sha256:abc",
            "sha512:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
            "SHA256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
            "sha256:2CF24DBA5FB0A30E26E83B2AC5B9E29E1B161E5C1FA7425E73043362938B9824",
            "sha256:../../../../../../../../../../../../../../../../../../etc/passwd",
            "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b982/",
            "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b98244",
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
        ];
        for text in bad {
            let err = Sha256Digest::parse(text).unwrap_err().to_string();
            assert!(err.contains("sha256:<64 lowercase hex"), "{text}: {err}");
        }
    }

    #[test]
    fn hashes_bytes_and_readers_alike() {
        assert_eq!(Sha256Digest::of(b"hello").to_string(), HELLO);
        let (digest, len) = Sha256Digest::of_reader(&b"hello"[..]).unwrap();
        assert_eq!((digest.to_string().as_str(), len), (HELLO, 5));
    }

    #[test]
    fn serde_refuses_bad_digests() {
        let ok: Sha256Digest = serde_json::from_str(&format!("\"{HELLO}\"")).unwrap();
        assert_eq!(serde_json::to_string(&ok).unwrap(), format!("\"{HELLO}\""));
        assert!(serde_json::from_str::<Sha256Digest>("\"sha256:../x\"").is_err());
    }
}
