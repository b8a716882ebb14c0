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

#[cfg(test)]
mod tests {
    use super::*;
    use subspace_crypto::Keypair;
    use subspace_ledger::{ConsensusParams, GenesisBuilder};

    fn block(seed: u8) -> Block {
        GenesisBuilder::new(1_700_000_000 + u64::from(seed), [seed; 32])
            .allocate(&Keypair::from_seed(&[seed; 32]).public(), 7)
            .build(&ConsensusParams::default(), &Keypair::from_seed(&[1; 32]))
            .unwrap()
    }

    #[test]
    fn blocks_and_the_best_tip_survive_a_reopen() {
        let dir = std::env::temp_dir().join(format!("subspace-chain-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(CHAIN_FILE);
        let (a, b) = (block(1), block(2));
        let (ha, hb) = (a.hash().unwrap(), b.hash().unwrap());
        {
            let mut s = RedbChainStore::open(&path).unwrap();
            assert!(s.is_empty().unwrap());
            assert_eq!(s.best().unwrap(), None);
            s.put_block(ha, &a).unwrap();
            s.put_block(hb, &b).unwrap();
            s.set_best(hb).unwrap();
        }
        let s = RedbChainStore::open(&path).unwrap();
        assert_eq!(s.len().unwrap(), 2);
        assert_eq!(s.best().unwrap(), Some(hb));
        assert_eq!(s.block(&ha).unwrap(), Some(a));
        assert_eq!(s.block(&hb).unwrap(), Some(b));
        assert_eq!(s.block(&BlockHash::from_bytes([9; 32])).unwrap(), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_stored_block_that_no_longer_decodes_is_a_store_error() {
        let dir = std::env::temp_dir().join(format!("subspace-chain-bad-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let s = RedbChainStore::open(dir.join(CHAIN_FILE)).unwrap();
        let txn = s.db.begin_write().unwrap();
        txn.open_table(BLOCKS)
            .unwrap()
            .insert(&[3u8; 32], &b"junk"[..])
            .unwrap();
        txn.commit().unwrap();
        assert!(matches!(
            s.block(&BlockHash::from_bytes([3; 32])),
            Err(LedgerError::Store(_))
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
