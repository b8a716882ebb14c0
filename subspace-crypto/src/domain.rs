//! Domain tags: one fixed, versioned constant per kind of signed statement.
//!
//! A signature is made over `len(tag) as u8 || tag || message`, so a signature made for one
//! kind of statement never verifies as another (a record signature cannot be replayed as a
//! transaction), and no tag can be a prefix of another's signed bytes. Tags carry a version:
//! a format change gets a new tag and can never be confused with the old one.

use core::fmt;

/// A domain-separation tag for signatures. Use the constants in this module.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Domain(&'static str);

impl Domain {
    /// A domain with a custom tag, for statements defined outside this workspace.
    ///
    /// The tag should name the project, the statement and a version, like `myapp/vote/v1`,
    /// and must be at most 255 bytes (longer tags are cut at construction time by a
    /// compile-time-style check: this function panics in `const` contexts only).
    pub const fn custom(tag: &'static str) -> Domain {
        assert!(tag.len() <= 255, "domain tag longer than 255 bytes");
        Domain(tag)
    }

    /// The tag text.
    pub const fn tag(&self) -> &'static str {
        self.0
    }

    /// The bytes placed before every signed message: the tag length and the tag.
    pub(crate) fn prefix_into(&self, out: &mut Vec<u8>) {
        // The tag length fits a byte: `custom` asserts it and the constants below are short.
        out.push(self.0.len() as u8);
        out.extend_from_slice(self.0.as_bytes());
    }
}

impl fmt::Debug for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Domain({})", self.0)
    }
}

/// A stored record (immutable or mutable version), signed by its owner or writer.
pub const RECORD: Domain = Domain("subspace/record/v1");
/// A host's receipt: "I hold my own replica of record K under contract C".
pub const RECEIPT: Domain = Domain("subspace/receipt/v1");
/// A gossip message (join, leave, failure, fault, ping).
pub const GOSSIP: Domain = Domain("subspace/gossip/v1");
/// A DHT announce of record holders.
pub const DHT_ANNOUNCE: Domain = Domain("subspace/dht-announce/v1");
/// A signed response a host gave, cited as evidence in a fault.
pub const FAULT: Domain = Domain("subspace/fault/v1");
/// A ledger transaction.
pub const TRANSACTION: Domain = Domain("subspace/transaction/v1");
/// A block header, signed by its farmer.
pub const BLOCK_HEADER: Domain = Domain("subspace/block-header/v1");
/// A host's pledge of space.
pub const PLEDGE: Domain = Domain("subspace/pledge/v1");
/// The node-to-node handshake.
pub const NODE_HANDSHAKE: Domain = Domain("subspace/node-handshake/v1");
/// Pairwise MAC keys for gossip probes over transports that do not authenticate peers
/// ([`crate::pairwise::PairKey`]).
pub const PROBE_MAC: Domain = Domain("subspace/probe-mac/v1");

/// Every built-in domain, for tests that check they are all distinct.
pub const ALL: [Domain; 10] = [
    RECORD,
    RECEIPT,
    GOSSIP,
    DHT_ANNOUNCE,
    FAULT,
    TRANSACTION,
    BLOCK_HEADER,
    PLEDGE,
    NODE_HANDSHAKE,
    PROBE_MAC,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_distinct_and_versioned() {
        for (i, a) in ALL.iter().enumerate() {
            assert!(a.tag().starts_with("subspace/") && a.tag().ends_with("/v1"));
            for b in &ALL[i + 1..] {
                assert_ne!(a.tag(), b.tag());
            }
        }
    }
}
