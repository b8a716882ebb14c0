//! The wire: one [`Message`] enum wrapping each layer's messages and the node's own requests.
//!
//! On the wire a message is the shared codec's encoding of an envelope: a `u32` variant tag,
//! then either a layer's own encoding as a byte string (DHT, gossip: each layer decodes and
//! bounds its own) or a [`NodeMessage`]. [`Message::decode`] parses all the way down, so a
//! value of [`Message`] is always well formed; hostile bytes give an error, never a panic.

use serde::{Deserialize, Serialize};
use subspace_crypto::{Hash256, PublicKey, RecordKey, Signature, codec, domain::Domain};

use crate::chain::ChainMessage;
use crate::{NodeError, Result};

/// The largest frame a node sends or accepts: a maximal replica plus headers.
pub const MAX_FRAME_LEN: usize = codec::MAX_DECODE_LEN;
/// Longest free-text reason in a refusal.
pub const MAX_REASON_LEN: usize = 256;
/// Most receipts in one final acknowledgement or holder set.
pub const MAX_RECEIPTS: usize = 16;
/// The domain under which a host signs what it serves, so a wrong answer can be proven.
pub const FETCH_REPLY: Domain = Domain::custom("subspace/fetch-reply/v2");
/// The least time a fetch request must leave a host before its deadline, by the host's clock
/// when the request arrives (a network constant). A host drops a request with less, and a
/// lateness fault needs a host that accepted at least this much time and still overran it, so
/// a requester cannot frame an honest host with an impossible deadline. A client's fetch
/// timeout must exceed it plus the network's latency.
pub const MIN_FETCH_BUDGET_MS: u64 = 500;
/// Most record-piece hashes a fetch reply carries (a maximal replica's pieces).
pub const MAX_REPLY_LEAVES: usize = subspace_por::MAX_REPLICA_LEN / subspace_por::PIECE_SIZE;

/// Which step of a put failed, as the client API reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum PutStep {
    /// No coordinator could be sampled or it did not answer.
    Coordinator,
    /// The record itself is invalid (signature, key, format).
    Validation,
    /// The data contract refused the record (unknown, unfunded, full, not the owner's).
    Contract,
    /// Fewer than R hosts stored a replica.
    Replication,
    /// Announcing the holders on the DHT failed.
    Announce,
    /// The local store refused (full, IO).
    Store,
}

/// A host's signed statement of what it served for a fetch: the evidence a fault cites.
///
/// Both bodies are committed piece by piece ([`crate::pieces`]), so one disputed piece of a
/// large replica can be proven without the rest. The three timestamps let a host admit, under
/// its own signature, that it answered after the requester's deadline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchHeader {
    /// The serving host.
    pub host: PublicKey,
    /// The record asked for.
    pub key: RecordKey,
    /// Piece root of the plaintext of the served body, as the host claims it: the record padded
    /// as `subspace-por` pads it for a replica, the record bytes for a cached copy.
    pub record_root: Hash256,
    /// Piece root of the bytes served.
    pub served_root: Hash256,
    /// Length of the bytes served (fixes the shape of both piece trees).
    pub served_len: u64,
    /// Whether the bytes are the host's Sloth replica (`true`) or a plain cached record.
    pub is_replica: bool,
    /// The requester's deadline, copied from the request (Unix ms on the requester's clock).
    pub deadline_ms: u64,
    /// When the host took the request (Unix ms on its own clock).
    pub received_ms: u64,
    /// When the host had the bytes ready and signed (Unix ms on its own clock).
    pub served_ms: u64,
}

impl FetchHeader {
    /// Signs the header as `host`.
    pub fn sign(self, host: &subspace_crypto::Keypair) -> Result<SignedFetchHeader> {
        let signature = host.sign(FETCH_REPLY, &codec::encode(&self)?);
        Ok(SignedFetchHeader {
            header: self,
            signature,
        })
    }

    /// The header for `served` bytes whose plaintext has piece root `record_root`, answered
    /// at once (deadline and timestamps zero; see [`FetchHeader::timed`]).
    pub fn new(
        host: PublicKey,
        key: RecordKey,
        record_root: Hash256,
        served: &[u8],
        is_replica: bool,
    ) -> FetchHeader {
        FetchHeader {
            host,
            key,
            record_root,
            served_root: crate::pieces::body_root(served),
            served_len: served.len() as u64,
            is_replica,
            deadline_ms: 0,
            received_ms: 0,
            served_ms: 0,
        }
    }

    /// Sets the requester's deadline and the host's own receive and serve times.
    pub fn timed(mut self, deadline_ms: u64, received_ms: u64, served_ms: u64) -> FetchHeader {
        self.deadline_ms = deadline_ms;
        self.received_ms = received_ms;
        self.served_ms = served_ms;
        self
    }

    /// Whether the host admits it took the request with at least [`MIN_FETCH_BUDGET_MS`] to
    /// spare and answered after the deadline.
    pub fn admits_lateness(&self) -> bool {
        self.received_ms.saturating_add(MIN_FETCH_BUDGET_MS) <= self.deadline_ms
            && self.served_ms > self.deadline_ms
    }
}

/// A [`FetchHeader`] with the host's signature under [`FETCH_REPLY`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedFetchHeader {
    /// What the host claims.
    pub header: FetchHeader,
    /// Its signature.
    pub signature: Signature,
}

impl SignedFetchHeader {
    /// Checks the host's signature.
    pub fn verify(&self) -> Result<()> {
        self.header
            .host
            .verify(FETCH_REPLY, &codec::encode(&self.header)?, &self.signature)
            .map_err(NodeError::from)
    }
}

/// The node's own requests and answers (the put, get and heal workflows).
// Messages live only between decode and dispatch; boxing would add an allocation per message.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NodeMessage {
    /// Client → coordinator: store this encoded record with R replicas.
    Put {
        /// Request id, echoed by the answers.
        req: u64,
        /// The encoded record.
        record: Vec<u8>,
    },
    /// Coordinator → client: stored optimistically; replication follows.
    PutAccepted {
        /// The request.
        req: u64,
    },
    /// Coordinator → client: the final acknowledgement, with every holder's receipt.
    PutDone {
        /// The request.
        req: u64,
        /// Encoded receipts, one per holder.
        receipts: Vec<Vec<u8>>,
    },
    /// Coordinator → client: the put failed at `step`; nothing of it stays stored.
    PutFailed {
        /// The request.
        req: u64,
        /// The failing step.
        step: PutStep,
        /// Why, for logs.
        reason: String,
    },
    /// Coordinator (or healer) → host: encode and store your own replica of this record.
    Replicate {
        /// Request id.
        req: u64,
        /// The encoded record.
        record: Vec<u8>,
    },
    /// Host → coordinator: stored; the receipt for its own replica.
    Replicated {
        /// The request.
        req: u64,
        /// The encoded receipt.
        receipt: Vec<u8>,
    },
    /// Host → coordinator: refused (invalid record or contract, store full); nothing stored.
    ReplicateRefused {
        /// The request.
        req: u64,
        /// Which check refused.
        step: PutStep,
    },
    /// Coordinator → holders: the complete holder set of a record, for self-healing.
    Holders {
        /// The record.
        key: RecordKey,
        /// Encoded receipts of every current holder.
        receipts: Vec<Vec<u8>>,
    },
    /// Client → holder: send your copy of `key` before `deadline_ms`.
    Fetch {
        /// Request id.
        req: u64,
        /// The record.
        key: RecordKey,
        /// Unix ms (requester's clock) after which the answer is late; the host copies it
        /// into its signed header, and drops a request that leaves it less than
        /// [`MIN_FETCH_BUDGET_MS`] by its own clock.
        deadline_ms: u64,
    },
    /// Holder → client: the copy, with the host's signed claim about it.
    FetchReply {
        /// The request.
        req: u64,
        /// The signed claim.
        header: SignedFetchHeader,
        /// The replica (or cached record) bytes.
        bytes: Vec<u8>,
        /// The leaves under `header.record_root`, so a client can point at a disputed piece.
        record_leaves: Vec<Hash256>,
    },
    /// Holder → client: not held here.
    FetchMissing {
        /// The request.
        req: u64,
    },
}

impl NodeMessage {
    fn check_bounds(&self) -> Result<()> {
        let bad = |what: &str| {
            Err(NodeError::Codec(subspace_crypto::CryptoError::Decode(
                what.into(),
            )))
        };
        match self {
            NodeMessage::PutFailed { reason, .. } if reason.len() > MAX_REASON_LEN => {
                bad("reason too long")
            }
            NodeMessage::PutDone { receipts, .. } | NodeMessage::Holders { receipts, .. }
                if receipts.len() > MAX_RECEIPTS =>
            {
                bad("too many receipts")
            }
            NodeMessage::FetchReply { record_leaves, .. }
                if record_leaves.len() > MAX_REPLY_LEAVES =>
            {
                bad("too many piece hashes")
            }
            _ => Ok(()),
        }
    }
}

// Messages live only between decode and dispatch; boxing would add an allocation per message.
#[allow(clippy::large_enum_variant)]
#[derive(Serialize, Deserialize)]
enum Envelope {
    Dht(Vec<u8>),
    Gossip(Vec<u8>),
    Node(NodeMessage),
    Chain(ChainMessage),
}

/// Every message one node sends another.
// Messages live only between decode and dispatch; boxing would add an allocation per message.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// A Kademlia message for the DHT layer.
    Dht(subspace_dht::Message),
    /// A SWIM/Scuttlebutt message for the gossip layer.
    Gossip(subspace_gossip::Message),
    /// A node workflow message.
    Node(NodeMessage),
    /// A ledger message: blocks, transactions, catch-up.
    Chain(ChainMessage),
}

impl Message {
    /// Encodes the message for the transport.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let env = match self {
            Message::Dht(m) => Envelope::Dht(m.encode().map_err(|e| layer_err(&e))?),
            Message::Gossip(m) => Envelope::Gossip(m.encode().map_err(|e| layer_err(&e))?),
            Message::Node(m) => Envelope::Node(m.clone()),
            Message::Chain(m) => Envelope::Chain(m.clone()),
        };
        Ok(codec::encode(&env)?)
    }

    /// Decodes untrusted bytes: bounded to [`MAX_FRAME_LEN`], each layer's part by its own
    /// decoder; never panics.
    pub fn decode(bytes: &[u8]) -> Result<Message> {
        let env: Envelope = codec::decode_bounded::<Envelope, MAX_FRAME_LEN>(bytes)?;
        Ok(match env {
            Envelope::Dht(b) => {
                Message::Dht(subspace_dht::Message::decode(&b).map_err(|e| layer_err(&e))?)
            }
            Envelope::Gossip(b) => {
                Message::Gossip(subspace_gossip::Message::decode(&b).map_err(|e| layer_err(&e))?)
            }
            Envelope::Node(m) => {
                m.check_bounds()?;
                Message::Node(m)
            }
            Envelope::Chain(m) => {
                m.check_bounds().map_err(|e| layer_err(&e))?;
                Message::Chain(m)
            }
        })
    }
}

fn layer_err(e: &dyn std::fmt::Display) -> NodeError {
    NodeError::Codec(subspace_crypto::CryptoError::Decode(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use subspace_crypto::{Keypair, hex};

    #[test]
    fn golden_fetch_request() {
        let m = Message::Node(NodeMessage::Fetch {
            req: 7,
            key: RecordKey::from_bytes([0xAA; 32]),
            deadline_ms: 0x0102,
        });
        let bytes = m.encode().unwrap();
        // Envelope tag 2 (Node), NodeMessage tag 8 (Fetch), req, key, deadline.
        assert_eq!(
            hex::encode(&bytes),
            format!(
                "0000000200000008{}{}{}",
                "0000000000000007",
                "aa".repeat(32),
                "0000000000000102"
            )
        );
        assert_eq!(Message::decode(&bytes).unwrap(), m);
    }

    #[test]
    fn layer_messages_round_trip_through_the_envelope() {
        let m = Message::Gossip(subspace_gossip::Message {
            body: subspace_gossip::Body::News,
            piggyback: vec![],
        });
        assert_eq!(Message::decode(&m.encode().unwrap()).unwrap(), m);
    }

    #[test]
    fn fetch_headers_verify_only_unaltered() {
        let kp = Keypair::from_seed(&[3; 32]);
        let h = FetchHeader::new(
            kp.public(),
            RecordKey::from_bytes([1; 32]),
            Hash256([2; 32]),
            b"abc",
            true,
        );
        let mut s = h.clone().sign(&kp).unwrap();
        s.verify().unwrap();
        s.header.is_replica = false;
        assert!(s.verify().is_err());
        let mut s = h.clone().timed(1000, 500, 999).sign(&kp).unwrap();
        assert!(!s.header.admits_lateness());
        s.header.served_ms = 1001;
        assert!(s.header.admits_lateness() && s.verify().is_err());
        // A deadline that left the host less than the minimum budget proves nothing.
        assert!(!h.timed(1000, 501, 5000).admits_lateness());
    }

    #[test]
    fn oversized_fields_are_refused() {
        let m = Message::Node(NodeMessage::PutFailed {
            req: 1,
            step: PutStep::Contract,
            reason: "x".repeat(MAX_REASON_LEN + 1),
        });
        assert!(Message::decode(&m.encode().unwrap()).is_err());
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = Message::decode(&bytes);
        }

        #[test]
        fn mutated_valid_messages_never_panic(idx in 0usize..200, val in any::<u8>(), cut in 0usize..200) {
            let m = Message::Node(NodeMessage::PutDone { req: 9, receipts: vec![vec![1, 2, 3]; 3] });
            let mut b = m.encode().unwrap();
            let i = idx % b.len();
            b[i] = val;
            b.truncate(b.len().saturating_sub(cut % 8));
            let _ = Message::decode(&b);
        }
    }
}
