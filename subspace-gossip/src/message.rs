//! The wire messages between gossip nodes, and their one decoder.

use serde::{Deserialize, Serialize};
use subspace_crypto::{NodeId, codec};

use crate::pool::Summary;
use crate::statement::Signed;
use crate::{GossipError, Result};

/// Largest encoded message accepted by [`Message::decode`] (1 MiB).
pub const MAX_MESSAGE_LEN: usize = 1 << 20;
/// Version byte of the bytes a probe MAC covers ([`Hop::mac_bytes`]).
pub const PROBE_VERSION: u8 = 2;

/// A probe: "`from` asks whether `target` is alive, sequence `seq`".
///
/// Probes carry no signature: the receiver believes `from` only when it is the sender the
/// transport authenticated (or, over a transport that authenticates nobody, when the hop's
/// MAC checks). Relayed in an [`Body::IndirectPing`], `from` is the relay's word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Probe {
    /// The prober.
    pub from: NodeId,
    /// The probed member.
    pub target: NodeId,
    /// The prober's sequence number; an ack must echo it.
    pub seq: u64,
}

/// An ack: "`from` (the probed member) answers `to`'s probe `seq`". Believed as a [`Probe`]
/// is: from the authenticated sender, or relayed by a member the prober asked to relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// The probed member.
    pub from: NodeId,
    /// The original prober.
    pub to: NodeId,
    /// The echoed sequence number.
    pub seq: u64,
}

/// Bytes of a probe MAC.
pub const MAC_LEN: usize = subspace_crypto::pairwise::TAG_LEN;

/// One hop of a probe exchange: the probe or ack, and, when the nodes authenticate probes by
/// MAC ([`ProbeAuth::Mac`](crate::ProbeAuth::Mac)), a tag binding it to this hop's sender
/// and receiver under their pairwise key. `None` over an authenticating transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hop<T> {
    /// The probe or ack.
    pub body: T,
    /// The hop's MAC, if the nodes use them.
    pub mac: Option<[u8; MAC_LEN]>,
}

/// Distinguishes probe and ack MAC bytes (so one can never pass for the other).
pub(crate) trait ProbeKind: Serialize {
    const KIND: u8;
}

impl ProbeKind for Probe {
    const KIND: u8 = 0x50;
}

impl ProbeKind for Ack {
    const KIND: u8 = 0x41;
}

#[allow(private_bounds)]
impl<T: ProbeKind> Hop<T> {
    /// What a hop's MAC covers: `PROBE_VERSION || kind || sender || receiver || codec(body)`.
    pub fn mac_bytes(body: &T, sender: &NodeId, receiver: &NodeId) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(2 + 64 + 80);
        out.push(PROBE_VERSION);
        out.push(T::KIND);
        out.extend_from_slice(sender.as_bytes());
        out.extend_from_slice(receiver.as_bytes());
        codec::encode_into(body, &mut out).map_err(|e| GossipError::Encode(e.to_string()))?;
        Ok(out)
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
    Ping(Hop<Probe>),
    /// Asks the receiver to probe `body.target` on the sender's behalf and relay the ack.
    PingReq(Hop<Probe>),
    /// A probe relayed by an intermediary; answer to the sender, which relays the ack.
    IndirectPing(Hop<Probe>),
    /// The answer to a probe.
    Ack(Hop<Ack>),
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
        let probe = Probe {
            from: NodeId::from_bytes([1; 32]),
            target: NodeId::from_bytes([2; 32]),
            seq: 9,
        };
        let m = Message {
            body: Body::Ping(Hop {
                body: probe,
                mac: None,
            }),
            piggyback: vec![],
        };
        let bytes = m.encode().unwrap();
        // variant, from, target, seq, no MAC, no piggy-back.
        assert_eq!(bytes.len(), 4 + 32 + 32 + 8 + 1 + 8);
        assert_eq!(hex::encode(&bytes[..4]), "00000001");
        assert_eq!(&bytes[68..76], &9u64.to_be_bytes());
        assert_eq!(&bytes[76..], &[0u8; 9]);
        assert_eq!(Message::decode(&bytes).unwrap(), m);
    }

    #[test]
    fn golden_probe_mac_bytes() {
        let probe = Probe {
            from: NodeId::from_bytes([1; 32]),
            target: NodeId::from_bytes([2; 32]),
            seq: 9,
        };
        let ack = Ack {
            from: NodeId::from_bytes([2; 32]),
            to: NodeId::from_bytes([1; 32]),
            seq: 9,
        };
        let (s, r) = (NodeId::from_bytes([3; 32]), NodeId::from_bytes([4; 32]));
        let p = Hop::mac_bytes(&probe, &s, &r).unwrap();
        assert_eq!(&p[..2], &[PROBE_VERSION, 0x50]);
        assert_eq!(&p[2..34], s.as_bytes());
        assert_eq!(&p[34..66], r.as_bytes());
        assert_eq!(p.len(), 66 + 72);
        // A probe's MAC bytes can never be an ack's, nor one hop's another's.
        let a = Hop::mac_bytes(&ack, &s, &r).unwrap();
        assert_eq!(a[1], 0x41);
        assert_ne!(Hop::mac_bytes(&probe, &r, &s).unwrap(), p);
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
            let probe = Probe { from: NodeId::from_bytes([1; 32]), target: NodeId::from_bytes([2; 32]), seq: 9 };
            let m = Message { body: Body::PingReq(Hop { body: probe, mac: Some([7; MAC_LEN]) }), piggyback: vec![] };
            let mut bytes = m.encode().unwrap();
            let i = flip.0 % bytes.len();
            bytes[i] ^= flip.1;
            let _ = Message::decode(&bytes);
            bytes.truncate(cut % (bytes.len() + 1));
            let _ = Message::decode(&bytes);
        }
    }
}
