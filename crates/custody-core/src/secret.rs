//! Secret bytes that must never reach a log, nor stay in memory once dropped.

use std::fmt;

use zeroize::Zeroize;

/// Key material (an HMAC signing secret, a webhook secret). `Debug` is redacted, so a secret
/// inside any struct that derives `Debug` stays out of logs and panic messages. Dropping it
/// (or [`Zeroize::zeroize`]) overwrites its bytes with zeros first, the whole allocation
/// (`zeroize`'s `Vec` wipe), so a copy handed out and dropped (a request's key record, an
/// authentication-cache entry that expired) leaves no plaintext behind in freed memory.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Zeroize for Secret {
    fn zeroize(&mut self) {
        self.0.zeroize();
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.zeroize();
    }
}

impl Secret {
    /// Wraps the bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Secret {
        Secret(bytes.into())
    }

    /// The bytes, for the one place that signs or verifies with them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn debug_is_redacted() {
        let s = super::Secret::new(b"hunter2".to_vec());
        assert_eq!(format!("{s:?}"), "Secret([REDACTED])");
        assert_eq!(s.expose(), b"hunter2");
    }

    /// What `Drop` runs: the bytes are wiped (`zeroize` zeroes the whole allocation, then
    /// empties the vector).
    #[test]
    fn zeroize_wipes_the_bytes() {
        use zeroize::Zeroize as _;
        let mut s = super::Secret::new(b"hunter2".to_vec());
        s.zeroize();
        assert!(s.expose().is_empty());
        assert_ne!(s, super::Secret::new(b"hunter2".to_vec()));
    }
}
