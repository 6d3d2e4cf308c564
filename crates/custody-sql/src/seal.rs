//! HMAC signing secrets sealed at rest with AES-256-GCM under the master key.
//!
//! Layout of a sealed value: `0x01` (format version) ‖ 12-byte random nonce ‖ ciphertext ‖
//! 16-byte tag. The key's id is the associated data, so a sealed secret copied onto another
//! key's row does not open. The master key is handed in by the composition root (configuration
//! or environment); without it no HMAC key can be verified, which is the point.

use std::fmt;

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine as _;

const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;

/// The 32-byte key that seals HMAC secrets. Never printed.
#[derive(Clone)]
pub struct MasterKey(Key<Aes256Gcm>);

/// Why a master key or a sealed value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MasterKeyError {
    /// Not 64 hex characters or standard base64 of 32 bytes.
    #[error("the master key must be 32 bytes, as 64 hex characters or standard base64")]
    Format,
    /// Too short, an unknown version, or the tag did not verify: tampered, moved to another
    /// row, or sealed under another master key.
    #[error("a sealed secret does not open with this master key")]
    Open,
}

impl MasterKey {
    /// A key from its 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> MasterKey {
        MasterKey(Key::<Aes256Gcm>::from(bytes))
    }

    /// Parses 64 hex characters or standard base64 of 32 bytes (surrounding whitespace
    /// ignored), the two spellings `openssl rand -hex 32` and `openssl rand -base64 32` print.
    ///
    /// # Errors
    /// [`MasterKeyError::Format`].
    pub fn parse(input: &str) -> Result<MasterKey, MasterKeyError> {
        let input = input.trim();
        let mut bytes = [0u8; 32];
        if input.len() == 64 && hex::decode_to_slice(input, &mut bytes).is_ok() {
            return Ok(MasterKey::from_bytes(bytes));
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(input)
            .map_err(|_| MasterKeyError::Format)?;
        let bytes: [u8; 32] = decoded.try_into().map_err(|_| MasterKeyError::Format)?;
        Ok(MasterKey::from_bytes(bytes))
    }

    /// Seals `plaintext`, bound to `context` (the key id).
    ///
    /// # Errors
    /// Never in practice; AES-GCM refuses only inputs beyond 64 GiB.
    pub fn seal(&self, plaintext: &[u8], context: &[u8]) -> Result<Vec<u8>, MasterKeyError> {
        let cipher = Aes256Gcm::new(&self.0);
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let ciphertext = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: context,
                },
            )
            .map_err(|_| MasterKeyError::Open)?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        Ok(out)
    }

    /// Opens a value sealed by [`MasterKey::seal`] with the same context.
    ///
    /// # Errors
    /// [`MasterKeyError::Open`] for anything that does not verify.
    pub fn open(&self, sealed: &[u8], context: &[u8]) -> Result<Vec<u8>, MasterKeyError> {
        let (&version, rest) = sealed.split_first().ok_or(MasterKeyError::Open)?;
        if version != VERSION || rest.len() < NONCE_LEN + 16 {
            return Err(MasterKeyError::Open);
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        Aes256Gcm::new(&self.0)
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context,
                },
            )
            .map_err(|_| MasterKeyError::Open)
    }
}

/// Webhook signing secrets are sealed by core through this port, bound to their endpoint id.
impl custody_core::ports::SecretSealer for MasterKey {
    fn seal(
        &self,
        plaintext: &[u8],
        context: &[u8],
    ) -> Result<Vec<u8>, custody_core::ports::StoreError> {
        MasterKey::seal(self, plaintext, context)
            .map_err(|e| custody_core::ports::StoreError::Internal(Box::new(e)))
    }

    fn open(
        &self,
        sealed: &[u8],
        context: &[u8],
    ) -> Result<custody_core::secret::Secret, custody_core::ports::StoreError> {
        MasterKey::open(self, sealed, context)
            .map(custody_core::secret::Secret::new)
            .map_err(|e| custody_core::ports::StoreError::Internal(Box::new(e)))
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> MasterKey {
        MasterKey::from_bytes([byte; 32])
    }

    #[test]
    fn seal_then_open() {
        let sealed = key(7).seal(b"hmac secret", b"key_1").unwrap();
        assert_eq!(sealed[0], VERSION);
        assert_eq!(sealed.len(), 1 + 12 + 11 + 16);
        assert!(!sealed.windows(11).any(|w| w == b"hmac secret"));
        assert_eq!(key(7).open(&sealed, b"key_1").unwrap(), b"hmac secret");
    }

    #[test]
    fn nonces_differ_between_seals() {
        let a = key(7).seal(b"same", b"k").unwrap();
        let b = key(7).seal(b"same", b"k").unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn wrong_key_context_or_tampering_does_not_open() {
        let sealed = key(7).seal(b"hmac secret", b"key_1").unwrap();
        assert_eq!(key(8).open(&sealed, b"key_1"), Err(MasterKeyError::Open));
        assert_eq!(key(7).open(&sealed, b"key_2"), Err(MasterKeyError::Open));
        let mut flipped = sealed.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert_eq!(key(7).open(&flipped, b"key_1"), Err(MasterKeyError::Open));
        let mut versioned = sealed.clone();
        versioned[0] = 2;
        assert_eq!(key(7).open(&versioned, b"key_1"), Err(MasterKeyError::Open));
        assert_eq!(
            key(7).open(&sealed[..20], b"key_1"),
            Err(MasterKeyError::Open)
        );
        assert_eq!(key(7).open(&[], b"key_1"), Err(MasterKeyError::Open));
    }

    #[test]
    fn parses_hex_and_base64() {
        let hex_key = "00".repeat(31) + "01";
        let a = MasterKey::parse(&hex_key).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD
            .encode([0u8; 31].iter().chain(&[1u8]).copied().collect::<Vec<u8>>());
        let b = MasterKey::parse(&format!("  {b64}\n")).unwrap();
        let sealed = a.seal(b"x", b"").unwrap();
        assert_eq!(b.open(&sealed, b"").unwrap(), b"x");
        for bad in ["", "abc", &"0".repeat(63), &"zz".repeat(32), "AAAA"] {
            assert_eq!(
                MasterKey::parse(bad).err(),
                Some(MasterKeyError::Format),
                "{bad}"
            );
        }
    }

    #[test]
    fn debug_is_redacted() {
        assert_eq!(format!("{:?}", key(0x41)), "MasterKey(<redacted>)");
    }
}
