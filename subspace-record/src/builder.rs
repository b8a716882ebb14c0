//! Building records: sealed by default, public only when asked for by name.

use std::borrow::Cow;

use rand_core::CryptoRngCore;
use subspace_crypto::{
    Aead, ContentKey, ContractId, Keypair, PublicKey, RecordKey, domain, wrap_key,
};

use crate::acl::{Acl, Role};
use crate::authority::{DELEGATION_SEQ_WINDOW, Delegation, OwnerGrant};
use crate::payload::{Payload, SealedPayload};
use crate::record::{Record, RecordKind, find_delegation, mutable_key, signed_bytes};
use crate::{MAX_DATA_LEN, RecordError, Result};

/// The keypair generated for one mutable record alone; its key names the record
/// (SHA-256 of the public key) and its holder may always write and administer it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordKeypair(Keypair);

impl RecordKeypair {
    /// A fresh record keypair.
    pub fn generate(rng: &mut impl CryptoRngCore) -> RecordKeypair {
        RecordKeypair(Keypair::generate(rng))
    }

    /// A record keypair from a 32-byte seed (for example derived with `subspace_crypto::hd`).
    pub fn from_seed(seed: &[u8; 32]) -> RecordKeypair {
        RecordKeypair(Keypair::from_seed(seed))
    }

    /// The record public key.
    pub fn public(&self) -> PublicKey {
        self.0.public()
    }

    /// The key the record is stored under.
    pub fn key(&self) -> RecordKey {
        mutable_key(&self.0.public())
    }

    /// The keypair, to sign versions with or open the record.
    pub fn keypair(&self) -> &Keypair {
        &self.0
    }
}

/// Builds, seals and signs a record.
///
/// By default the data is sealed with a fresh content key under AES-256-GCM and the key is
/// wrapped for the owner, every identity on the ACL and (for mutable records) the record key.
/// Every version gets a fresh content key, so removing a reader from the ACL re-keys the
/// record: the next version is sealed under a key it never receives.
///
/// A mutable record also needs its owner's [`OwnerGrant`] ([`grant`](Self::grant)). When a
/// version is signed with the record key, the builder issues a [`Delegation`] to every Writer
/// and Admin on the ACL (the owner included) that lacks a current one, good up to
/// `seq +` [`DELEGATION_SEQ_WINDOW`]; a version signed by anyone else keeps the delegations it
/// was given, minus those whose delegate lost its role.
///
/// ```
/// use subspace_crypto::{ContractId, Keypair};
/// use subspace_record::{RecordBuilder, validate};
/// let mut rng = rand_core::OsRng;
/// let alice = Keypair::generate(&mut rng);
/// let contract = ContractId::from_bytes([1; 32]);
/// let rec = RecordBuilder::new(contract, alice.public(), 1_700_000_000)
///     .data(&b"hello"[..])
///     .build(&alice, &mut rng)?;
/// let key = validate(&rec)?;
/// assert_eq!(rec.open(&alice)?, b"hello");
/// # let _ = key;
/// # Ok::<(), subspace_record::RecordError>(())
/// ```
#[derive(Debug)]
pub struct RecordBuilder<'a> {
    contract: ContractId,
    owner: PublicKey,
    timestamp: u64,
    data: Cow<'a, [u8]>,
    aead: Aead,
    public: bool,
    acl: Acl,
    mutable: Option<(PublicKey, u64)>,
    grant: Option<OwnerGrant>,
    delegations: Vec<Delegation>,
    content_key: Option<ContentKey>,
    error: Option<RecordError>,
}

impl<'a> RecordBuilder<'a> {
    /// A new immutable, sealed, empty record owned by `owner` under `contract`, stamped with
    /// `timestamp` (Unix seconds, from the caller).
    pub fn new(contract: ContractId, owner: PublicKey, timestamp: u64) -> RecordBuilder<'a> {
        let mut acl = Acl::new();
        // An empty ACL always has room for one entry.
        let error = acl.set(owner, Role::Admin).err();
        RecordBuilder {
            contract,
            owner,
            timestamp,
            data: Cow::Borrowed(&[]),
            aead: Aead::default(),
            public: false,
            acl,
            mutable: None,
            grant: None,
            delegations: Vec::new(),
            content_key: None,
            error,
        }
    }

    /// The next version of the mutable record `old`: same record key, contract, owner, owner
    /// grant, delegations, ACL, cipher and visibility, `seq + 1`, no data yet.
    pub fn next_version(old: &Record, timestamp: u64) -> Result<RecordBuilder<'a>> {
        let RecordKind::Mutable {
            record_public,
            seq,
            grant,
            delegations,
        } = &old.kind
        else {
            return Err(RecordError::NotMutable);
        };
        let (record_public, seq) = (*record_public, *seq);
        let next = seq
            .checked_add(1)
            .ok_or(RecordError::Builder("seq is exhausted"))?;
        let aead = match old.payload() {
            Payload::Sealed(s) => s.aead(),
            Payload::Plain(_) => Aead::default(),
        };
        Ok(RecordBuilder {
            contract: old.contract,
            owner: old.owner,
            timestamp,
            data: Cow::Borrowed(&[]),
            aead,
            public: old.is_public(),
            acl: old.acl.clone(),
            mutable: Some((record_public, next)),
            grant: Some(*grant),
            delegations: delegations.clone(),
            content_key: None,
            error: None,
        })
    }

    /// The data (at most [`MAX_DATA_LEN`] bytes; borrowed data is sealed without a copy).
    pub fn data(mut self, data: impl Into<Cow<'a, [u8]>>) -> Self {
        self.data = data.into();
        self
    }

    /// Seal with `aead` instead of AES-256-GCM.
    pub fn aead(mut self, aead: Aead) -> Self {
        self.aead = aead;
        self
    }

    /// Store the data in the clear, readable by anyone (ledger blocks, public websites).
    /// A public record's ACL may hold Writers and Admins but no Readers.
    pub fn public(mut self) -> Self {
        self.public = true;
        self
    }

    /// Store the data sealed (the default; undoes [`public`](Self::public) on a next version).
    pub fn sealed(mut self) -> Self {
        self.public = false;
        self
    }

    /// Make a mutable record with record public key `record_public` at version `seq` (it also
    /// needs the owner's [`grant`](Self::grant)).
    pub fn mutable(mut self, record_public: PublicKey, seq: u64) -> Self {
        self.mutable = Some((record_public, seq));
        self
    }

    /// The owner's grant of a mutable record: `OwnerGrant::sign(&owner, &record_public,
    /// &contract)`. Required on every mutable version ([`next_version`](Self::next_version)
    /// copies it).
    pub fn grant(mut self, grant: OwnerGrant) -> Self {
        self.grant = Some(grant);
        self
    }

    /// Carry a delegation the record key issued elsewhere ([`Delegation::issue`]), replacing
    /// any for the same delegate. Its delegate must already hold at least its role on the ACL
    /// ([`share`](Self::share) first). Not needed when the record key signs: the builder then
    /// issues what the ACL calls for.
    pub fn delegation(mut self, delegation: Delegation) -> Self {
        if !self.acl.allows(&delegation.delegate, delegation.role) {
            self.error.get_or_insert(RecordError::Builder(
                "a delegate must hold at least its delegated role on the ACL",
            ));
            return self;
        }
        match self
            .delegations
            .binary_search_by(|d| d.delegate.cmp(&delegation.delegate))
        {
            Ok(i) => self.delegations[i] = delegation,
            Err(i) => self.delegations.insert(i, delegation),
        }
        self
    }

    /// Set the version number of a mutable record.
    pub fn seq(mut self, seq: u64) -> Self {
        if let Some((_, s)) = &mut self.mutable {
            *s = seq;
        } else {
            self.error
                .get_or_insert(RecordError::Builder("seq on an immutable record"));
        }
        self
    }

    /// Give `identity` the role `role` (Read also wraps the content key for it).
    pub fn share(mut self, identity: PublicKey, role: Role) -> Self {
        if identity == self.owner {
            self.error
                .get_or_insert(RecordError::Builder("the owner is always an Admin"));
        } else if let Err(e) = self.acl.set(identity, role) {
            self.error.get_or_insert(e);
        }
        self
    }

    /// Remove `identity` from the ACL, and its delegation with it: the version built next is
    /// sealed under a fresh key it does not receive. (Versions it already fetched stay
    /// readable to it; nothing can take back what was read.)
    ///
    /// A revoked Writer or Admin keeps the delegation earlier versions carried, good up to its
    /// [`max_seq`](Delegation::max_seq): hosts holding this version refuse its versions, but
    /// a client with no copy would believe one up to that seq. To close that window, sign a
    /// version with the record key at a seq above it (`.seq(max_seq + 1)`).
    pub fn revoke(mut self, identity: &PublicKey) -> Self {
        if *identity == self.owner {
            self.error
                .get_or_insert(RecordError::Builder("the owner cannot be revoked"));
        } else {
            self.acl.remove(identity);
        }
        self
    }

    /// Seal under this content key instead of a fresh one (SSFS uses it to put the key in
    /// a manifest). The key must never seal anything else.
    pub fn content_key(mut self, key: ContentKey) -> Self {
        self.content_key = Some(key);
        self
    }

    /// Seals (unless public), wraps the content key, and signs with `signer`: the owner for an
    /// immutable record; the record key or a Writer/Admin on the ACL for a mutable one.
    ///
    /// The builder checks the signer against the ACL it builds; whether a non-record-key
    /// signer holds a valid delegation, and what the stored version allows, is for
    /// [`validate`](crate::validate) and [`validate_update`](crate::validate_update).
    pub fn build(self, signer: &Keypair, rng: &mut impl CryptoRngCore) -> Result<Record> {
        self.build_keyed(signer, rng).map(|(r, _)| r)
    }

    /// [`build`](Self::build), also returning the record's key (computed while sealing, so
    /// an immutable record's payload is not hashed a second time).
    pub fn build_keyed(
        self,
        signer: &Keypair,
        rng: &mut impl CryptoRngCore,
    ) -> Result<(Record, RecordKey)> {
        // The size is checked before any work is done.
        if self.data.len() > MAX_DATA_LEN {
            return Err(RecordError::DataTooLarge {
                len: self.data.len() as u64,
                max: MAX_DATA_LEN as u64,
            });
        }
        if let Some(e) = self.error {
            return Err(e);
        }
        let signer_pk = signer.public();
        let kind = match self.mutable {
            None => {
                if self.grant.is_some() || !self.delegations.is_empty() {
                    return Err(RecordError::Builder(
                        "an immutable record carries no grant or delegations",
                    ));
                }
                if signer_pk != self.owner {
                    return Err(RecordError::Unauthorized);
                }
                RecordKind::Immutable
            }
            Some((record_public, seq)) => {
                if self.acl.role(&record_public).is_some() {
                    return Err(RecordError::Builder("the record key cannot be on its ACL"));
                }
                let grant = self.grant.ok_or(RecordError::Builder(
                    "a mutable record needs its owner's grant (OwnerGrant::sign)",
                ))?;
                let delegations = if signer_pk == record_public {
                    self.issue_delegations(signer, seq)?
                } else {
                    if !self.acl.allows(&signer_pk, Role::Write) {
                        return Err(RecordError::Unauthorized);
                    }
                    // Only the record key can issue: drop what the ACL no longer backs.
                    let mut kept = self.delegations;
                    kept.retain(|d| self.acl.allows(&d.delegate, d.role));
                    kept
                };
                RecordKind::Mutable {
                    record_public,
                    seq,
                    grant,
                    delegations,
                }
            }
        };
        let (payload, keychain, digest) = if self.public {
            if self.acl.entries().iter().any(|e| e.role == Role::Read) {
                return Err(RecordError::Builder("a public record has no Read entries"));
            }
            let payload = Payload::Plain(self.data.into_owned());
            let digest = payload.digest();
            (payload, Vec::new(), digest)
        } else {
            let key = match self.content_key {
                Some(k) => k,
                None => ContentKey::generate(rng),
            };
            let mut nonce_prefix = [0u8; 8];
            rng.fill_bytes(&mut nonce_prefix);
            let mut recipients: Vec<PublicKey> =
                self.acl.entries().iter().map(|e| e.identity).collect();
            if let RecordKind::Mutable { record_public, .. } = &kind {
                recipients.push(*record_public);
            }
            recipients.sort();
            // Sealing, hashing and key wrapping in one pass: the pool seals segments while
            // this thread (which owns the caller's RNG) wraps the key, then hashes the
            // segments in order as they come.
            let (sealed, digest, keychain) =
                SealedPayload::seal_hashed(&key, self.aead, &self.data, nonce_prefix, || {
                    recipients
                        .iter()
                        .map(|pk| wrap_key(&key, pk, &mut *rng))
                        .collect::<core::result::Result<Vec<_>, _>>()
                })?;
            (Payload::Sealed(sealed), keychain?, digest)
        };
        let msg = signed_bytes(
            &kind,
            &self.contract,
            &self.owner,
            self.timestamp,
            &self.acl,
            &keychain,
            &signer_pk,
            digest,
        )?;
        let signature = signer.sign(domain::RECORD, &msg);
        let key = match &kind {
            RecordKind::Immutable => RecordKey(digest),
            RecordKind::Mutable { record_public, .. } => mutable_key(record_public),
        };
        let record = Record {
            kind,
            contract: self.contract,
            owner: self.owner,
            timestamp: self.timestamp,
            acl: self.acl,
            keychain,
            payload,
            signer: signer_pk,
            signature,
        };
        Ok((record, key))
    }

    /// The delegations a version signed by the record key `record` at `seq` carries: one per
    /// Writer and Admin on the ACL, with its ACL role. A current one (same role, `max_seq` not
    /// passed) keeps its `max_seq`; the others are issued up to `seq +`
    /// [`DELEGATION_SEQ_WINDOW`]. All are signed afresh (ed25519 is deterministic, so a kept one
    /// is the same bytes), so none the record key signs is stale.
    fn issue_delegations(&self, record: &Keypair, seq: u64) -> Result<Vec<Delegation>> {
        self.acl
            .entries()
            .iter()
            .filter(|e| e.role >= Role::Write)
            .map(|e| {
                let max_seq = match find_delegation(&self.delegations, &e.identity) {
                    Some(d) if d.role == e.role && d.max_seq >= seq => d.max_seq,
                    _ => seq.saturating_add(DELEGATION_SEQ_WINDOW),
                };
                Delegation::issue(
                    record,
                    e.identity,
                    e.role,
                    max_seq,
                    &self.owner,
                    &self.contract,
                )
            })
            .collect()
    }
}
