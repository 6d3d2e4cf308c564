//! Free-text values partners send: external references, labels, names and metadata.
//!
//! Each is a newtype with a fallible constructor so a length or character rule is checked once,
//! at the edge, and never again. Limits follow the seeds: `external_ref` and `label` up to 255
//! characters; metadata as in the Accounts dialect (at most 50 keys matching
//! `^[a-zA-Z0-9_]{1,40}$`, string values up to 500 characters).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Most free-text fields are capped at 255 characters.
pub const MAX_TEXT_CHARS: usize = 255;
/// At most this many metadata keys.
pub const MAX_METADATA_KEYS: usize = 50;
/// Metadata keys are 1–40 characters of `[A-Za-z0-9_]`.
pub const MAX_METADATA_KEY_CHARS: usize = 40;
/// Metadata values are at most 500 characters.
pub const MAX_METADATA_VALUE_CHARS: usize = 500;

/// Why a text value was refused (422).
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    /// Empty where a value is required.
    #[error("`{field}` must not be empty")]
    Empty { field: &'static str },
    #[error("`{field}` must be at most {max} characters")]
    TooLong {
        field: &'static str,
        /// The limit in characters.
        max: usize,
    },
    /// Contains control characters (newlines, NUL, …), which would corrupt logs and exports.
    #[error("`{field}` must not contain control characters")]
    ControlCharacter { field: &'static str },
    /// Contains a bidirectional-override or isolate (U+202A–U+202E, U+2066–U+2069) or a
    /// zero-width character (U+200B–U+200D, U+2060, U+FEFF): invisible characters that make
    /// two different values look the same, or reorder what an operator reads.
    #[error("`{field}` must not contain bidirectional-control or zero-width characters")]
    InvisibleCharacter { field: &'static str },
    /// A metadata key breaks the key pattern.
    #[error("metadata key `{0}` must match ^[a-zA-Z0-9_]{{1,40}}$")]
    MetadataKey(String),
    #[error("metadata may have at most 50 keys")]
    MetadataTooManyKeys,
}

fn checked(
    field: &'static str,
    value: &str,
    max: usize,
    allow_empty: bool,
) -> Result<(), TextError> {
    if value.is_empty() && !allow_empty {
        return Err(TextError::Empty { field });
    }
    if value.chars().count() > max {
        return Err(TextError::TooLong { field, max });
    }
    if value.chars().any(char::is_control) {
        return Err(TextError::ControlCharacter { field });
    }
    if value.chars().any(is_invisible) {
        return Err(TextError::InvisibleCharacter { field });
    }
    Ok(())
}

/// Bidirectional overrides and isolates, and zero-width characters: refused in every text
/// value (they are format characters, `Cf`, which `char::is_control` does not cover).
pub(crate) const fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200B}'..='\u{200D}'
            | '\u{2060}'
            | '\u{FEFF}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
    )
}

macro_rules! text_type {
    ($(#[$doc:meta])* $name:ident, $field:literal, $allow_empty:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Checks length and characters.
            ///
            /// # Errors
            /// [`TextError`] naming the field.
            pub fn parse(value: impl Into<String>) -> Result<Self, TextError> {
                let value = value.into();
                checked($field, &value, MAX_TEXT_CHARS, $allow_empty)?;
                Ok(Self(value))
            }

            /// The text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                $name::parse(String::deserialize(d)?).map_err(serde::de::Error::custom)
            }
        }
    };
}

text_type!(
    /// The partner's own identifier of an end-customer (Connect `external_ref`, Platform
    /// `externalId`): 1–255 characters, unique per tenant and environment.
    ExternalRef, "external_ref", false
);
text_type!(
    /// A partner-supplied label on a wallet, address or address-book entry: up to 255
    /// characters, may be empty.
    Label, "label", true
);
text_type!(
    /// A vault's display name: up to 255 characters, may be empty.
    VaultName, "name", true
);

impl Default for VaultName {
    /// The empty name of a vault created lazily (Connect), which the partner never named.
    fn default() -> Self {
        VaultName(String::new())
    }
}

/// Partner metadata on a vault: small string key/value pairs we store and echo, never read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Metadata(BTreeMap<String, String>);

impl Metadata {
    /// Checks key count, key pattern and value length.
    ///
    /// # Errors
    /// [`TextError`] for the first offending entry.
    pub fn parse(entries: BTreeMap<String, String>) -> Result<Self, TextError> {
        if entries.len() > MAX_METADATA_KEYS {
            return Err(TextError::MetadataTooManyKeys);
        }
        for (key, value) in &entries {
            let key_ok = (1..=MAX_METADATA_KEY_CHARS).contains(&key.len())
                && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !key_ok {
                return Err(TextError::MetadataKey(key.clone()));
            }
            checked("metadata", value, MAX_METADATA_VALUE_CHARS, true)?;
        }
        Ok(Metadata(entries))
    }

    /// The entries in key order.
    pub fn entries(&self) -> &BTreeMap<String, String> {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Metadata {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Metadata::parse(BTreeMap::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_ref_limits() {
        assert!(ExternalRef::parse("user-42").is_ok());
        assert_eq!(
            ExternalRef::parse(""),
            Err(TextError::Empty {
                field: "external_ref"
            })
        );
        assert!(
            ExternalRef::parse("é".repeat(255)).is_ok(),
            "limit is in characters, not bytes"
        );
        assert_eq!(
            ExternalRef::parse("x".repeat(256)),
            Err(TextError::TooLong {
                field: "external_ref",
                max: 255
            })
        );
        assert_eq!(
            ExternalRef::parse("a\nb"),
            Err(TextError::ControlCharacter {
                field: "external_ref"
            })
        );
    }

    #[test]
    fn bidi_controls_and_zero_width_characters_are_refused() {
        for c in [
            '\u{200B}', '\u{200C}', '\u{200D}', '\u{2060}', '\u{FEFF}', '\u{202A}', '\u{202B}',
            '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}',
        ] {
            let value = format!("user{c}42");
            assert_eq!(
                ExternalRef::parse(value.clone()),
                Err(TextError::InvisibleCharacter {
                    field: "external_ref"
                }),
                "U+{:04X}",
                u32::from(c)
            );
            assert!(Label::parse(value.clone()).is_err());
            assert!(VaultName::parse(value.clone()).is_err());
            let metadata: BTreeMap<_, _> = [("k".to_owned(), value)].into();
            assert!(Metadata::parse(metadata).is_err());
        }
        // Visible non-ASCII text is fine (the neighbours of the refused ranges too).
        for ok in ["Zoë", "東京", "שלום", "\u{200E}", "\u{2010}", "\u{2065}"] {
            assert!(Label::parse(ok).is_ok(), "{ok:?}");
        }
    }

    #[test]
    fn labels_may_be_empty_but_not_long() {
        assert!(Label::parse("").is_ok());
        assert!(Label::parse("x".repeat(256)).is_err());
        assert!(VaultName::parse("Alice").is_ok());
    }

    #[test]
    fn metadata_rules() {
        let ok: BTreeMap<_, _> = [("crm_id".to_owned(), "42".to_owned())].into();
        assert!(Metadata::parse(ok).is_ok());
        let bad_key: BTreeMap<_, _> = [("crm-id".to_owned(), "42".to_owned())].into();
        assert_eq!(
            Metadata::parse(bad_key),
            Err(TextError::MetadataKey("crm-id".into()))
        );
        let long_value: BTreeMap<_, _> = [("k".to_owned(), "v".repeat(501))].into();
        assert!(Metadata::parse(long_value).is_err());
        let many: BTreeMap<_, _> = (0..51).map(|i| (format!("k{i}"), String::new())).collect();
        assert_eq!(Metadata::parse(many), Err(TextError::MetadataTooManyKeys));
    }

    #[test]
    fn deserialisation_applies_the_rules() {
        assert!(serde_json::from_str::<ExternalRef>("\"\"").is_err());
        assert_eq!(
            serde_json::from_str::<ExternalRef>("\"u1\"")
                .unwrap()
                .as_str(),
            "u1"
        );
    }
}
