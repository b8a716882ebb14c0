//! The wire messages: requests, their replies, and their one encoding.

use serde::{Deserialize, Serialize};
use subspace_crypto::{NodeId, RecordKey, codec};

use crate::DhtError;

/// Most node ids one reply carries (replies carry `k` of them; 32 leaves room for `k` up to 32).
pub const MAX_NODES: usize = 32;
/// Most holders one `Holders` reply carries.
pub const MAX_HOLDERS: usize = 64;
/// Most holders one `Announce` carries (a coordinator multi-announces its replica set).
pub const MAX_ANNOUNCEMENTS: usize = 16;
/// Largest proof one announcement may carry, in bytes (a signed receipt is far smaller).
pub const MAX_PROOF_LEN: usize = 2048;
/// Largest encoded message [`Message::decode`] accepts, in bytes.
pub const MAX_MESSAGE_LEN: usize = 40 * 1024;

/// Matches a reply to its request; chosen by the requester.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RequestId(pub u64);

/// Why a node holds a record, which decides what its announcement needs and how long its
/// entry lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum HolderKind {
    /// A contracted replica: announced with a proof, expires
    /// [`DhtConfig::replica_ttl`](crate::DhtConfig::replica_ttl) after its last announcement
    /// (re-announce every [`DhtConfig::republish_interval`](crate::DhtConfig::republish_interval)),
    /// removed early by [`Dht::holder_gone`](crate::Dht::holder_gone) after a valid leave,
    /// failure or fault.
    Replica,
    /// A copy in a client's LRU cache (social replication): no proof, expires after
    /// [`DhtConfig::cache_ttl`](crate::DhtConfig::cache_ttl).
    Cache,
}

/// One node known to hold a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Holder {
    /// The holding node.
    pub node: NodeId,
    /// Replica or cache.
    pub kind: HolderKind,
}

/// A claim that `holder` holds a record, as carried by an announce.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Announcement {
    /// The node that holds the record.
    pub holder: NodeId,
    /// Replica (needs `proof`; kept for `replica_ttl`, so announced again every
    /// `republish_interval`) or cache (only the holder may announce it; `proof` ignored; kept
    /// for `cache_ttl`).
    pub kind: HolderKind,
    /// Opaque proof checked by the receiver's [`AnnounceValidator`](crate::AnnounceValidator).
    pub proof: Vec<u8>,
}

/// A DHT message. Requests carry a fresh [`RequestId`]; each reply echoes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// Are you alive? Answered by [`Message::Pong`].
    Ping {
        /// Request id.
        id: RequestId,
    },
    /// Reply to [`Message::Ping`].
    Pong {
        /// The request's id.
        id: RequestId,
    },
    /// Which nodes do you know closest to `target`? Answered by [`Message::Nodes`].
    FindNode {
        /// Request id.
        id: RequestId,
        /// The id looked up.
        target: NodeId,
    },
    /// Reply to [`Message::FindNode`]: up to `k` known nodes closest to the target.
    Nodes {
        /// The request's id.
        id: RequestId,
        /// Closest known nodes, nearest first.
        nodes: Vec<NodeId>,
    },
    /// Who holds `key`? Answered by [`Message::Holders`].
    FindHolders {
        /// Request id.
        id: RequestId,
        /// The record key looked up.
        key: RecordKey,
    },
    /// Reply to [`Message::FindHolders`]: stored holders, and closer nodes to keep looking at.
    Holders {
        /// The request's id.
        id: RequestId,
        /// Holders stored for the key (possibly none).
        holders: Vec<Holder>,
        /// Closest known nodes to the key, nearest first.
        nodes: Vec<NodeId>,
    },
    /// Store these holders of `key`. Answered by [`Message::AnnounceAck`].
    Announce {
        /// Request id.
        id: RequestId,
        /// The record key.
        key: RecordKey,
        /// One or more holders (a multi-announce when more than one).
        announcements: Vec<Announcement>,
    },
    /// Reply to [`Message::Announce`]: how many announcements were accepted and stored.
    AnnounceAck {
        /// The request's id.
        id: RequestId,
        /// Number of announcements stored.
        accepted: u16,
    },
}

impl Message {
    /// The request id this message carries or answers.
    pub fn id(&self) -> RequestId {
        match self {
            Message::Ping { id }
            | Message::Pong { id }
            | Message::FindNode { id, .. }
            | Message::Nodes { id, .. }
            | Message::FindHolders { id, .. }
            | Message::Holders { id, .. }
            | Message::Announce { id, .. }
            | Message::AnnounceAck { id, .. } => *id,
        }
    }

    /// True for requests (which the receiver answers), false for replies.
    pub fn is_request(&self) -> bool {
        matches!(
            self,
            Message::Ping { .. }
                | Message::FindNode { .. }
                | Message::FindHolders { .. }
                | Message::Announce { .. }
        )
    }

    /// Checks every list and proof against the protocol's bounds.
    pub fn check_bounds(&self) -> Result<(), DhtError> {
        fn at_most(what: &'static str, len: usize, max: usize) -> Result<(), DhtError> {
            if len > max {
                Err(DhtError::TooMany { what, len, max })
            } else {
                Ok(())
            }
        }
        match self {
            Message::Nodes { nodes, .. } => at_most("nodes", nodes.len(), MAX_NODES),
            Message::Holders { holders, nodes, .. } => {
                at_most("holders", holders.len(), MAX_HOLDERS)?;
                at_most("nodes", nodes.len(), MAX_NODES)
            }
            Message::Announce { announcements, .. } => {
                if announcements.is_empty() {
                    return Err(DhtError::BadAnnounce {
                        len: 0,
                        max: MAX_ANNOUNCEMENTS,
                    });
                }
                at_most("announcements", announcements.len(), MAX_ANNOUNCEMENTS)?;
                for a in announcements {
                    if a.proof.len() > MAX_PROOF_LEN {
                        return Err(DhtError::ProofTooLong {
                            len: a.proof.len(),
                            max: MAX_PROOF_LEN,
                        });
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Encodes through `subspace_crypto::codec`, refusing a message that breaks a bound.
    pub fn encode(&self) -> Result<Vec<u8>, DhtError> {
        self.check_bounds()?;
        codec::encode(self).map_err(|e| DhtError::Encode(e.to_string()))
    }

    /// Decodes hostile bytes: never panics, allocates at most [`MAX_MESSAGE_LEN`], and
    /// returns only messages within every bound.
    pub fn decode(bytes: &[u8]) -> Result<Self, DhtError> {
        let msg: Message = codec::decode_bounded::<Message, MAX_MESSAGE_LEN>(bytes)
            .map_err(|e| DhtError::Decode(e.to_string()))?;
        msg.check_bounds()?;
        Ok(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn golden_vectors() {
        // Pinned bytes: changing the wire format must be a deliberate, versioned act.
        let ping = Message::Ping { id: RequestId(1) };
        assert_eq!(hex(&ping.encode().unwrap()), "000000000000000000000001");
        let find = Message::FindNode {
            id: RequestId(0x0102),
            target: NodeId::from_bytes([0xaa; 32]),
        };
        assert_eq!(
            hex(&find.encode().unwrap()),
            format!("000000020000000000000102{}", "aa".repeat(32))
        );
        let holders = Message::Holders {
            id: RequestId(7),
            holders: vec![Holder {
                node: NodeId::from_bytes([0x11; 32]),
                kind: HolderKind::Cache,
            }],
            nodes: vec![],
        };
        assert_eq!(
            hex(&holders.encode().unwrap()),
            format!(
                "000000050000000000000007{}{}{}{}",
                "0000000000000001",
                "11".repeat(32),
                "00000001",
                "0000000000000000"
            )
        );
        let ann = Message::Announce {
            id: RequestId(9),
            key: RecordKey::from_bytes([0x22; 32]),
            announcements: vec![Announcement {
                holder: NodeId::from_bytes([0x33; 32]),
                kind: HolderKind::Replica,
                proof: vec![0xde, 0xad],
            }],
        };
        assert_eq!(
            hex(&ann.encode().unwrap()),
            format!(
                "000000060000000000000009{}{}{}{}{}",
                "22".repeat(32),
                "0000000000000001",
                "33".repeat(32),
                "00000000",
                "0000000000000002dead"
            )
        );
    }

    #[test]
    fn bounds_are_enforced_both_ways() {
        let big = Message::Nodes {
            id: RequestId(1),
            nodes: vec![NodeId::default(); MAX_NODES + 1],
        };
        assert!(matches!(big.encode(), Err(DhtError::TooMany { .. })));
        let bytes = codec::encode(&big).unwrap();
        assert!(matches!(
            Message::decode(&bytes),
            Err(DhtError::TooMany { .. })
        ));
        let empty = Message::Announce {
            id: RequestId(1),
            key: RecordKey::default(),
            announcements: vec![],
        };
        assert!(Message::decode(&codec::encode(&empty).unwrap()).is_err());
        let long_proof = Message::Announce {
            id: RequestId(1),
            key: RecordKey::default(),
            announcements: vec![Announcement {
                holder: NodeId::default(),
                kind: HolderKind::Replica,
                proof: vec![0; MAX_PROOF_LEN + 1],
            }],
        };
        assert!(matches!(
            Message::decode(&codec::encode(&long_proof).unwrap()),
            Err(DhtError::ProofTooLong { .. })
        ));
    }

    #[test]
    fn largest_legal_message_fits_the_decode_limit() {
        let ann = Message::Announce {
            id: RequestId(u64::MAX),
            key: RecordKey::default(),
            announcements: vec![
                Announcement {
                    holder: NodeId::default(),
                    kind: HolderKind::Replica,
                    proof: vec![0; MAX_PROOF_LEN],
                };
                MAX_ANNOUNCEMENTS
            ],
        };
        let bytes = ann.encode().unwrap();
        assert!(bytes.len() <= MAX_MESSAGE_LEN);
        assert_eq!(Message::decode(&bytes).unwrap(), ann);
    }

    fn arb_id() -> impl Strategy<Value = NodeId> {
        any::<[u8; 32]>().prop_map(NodeId::from_bytes)
    }

    fn arb_kind() -> impl Strategy<Value = HolderKind> {
        prop_oneof![Just(HolderKind::Replica), Just(HolderKind::Cache)]
    }

    fn arb_message() -> impl Strategy<Value = Message> {
        let rid = any::<u64>().prop_map(RequestId);
        prop_oneof![
            rid.clone().prop_map(|id| Message::Ping { id }),
            rid.clone().prop_map(|id| Message::Pong { id }),
            (rid.clone(), arb_id()).prop_map(|(id, target)| Message::FindNode { id, target }),
            (
                rid.clone(),
                proptest::collection::vec(arb_id(), 0..=MAX_NODES)
            )
                .prop_map(|(id, nodes)| Message::Nodes { id, nodes }),
            (rid.clone(), any::<[u8; 32]>()).prop_map(|(id, k)| Message::FindHolders {
                id,
                key: RecordKey::from_bytes(k)
            }),
            (
                rid.clone(),
                proptest::collection::vec(
                    (arb_id(), arb_kind()).prop_map(|(node, kind)| Holder { node, kind }),
                    0..8
                ),
                proptest::collection::vec(arb_id(), 0..8)
            )
                .prop_map(|(id, holders, nodes)| Message::Holders {
                    id,
                    holders,
                    nodes
                }),
            (
                rid.clone(),
                any::<[u8; 32]>(),
                proptest::collection::vec(
                    (
                        arb_id(),
                        arb_kind(),
                        proptest::collection::vec(any::<u8>(), 0..64)
                    )
                        .prop_map(|(holder, kind, proof)| Announcement {
                            holder,
                            kind,
                            proof
                        }),
                    1..4
                )
            )
                .prop_map(|(id, k, announcements)| Message::Announce {
                    id,
                    key: RecordKey::from_bytes(k),
                    announcements
                }),
            (rid, any::<u16>()).prop_map(|(id, accepted)| Message::AnnounceAck { id, accepted }),
        ]
    }

    proptest! {
        #[test]
        fn round_trip(msg in arb_message()) {
            let bytes = msg.encode().unwrap();
            prop_assert_eq!(Message::decode(&bytes).unwrap(), msg);
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            if let Ok(msg) = Message::decode(&bytes) {
                // Whatever decodes is canonical and within bounds.
                prop_assert!(msg.check_bounds().is_ok());
                prop_assert_eq!(msg.encode().unwrap(), bytes);
            }
        }

        #[test]
        fn mutated_messages_never_panic(msg in arb_message(), pos in any::<usize>(), val in any::<u8>()) {
            let mut bytes = msg.encode().unwrap();
            let i = pos % bytes.len();
            bytes[i] = val;
            let _ = Message::decode(&bytes);
            // The encoding is self-delimiting, so no strict prefix of a message decodes.
            bytes.truncate(i);
            prop_assert!(Message::decode(&bytes).is_err());
        }
    }
}
