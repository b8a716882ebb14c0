//! The wire messages between gossip nodes, and their one decoder.

use serde::{Deserialize, Serialize};
use subspace_crypto::{Keypair, NodeId, PublicKey, Signature, codec, domain};

use crate::pool::Summary;
use crate::statement::Signed;
use crate::{GossipError, Result};

/// Largest encoded message accepted by [`Message::decode`] (1 MiB).
pub const MAX_MESSAGE_LEN: usize = 1 << 20;
/// Version byte prefixed to signed probe and ack bodies.
pub const PROBE_VERSION: u8 = 1;

/// A probe: "`from` asks whether `target` is alive, sequence `seq`".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Probe {
    /// The prober (and signer).
    pub from: NodeId,
    /// The probed member.
    pub target: NodeId,
    /// The prober's sequence number; an ack must echo it.
    pub seq: u64,
}

/// An ack: "`from` (the probed member, at `incarnation`) answers `to`'s probe `seq`".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// The probed member (and signer).
    pub from: NodeId,
    /// The original prober.
    pub to: NodeId,
    /// The echoed sequence number.
    pub seq: u64,
    /// The answering member's incarnation.
    pub incarnation: u64,
}

/// A signed probe or ack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedProbe<T> {
    /// The body.
    pub body: T,
    /// The signer's signature over `PROBE_VERSION || kind || codec(body)` in the gossip domain.
    pub signature: Signature,
}

/// Distinguishes probe and ack signing bytes (so one can never pass for the other).
pub(crate) trait ProbeKind: Serialize {
    const KIND: u8;
    fn signer(&self) -> NodeId;
}

impl ProbeKind for Probe {
    const KIND: u8 = 0x50;
    fn signer(&self) -> NodeId {
        self.from
    }
}

impl ProbeKind for Ack {
    const KIND: u8 = 0x41;
    fn signer(&self) -> NodeId {
        self.from
    }
}

#[allow(private_bounds)]
impl<T: ProbeKind> SignedProbe<T> {
    fn bytes(body: &T) -> Result<Vec<u8>> {
        let mut out = vec![PROBE_VERSION, T::KIND];
        codec::encode_into(body, &mut out).map_err(|e| GossipError::Encode(e.to_string()))?;
        Ok(out)
    }

    /// Signs `body` with the signer's `keypair`.
    pub fn sign(body: T, keypair: &Keypair) -> Result<SignedProbe<T>> {
        let signature = keypair.sign(domain::GOSSIP, &Self::bytes(&body)?);
        Ok(SignedProbe { body, signature })
    }

    /// Checks the signature under `key`, which must be the signer's.
    pub fn verify(&self, key: &PublicKey) -> Result<()> {
        if key.node_id() != self.body.signer() {
            return Err(GossipError::BadSignature);
        }
        key.verify(domain::GOSSIP, &Self::bytes(&self.body)?, &self.signature)
            .map_err(|_| GossipError::BadSignature)
    }
}

/// One digest line: a member and the summary of what the sender holds about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestEntry {
    /// The member.
    pub node: NodeId,
    /// The sender's summary of its entry.
    pub summary: Summary,
}

/// A Scuttlebutt digest covering every member the sender holds with an id in `[from, to]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Digest {
    /// First id covered.
    pub from: NodeId,
    /// Last id covered (inclusive).
    pub to: NodeId,
    /// The sender's entries in the range, in id order.
    pub entries: Vec<DigestEntry>,
}

/// Most prefix bits of a [`Fingerprints`] message: at most 4,096 buckets (32 KiB).
pub const MAX_FINGERPRINT_BITS: u8 = 12;

/// Anti-entropy's cheap first leg: the id space cut into `2^bits` buckets by id prefix, and for
/// each the XOR of a 64-bit hash of every member's [`Summary`] the sender holds in it.
///
/// Two pools that agree produce the same buckets, so in steady state an exchange costs eight
/// bytes per bucket instead of a digest's 44 per member; the receiver answers a bucket that
/// differs with a [`Digest`] of its range, and the usual Scuttlebutt legs follow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprints {
    /// Prefix bits (at most [`MAX_FINGERPRINT_BITS`]).
    pub bits: u8,
    /// One fingerprint per bucket, in id order (exactly `2^bits` of them).
    pub buckets: Vec<u64>,
}

impl Fingerprints {
    /// Whether the shape is one a sender could have produced.
    pub fn is_well_formed(&self) -> bool {
        self.bits <= MAX_FINGERPRINT_BITS && self.buckets.len() == 1usize << self.bits
    }
}

/// The body of a gossip message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Body {
    /// Nothing but piggy-backed news (a join announcement to seeds, a leave).
    News,
    /// Direct probe; answer with [`Body::Ack`].
    Ping(SignedProbe<Probe>),
    /// Asks the receiver to probe `body.target` on the signer's behalf and relay the ack.
    PingReq(SignedProbe<Probe>),
    /// A probe relayed by an intermediary; answer to the sender, which relays the ack.
    IndirectPing(SignedProbe<Probe>),
    /// The answer to a probe.
    Ack(SignedProbe<Ack>),
    /// Anti-entropy, first leg: the sender's digest of a range of the id space.
    Digest(Digest),
    /// Anti-entropy, second and third legs: news the receiver lacks (oldest first), and the
    /// members whose entries the sender wants back.
    Delta {
        /// Whole entries the receiver lacks or holds differently.
        statements: Vec<Signed>,
        /// Members whose entries the sender wants (empty on the third leg).
        want: Vec<NodeId>,
    },
    /// Anti-entropy, first leg in steady state: bucket fingerprints of the sender's pool;
    /// answered with a [`Body::Digest`] of each range that differs.
    Fingerprints(Fingerprints),
}

/// A gossip message: a body plus piggy-backed news.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// What the message is for.
    pub body: Body,
    /// Signed statements carried along (SWIM's infection-style dissemination).
    pub piggyback: Vec<Signed>,
}

impl Message {
    /// Encodes the message in the canonical format.
    pub fn encode(&self) -> Result<Vec<u8>> {
        codec::encode(self).map_err(|e| GossipError::Encode(e.to_string()))
    }

    /// Decodes a message from untrusted bytes: bounded to [`MAX_MESSAGE_LEN`], never panics,
    /// rejects trailing bytes and ill-formed statements.
    pub fn decode(bytes: &[u8]) -> Result<Message> {
        let m: Message = codec::decode_bounded::<Message, MAX_MESSAGE_LEN>(bytes)
            .map_err(|e| GossipError::Malformed(e.to_string()))?;
        let delta = match &m.body {
            Body::Delta { statements, .. } => statements.as_slice(),
            _ => &[],
        };
        for s in m.piggyback.iter().chain(delta) {
            s.statement.check_shape()?;
        }
        if let Body::Fingerprints(f) = &m.body
            && !f.is_well_formed()
        {
            return Err(GossipError::Malformed("fingerprint buckets".into()));
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use subspace_crypto::hex;

    #[test]
    fn golden_ping() {
        let kp = Keypair::from_seed(&[1; 32]);
        let probe = Probe {
            from: kp.node_id(),
            target: NodeId::from_bytes([2; 32]),
            seq: 9,
        };
        let m = Message {
            body: Body::Ping(SignedProbe::sign(probe, &kp).unwrap()),
            piggyback: vec![],
        };
        let bytes = m.encode().unwrap();
        assert_eq!(bytes.len(), 4 + 32 + 32 + 8 + 64 + 8);
        assert_eq!(hex::encode(&bytes[..4]), "00000001");
        assert_eq!(&bytes[68..76], &9u64.to_be_bytes());
        assert_eq!(&bytes[140..], &[0u8; 8]);
        assert_eq!(Message::decode(&bytes).unwrap(), m);
        if let Body::Ping(p) = &m.body {
            p.verify(&kp.public()).unwrap();
        }
    }

    #[test]
    fn a_probe_signature_is_not_an_ack_signature() {
        let kp = Keypair::from_seed(&[1; 32]);
        let me = kp.node_id();
        let p = SignedProbe::sign(
            Probe {
                from: me,
                target: me,
                seq: 1,
            },
            &kp,
        )
        .unwrap();
        let forged = SignedProbe {
            body: Ack {
                from: me,
                to: me,
                seq: 1,
                incarnation: 0,
            },
            signature: p.signature,
        };
        assert_eq!(forged.verify(&kp.public()), Err(GossipError::BadSignature));
    }

    #[test]
    fn oversized_lengths_are_rejected_without_allocating() {
        // Body::News, then a piggyback length claiming 2^60 statements.
        let mut bytes = vec![0, 0, 0, 0];
        bytes.extend_from_slice(&(1u64 << 60).to_be_bytes());
        assert!(matches!(
            Message::decode(&bytes),
            Err(GossipError::Malformed(_))
        ));
    }

    #[test]
    fn fingerprints_must_have_one_bucket_per_prefix() {
        let ok = Message {
            body: Body::Fingerprints(Fingerprints {
                bits: 2,
                buckets: vec![1, 2, 3, 4],
            }),
            piggyback: vec![],
        };
        assert_eq!(Message::decode(&ok.encode().unwrap()).unwrap(), ok);
        for (bits, n) in [(2, 3), (2, 5), (MAX_FINGERPRINT_BITS + 1, 1 << 13)] {
            let bad = Message {
                body: Body::Fingerprints(Fingerprints {
                    bits,
                    buckets: vec![0; n],
                }),
                piggyback: vec![],
            };
            assert!(matches!(
                Message::decode(&bad.encode().unwrap()),
                Err(GossipError::Malformed(_))
            ));
        }
    }

    proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = Message::decode(&bytes);
        }

        #[test]
        fn decode_never_panics_on_mutated_messages(flip in any::<(usize, u8)>(), cut in any::<usize>()) {
            let kp = Keypair::from_seed(&[1; 32]);
            let probe = Probe { from: kp.node_id(), target: NodeId::from_bytes([2; 32]), seq: 9 };
            let m = Message { body: Body::PingReq(SignedProbe::sign(probe, &kp).unwrap()), piggyback: vec![] };
            let mut bytes = m.encode().unwrap();
            let i = flip.0 % bytes.len();
            bytes[i] ^= flip.1;
            let _ = Message::decode(&bytes);
            bytes.truncate(cut % (bytes.len() + 1));
            let _ = Message::decode(&bytes);
        }
    }
}
