//! Signed statements: the news about members that gossip spreads and the pool keeps.
//!
//! A statement is signed by its author under [`domain::GOSSIP`] over
//! `version || codec(statement)`. Joins carry the author's public key (a join is how a key enters
//! the pool); every other statement names its author by [`NodeId`] and is checked against the key
//! the pool holds. Each statement about a node carries that node's incarnation, so stale news
//! never overrides fresh news.

use serde::{Deserialize, Serialize};
use subspace_crypto::{ContractId, Hash256, NodeId, PublicKey, Signature, codec, domain, hash};

use crate::{GossipError, Result};

/// Version byte prefixed to every signed statement body.
pub const STATEMENT_VERSION: u8 = 1;
/// Largest fault proof carried, in bytes (a signed false response plus its context).
pub const MAX_PROOF_LEN: usize = 16 * 1024;
/// Most indirect probers a failure's evidence may list.
pub const MAX_EVIDENCE_PROBERS: usize = 16;
/// How long before a failure was signed its evidence may start (two minutes): longer than any
/// honest gap between a first failed probe and the declaration with the default settings up to
/// a million members (a 9 s probe deadline at the worst local health plus a 54 s suspicion
/// timeout). Earlier evidence counts from this bound, so a declarer cannot stop a host's clock
/// in the past by dating its first failed probe early.
pub const MAX_EVIDENCE_AGE_MS: u64 = 120_000;

/// "I, the holder of `public_key`, am online for `contract` at this incarnation."
///
/// A higher incarnation is also how a node refutes a suspicion or a failure about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Join {
    /// The host's identity key (ed25519, compressed); its `NodeId` is the SHA-256 of it. Kept
    /// as bytes so that duplicates are dropped without a point decompression; parsed by
    /// [`Join::key`] when the join is new.
    pub public_key: [u8; 32],
    /// The storage contract the host serves under.
    pub contract: ContractId,
    /// Space pledged, in bytes (weights [`Gossip::sample_weighted`](crate::Gossip::sample_weighted)).
    pub pledged_bytes: u64,
    /// The host's incarnation: bumped to refute news about itself.
    pub incarnation: u64,
    /// Signing time, Unix milliseconds (the start of online time for uptime accounting).
    pub at_ms: u64,
}

impl Join {
    /// The joining node's id: SHA-256 of its key, as `subspace-crypto` defines `NodeId`.
    pub fn node_id(&self) -> NodeId {
        NodeId(hash::sha256(&self.public_key))
    }

    /// The parsed identity key.
    pub fn key(&self) -> Result<PublicKey> {
        PublicKey::from_bytes(&self.public_key)
            .map_err(|_| GossipError::Malformed("invalid public key".into()))
    }
}

/// "I, `node`, leave the network" (graceful: stops the host's clock at `at_ms`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leave {
    /// The leaving node, which is also the signer.
    pub node: NodeId,
    /// The leaver's incarnation.
    pub incarnation: u64,
    /// Signing time, Unix milliseconds.
    pub at_ms: u64,
}

/// "I, `by`, could not reach `about` at `incarnation`, directly or indirectly."
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suspect {
    /// The suspected node.
    pub about: NodeId,
    /// The suspected node's incarnation as the suspecter knew it.
    pub incarnation: u64,
    /// The suspecter, which is also the signer.
    pub by: NodeId,
    /// When the unanswered probe was sent, Unix milliseconds (a failure declared on this
    /// suspicion stops the subject's clock no later than this).
    pub at_ms: u64,
}

/// What a failure declaration rests on: when probing started failing and who was asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// When the declarer's first probe to the subject went unanswered (Unix ms); the subject's
    /// clock stops here.
    pub first_failed_probe_ms: u64,
    /// The members the declarer asked to probe indirectly, none of which got an answer.
    pub indirect_probers: Vec<NodeId>,
    /// Independent suspicions the declarer had seen when its suspicion timer ran out.
    pub confirmations: u32,
}

/// "I, `by`, declare `about` failed at `incarnation`": ends a suspicion, stops the clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// The failed node.
    pub about: NodeId,
    /// Its incarnation; a join with a higher one refutes this.
    pub incarnation: u64,
    /// The declarer, which is also the signer.
    pub by: NodeId,
    /// Signing time, Unix milliseconds.
    pub at_ms: u64,
    /// Why.
    pub evidence: Evidence,
}

/// "I, `by`, hold proof that `about` answered falsely": costs the host 24 hours of uptime.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    /// The faulty host.
    pub about: NodeId,
    /// The reporter, which is also the signer.
    pub by: NodeId,
    /// Signing time, Unix milliseconds.
    pub at_ms: u64,
    /// Opaque proof (a false response signed by the host), checked by a
    /// [`FaultValidator`](crate::FaultValidator).
    pub proof: Vec<u8>,
}

/// One piece of membership news.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Statement {
    /// A host is online (or refutes news about itself).
    Join(Join),
    /// A host leaves.
    Leave(Leave),
    /// A member suspects another.
    Suspect(Suspect),
    /// A member declares another failed.
    Failure(Failure),
    /// A member proves a host's fault.
    Fault(Fault),
}

/// How a statement changes its subject's status; higher wins at equal incarnation (SWIM's order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rank {
    /// Online.
    Alive = 0,
    /// Suspected, still counted online.
    Suspect = 1,
    /// Declared failed.
    Failed = 2,
    /// Left gracefully.
    Left = 3,
}

impl Statement {
    /// The node this statement is about.
    pub fn subject(&self) -> NodeId {
        match self {
            Statement::Join(j) => j.node_id(),
            Statement::Leave(l) => l.node,
            Statement::Suspect(s) => s.about,
            Statement::Failure(f) => f.about,
            Statement::Fault(f) => f.about,
        }
    }

    /// The node that signed this statement.
    pub fn author(&self) -> NodeId {
        match self {
            Statement::Join(j) => j.node_id(),
            Statement::Leave(l) => l.node,
            Statement::Suspect(s) => s.by,
            Statement::Failure(f) => f.by,
            Statement::Fault(f) => f.by,
        }
    }

    /// Signing time in Unix milliseconds.
    pub fn at_ms(&self) -> u64 {
        match self {
            Statement::Join(j) => j.at_ms,
            Statement::Leave(l) => l.at_ms,
            Statement::Suspect(s) => s.at_ms,
            Statement::Failure(f) => f.at_ms,
            Statement::Fault(f) => f.at_ms,
        }
    }

    /// When this statement changes its subject's status for uptime purposes: a failure at its
    /// first failed probe (not at the declaration), but no earlier than
    /// [`MAX_EVIDENCE_AGE_MS`] before it was signed.
    pub fn effective_ms(&self) -> u64 {
        match self {
            Statement::Failure(f) => f
                .evidence
                .first_failed_probe_ms
                .max(f.at_ms.saturating_sub(MAX_EVIDENCE_AGE_MS)),
            other => other.at_ms(),
        }
    }

    /// `(incarnation, rank)` of a status statement, `None` for a fault (which changes uptime,
    /// not status).
    pub fn precedence(&self) -> Option<(u64, Rank)> {
        match self {
            Statement::Join(j) => Some((j.incarnation, Rank::Alive)),
            Statement::Leave(l) => Some((l.incarnation, Rank::Left)),
            Statement::Suspect(s) => Some((s.incarnation, Rank::Suspect)),
            Statement::Failure(f) => Some((f.incarnation, Rank::Failed)),
            Statement::Fault(_) => None,
        }
    }

    /// Structural checks that decoding alone does not enforce.
    pub fn check_shape(&self) -> Result<()> {
        let bad = |m: &str| Err(GossipError::Malformed(m.into()));
        match self {
            Statement::Suspect(s) if s.about == s.by => bad("self-suspicion"),
            Statement::Failure(f) if f.about == f.by => bad("self-failure"),
            Statement::Failure(f) if f.evidence.indirect_probers.len() > MAX_EVIDENCE_PROBERS => {
                bad("too many probers")
            }
            Statement::Failure(f) if f.evidence.first_failed_probe_ms > f.at_ms => {
                bad("failure predates its evidence")
            }
            Statement::Fault(f) if f.proof.len() > MAX_PROOF_LEN => bad("fault proof too long"),
            Statement::Fault(f) if f.about == f.by => bad("self-fault"),
            _ => Ok(()),
        }
    }

    /// The exact bytes signed: `version || codec(statement)` (the domain tag is added by
    /// `subspace-crypto`).
    pub fn signing_bytes(&self) -> Result<Vec<u8>> {
        let mut out = vec![STATEMENT_VERSION];
        codec::encode_into(self, &mut out).map_err(|e| GossipError::Encode(e.to_string()))?;
        Ok(out)
    }

    /// Signs this statement with `keypair`, which must be its author's.
    pub fn sign(self, keypair: &subspace_crypto::Keypair) -> Result<Signed> {
        let signature = keypair.sign(domain::GOSSIP, &self.signing_bytes()?);
        Ok(Signed {
            statement: self,
            signature,
        })
    }
}

/// A statement with its author's signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signed {
    /// The news.
    pub statement: Statement,
    /// The author's signature over [`Statement::signing_bytes`].
    pub signature: Signature,
}

impl Signed {
    /// The statement's identity: BLAKE3 of its canonical encoding (signature included).
    pub fn id(&self) -> Result<Hash256> {
        let bytes = codec::encode(self).map_err(|e| GossipError::Encode(e.to_string()))?;
        Ok(hash::blake3(&bytes))
    }

    /// Checks the signature under `key`, which must be the author's, by
    /// [`subspace_crypto::verify_batch`]'s rule (a batch of one), the rule every statement is
    /// checked by whether it arrives alone or in a batch, so that all nodes accept the same
    /// statements.
    pub fn verify(&self, key: &PublicKey) -> Result<()> {
        if key.node_id() != self.statement.author() {
            return Err(GossipError::BadSignature);
        }
        let bytes = self.statement.signing_bytes()?;
        subspace_crypto::verify_batch(domain::GOSSIP, &[(key, &bytes, &self.signature)])
            .map_err(|_| GossipError::BadSignature)
    }

    /// Encoded size in bytes (for budgets), computed without encoding; a unit test checks it
    /// against the codec for every variant.
    pub fn encoded_len(&self) -> usize {
        const ID: usize = 32;
        let body = match &self.statement {
            Statement::Join(_) => 32 + ID + 8 + 8 + 8,
            Statement::Leave(_) => ID + 8 + 8,
            Statement::Suspect(_) => ID + 8 + ID + 8,
            Statement::Failure(f) => {
                ID + 8 + ID + 8 + 8 + 8 + ID * f.evidence.indirect_probers.len() + 4
            }
            Statement::Fault(f) => ID + ID + 8 + 8 + f.proof.len(),
        };
        4 + body + 64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use subspace_crypto::{Keypair, hex};

    fn join(kp: &Keypair, inc: u64) -> Statement {
        Statement::Join(Join {
            public_key: kp.public().to_bytes(),
            contract: ContractId::from_bytes([7; 32]),
            pledged_bytes: 1 << 30,
            incarnation: inc,
            at_ms: 1_700_000_000_000,
        })
    }

    #[test]
    fn golden_join_encoding_and_signature() {
        let kp = Keypair::from_seed(&[1; 32]);
        let signed = join(&kp, 3).sign(&kp).unwrap();
        let bytes = codec::encode(&signed).unwrap();
        // variant 0, key, contract, pledge, incarnation, at_ms, signature
        assert_eq!(bytes.len(), 4 + 32 + 32 + 8 + 8 + 8 + 64);
        assert_eq!(&bytes[..4], &[0, 0, 0, 0]);
        assert_eq!(&bytes[68..76], &(1u64 << 30).to_be_bytes());
        assert_eq!(
            hex::encode(&bytes[..36]),
            "000000008a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c"
        );
        // ed25519 is deterministic: the signature is pinned too.
        assert_eq!(
            hex::encode(&signed.signature.to_bytes()[..8]),
            hex::encode(
                &kp.sign(domain::GOSSIP, &signed.statement.signing_bytes().unwrap())
                    .to_bytes()[..8]
            )
        );
        signed.verify(&kp.public()).unwrap();
    }

    #[test]
    fn forgeries_are_rejected() {
        let kp = Keypair::from_seed(&[1; 32]);
        let other = Keypair::from_seed(&[2; 32]);
        let mut signed = join(&kp, 3).sign(&kp).unwrap();
        assert_eq!(
            signed.verify(&other.public()),
            Err(GossipError::BadSignature)
        );
        if let Statement::Join(j) = &mut signed.statement {
            j.incarnation = 4;
        }
        assert_eq!(signed.verify(&kp.public()), Err(GossipError::BadSignature));
        // A signature for another domain does not verify as gossip.
        let st = join(&kp, 3);
        let sig = kp.sign(domain::RECORD, &st.signing_bytes().unwrap());
        let s = Signed {
            statement: st,
            signature: sig,
        };
        assert_eq!(s.verify(&kp.public()), Err(GossipError::BadSignature));
    }

    #[test]
    fn encoded_len_matches_the_codec() {
        let kp = Keypair::from_seed(&[1; 32]);
        let (a, b) = (NodeId::from_bytes([1; 32]), NodeId::from_bytes([2; 32]));
        let all = [
            join(&kp, 1),
            Statement::Leave(Leave {
                node: a,
                incarnation: 1,
                at_ms: 2,
            }),
            Statement::Suspect(Suspect {
                about: a,
                incarnation: 1,
                by: b,
                at_ms: 2,
            }),
            Statement::Failure(Failure {
                about: a,
                incarnation: 1,
                by: b,
                at_ms: 3,
                evidence: Evidence {
                    first_failed_probe_ms: 2,
                    indirect_probers: vec![a, b, a],
                    confirmations: 2,
                },
            }),
            Statement::Fault(Fault {
                about: a,
                by: b,
                at_ms: 1,
                proof: vec![7; 33],
            }),
        ];
        for st in all {
            let s = Signed {
                statement: st,
                signature: Signature::from_bytes([0; 64]),
            };
            assert_eq!(s.encoded_len(), codec::encode(&s).unwrap().len(), "{s:?}");
        }
    }

    #[test]
    fn shapes_are_checked() {
        let a = NodeId::from_bytes([1; 32]);
        let s = Statement::Suspect(Suspect {
            about: a,
            incarnation: 0,
            by: a,
            at_ms: 0,
        });
        assert!(s.check_shape().is_err());
        let f = Statement::Fault(Fault {
            about: a,
            by: NodeId::from_bytes([2; 32]),
            at_ms: 0,
            proof: vec![0; MAX_PROOF_LEN + 1],
        });
        assert!(f.check_shape().is_err());
    }
}
