//! [`RedbChainStore`]: the ledger's [`ChainStore`] persisted with redb in the data directory.
//!
//! Blocks are stored under their hash in their canonical encoding; the best tip under a fixed
//! key. redb commits durably, so a block whose insertion returned is on disk, and a crash
//! leaves either the old best tip or the new one. On reopen the ledger re-validates the stored
//! best chain from genesis ([`subspace_ledger::Chain::open`]); a block that no longer decodes is
//! reported as a store error rather than trusted.

use std::path::Path;

use redb::{Database, ReadableTableMetadata, TableDefinition};
use subspace_crypto::BlockHash;
use subspace_ledger::{Block, ChainStore, LedgerError};

const BLOCKS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("blocks");
const META: TableDefinition<&str, &[u8; 32]> = TableDefinition::new("meta");
const BEST: &str = "best";

/// File name of the chain database inside a data directory.
pub const CHAIN_FILE: &str = "chain.redb";

fn store_err(e: impl std::fmt::Display) -> LedgerError {
    LedgerError::Store(e.to_string())
}

/// Blocks and the best tip in one redb file.
pub struct RedbChainStore {
    db: Database,
}

impl std::fmt::Debug for RedbChainStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbChainStore").finish_non_exhaustive()
    }
}

impl RedbChainStore {
    /// Opens (or creates) the store in `path` (a file, e.g. `<data-dir>/chain.redb`).
    pub fn open(path: impl AsRef<Path>) -> Result<RedbChainStore, LedgerError> {
        let db = Database::create(path.as_ref()).map_err(store_err)?;
        let txn = db.begin_write().map_err(store_err)?;
        txn.open_table(BLOCKS).map_err(store_err)?;
        txn.open_table(META).map_err(store_err)?;
        txn.commit().map_err(store_err)?;
        Ok(RedbChainStore { db })
    }

    /// Number of blocks stored.
    pub fn len(&self) -> Result<u64, LedgerError> {
        let read = self.db.begin_read().map_err(store_err)?;
        let table = read.open_table(BLOCKS).map_err(store_err)?;
        table.len().map_err(store_err)
    }

    /// Whether no block is stored.
    pub fn is_empty(&self) -> Result<bool, LedgerError> {
        Ok(self.len()? == 0)
    }
}

impl ChainStore for RedbChainStore {
    fn put_block(&mut self, hash: BlockHash, block: &Block) -> Result<(), LedgerError> {
        let bytes = block.encode()?;
        let txn = self.db.begin_write().map_err(store_err)?;
        {
            let mut table = txn.open_table(BLOCKS).map_err(store_err)?;
            table
                .insert(hash.as_bytes(), bytes.as_slice())
                .map_err(store_err)?;
        }
        txn.commit().map_err(store_err)
    }

    fn block(&self, hash: &BlockHash) -> Result<Option<Block>, LedgerError> {
        let read = self.db.begin_read().map_err(store_err)?;
        let table = read.open_table(BLOCKS).map_err(store_err)?;
        match table.get(hash.as_bytes()).map_err(store_err)? {
            None => Ok(None),
            Some(v) => Block::decode(v.value())
                .map(Some)
                .map_err(|e| store_err(format!("stored block {hash} does not decode: {e}"))),
        }
    }

    fn set_best(&mut self, hash: BlockHash) -> Result<(), LedgerError> {
        let txn = self.db.begin_write().map_err(store_err)?;
        {
            let mut table = txn.open_table(META).map_err(store_err)?;
            table.insert(BEST, hash.as_bytes()).map_err(store_err)?;
        }
        txn.commit().map_err(store_err)
    }

    fn best(&self) -> Result<Option<BlockHash>, LedgerError> {
        let read = self.db.begin_read().map_err(store_err)?;
        let table = read.open_table(META).map_err(store_err)?;
        Ok(table
            .get(BEST)
            .map_err(store_err)?
            .map(|v| BlockHash::from_bytes(*v.value())))
    }
}

/// A boxed [`ChainStore`], so the node can hold any store behind one type.
pub struct DynChainStore(pub Box<dyn ChainStore + Send>);

impl std::fmt::Debug for DynChainStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynChainStore").finish_non_exhaustive()
    }
}

impl ChainStore for DynChainStore {
    fn put_block(&mut self, hash: BlockHash, block: &Block) -> Result<(), LedgerError> {
        self.0.put_block(hash, block)
    }
    fn block(&self, hash: &BlockHash) -> Result<Option<Block>, LedgerError> {
        self.0.block(hash)
    }
    fn set_best(&mut self, hash: BlockHash) -> Result<(), LedgerError> {
        self.0.set_best(hash)
    }
    fn best(&self) -> Result<Option<BlockHash>, LedgerError> {
        self.0.best()
    }
}
