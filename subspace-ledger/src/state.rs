//! The chain state as a value: UTXOs, contracts, supply, nexus balance and per-block history.
//!
//! [`ChainState::apply_block`] validates a block completely against this state and applies
//! it, returning an [`Undo`] that [`ChainState::undo_block`] uses to restore the exact
//! previous state; a failed block leaves the state untouched.

use std::collections::BTreeMap;

use rayon::prelude::*;
use subspace_crypto::{BlockHash, ContractId, Keypair, PublicKey, RecordKey, domain};

use crate::block::{Block, BlockHeader};
use crate::consensus;
use crate::economics::{self, Cos};
use crate::merkle::merkle_root;
use crate::params::ConsensusParams;
use crate::pos::ProofVerifier;
use crate::tx::{
    Address, Coinbase, Funding, Lock, Nexus, NexusPayment, OutPoint, Transaction, TxId, TxOut,
    sum_outputs,
};
use crate::{LedgerError, Result};

/// A host storage contract as the chain tracks it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostContractState {
    /// The host.
    pub host: PublicKey,
    /// Bytes pledged.
    pub pledged_bytes: u64,
    /// Reward interval in seconds.
    pub interval_secs: u64,
    /// Where payments go.
    pub payout: Address,
    /// Unix seconds at which the current interval ends.
    pub next_due: u64,
    /// Height of the block that started the current interval.
    pub interval_start_height: u64,
}

impl HostContractState {
    /// Whether the host missed its payment request (it is then no longer valid).
    pub fn lapsed(&self, t: u64, grace: u64) -> bool {
        t >= self.next_due.saturating_add(grace)
    }
}

/// A client data contract as the chain tracks it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataContractState {
    /// The holder.
    pub owner: PublicKey,
    /// Bytes reserved per replica.
    pub reserved_bytes: u64,
    /// Replication factor.
    pub replication: u8,
    /// Unix seconds at which the reservation ends.
    pub expires: u64,
    /// Keys allowed to write under it.
    pub writers: Vec<PublicKey>,
    /// Its off-chain state record.
    pub state_record: RecordKey,
}

impl DataContractState {
    /// Physical bytes reserved on the network: reserved × replication.
    pub fn network_bytes(&self) -> u128 {
        u128::from(self.reserved_bytes) * u128::from(self.replication)
    }
}

/// What the chain remembers of each block of its best chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockSummary {
    /// The block's hash.
    pub hash: BlockHash,
    /// Its timestamp.
    pub timestamp: u64,
    /// Its proof's quality (feeds later challenges).
    pub quality: [u8; 32],
    /// Its difficulty (its weight in fork choice).
    pub difficulty: u64,
    /// Its Cost of Storage.
    pub cos: Option<Cos>,
    /// Sum of CoS (fixed point) over blocks 0..=this, saturating; `None` counts as 0.
    pub cos_prefix: u128,
    /// Sum of the water-filling level over blocks 0..=this, saturating.
    pub level_prefix: u128,
    /// Accumulated work: sum of difficulties over blocks 0..=this.
    pub work: u128,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Change {
    Utxo(OutPoint, Option<TxOut>),
    Host(ContractId, Option<HostContractState>),
    HostKey(PublicKey, Option<ContractId>),
    Data(ContractId, Option<DataContractState>),
    Supply(u64),
    NexusBalance(u64),
    History,
}

/// How to undo one applied block exactly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Undo(Vec<Change>);

/// A proof of space answered by a farmer, ready to go into a header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProofAnswer {
    /// Which of the farmer's plots answered.
    pub plot_index: u64,
    /// Plot size parameter.
    pub k: u8,
    /// Proof bytes.
    pub proof: Vec<u8>,
    /// The proof's quality.
    pub quality: [u8; 32],
}

/// Everything a block producer supplies beyond the state: used by [`ChainState::propose`].
#[derive(Clone, Debug, Default)]
pub struct ProposalInputs {
    /// Candidate transactions (invalid ones are skipped).
    pub candidates: Vec<Transaction>,
    /// Uptime in seconds over the current interval per host contract, from gossip.
    pub uptime: BTreeMap<ContractId, u64>,
    /// Bytes stored on the network, from contract-state records.
    pub stored_bytes: u64,
}

/// A payment request accepted in the current block, awaiting its nexus output.
struct Pending {
    contract: ContractId,
    avg_cos: Cos,
    avg_utilised: u64,
    interval: u64,
    payout: Address,
}

/// Per-block running values while applying transactions.
struct BlockCtx {
    t: u64,
    height: u64,
    space_time: u128,
    data_time: u128,
    parent_cos: Option<Cos>,
    fees: u64,
    pending: Vec<Pending>,
}

/// The state of one chain at its tip.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainState {
    utxos: BTreeMap<OutPoint, TxOut>,
    hosts: BTreeMap<ContractId, HostContractState>,
    host_keys: BTreeMap<PublicKey, ContractId>,
    data: BTreeMap<ContractId, DataContractState>,
    supply: u64,
    nexus_balance: u64,
    history: Vec<BlockSummary>,
}

impl ChainState {
    /// The state after a genesis block (see [`crate::GenesisBuilder`]); checks its shape,
    /// root and signature. Its coinbase may pay any amount: that is the pre-farmed reserve.
    pub fn from_genesis(genesis: &Block, params: &ConsensusParams) -> Result<ChainState> {
        params.check()?;
        let h = &genesis.header;
        if h.height != 0 || h.parent != BlockHash::default() {
            return Err(LedgerError::BadHeight);
        }
        h.verify_signature()?;
        if merkle_root(&genesis.tx_ids()?) != h.tx_root {
            return Err(LedgerError::BadMerkleRoot);
        }
        let [Transaction::Coinbase(cb)] = genesis.transactions.as_slice() else {
            return Err(LedgerError::BadCoinbase(
                "genesis holds exactly one coinbase",
            ));
        };
        if cb.height != 0 || h.cos.is_some() || h.stored_bytes != 0 {
            return Err(LedgerError::BadCoinbase("genesis fields"));
        }
        let mut s = ChainState {
            utxos: BTreeMap::new(),
            hosts: BTreeMap::new(),
            host_keys: BTreeMap::new(),
            data: BTreeMap::new(),
            supply: sum_outputs(&cb.outputs)?,
            nexus_balance: 0,
            history: Vec::new(),
        };
        let txid = genesis.transactions[0].id()?;
        for (i, o) in cb.outputs.iter().enumerate() {
            s.utxos.insert(
                OutPoint {
                    txid,
                    index: i as u32,
                },
                *o,
            );
        }
        s.history.push(BlockSummary {
            hash: h.hash()?,
            timestamp: h.timestamp,
            quality: h.quality,
            difficulty: params.initial_difficulty,
            cos: None,
            cos_prefix: 0,
            level_prefix: 0,
            work: u128::from(params.initial_difficulty),
        });
        Ok(s)
    }

    // ----- queries -----

    /// The tip's summary.
    pub fn tip(&self) -> &BlockSummary {
        // Invariant: history always holds at least genesis (from_genesis pushes it and
        // undo_block refuses to pop it).
        &self.history[self.history.len() - 1]
    }

    /// Height of the tip.
    pub fn height(&self) -> u64 {
        self.history.len() as u64 - 1
    }

    /// Summary of the best-chain block at `height`, if any.
    pub fn summary(&self, height: u64) -> Option<&BlockSummary> {
        self.history.get(usize::try_from(height).ok()?)
    }

    /// Total credits in existence (C): unspent outputs plus the nexus balance.
    pub fn supply(&self) -> u64 {
        self.supply
    }

    /// Credits held by the nexus for future host payments.
    pub fn nexus_balance(&self) -> u64 {
        self.nexus_balance
    }

    /// An unspent output.
    pub fn utxo(&self, op: &OutPoint) -> Option<&TxOut> {
        self.utxos.get(op)
    }

    /// All unspent outputs, in outpoint order.
    pub fn utxos(&self) -> impl Iterator<Item = (&OutPoint, &TxOut)> {
        self.utxos.iter()
    }

    /// Unspent outputs locked to `addr`, in outpoint order (linear scan).
    pub fn outputs_of(&self, addr: &Address) -> Vec<(OutPoint, TxOut)> {
        self.utxos
            .iter()
            .filter(|(_, o)| o.lock == Lock::PayToPublicKeyHash(*addr))
            .map(|(k, v)| (*k, *v))
            .collect()
    }

    /// A host storage contract.
    pub fn host_contract(&self, id: &ContractId) -> Option<&HostContractState> {
        self.hosts.get(id)
    }

    /// All host storage contracts, in id order.
    pub fn host_contracts(&self) -> impl Iterator<Item = (&ContractId, &HostContractState)> {
        self.hosts.iter()
    }

    /// A client data contract (its writers, size and expiry).
    pub fn data_contract(&self, id: &ContractId) -> Option<&DataContractState> {
        self.data.get(id)
    }

    /// All client data contracts, in id order.
    pub fn data_contracts(&self) -> impl Iterator<Item = (&ContractId, &DataContractState)> {
        self.data.iter()
    }

    /// S(t): byte-seconds left in the current intervals of valid host contracts.
    pub fn space_time(&self, t: u64, params: &ConsensusParams) -> u128 {
        economics::space_time(
            self.hosts
                .values()
                .filter(|h| !h.lapsed(t, params.payment_grace_secs))
                .map(|h| (h.pledged_bytes, h.next_due)),
            t,
        )
    }

    /// D(t): byte-seconds left on valid data contracts (reserved bytes × replication).
    pub fn data_time(&self, t: u64) -> u128 {
        economics::data_time(
            self.data.values().map(|d| (d.network_bytes(), d.expires)),
            t,
        )
    }

    /// Upper bound on the stored bytes a block may claim at `t`: Σ reserved × replication
    /// of valid data contracts (saturating at `u64::MAX`).
    pub fn reserved_bytes(&self, t: u64) -> u64 {
        let total: u128 = self
            .data
            .values()
            .filter(|d| d.expires > t)
            .map(|d| d.network_bytes())
            .sum();
        u64::try_from(total).unwrap_or(u64::MAX)
    }

    /// Water-filling level at `t` for `stored` bytes over valid host pledges.
    pub fn water_level(&self, t: u64, stored: u64, params: &ConsensusParams) -> u64 {
        let mut pledges: Vec<u64> = self
            .hosts
            .values()
            .filter(|h| !h.lapsed(t, params.payment_grace_secs))
            .map(|h| h.pledged_bytes)
            .collect();
        pledges.sort_unstable();
        economics::water_level(&pledges, stored)
    }

    /// Difficulty the next block must carry.
    pub fn next_difficulty(&self, params: &ConsensusParams) -> u64 {
        let h = self.height() + 1;
        let prev = self.tip().difficulty;
        let w = params.retarget_window;
        if !h.is_multiple_of(w) || h <= w {
            return prev;
        }
        // The last W intervals end at h−1 and start at h−1−W (≥ 1, so genesis's arbitrary
        // timestamp never counts).
        let end = self.history[(h - 1) as usize].timestamp;
        let start = self.history[(h - 1 - w) as usize].timestamp;
        consensus::retarget(
            prev,
            end.saturating_sub(start),
            params.target_block_secs,
            w,
            params.max_retarget_factor,
        )
    }

    /// Challenge the next block answers in slot 0 (stamped less than one slot after the tip;
    /// see [`ChainState::challenge_in_slot`]).
    pub fn next_challenge(&self, params: &ConsensusParams) -> [u8; 32] {
        self.challenge_in_slot(params, 0)
    }

    /// Challenge the next block answers when stamped in `slot` (see the [`consensus`] module:
    /// after a whole slot without a block, the challenge moves on with the clock).
    pub fn challenge_in_slot(&self, params: &ConsensusParams, slot: u64) -> [u8; 32] {
        consensus::derive_challenge(self.height() + 1, slot, &self.recent_qualities(params))
    }

    /// The slot a next block stamped `timestamp` falls in.
    pub fn slot_at(&self, params: &ConsensusParams, timestamp: u64) -> u64 {
        consensus::slot_of(
            self.tip().timestamp,
            timestamp,
            self.next_difficulty(params),
            params.target_block_secs,
        )
    }

    /// Qualities of the blocks the next challenge derives from, nearest first.
    fn recent_qualities(&self, params: &ConsensusParams) -> Vec<[u8; 32]> {
        let n = params.challenge_window.min(self.height() + 1) as usize;
        self.history
            .iter()
            .rev()
            .take(n)
            .map(|s| s.quality)
            .collect()
    }

    // ----- validation -----

    /// Validates `block` completely against this state and applies it.
    ///
    /// `now` is the validator's clock in Unix seconds (for the future-timestamp rule). On
    /// error the state is unchanged.
    pub fn apply_block(
        &mut self,
        block: &Block,
        params: &ConsensusParams,
        pos: &impl ProofVerifier,
        now: u64,
    ) -> Result<Undo> {
        let mut j = Vec::new();
        match self.apply_inner(block, params, pos, now, &mut j) {
            Ok(()) => Ok(Undo(j)),
            Err(e) => {
                self.revert(j);
                Err(e)
            }
        }
    }

    /// Restores the state before the block `undo` came from. Undos must be applied in
    /// reverse order of their blocks.
    pub fn undo_block(&mut self, undo: Undo) {
        self.revert(undo.0);
    }

    /// Checks a header against this state's tip: parent, height, challenge, difficulty,
    /// timestamp rules, proof of space and signature.
    pub fn check_header(
        &self,
        h: &BlockHeader,
        params: &ConsensusParams,
        pos: &impl ProofVerifier,
        now: u64,
    ) -> Result<()> {
        let tip = self.tip();
        if h.parent != tip.hash {
            return Err(LedgerError::UnknownParent);
        }
        let expected = ExpectedHeader {
            height: self.height() + 1,
            parent_timestamp: tip.timestamp,
            ancestors: self.recent_qualities(params),
            difficulty: self.next_difficulty(params),
        };
        check_header_against(h, &expected, params, pos, now)
    }

    fn apply_inner(
        &mut self,
        block: &Block,
        params: &ConsensusParams,
        pos: &impl ProofVerifier,
        now: u64,
        j: &mut Vec<Change>,
    ) -> Result<()> {
        let h = &block.header;
        self.check_header(h, params, pos, now)?;
        if block.encode()?.len() > params.max_block_bytes {
            return Err(LedgerError::BlockTooLarge);
        }
        let txs = &block.transactions;
        // Signing bytes, ids and sizes of every transaction, on all cores.
        let prepared: Vec<(Vec<u8>, TxId, usize)> = txs
            .par_iter()
            .map(|t| {
                let msg = t.signing_bytes()?;
                let id = TxId(subspace_crypto::hash::sha256(&msg));
                Ok((msg, id, t.encoded_len()?))
            })
            .collect::<Result<_>>()?;
        let ids: Vec<TxId> = prepared.iter().map(|p| p.1).collect();
        if merkle_root(&ids) != h.tx_root {
            return Err(LedgerError::BadMerkleRoot);
        }
        let Some(Transaction::Coinbase(coinbase)) = txs.first() else {
            return Err(LedgerError::BadCoinbase(
                "first transaction must be the coinbase",
            ));
        };
        let (body, nexus) = match txs.last() {
            Some(Transaction::Nexus(n)) if txs.len() > 1 => (&txs[1..txs.len() - 1], Some(n)),
            _ => (&txs[1..], None),
        };
        if body
            .iter()
            .any(|t| matches!(t, Transaction::Coinbase(_) | Transaction::Nexus(_)))
        {
            return Err(LedgerError::BadCoinbase("coinbase or nexus out of place"));
        }
        // Signatures and shapes need no state: check them on all cores.
        txs.par_iter()
            .zip(&prepared)
            .try_for_each(|(t, p)| t.check_stateless_with(&p.0))?;
        let mut ctx = self.block_ctx(h.timestamp, h.height, params);
        for (tx, (msg, id, len)) in body.iter().zip(&prepared[1..]) {
            self.apply_tx(tx, msg, *id, *len, &mut ctx, params, pos, j)?;
        }
        self.apply_nexus(nexus, &mut ctx, j)?;
        self.apply_coinbase(coinbase, prepared[0].1, &ctx, params, j)?;
        let (cos, level) = self.block_economics(h.timestamp, h.stored_bytes, params)?;
        if cos != h.cos {
            return Err(LedgerError::BadCos);
        }
        self.push_summary(h, cos, level, j)
    }

    fn block_ctx(&self, t: u64, height: u64, params: &ConsensusParams) -> BlockCtx {
        BlockCtx {
            t,
            height,
            space_time: self.space_time(t, params),
            data_time: self.data_time(t),
            parent_cos: self.tip().cos,
            fees: 0,
            pending: Vec::new(),
        }
    }

    /// CoS and water level after the block's transactions, checking the stored-bytes claim.
    fn block_economics(
        &self,
        t: u64,
        stored: u64,
        params: &ConsensusParams,
    ) -> Result<(Option<Cos>, u64)> {
        if stored > self.reserved_bytes(t) {
            return Err(LedgerError::BadCos);
        }
        let cos =
            economics::cost_of_storage(self.supply, self.space_time(t, params), self.data_time(t));
        Ok((cos, self.water_level(t, stored, params)))
    }

    fn push_summary(
        &mut self,
        h: &BlockHeader,
        cos: Option<Cos>,
        level: u64,
        j: &mut Vec<Change>,
    ) -> Result<()> {
        let tip = self.tip();
        let s = BlockSummary {
            hash: h.hash()?,
            timestamp: h.timestamp,
            quality: h.quality,
            difficulty: h.difficulty,
            cos,
            cos_prefix: tip.cos_prefix.saturating_add(cos.map_or(0, |c| c.0)),
            level_prefix: tip.level_prefix.saturating_add(u128::from(level)),
            work: tip.work.saturating_add(u128::from(h.difficulty)),
        };
        self.history.push(s);
        j.push(Change::History);
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn apply_tx(
        &mut self,
        tx: &Transaction,
        msg: &[u8],
        id: TxId,
        len: usize,
        ctx: &mut BlockCtx,
        params: &ConsensusParams,
        pos: &impl ProofVerifier,
        j: &mut Vec<Change>,
    ) -> Result<()> {
        let min_fee = params.fee_per_byte.saturating_mul(len as u64);
        match tx {
            Transaction::Transfer(t) => {
                let input_sum = self.spend(&t.inputs, j)?;
                let out = sum_outputs(&t.outputs)?;
                let fee = input_sum.checked_sub(out).ok_or(LedgerError::Overspend)?;
                if fee < min_fee {
                    return Err(LedgerError::FeeTooLow {
                        paid: fee,
                        required: min_fee,
                    });
                }
                ctx.fees = ctx
                    .fees
                    .checked_add(fee)
                    .ok_or(LedgerError::AmountOverflow)?;
                self.create(id, &t.outputs, j);
            }
            Transaction::HostContract(c) => {
                if c.k < params.min_k {
                    return Err(LedgerError::BadPledge);
                }
                let cid = ContractId(id.0);
                if self.hosts.contains_key(&cid) {
                    return Err(LedgerError::DuplicateHostContract);
                }
                if let Some(old) = self.host_keys.get(&c.host).and_then(|o| self.hosts.get(o))
                    && !old.lapsed(ctx.t, params.payment_grace_secs)
                {
                    return Err(LedgerError::DuplicateHostContract);
                }
                pos.verify_pledge(
                    &c.host,
                    c.pledged_bytes,
                    c.k,
                    &c.pledge_seed,
                    &c.pledge_proof,
                )
                .map_err(|_| LedgerError::BadPledge)?;
                let next_due = ctx
                    .t
                    .checked_add(c.interval_secs)
                    .ok_or(LedgerError::Overflow)?;
                let state = HostContractState {
                    host: c.host,
                    pledged_bytes: c.pledged_bytes,
                    interval_secs: c.interval_secs,
                    payout: c.payout,
                    next_due,
                    interval_start_height: ctx.height,
                };
                ctx.space_time = ctx
                    .space_time
                    .saturating_add(u128::from(c.pledged_bytes) * u128::from(c.interval_secs));
                self.set_host(cid, Some(state), j);
                let prev = self.host_keys.insert(c.host, cid);
                j.push(Change::HostKey(c.host, prev));
            }
            Transaction::DataContract(d) => {
                let bytes = u128::from(d.reserved_bytes) * u128::from(d.replication);
                let paid = self.fund(&d.funding, id, min_fee, ctx, j)?;
                self.reserve(bytes, d.duration_secs, paid, ctx)?;
                let expires = ctx
                    .t
                    .checked_add(d.duration_secs)
                    .ok_or(LedgerError::Overflow)?;
                let state = DataContractState {
                    owner: d.owner,
                    reserved_bytes: d.reserved_bytes,
                    replication: d.replication,
                    expires,
                    writers: d.writers.clone(),
                    state_record: d.state_record,
                };
                self.set_data(ContractId(id.0), Some(state), j);
            }
            Transaction::Renewal(r) => {
                let mut c = self
                    .data
                    .get(&r.contract)
                    .cloned()
                    .ok_or(LedgerError::UnknownContract)?;
                if c.expires <= ctx.t {
                    return Err(LedgerError::ContractLapsed);
                }
                let paid = self.fund(&r.funding, id, min_fee, ctx, j)?;
                self.reserve(c.network_bytes(), r.extra_secs, paid, ctx)?;
                c.expires = c
                    .expires
                    .checked_add(r.extra_secs)
                    .ok_or(LedgerError::Overflow)?;
                self.set_data(r.contract, Some(c), j);
            }
            Transaction::PaymentRequest(p) => {
                let mut c = self
                    .hosts
                    .get(&p.contract)
                    .cloned()
                    .ok_or(LedgerError::UnknownContract)?;
                c.host
                    .verify(domain::TRANSACTION, msg, &p.signature)
                    .map_err(|_| LedgerError::BadSignature)?;
                if p.last_block != self.tip().hash {
                    return Err(LedgerError::StaleRequest);
                }
                if c.lapsed(ctx.t, params.payment_grace_secs) {
                    return Err(LedgerError::ContractLapsed);
                }
                if ctx.t < c.next_due {
                    return Err(LedgerError::PaymentTooEarly);
                }
                // Averages over the blocks of the interval: (start, parent], floor division.
                let parent = self.tip();
                let start = self
                    .summary(c.interval_start_height)
                    .ok_or(LedgerError::UnknownContract)?;
                let blocks = self.height() - c.interval_start_height;
                let avg_cos = economics::average_cos(parent.cos_prefix - start.cos_prefix, blocks);
                let avg_level = if blocks == 0 {
                    0
                } else {
                    u64::try_from((parent.level_prefix - start.level_prefix) / u128::from(blocks))
                        .unwrap_or(u64::MAX)
                };
                ctx.pending.push(Pending {
                    contract: p.contract,
                    avg_cos,
                    avg_utilised: economics::utilised(c.pledged_bytes, avg_level),
                    interval: c.interval_secs,
                    payout: c.payout,
                });
                c.next_due = c
                    .next_due
                    .checked_add(c.interval_secs)
                    .ok_or(LedgerError::Overflow)?;
                c.interval_start_height = ctx.height;
                self.set_host(p.contract, Some(c), j);
            }
            Transaction::Coinbase(_) | Transaction::Nexus(_) => {
                return Err(LedgerError::BadCoinbase("coinbase or nexus out of place"));
            }
        }
        Ok(())
    }

    /// Spends a funding's inputs and creates its change; returns what goes to the nexus.
    fn fund(
        &mut self,
        f: &Funding,
        id: TxId,
        min_fee: u64,
        ctx: &mut BlockCtx,
        j: &mut Vec<Change>,
    ) -> Result<u64> {
        if f.fee < min_fee {
            return Err(LedgerError::FeeTooLow {
                paid: f.fee,
                required: min_fee,
            });
        }
        let input_sum = self.spend(&f.inputs, j)?;
        let change = sum_outputs(&f.change)?;
        let paid = input_sum
            .checked_sub(change)
            .and_then(|x| x.checked_sub(f.fee))
            .ok_or(LedgerError::Overspend)?;
        self.create(id, &f.change, j);
        ctx.fees = ctx
            .fees
            .checked_add(f.fee)
            .ok_or(LedgerError::AmountOverflow)?;
        let bal = self
            .nexus_balance
            .checked_add(paid)
            .ok_or(LedgerError::AmountOverflow)?;
        j.push(Change::NexusBalance(self.nexus_balance));
        self.nexus_balance = bal;
        Ok(paid)
    }

    /// Checks free space and price for `bytes` over `secs`, and books the data-time.
    fn reserve(&self, bytes: u128, secs: u64, paid: u64, ctx: &mut BlockCtx) -> Result<()> {
        let needed = bytes
            .checked_mul(u128::from(secs))
            .ok_or(LedgerError::Overflow)?;
        let free = ctx.space_time.saturating_sub(ctx.data_time);
        if needed >= free {
            return Err(LedgerError::NetworkFull { needed, free });
        }
        let cos = ctx
            .parent_cos
            .ok_or(LedgerError::NetworkFull { needed, free })?;
        let cost = economics::mul_div_ceil(cos.0, needed, 1u128 << economics::COS_FRAC_BITS)
            .ok_or(LedgerError::Overflow)?;
        if u128::from(paid) < cost {
            return Err(LedgerError::Underfunded { paid, cost });
        }
        ctx.data_time = ctx.data_time.saturating_add(needed);
        Ok(())
    }

    fn spend(&mut self, inputs: &[crate::tx::Input], j: &mut Vec<Change>) -> Result<u64> {
        let mut sum = 0u64;
        for i in inputs {
            let out = self
                .utxos
                .get(&i.prev)
                .copied()
                .ok_or(LedgerError::MissingOrSpentInput)?;
            if !out.lock.unlocked_by(&i.public_key) {
                return Err(LedgerError::LockMismatch);
            }
            sum = sum
                .checked_add(out.value)
                .ok_or(LedgerError::AmountOverflow)?;
            self.set_utxo(i.prev, None, j);
        }
        Ok(sum)
    }

    fn create(&mut self, id: TxId, outs: &[TxOut], j: &mut Vec<Change>) {
        for (i, o) in outs.iter().enumerate() {
            if o.value > 0 {
                self.set_utxo(
                    OutPoint {
                        txid: id,
                        index: i as u32,
                    },
                    Some(*o),
                    j,
                );
            }
        }
    }

    fn apply_nexus(
        &mut self,
        nexus: Option<&Nexus>,
        ctx: &mut BlockCtx,
        j: &mut Vec<Change>,
    ) -> Result<()> {
        let Some(n) = nexus else {
            return if ctx.pending.is_empty() {
                Ok(())
            } else {
                Err(LedgerError::BadNexus("missing"))
            };
        };
        if ctx.pending.is_empty() {
            return Err(LedgerError::BadNexus("no payment requests"));
        }
        if n.height != ctx.height || n.payments.len() != ctx.pending.len() {
            return Err(LedgerError::BadNexus("one output per request"));
        }
        let mut outs = Vec::with_capacity(n.payments.len());
        for (pay, want) in n.payments.iter().zip(&ctx.pending) {
            if pay.contract != want.contract {
                return Err(LedgerError::BadNexus("order or contract"));
            }
            if pay.uptime_secs > want.interval {
                return Err(LedgerError::BadNexus("uptime beyond the interval"));
            }
            let value = nexus_value(want, pay.uptime_secs, self.nexus_balance)?;
            if pay.output
                != (TxOut {
                    value,
                    lock: Lock::PayToPublicKeyHash(want.payout),
                })
            {
                return Err(LedgerError::BadNexus("payment amount or address"));
            }
            j.push(Change::NexusBalance(self.nexus_balance));
            self.nexus_balance -= value;
            outs.push(pay.output);
        }
        let id = Transaction::Nexus(n.clone()).id()?;
        self.create(id, &outs, j);
        Ok(())
    }

    fn apply_coinbase(
        &mut self,
        cb: &Coinbase,
        id: TxId,
        ctx: &BlockCtx,
        params: &ConsensusParams,
        j: &mut Vec<Change>,
    ) -> Result<()> {
        if cb.height != ctx.height {
            return Err(LedgerError::BadCoinbase("height"));
        }
        let total = sum_outputs(&cb.outputs)?;
        let allowed = params
            .block_reward
            .checked_add(ctx.fees)
            .ok_or(LedgerError::AmountOverflow)?;
        if total > allowed {
            return Err(LedgerError::BadCoinbase("pays more than reward plus fees"));
        }
        // Fees left the UTXO set when spent; the coinbase re-issues up to them plus the reward.
        let supply = self
            .supply
            .checked_sub(ctx.fees)
            .and_then(|s| s.checked_add(total))
            .ok_or(LedgerError::AmountOverflow)?;
        j.push(Change::Supply(self.supply));
        self.supply = supply;
        self.create(id, &cb.outputs, j);
        Ok(())
    }

    // ----- block production -----

    /// Builds and signs a block on this state's tip: the valid candidates that fit (in the
    /// given order), payment requests with their nexus outputs, the coinbase (reward plus
    /// fees to the farmer) and the resulting CoS. The state is left unchanged.
    pub fn propose(
        &mut self,
        params: &ConsensusParams,
        pos: &impl ProofVerifier,
        farmer: &Keypair,
        answer: ProofAnswer,
        timestamp: u64,
        inputs: &ProposalInputs,
    ) -> Result<Block> {
        let height = self.height() + 1;
        let mut j = Vec::new();
        let mut ctx = self.block_ctx(timestamp, height, params);
        let mut included = Vec::new();
        let mut size = 4096usize; // header, coinbase and nexus headroom
        for tx in &inputs.candidates {
            if matches!(tx, Transaction::Coinbase(_) | Transaction::Nexus(_)) {
                continue;
            }
            let Ok(msg) = tx.check_stateless() else {
                continue;
            };
            let Ok(len) = tx.encoded_len() else { continue };
            if size + len + 64 > params.max_block_bytes {
                break;
            }
            let mark = j.len();
            let (fees, pending) = (ctx.fees, ctx.pending.len());
            let id = TxId(subspace_crypto::hash::sha256(&msg));
            match self.apply_tx(tx, &msg, id, len, &mut ctx, params, pos, &mut j) {
                Ok(()) => {
                    size += len + 64;
                    included.push(tx.clone());
                }
                Err(_) => {
                    self.revert(j.split_off(mark));
                    ctx.fees = fees;
                    ctx.pending.truncate(pending);
                }
            }
        }
        let nexus = if ctx.pending.is_empty() {
            None
        } else {
            let mut balance = self.nexus_balance;
            let mut payments = Vec::new();
            for p in &ctx.pending {
                let uptime = inputs
                    .uptime
                    .get(&p.contract)
                    .copied()
                    .unwrap_or(0)
                    .min(p.interval);
                let value = nexus_value(p, uptime, balance)?;
                balance -= value;
                payments.push(NexusPayment {
                    contract: p.contract,
                    uptime_secs: uptime,
                    output: TxOut {
                        value,
                        lock: Lock::PayToPublicKeyHash(p.payout),
                    },
                });
            }
            Some(Nexus { height, payments })
        };
        let result = (|| {
            self.apply_nexus(nexus.as_ref(), &mut ctx, &mut j)?;
            let reward = params
                .block_reward
                .checked_add(ctx.fees)
                .ok_or(LedgerError::AmountOverflow)?;
            let coinbase = Coinbase {
                height,
                outputs: vec![TxOut::to_key(reward, &farmer.public())],
            };
            let cb_tx = Transaction::Coinbase(coinbase.clone());
            self.apply_coinbase(&coinbase, cb_tx.id()?, &ctx, params, &mut j)?;
            let stored = inputs.stored_bytes.min(self.reserved_bytes(timestamp));
            let (cos, _) = self.block_economics(timestamp, stored, params)?;
            Ok::<_, LedgerError>((cb_tx, cos, stored))
        })();
        self.revert(j);
        let (cb_tx, cos, stored) = result?;
        let mut transactions = vec![cb_tx];
        transactions.extend(included);
        if let Some(n) = nexus {
            transactions.push(Transaction::Nexus(n));
        }
        let ids: Vec<TxId> = transactions
            .iter()
            .map(Transaction::id)
            .collect::<Result<_>>()?;
        let mut header = BlockHeader {
            parent: self.tip().hash,
            height,
            timestamp,
            challenge: self.challenge_in_slot(params, self.slot_at(params, timestamp)),
            difficulty: self.next_difficulty(params),
            farmer: farmer.public(),
            plot_index: answer.plot_index,
            k: answer.k,
            proof: answer.proof,
            quality: answer.quality,
            tx_root: merkle_root(&ids),
            cos,
            stored_bytes: stored,
            signature: subspace_crypto::Signature([0; 64]),
        };
        header.sign(farmer)?;
        Ok(Block {
            header,
            transactions,
        })
    }

    // ----- journal -----

    fn set_utxo(&mut self, k: OutPoint, v: Option<TxOut>, j: &mut Vec<Change>) {
        let prev = match v {
            Some(v) => self.utxos.insert(k, v),
            None => self.utxos.remove(&k),
        };
        j.push(Change::Utxo(k, prev));
    }

    fn set_host(&mut self, k: ContractId, v: Option<HostContractState>, j: &mut Vec<Change>) {
        let prev = match v {
            Some(v) => self.hosts.insert(k, v),
            None => self.hosts.remove(&k),
        };
        j.push(Change::Host(k, prev));
    }

    fn set_data(&mut self, k: ContractId, v: Option<DataContractState>, j: &mut Vec<Change>) {
        let prev = match v {
            Some(v) => self.data.insert(k, v),
            None => self.data.remove(&k),
        };
        j.push(Change::Data(k, prev));
    }

    fn revert(&mut self, j: Vec<Change>) {
        for c in j.into_iter().rev() {
            match c {
                Change::Utxo(k, Some(v)) => {
                    self.utxos.insert(k, v);
                }
                Change::Utxo(k, None) => {
                    self.utxos.remove(&k);
                }
                Change::Host(k, Some(v)) => {
                    self.hosts.insert(k, v);
                }
                Change::Host(k, None) => {
                    self.hosts.remove(&k);
                }
                Change::HostKey(k, Some(v)) => {
                    self.host_keys.insert(k, v);
                }
                Change::HostKey(k, None) => {
                    self.host_keys.remove(&k);
                }
                Change::Data(k, Some(v)) => {
                    self.data.insert(k, v);
                }
                Change::Data(k, None) => {
                    self.data.remove(&k);
                }
                Change::Supply(v) => self.supply = v,
                Change::NexusBalance(v) => self.nexus_balance = v,
                Change::History => {
                    if self.history.len() > 1 {
                        self.history.pop();
                    }
                }
            }
        }
    }
}

/// What a header must carry, as its parent's chain determines it.
pub(crate) struct ExpectedHeader {
    pub(crate) height: u64,
    pub(crate) parent_timestamp: u64,
    /// Qualities the challenge derives from (the parent's first).
    pub(crate) ancestors: Vec<[u8; 32]>,
    pub(crate) difficulty: u64,
}

/// Header rules given what the parent's chain expects: height, clock, challenge, difficulty,
/// proof of space, deadline and signature (cheapest first).
pub(crate) fn check_header_against(
    h: &BlockHeader,
    e: &ExpectedHeader,
    params: &ConsensusParams,
    pos: &impl ProofVerifier,
    now: u64,
) -> Result<()> {
    if h.height != e.height {
        return Err(LedgerError::BadHeight);
    }
    if h.timestamp > now.saturating_add(params.max_future_drift_secs) {
        return Err(LedgerError::FutureTimestamp);
    }
    if h.difficulty != e.difficulty {
        return Err(LedgerError::BadDifficulty);
    }
    let slot = consensus::slot_of(
        e.parent_timestamp,
        h.timestamp,
        h.difficulty,
        params.target_block_secs,
    );
    if h.challenge != consensus::derive_challenge(h.height, slot, &e.ancestors) {
        return Err(LedgerError::BadChallenge);
    }
    if h.k < params.min_k {
        return Err(LedgerError::BadProof);
    }
    let q = pos.verify_block_proof(&h.farmer, h.plot_index, h.k, &h.challenge, &h.proof)?;
    if q != h.quality {
        return Err(LedgerError::BadProof);
    }
    let earliest = consensus::earliest_timestamp(
        e.parent_timestamp,
        slot,
        &h.quality,
        h.difficulty,
        params.target_block_secs,
    );
    if h.timestamp < earliest {
        return Err(LedgerError::TooEarly);
    }
    h.verify_signature()
}

/// The nexus output for a pending request at `uptime`, capped by the nexus balance.
fn nexus_value(p: &Pending, uptime: u64, balance: u64) -> Result<u64> {
    let v = economics::nexus_payment(p.avg_cos, p.avg_utilised, p.interval, uptime)
        .ok_or(LedgerError::Overflow)?;
    Ok(u64::try_from(v).unwrap_or(u64::MAX).min(balance))
}
