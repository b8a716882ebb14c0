//! Where blocks live: a trait, with an in-memory implementation.
//!
//! The ledger never persists anything itself; the node implements [`ChainStore`] on disk.

use std::collections::BTreeMap;

use subspace_crypto::BlockHash;

use crate::Result;
use crate::block::Block;

/// Storage of blocks and of the best tip.
pub trait ChainStore {
    /// Stores a block under its hash, replacing what was there (a body that failed to match
    /// its header may be stored first and must not stick).
    fn put_block(&mut self, hash: BlockHash, block: &Block) -> Result<()>;
    /// A stored block.
    fn block(&self, hash: &BlockHash) -> Result<Option<Block>>;
    /// Records the best tip.
    fn set_best(&mut self, hash: BlockHash) -> Result<()>;
    /// The recorded best tip.
    fn best(&self) -> Result<Option<BlockHash>>;
}

/// Blocks in memory (tests, simulations, light tools). Holds every block it is given; the
/// chain bounds what reaches it (forks deeper than the reorganisation limit are refused).
#[derive(Clone, Debug, Default)]
pub struct MemoryChainStore {
    blocks: BTreeMap<BlockHash, Block>,
    best: Option<BlockHash>,
}

impl MemoryChainStore {
    /// An empty store.
    pub fn new() -> MemoryChainStore {
        MemoryChainStore::default()
    }

    /// Number of blocks held.
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    /// Whether no block is held.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }
}

impl ChainStore for MemoryChainStore {
    fn put_block(&mut self, hash: BlockHash, block: &Block) -> Result<()> {
        self.blocks.insert(hash, block.clone());
        Ok(())
    }

    fn block(&self, hash: &BlockHash) -> Result<Option<Block>> {
        Ok(self.blocks.get(hash).cloned())
    }

    fn set_best(&mut self, hash: BlockHash) -> Result<()> {
        self.best = Some(hash);
        Ok(())
    }

    fn best(&self) -> Result<Option<BlockHash>> {
        Ok(self.best)
    }
}
