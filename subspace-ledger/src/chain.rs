//! Fork choice and reorganisations over a [`ChainStore`].
//!
//! **Fork choice**: the best chain has the most accumulated work (sum of its blocks'
//! difficulties). Ties go to the tip in the earlier challenge slot (see
//! [`crate::consensus`]), then to the better proof (lower quality value), so nodes agree on
//! every tip that differs in any of these. Siblings of one slot answer the same challenge at
//! the same difficulty, so among them the best proof wins: nodes keep the best valid proposal
//! per challenge. At full equality (the same proof: a farmer publishing its block again with
//! another body) the block seen first stays: a tie-break on the hash would let the farmer
//! swap its own block's transactions at will (a double spend at depth 1) by grinding bodies
//! for a lower hash. Nodes that saw different copies first agree once either is extended.
//!
//! Blocks that extend the best tip are validated completely at once. A block on a side branch
//! is stored after its header passes every rule its ancestors' headers decide (challenge,
//! difficulty, proof of space, deadline, signature), and its transactions are validated only
//! when its branch would become best: the chain then rolls its state back to the fork
//! point and forward along the branch; if any branch block fails, the state returns to the
//! old best chain exactly and the failing block is remembered as invalid.

use std::collections::{BTreeMap, BTreeSet};

use subspace_crypto::{BlockHash, Keypair};

use crate::block::Block;
use crate::consensus::{retarget, slot_of};
use crate::params::ConsensusParams;
use crate::pos::ProofVerifier;
use crate::state::{
    ChainState, ExpectedHeader, ProofAnswer, ProposalInputs, Undo, check_header_against,
};
use crate::store::ChainStore;
use crate::{LedgerError, Result};

/// Most side-branch blocks (not on the best chain) kept in the index; more are dropped and
/// counted.
pub const MAX_SIDE_BLOCKS: usize = 4096;
/// Most hashes remembered as invalid; older ones are forgotten first.
pub const MAX_INVALID: usize = 4096;

/// What [`Chain::insert_block`] did with a valid-looking block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accepted {
    /// It extended the best chain.
    Extended,
    /// Its branch became best; `depth` blocks of the old best chain were rolled back.
    Reorganized {
        /// Blocks rolled back.
        depth: u64,
    },
    /// It was stored on a side branch with less work than the best chain.
    SideChain,
}

#[derive(Clone, Debug)]
struct Entry {
    parent: BlockHash,
    height: u64,
    work: u128,
    quality: [u8; 32],
    timestamp: u64,
    difficulty: u64,
    /// The challenge slot the block answered in (0 unless a whole slot passed without one).
    slot: u64,
}

/// A chain: the best chain's state, an index of known blocks, and the store holding them.
pub struct Chain<S: ChainStore, P: ProofVerifier> {
    params: ConsensusParams,
    store: S,
    pos: P,
    state: ChainState,
    index: BTreeMap<BlockHash, Entry>,
    undo: BTreeMap<BlockHash, (u64, Undo)>,
    side: usize,
    side_dropped: u64,
    invalid: BTreeSet<BlockHash>,
    invalid_order: std::collections::VecDeque<BlockHash>,
}

impl<S: ChainStore, P: ProofVerifier> Chain<S, P> {
    /// A chain holding only `genesis`.
    pub fn new(genesis: &Block, params: ConsensusParams, mut store: S, pos: P) -> Result<Self> {
        let state = ChainState::from_genesis(genesis, &params)?;
        let hash = state.tip().hash;
        store.put_block(hash, genesis)?;
        store.set_best(hash)?;
        let mut index = BTreeMap::new();
        index.insert(
            hash,
            Entry {
                parent: genesis.header.parent,
                height: 0,
                work: state.tip().work,
                quality: genesis.header.quality,
                timestamp: genesis.header.timestamp,
                difficulty: params.initial_difficulty,
                slot: 0,
            },
        );
        Ok(Chain {
            params,
            store,
            pos,
            state,
            index,
            undo: BTreeMap::new(),
            side: 0,
            side_dropped: 0,
            invalid: BTreeSet::new(),
            invalid_order: Default::default(),
        })
    }

    /// Re-opens a chain whose blocks are in `store`: re-validates the stored best chain from
    /// `genesis` (side branches are not re-indexed).
    pub fn open(
        genesis: &Block,
        params: ConsensusParams,
        store: S,
        pos: P,
        now: u64,
    ) -> Result<Self> {
        let best = store.best()?;
        let mut path = Vec::new();
        let genesis_hash = genesis.hash()?;
        let mut cur = best.unwrap_or(genesis_hash);
        while cur != genesis_hash {
            let b = store
                .block(&cur)?
                .ok_or_else(|| LedgerError::Store("missing block on the best chain".into()))?;
            let parent = b.header.parent;
            path.push(b);
            cur = parent;
        }
        let mut chain = Chain::new(genesis, params, store, pos)?;
        for b in path.into_iter().rev() {
            chain.insert_block(b, now)?;
        }
        Ok(chain)
    }

    /// The best chain's state.
    pub fn state(&self) -> &ChainState {
        &self.state
    }

    /// The consensus parameters.
    pub fn params(&self) -> &ConsensusParams {
        &self.params
    }

    /// The block store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Side-branch blocks dropped because the side index was full.
    pub fn side_dropped(&self) -> u64 {
        self.side_dropped
    }

    /// Whether a block is known (on any branch).
    pub fn contains(&self, hash: &BlockHash) -> bool {
        self.index.contains_key(hash)
    }

    /// Builds a block on the best tip (see [`ChainState::propose`]).
    pub fn propose(
        &mut self,
        farmer: &Keypair,
        answer: ProofAnswer,
        timestamp: u64,
        inputs: &ProposalInputs,
    ) -> Result<Block> {
        self.state
            .propose(&self.params, &self.pos, farmer, answer, timestamp, inputs)
    }

    /// Offers a block received from the network or produced locally. `now` is the local
    /// clock in Unix seconds.
    pub fn insert_block(&mut self, block: Block, now: u64) -> Result<Accepted> {
        let hash = block.hash()?;
        if self.index.contains_key(&hash) || self.invalid.contains(&hash) {
            return Err(LedgerError::Duplicate);
        }
        let parent = self
            .index
            .get(&block.header.parent)
            .cloned()
            .ok_or(LedgerError::UnknownParent)?;
        if self.invalid.contains(&block.header.parent) {
            return Err(LedgerError::UnknownParent);
        }
        if block.header.height != parent.height + 1 {
            return Err(LedgerError::BadHeight);
        }
        let entry = Entry {
            parent: block.header.parent,
            height: block.header.height,
            work: parent
                .work
                .saturating_add(u128::from(block.header.difficulty)),
            quality: block.header.quality,
            timestamp: block.header.timestamp,
            difficulty: block.header.difficulty,
            slot: slot_of(
                parent.timestamp,
                block.header.timestamp,
                block.header.difficulty,
                self.params.target_block_secs,
            ),
        };
        if block.header.parent == self.state.tip().hash {
            let undo = match self.state.apply_block(&block, &self.params, &self.pos, now) {
                Ok(u) => u,
                Err(e) => {
                    if condemns(&e) {
                        self.mark_invalid(hash);
                    }
                    return Err(e);
                }
            };
            self.store.put_block(hash, &block)?;
            self.index.insert(hash, entry);
            self.undo.insert(hash, (block.header.height, undo));
            self.store.set_best(hash)?;
            self.prune_undo();
            return Ok(Accepted::Extended);
        }
        // A side branch.
        if block
            .header
            .height
            .saturating_add(self.params.max_reorg_depth)
            <= self.state.height()
        {
            return Err(LedgerError::TooDeep);
        }
        // Every header rule that needs only ancestors' headers, so that claiming work on a side
        // branch costs a real proof of space, as on the best chain.
        let expected = self.expected_after(&block.header.parent, &parent)?;
        check_header_against(&block.header, &expected, &self.params, &self.pos, now)?;
        if self.side >= MAX_SIDE_BLOCKS {
            self.side_dropped += 1;
            return Err(LedgerError::TooDeep);
        }
        self.store.put_block(hash, &block)?;
        let better = self.better(&entry);
        self.index.insert(hash, entry);
        self.side += 1;
        if !better {
            return Ok(Accepted::SideChain);
        }
        self.reorganise(hash, now)
    }

    /// What a child of `parent` must carry, from the index (the same rules as
    /// [`ChainState::next_challenge`] and [`ChainState::next_difficulty`]).
    fn expected_after(&self, parent_hash: &BlockHash, parent: &Entry) -> Result<ExpectedHeader> {
        let height = parent.height + 1;
        let p = &self.params;
        // Ancestors from the parent back, as far as either rule needs.
        let need = p.challenge_window.max(p.retarget_window + 1).min(height);
        let mut chain = Vec::with_capacity(need as usize);
        let mut cur = *parent_hash;
        for _ in 0..need {
            let e = self.index.get(&cur).ok_or(LedgerError::TooDeep)?;
            chain.push(e);
            cur = e.parent;
        }
        let window = p.challenge_window.min(height) as usize;
        let ancestors = chain.iter().take(window).map(|e| e.quality).collect();
        let w = p.retarget_window;
        let difficulty = if !height.is_multiple_of(w) || height <= w {
            parent.difficulty
        } else {
            let start = chain.get(w as usize).ok_or(LedgerError::TooDeep)?;
            retarget(
                parent.difficulty,
                parent.timestamp.saturating_sub(start.timestamp),
                p.target_block_secs,
                w,
                p.max_retarget_factor,
            )
        };
        Ok(ExpectedHeader {
            height,
            parent_timestamp: parent.timestamp,
            ancestors,
            difficulty,
        })
    }

    fn better(&self, e: &Entry) -> bool {
        let tip = self.state.tip().hash;
        let Some(best) = self.index.get(&tip) else {
            return true;
        };
        // More work; then the earlier slot; then the better proof (lower quality, as a
        // 256-bit big-endian number). Strictly better only: at full equality the tip, seen
        // first, stays.
        (
            e.work,
            std::cmp::Reverse(e.slot),
            std::cmp::Reverse(e.quality),
        ) > (
            best.work,
            std::cmp::Reverse(best.slot),
            std::cmp::Reverse(best.quality),
        )
    }

    fn on_best_chain(&self, hash: &BlockHash, height: u64) -> bool {
        self.state.summary(height).is_some_and(|s| s.hash == *hash)
    }

    fn reorganise(&mut self, new_tip: BlockHash, now: u64) -> Result<Accepted> {
        // The branch from the fork point (exclusive) to the new tip.
        let mut branch = Vec::new();
        let mut cur = new_tip;
        loop {
            let e = self.index.get(&cur).ok_or(LedgerError::UnknownParent)?;
            if self.on_best_chain(&cur, e.height) {
                break;
            }
            if self.invalid.contains(&cur) {
                return Err(LedgerError::UnknownParent);
            }
            branch.push(cur);
            cur = e.parent;
        }
        branch.reverse();
        let fork_height = self.index.get(&cur).map_or(0, |e| e.height);
        let depth = self.state.height() - fork_height;
        if depth > self.params.max_reorg_depth {
            return Err(LedgerError::TooDeep);
        }
        let old: Vec<BlockHash> = (fork_height + 1..=self.state.height())
            .filter_map(|h| self.state.summary(h).map(|s| s.hash))
            .collect();
        self.roll_back_to(fork_height)?;
        let mut applied = Vec::new();
        for h in &branch {
            let block = self
                .store
                .block(h)?
                .ok_or_else(|| LedgerError::Store("missing side block".into()))?;
            match self.state.apply_block(&block, &self.params, &self.pos, now) {
                Ok(u) => {
                    self.undo.insert(*h, (block.header.height, u));
                    applied.push(*h);
                }
                Err(e) => {
                    if condemns(&e) {
                        self.mark_invalid(*h);
                    } else {
                        self.forget(*h);
                    }
                    self.roll_back_to(fork_height)?;
                    for o in &old {
                        let b = self
                            .store
                            .block(o)?
                            .ok_or_else(|| LedgerError::Store("missing old block".into()))?;
                        // These blocks were valid on this very state before; re-applying
                        // them cannot fail unless the store returned different bytes.
                        let u = self.state.apply_block(
                            &b,
                            &self.params,
                            &self.pos,
                            u64::MAX - self.params.max_future_drift_secs,
                        )?;
                        self.undo.insert(*o, (b.header.height, u));
                    }
                    return Err(e);
                }
            }
        }
        self.side = self
            .side
            .saturating_sub(applied.len())
            .saturating_add(old.len());
        self.store.set_best(new_tip)?;
        self.prune_undo();
        Ok(Accepted::Reorganized { depth })
    }

    fn roll_back_to(&mut self, height: u64) -> Result<()> {
        while self.state.height() > height {
            let hash = self.state.tip().hash;
            let (_, undo) = self.undo.remove(&hash).ok_or(LedgerError::TooDeep)?;
            self.state.undo_block(undo);
        }
        Ok(())
    }

    fn prune_undo(&mut self) {
        let keep_from = self
            .state
            .height()
            .saturating_sub(self.params.max_reorg_depth);
        self.undo.retain(|_, (h, _)| *h >= keep_from);
        // Side entries below the reorganisation horizon can never win again.
        if self.side > 0 && self.state.height().is_multiple_of(64) {
            let horizon = keep_from;
            let before = self.index.len();
            let state = &self.state;
            self.index.retain(|hash, e| {
                e.height >= horizon || state.summary(e.height).is_some_and(|s| s.hash == *hash)
            });
            self.side = self.side.saturating_sub(before - self.index.len());
        }
    }

    fn forget(&mut self, hash: BlockHash) {
        if self.index.remove(&hash).is_some() {
            self.side = self.side.saturating_sub(1);
        }
    }

    fn mark_invalid(&mut self, hash: BlockHash) {
        if self.index.remove(&hash).is_some() {
            self.side = self.side.saturating_sub(1);
        }
        if self.invalid.insert(hash) {
            self.invalid_order.push_back(hash);
            if self.invalid_order.len() > MAX_INVALID
                && let Some(old) = self.invalid_order.pop_front()
            {
                self.invalid.remove(&old);
            }
        }
    }
}

/// Whether an error condemns the block hash for good. A body that does not match its header
/// (wrong Merkle root) or a timestamp that is only early for this clock says nothing about
/// the header itself: remembering its hash as invalid would let anyone poison a valid block
/// by sending its header with a wrong body first.
fn condemns(e: &LedgerError) -> bool {
    !matches!(
        e,
        LedgerError::BadMerkleRoot
            | LedgerError::FutureTimestamp
            | LedgerError::Store(_)
            | LedgerError::UnknownParent
    )
}
