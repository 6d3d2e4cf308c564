//! On-chain addresses, validated per network and held in one canonical spelling.
//!
//! A [`ChainAddress`] can only be built by validating it against its network's
//! [address family](AddressFamily), so holding one proves the string is well formed for
//! that network. It stores the canonical form, so two spellings of the same address compare,
//! hash and de-duplicate as equal (e.g. in the address book):
//!
//! * **EVM** (ethereum, base, ink): `0x` + 40 hex characters. All-lowercase and all-uppercase
//!   bodies carry no checksum and are accepted as they are; a mixed-case body *is* an EIP-55
//!   checksum and must match, since a mismatch almost always means a mistyped address.
//!   Canonical form: EIP-55 mixed case. The prefix must be a lowercase `0x`.
//! * **Solana**: base58 (Bitcoin alphabet) of a 32-byte ed25519 public key, 32 to 44
//!   characters. Base58 is case-sensitive and each key has exactly one encoding, so the input
//!   must already be that encoding; it is then canonical.
//! * **Sui**: `0x` + exactly 64 hex characters, any case (there is no checksum), canonical in
//!   lowercase. The short forms Sui tooling prints for system objects (`0x2`) are refused: a
//!   partner must send the full 32 bytes, so we never guess the padding.
//!
//! Nothing is trimmed or repaired: whitespace, an empty string, a wrong length or a wrong
//! alphabet are errors that name the network. Parsing never panics.

use std::fmt;

use serde::{Serialize, Serializer};
use sha3::{Digest, Keccak256};

use crate::asset::{AddressFamily, Network};

/// Why an address was refused. The messages go verbatim into 422 bodies and name the
/// network; [`ChainAddressError::code`] gives the stable machine code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChainAddressError {
    /// The address is an empty string.
    #[error("{network} address is empty")]
    Empty {
        /// The network the address was meant for.
        network: Network,
    },
    /// The address is not in the network's format (whitespace, length, alphabet, prefix).
    #[error("not a valid {network} address: {reason}")]
    Invalid {
        /// The network the address was meant for.
        network: Network,
        /// What is wrong, phrased for the partner, e.g. `expected 0x followed by 40 hex
        /// characters`.
        reason: &'static str,
    },
    /// A mixed-case EVM address whose EIP-55 checksum does not match.
    #[error("not a valid {network} address: its mixed-case EIP-55 checksum does not match, so it probably contains a typo")]
    BadChecksum {
        /// The network the address was meant for.
        network: Network,
    },
    /// The address is well formed for another address family than the network's, e.g. a
    /// Solana address sent for ethereum.
    #[error("not a valid {network} address: it looks like {} address", family_phrase(*.found))]
    WrongNetwork {
        /// The network the address was meant for.
        network: Network,
        /// The family whose format the address has.
        found: AddressFamily,
    },
}

impl ChainAddressError {
    /// The stable machine code of the error, for API error bodies and metrics.
    pub const fn code(&self) -> &'static str {
        match self {
            ChainAddressError::Empty { .. } => "address_empty",
            ChainAddressError::Invalid { .. } => "address_invalid",
            ChainAddressError::BadChecksum { .. } => "address_bad_checksum",
            ChainAddressError::WrongNetwork { .. } => "address_wrong_network",
        }
    }

    /// The network the refused address was meant for.
    pub const fn network(&self) -> Network {
        match self {
            ChainAddressError::Empty { network }
            | ChainAddressError::Invalid { network, .. }
            | ChainAddressError::BadChecksum { network }
            | ChainAddressError::WrongNetwork { network, .. } => *network,
        }
    }
}

/// The family's name with its article, for error messages.
const fn family_phrase(family: AddressFamily) -> &'static str {
    match family {
        AddressFamily::Evm => "an EVM",
        AddressFamily::Solana => "a Solana",
        AddressFamily::Sui => "a Sui",
    }
}

/// What a well-formed address of the family looks like, for error messages.
const fn expected_format(family: AddressFamily) -> &'static str {
    match family {
        AddressFamily::Evm => "expected 0x followed by 40 hex characters",
        AddressFamily::Solana => {
            "expected a base58-encoded 32-byte public key (32 to 44 characters)"
        }
        AddressFamily::Sui => "expected 0x followed by 64 hex characters",
    }
}

/// A validated address on one network, in canonical form.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChainAddress {
    network: Network,
    /// Always the canonical spelling (see the module documentation).
    value: String,
}

impl ChainAddress {
    /// Validates `input` as an address on `network` and canonicalises it.
    ///
    /// # Errors
    /// [`ChainAddressError::Empty`]; [`ChainAddressError::Invalid`] for whitespace or a
    /// malformed address; [`ChainAddressError::BadChecksum`] for a mixed-case EVM address with
    /// a wrong EIP-55 checksum; [`ChainAddressError::WrongNetwork`] when the input is instead
    /// well formed for another address family. Never panics.
    pub fn parse(network: Network, input: &str) -> Result<ChainAddress, ChainAddressError> {
        if input.is_empty() {
            return Err(ChainAddressError::Empty { network });
        }
        if input.chars().any(char::is_whitespace) {
            // Called out on its own: a copy-paste artefact the partner can see and fix.
            return Err(ChainAddressError::Invalid {
                network,
                reason: "it contains whitespace",
            });
        }
        let family = network.address_family();
        match canonical_form(family, input) {
            Ok(value) => Ok(ChainAddress { network, value }),
            Err(Reject::Checksum) => Err(ChainAddressError::BadChecksum { network }),
            Err(Reject::Format) => {
                // Only on the error path: a partner who pasted an address of another chain
                // learns that, rather than a generic format error.
                let found = [
                    AddressFamily::Evm,
                    AddressFamily::Solana,
                    AddressFamily::Sui,
                ]
                .into_iter()
                .filter(|&other| other != family)
                .find(|&other| {
                    matches!(canonical_form(other, input), Ok(_) | Err(Reject::Checksum))
                });
                Err(match found {
                    Some(found) => ChainAddressError::WrongNetwork { network, found },
                    None => ChainAddressError::Invalid {
                        network,
                        reason: expected_format(family),
                    },
                })
            }
        }
    }

    /// Builds the canonical (EIP-55) address of 20 raw bytes on an EVM network.
    ///
    /// # Errors
    /// [`ChainAddressError::WrongNetwork`] when `network` is not an EVM network.
    pub fn from_evm_bytes(
        network: Network,
        bytes: [u8; 20],
    ) -> Result<ChainAddress, ChainAddressError> {
        if network.address_family() != AddressFamily::Evm {
            return Err(ChainAddressError::WrongNetwork {
                network,
                found: AddressFamily::Evm,
            });
        }
        Ok(ChainAddress {
            network,
            value: eip55_checksum(&bytes),
        })
    }

    /// Builds the Solana address of a 32-byte public key.
    pub fn from_solana_bytes(bytes: [u8; 32]) -> ChainAddress {
        ChainAddress {
            network: Network::Solana,
            value: solana_encode(&bytes),
        }
    }

    /// Builds the Sui address of 32 raw bytes.
    pub fn from_sui_bytes(bytes: [u8; 32]) -> ChainAddress {
        ChainAddress {
            network: Network::Sui,
            value: format!("0x{}", hex::encode(bytes)),
        }
    }

    /// The network the address was validated for.
    pub const fn network(&self) -> Network {
        self.network
    }

    /// The address family of its network.
    pub const fn family(&self) -> AddressFamily {
        self.network.address_family()
    }

    /// The canonical address string.
    pub fn as_str(&self) -> &str {
        &self.value
    }
}

/// Why an input is not an address of a family, before a network is attached.
enum Reject {
    /// Wrong prefix, length or alphabet.
    Format,
    /// EVM only: the shape is right but the mixed-case checksum is wrong.
    Checksum,
}

/// Validates `input` for `family` and returns its canonical spelling.
fn canonical_form(family: AddressFamily, input: &str) -> Result<String, Reject> {
    match family {
        AddressFamily::Evm => canonical_evm(input),
        AddressFamily::Solana => canonical_solana(input),
        AddressFamily::Sui => canonical_sui(input),
    }
}

/// Strips the `0x` prefix and decodes exactly `N` bytes of hex (either case).
fn decode_prefixed_hex<const N: usize>(input: &str) -> Result<([u8; N], &str), Reject> {
    let body = input.strip_prefix("0x").ok_or(Reject::Format)?;
    let mut bytes = [0u8; N];
    // decode_to_slice insists on exactly 2*N hex digits, so length and alphabet are one check.
    hex::decode_to_slice(body, &mut bytes).map_err(|_| Reject::Format)?;
    Ok((bytes, body))
}

fn canonical_evm(input: &str) -> Result<String, Reject> {
    let (bytes, body) = decode_prefixed_hex::<20>(input)?;
    let canonical = eip55_checksum(&bytes);
    // Per EIP-55 a single-case body carries no checksum; mixed case is a checksum claim.
    let mixed_case = body.bytes().any(|b| b.is_ascii_lowercase())
        && body.bytes().any(|b| b.is_ascii_uppercase());
    if mixed_case && canonical.strip_prefix("0x") != Some(body) {
        return Err(Reject::Checksum);
    }
    Ok(canonical)
}

fn canonical_solana(input: &str) -> Result<String, Reject> {
    // 32 zero bytes encode to 32 '1's and the largest key to 44 characters; checking the
    // length first also bounds the quadratic base58 decoding on hostile input.
    if !(32..=44).contains(&input.len()) {
        return Err(Reject::Format);
    }
    let decoded = bs58::decode(input)
        .with_alphabet(bs58::Alphabet::BITCOIN)
        .into_vec()
        .map_err(|_| Reject::Format)?;
    let bytes: [u8; 32] = decoded.try_into().map_err(|_| Reject::Format)?;
    let canonical = solana_encode(&bytes);
    // Base58 has one encoding per byte string; insisting on it keeps "same key, same string".
    if canonical != input {
        return Err(Reject::Format);
    }
    Ok(canonical)
}

fn canonical_sui(input: &str) -> Result<String, Reject> {
    let (bytes, _) = decode_prefixed_hex::<32>(input)?;
    Ok(format!("0x{}", hex::encode(bytes)))
}

fn solana_encode(bytes: &[u8; 32]) -> String {
    bs58::encode(bytes)
        .with_alphabet(bs58::Alphabet::BITCOIN)
        .into_string()
}

/// The EIP-55 checksummed spelling of an EVM address: `0x` + 40 hex characters where each
/// letter is upper case iff the matching nibble of Keccak-256 (the original Keccak, not
/// NIST SHA3-256) of the lowercase hex is 8 or more.
pub fn eip55_checksum(bytes: &[u8; 20]) -> String {
    let lower = hex::encode(bytes);
    let hash = Keccak256::digest(lower.as_bytes());
    // Character i of the hex is checked against nibble i of the hash, high nibble first.
    let nibbles = hash.iter().flat_map(|byte| [byte >> 4, byte & 0x0f]);
    let mut out = String::with_capacity(42);
    out.push_str("0x");
    out.extend(lower.chars().zip(nibbles).map(|(c, nibble)| {
        if nibble >= 8 {
            c.to_ascii_uppercase()
        } else {
            c
        }
    }));
    out
}

impl fmt::Display for ChainAddress {
    /// The canonical address.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)
    }
}

impl fmt::Debug for ChainAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChainAddress({}:{})", self.network, self.value)
    }
}

impl Serialize for ChainAddress {
    /// The canonical string only: the network always travels in its own field.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.value)
    }
}

#[cfg(test)]
mod tests;
