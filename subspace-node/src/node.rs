//! [`Node`]: a [`Host`] running on tokio over any [`Transport`], behind an async handle.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use subspace_crypto::{ContractId, Keypair, NodeId, RecordKey};
use subspace_record::{Receipt, Record, RecordBuilder};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::chain::{ChainService, ChainStats};
use crate::clock::{Clock, SystemClock};
use crate::contracts::ContractTerms;
use crate::host::{Completion, Host, HostConfig, HostStats, OpId};
use crate::ledger::ContractLedger;
use crate::store::{RecordStore, Usage};
use crate::transport::Transport;
use crate::{NodeError, Result};
use subspace_ledger::state::DataContractState;

/// What [`NodeHandle::status`] reports.
#[derive(Clone, Debug)]
pub struct NodeStatus {
    /// This node's id.
    pub id: NodeId,
    /// Live gossip members, this node included.
    pub live_members: usize,
    /// Live members other than this node that replica placement can choose: those whose
    /// pledge the ledger backs (every member, on a network without a chain).
    pub placeable_members: usize,
    /// Local shard usage.
    pub usage: Usage,
    /// Workflow counters.
    pub stats: HostStats,
    /// The ledger, if this node runs one.
    pub chain: Option<ChainStatus>,
    /// Data contracts this node owns and keeps contract-state records for.
    pub contracts: Vec<crate::host::OwnedContractStatus>,
}

/// The ledger part of [`NodeStatus`].
#[derive(Clone, Debug)]
pub struct ChainStatus {
    /// Tip, counters.
    pub stats: ChainStats,
    /// This node's spendable credits on the best chain.
    pub balance: u64,
    /// Farmers of the last [`RECENT_BLOCKS`] best-chain blocks, with their counts (hex keys).
    pub recent_farmers: BTreeMap<String, u64>,
    /// Plots this node farms (0 if it does not farm).
    pub plots: usize,
    /// The Cost of Storage at the tip (fixed point, 64 fractional bits), if published.
    pub cos: Option<u128>,
    /// The tip's archive key: its linked immutable record on SSDB ([`crate::archive`]).
    pub archive_key: Option<subspace_crypto::RecordKey>,
}

/// How many recent blocks [`ChainStatus::recent_farmers`] covers.
pub const RECENT_BLOCKS: u64 = 64;

enum Command {
    Put(Box<Record>, oneshot::Sender<Result<Vec<Receipt>>>),
    Get(RecordKey, oneshot::Sender<Result<Record>>),
    Status(oneshot::Sender<NodeStatus>),
    Leave(oneshot::Sender<Result<()>>),
    CreateContract(ContractTerms, oneshot::Sender<Result<ContractId>>),
    DataContract(ContractId, oneshot::Sender<Option<DataContractState>>),
}

/// Builds a [`Node`]: `Node::builder().keypair(..).store(..).transport(..).config(..).spawn()`.
pub struct NodeBuilder<S, T> {
    keypair: Option<Keypair>,
    store: Option<S>,
    transport: Option<T>,
    ledger: Option<Arc<dyn ContractLedger>>,
    clock: Arc<dyn Clock>,
    config: HostConfig,
    seeds: Vec<NodeId>,
    contract: ContractId,
    rng_seed: u64,
    chain: Option<ChainService>,
    owned: Vec<ContractId>,
}

/// Namespace for [`Node::builder`].
#[derive(Debug)]
pub struct Node;

impl Node {
    /// A builder with the system clock and default settings.
    pub fn builder<S: RecordStore, T: Transport>() -> NodeBuilder<S, T> {
        NodeBuilder {
            keypair: None,
            store: None,
            transport: None,
            ledger: None,
            clock: Arc::new(SystemClock),
            config: HostConfig::default(),
            seeds: Vec::new(),
            contract: ContractId::from_bytes([0; 32]),
            rng_seed: 0,
            chain: None,
            owned: Vec::new(),
        }
    }
}

impl<S: RecordStore, T: Transport> NodeBuilder<S, T> {
    /// The node identity (required).
    pub fn keypair(mut self, keypair: Keypair) -> Self {
        self.keypair = Some(keypair);
        self
    }

    /// The local shard (required).
    pub fn store(mut self, store: S) -> Self {
        self.store = Some(store);
        self
    }

    /// The transport (required).
    pub fn transport(mut self, transport: T) -> Self {
        self.transport = Some(transport);
        self
    }

    /// The contract seam (required; [`crate::MemoryLedger`] until the ledger lands).
    pub fn ledger(mut self, ledger: Arc<dyn ContractLedger>) -> Self {
        self.ledger = Some(ledger);
        self
    }

    /// Workflow settings.
    pub fn config(mut self, config: HostConfig) -> Self {
        self.config = config;
        self
    }

    /// The time source (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Peers to join the network through (gossip join and DHT bootstrap).
    pub fn seeds(mut self, seeds: Vec<NodeId>) -> Self {
        self.seeds = seeds;
        self
    }

    /// The host's pledge contract, announced in its gossip join.
    pub fn contract(mut self, contract: ContractId) -> Self {
        self.contract = contract;
        self
    }

    /// A data contract this node owns outside the chain (e.g. a `[[contract]]` of the
    /// config): its tally is kept in a contract-state record ([`Host::track_contract`]).
    /// Contracts the node owns on the chain are tracked without this.
    pub fn owned_contract(mut self, contract: ContractId) -> Self {
        self.owned.push(contract);
        self
    }

    /// Runs the ledger on the network (and farms, if the service has plots).
    pub fn chain(mut self, chain: ChainService) -> Self {
        self.chain = Some(chain);
        self
    }

    /// Seed of every random choice the node makes (peer sampling, DHT, gossip).
    pub fn rng_seed(mut self, seed: u64) -> Self {
        self.rng_seed = seed;
        self
    }

    /// Joins the network and starts the event loop on the current tokio runtime.
    pub fn spawn(self) -> Result<NodeHandle> {
        let missing = |what| NodeError::InvalidRecord(format!("node builder: {what} not set"));
        let keypair = self.keypair.ok_or_else(|| missing("keypair"))?;
        let store = self.store.ok_or_else(|| missing("store"))?;
        let transport = self.transport.ok_or_else(|| missing("transport"))?;
        let ledger = self.ledger.ok_or_else(|| missing("ledger"))?;
        let id = keypair.node_id();
        let mut host = Host::new(
            keypair,
            store,
            ledger,
            self.clock.clone(),
            self.config,
            self.rng_seed,
        );
        if let Some(chain) = self.chain {
            host.set_chain(chain);
        }
        for c in self.owned {
            host.track_contract(c);
        }
        host.join(self.contract, &self.seeds)?;
        let (tx, rx) = mpsc::channel(1024);
        let task = tokio::spawn(run(host, transport, self.clock, rx));
        Ok(NodeHandle {
            id,
            commands: tx,
            task: Arc::new(Mutex::new(Some(task))),
            rng: Arc::new(Mutex::new(ChaCha20Rng::seed_from_u64(
                self.rng_seed ^ 0xDE1,
            ))),
        })
    }
}

async fn run<S: RecordStore, T: Transport>(
    mut host: Host<S>,
    mut transport: T,
    clock: Arc<dyn Clock>,
    mut commands: mpsc::Receiver<Command>,
) {
    let mut puts: BTreeMap<OpId, oneshot::Sender<Result<Vec<Receipt>>>> = BTreeMap::new();
    let mut gets: BTreeMap<OpId, oneshot::Sender<Result<Record>>> = BTreeMap::new();
    loop {
        while let Some((to, bytes)) = host.poll_transmit() {
            if let Err(e) = transport.send(to, bytes) {
                tracing::debug!(%to, error = %e, "send failed");
            }
        }
        while let Some((op, c)) = host.poll_completion() {
            match c {
                Completion::Put(r) => {
                    if let Some(tx) = puts.remove(&op) {
                        let _ = tx.send(r);
                    }
                }
                Completion::Get(r) => {
                    if let Some(tx) = gets.remove(&op) {
                        let _ = tx.send(r);
                    }
                }
            }
        }
        let wait = host.poll_timeout().map_or(Duration::from_secs(1), |t| {
            t.saturating_duration_since(clock.now())
        });
        tokio::select! {
            ev = transport.recv() => match ev {
                Some(ev) => host.handle_event(ev),
                None => break,
            },
            cmd = commands.recv() => match cmd {
                Some(Command::Put(record, tx)) => {
                    let op = host.start_put(&record);
                    puts.insert(op, tx);
                }
                Some(Command::Get(key, tx)) => {
                    let op = host.start_get(key);
                    gets.insert(op, tx);
                }
                Some(Command::Status(tx)) => {
                    let archive = host.chain_mut().and_then(|c| {
                        let tip = c.chain().state().tip().hash;
                        c.archive_key(&tip)
                    });
                    let _ = tx.send(NodeStatus {
                        id: host.id(),
                        live_members: host.gossip().live_members().len(),
                        placeable_members: host.placeable_members(),
                        usage: host.store().usage(),
                        stats: host.stats(),
                        contracts: host.owned_contracts(),
                        chain: host.chain().map(|c| ChainStatus {
                            stats: c.stats(),
                            balance: c.balance(&host.public_key()),
                            recent_farmers: c
                                .recent_farmers(RECENT_BLOCKS)
                                .into_iter()
                                .map(|(k, n)| (k.to_string(), n))
                                .collect(),
                            plots: c.plots().map_or(0, |p| p.len()),
                            cos: c.chain().state().tip().cos.map(|c| c.0),
                            archive_key: archive,
                        }),
                    });
                }
                Some(Command::Leave(tx)) => {
                    let _ = tx.send(host.leave());
                }
                Some(Command::CreateContract(terms, tx)) => {
                    let _ = tx.send(host.create_data_contract(&terms));
                }
                Some(Command::DataContract(id, tx)) => {
                    let c = host
                        .chain()
                        .and_then(|c| c.chain().state().data_contract(&id).cloned());
                    let _ = tx.send(c);
                }
                None => break,
            },
            _ = tokio::time::sleep(wait) => host.handle_timeout(),
        }
    }
}

/// A running node: async client API over its event loop. Clones share the node.
#[derive(Clone)]
pub struct NodeHandle {
    id: NodeId,
    commands: mpsc::Sender<Command>,
    task: Arc<Mutex<Option<JoinHandle<()>>>>,
    rng: Arc<Mutex<ChaCha20Rng>>,
}

impl std::fmt::Debug for NodeHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeHandle").field("id", &self.id).finish()
    }
}

impl NodeHandle {
    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// Stores `record` with R replicas; returns every holder's receipt after the final
    /// acknowledgement, or [`NodeError::PutFailed`] naming the step that failed.
    pub async fn put(&self, record: Record) -> Result<Vec<Receipt>> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Put(Box::new(record), tx))
            .await
            .map_err(|_| NodeError::Closed)?;
        rx.await.map_err(|_| NodeError::Closed)?
    }

    /// Fetches and validates the record under `key` (the highest version if mutable).
    pub async fn get(&self, key: RecordKey) -> Result<Record> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Get(key, tx))
            .await
            .map_err(|_| NodeError::Closed)?;
        rx.await.map_err(|_| NodeError::Closed)?
    }

    /// Deletes a mutable record by publishing a tombstone: its next version with no data,
    /// signed by `signer` (the record key or a Writer), stamped `unix_secs`.
    pub async fn delete(
        &self,
        current: &Record,
        signer: &Keypair,
        unix_secs: u64,
    ) -> Result<Vec<Receipt>> {
        let tombstone = {
            let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
            RecordBuilder::next_version(current, unix_secs)
                .and_then(|b| b.data(Vec::new()).build(signer, &mut *rng))
                .map_err(|e| NodeError::InvalidRecord(e.to_string()))?
        };
        self.put(tombstone).await
    }

    /// Membership, storage and workflow counters.
    pub async fn status(&self) -> Result<NodeStatus> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Status(tx))
            .await
            .map_err(|_| NodeError::Closed)?;
        rx.await.map_err(|_| NodeError::Closed)
    }

    /// Creates a data contract owned by this node's key, funded from its credits; the id is
    /// final, the contract usable once a block includes it ([`NodeHandle::data_contract`]).
    pub async fn create_contract(&self, terms: ContractTerms) -> Result<ContractId> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::CreateContract(terms, tx))
            .await
            .map_err(|_| NodeError::Closed)?;
        rx.await.map_err(|_| NodeError::Closed)?
    }

    /// A data contract on this node's best chain.
    pub async fn data_contract(&self, id: ContractId) -> Result<Option<DataContractState>> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::DataContract(id, tx))
            .await
            .map_err(|_| NodeError::Closed)?;
        rx.await.map_err(|_| NodeError::Closed)
    }

    /// Leaves the network gracefully (holders of this node's records heal them elsewhere).
    pub async fn leave(&self) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Leave(tx))
            .await
            .map_err(|_| NodeError::Closed)?;
        rx.await.map_err(|_| NodeError::Closed)?
    }

    /// Stops the event loop at once (as a crash would: no leave is sent).
    pub fn abort(&self) {
        if let Some(t) = self.task.lock().unwrap_or_else(|p| p.into_inner()).take() {
            t.abort();
        }
    }
}
