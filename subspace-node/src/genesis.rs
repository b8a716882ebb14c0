//! [`NetworkGenesis`]: what every node of one network must share — the genesis block and the
//! consensus parameters — as one file (`genesis.bin` in the data directory).
//!
//! A network's founder writes it once (the devnet does this for its nodes) and every operator
//! copies it into their data directory; nodes with different genesis files cannot agree on any
//! block, so `run` reports its hash at start.

use serde::{Deserialize, Serialize};
use subspace_crypto::{BlockHash, codec};
use subspace_ledger::{Block, ConsensusParams};

use crate::{NodeError, Result};

/// File name of the genesis inside a data directory.
pub const GENESIS_FILE: &str = "genesis.bin";
/// Largest genesis file accepted.
pub const MAX_GENESIS_BYTES: usize = 4 << 20;
const VERSION: u32 = 1;

/// The genesis block and the consensus parameters of a network.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkGenesis {
    version: u32,
    target_block_secs: u64,
    retarget_window: u64,
    initial_difficulty: u64,
    block_reward: u64,
    min_k: u8,
    block: Vec<u8>,
}

fn bad(what: impl std::fmt::Display) -> NodeError {
    NodeError::InvalidRecord(format!("genesis file: {what}"))
}

impl NetworkGenesis {
    /// Bundles `block` (built with `params`) for distribution.
    pub fn new(params: &ConsensusParams, block: &Block) -> Result<NetworkGenesis> {
        Ok(NetworkGenesis {
            version: VERSION,
            target_block_secs: params.target_block_secs,
            retarget_window: params.retarget_window,
            initial_difficulty: params.initial_difficulty,
            block_reward: params.block_reward,
            min_k: params.min_k,
            block: block.encode().map_err(bad)?,
        })
    }

    /// The consensus parameters: the file's values over the defaults for everything else.
    pub fn params(&self) -> ConsensusParams {
        ConsensusParams {
            target_block_secs: self.target_block_secs,
            retarget_window: self.retarget_window,
            initial_difficulty: self.initial_difficulty,
            block_reward: self.block_reward,
            min_k: self.min_k,
            ..ConsensusParams::default()
        }
    }

    /// The genesis block.
    pub fn block(&self) -> Result<Block> {
        Block::decode(&self.block).map_err(bad)
    }

    /// The genesis block's hash (names the network).
    pub fn hash(&self) -> Result<BlockHash> {
        self.block()?.hash().map_err(bad)
    }

    /// The file's bytes.
    pub fn encode(&self) -> Result<Vec<u8>> {
        Ok(codec::encode(self)?)
    }

    /// Decodes untrusted bytes (bounded, typed errors) and checks the parameters and block.
    pub fn decode(bytes: &[u8]) -> Result<NetworkGenesis> {
        let g: NetworkGenesis = codec::decode_bounded::<NetworkGenesis, MAX_GENESIS_BYTES>(bytes)?;
        if g.version != VERSION {
            return Err(bad(format!(
                "version {} (this node reads {VERSION})",
                g.version
            )));
        }
        g.params().check().map_err(bad)?;
        let block = g.block()?;
        if block.header.height != 0 {
            return Err(bad("the block is not a genesis block"));
        }
        Ok(g)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use subspace_crypto::Keypair;
    use subspace_ledger::GenesisBuilder;

    fn sample() -> NetworkGenesis {
        let params = ConsensusParams {
            target_block_secs: 3,
            ..ConsensusParams::default()
        };
        let block = GenesisBuilder::new(1_700_000_000, [1; 32])
            .allocate(&Keypair::from_seed(&[2; 32]).public(), 5)
            .build(&params, &Keypair::from_seed(&[3; 32]))
            .unwrap();
        NetworkGenesis::new(&params, &block).unwrap()
    }

    #[test]
    fn round_trips_and_keeps_the_parameters() {
        let g = sample();
        let back = NetworkGenesis::decode(&g.encode().unwrap()).unwrap();
        assert_eq!(back, g);
        assert_eq!(back.params().target_block_secs, 3);
        assert_eq!(back.hash().unwrap(), g.block().unwrap().hash().unwrap());
    }

    #[test]
    fn refuses_bad_parameters_and_versions() {
        let mut g = sample();
        g.target_block_secs = 0;
        assert!(NetworkGenesis::decode(&g.encode().unwrap()).is_err());
        let mut g = sample();
        g.version = 9;
        assert!(NetworkGenesis::decode(&g.encode().unwrap()).is_err());
    }

    proptest! {
        #[test]
        fn any_bytes_give_a_typed_result(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = NetworkGenesis::decode(&bytes);
        }

        #[test]
        fn mutated_files_never_panic(i in 0usize..4096, v in any::<u8>()) {
            let mut b = sample().encode().unwrap();
            let n = b.len();
            b[i % n] = v;
            let _ = NetworkGenesis::decode(&b);
        }
    }
}
