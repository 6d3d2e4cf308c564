//! IP allow-lists: the client addresses a key may be used from.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why an allow-list entry was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IpEntryError {
    /// Neither an IP address nor a CIDR block.
    #[error("`{0}` is not an IP address or CIDR block (e.g. `203.0.113.7` or `203.0.113.0/24`)")]
    Malformed(String),
    /// A CIDR block whose address has bits set below the prefix, such as `10.0.0.5/8`. Refused
    /// rather than silently widened: it is usually a typo for a single address, and reading it
    /// as `10.0.0.0/8` would admit sixteen million of them.
    #[error(
        "`{entry}` has host bits set: write `{network}` for the whole block, or the address alone"
    )]
    HostBitsSet {
        /// The entry as given.
        entry: String,
        /// The block it would mean.
        network: IpNet,
    },
}

/// The client addresses a key may be used from. **An empty list allows every address**: the
/// allow-list is optional and absent means unrestricted. Serialised as a list of CIDR strings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpAllowList(Vec<IpNet>);

impl IpAllowList {
    /// The unrestricted list.
    pub fn allow_all() -> IpAllowList {
        IpAllowList::default()
    }

    /// A list of already-parsed blocks.
    pub fn from_nets(nets: Vec<IpNet>) -> IpAllowList {
        IpAllowList(nets)
    }

    /// Parses every entry with [`IpAllowList::parse_entry`].
    ///
    /// # Errors
    /// The first entry's [`IpEntryError`].
    pub fn parse<I, S>(entries: I) -> Result<IpAllowList, IpEntryError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        entries
            .into_iter()
            .map(|e| IpAllowList::parse_entry(e.as_ref()))
            .collect::<Result<Vec<_>, _>>()
            .map(IpAllowList)
    }

    /// Parses one entry: a CIDR block (`203.0.113.0/24`, `2001:db8::/32`) or a bare address,
    /// which means that address alone (`/32` or `/128`). Surrounding whitespace is ignored.
    ///
    /// # Errors
    /// [`IpEntryError::Malformed`], or [`IpEntryError::HostBitsSet`] for a block like
    /// `10.0.0.5/8`.
    pub fn parse_entry(entry: &str) -> Result<IpNet, IpEntryError> {
        let trimmed = entry.trim();
        if let Ok(addr) = trimmed.parse::<IpAddr>() {
            return Ok(IpNet::from(addr));
        }
        let net: IpNet = trimmed
            .parse()
            .map_err(|_| IpEntryError::Malformed(entry.to_owned()))?;
        if net.trunc() != net {
            return Err(IpEntryError::HostBitsSet {
                entry: entry.to_owned(),
                network: net.trunc(),
            });
        }
        Ok(net)
    }

    /// Whether a request from `peer` may use the key.
    ///
    /// An IPv4-mapped IPv6 peer (`::ffff:203.0.113.7`, what a dual-stack socket reports for an
    /// IPv4 client) is also checked as the IPv4 address it is, so IPv4 entries keep working
    /// whichever way the listener is bound.
    pub fn allows(&self, peer: IpAddr) -> bool {
        if self.0.is_empty() {
            return true;
        }
        let canonical = peer.to_canonical();
        self.0
            .iter()
            .any(|net| net.contains(&peer) || net.contains(&canonical))
    }

    /// The blocks, in the order given.
    pub fn entries(&self) -> &[IpNet] {
        &self.0
    }

    /// Whether the list is empty (and so allows every address).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for IpAllowList {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(ToString::to_string))
    }
}

impl<'de> Deserialize<'de> for IpAllowList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Vec::<String>::deserialize(deserializer)?;
        IpAllowList::parse(&raw).map_err(serde::de::Error::custom)
    }
}
