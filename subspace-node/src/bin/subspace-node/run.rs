//! `subspace-node run`: plot the pledge, join the network, serve the control channel, and on
//! Ctrl-C (or SIGTERM, or `stop`) leave gracefully.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::OsRng;
use rand_core::RngCore;
use subspace_crypto::{ContractId, Keypair, NodeId};
use subspace_ledger::{Chain, SubspacePos};
use subspace_node::config::{DataDir, NodeConfig};
use subspace_node::control::{self, ControlContext, LocalInfo};
use subspace_node::{
    ChainConfig, ChainContracts, ChainLedger, ChainService, ContractLedger, DiskStore,
    DiskStoreConfig, DynChainStore, HostConfig, MemoryLedger, NetworkGenesis, Node, RedbChainStore,
    TcpConfig, TcpTransport,
};
use subspace_pos::{PlotSet, nominal_plot_bytes, plot_count};
use tokio::sync::Notify;

use crate::{CliError, Exit, RunArgs};

/// Bootstrap dial attempts before giving up on an address.
const DIAL_ATTEMPTS: u32 = 5;

pub async fn run(dir: &DataDir, args: RunArgs, json: bool) -> Result<(), CliError> {
    let keypair = dir.node_keypair()?;
    let mut cfg = dir.config()?;
    apply(&mut cfg, &args);
    let pledge = cfg.pledge_bytes()?;
    // A bad genesis file fails before any plotting.
    let genesis = load_genesis(dir, cfg.farming.farm)?;
    let plots = plot_pledge(dir, &cfg, &keypair, pledge).await?;
    let plots_info = (
        plots.as_ref().map_or(0, PlotSet::len),
        plots.as_ref().map_or(0, PlotSet::pledged_bytes),
    );

    let store = DiskStore::open(
        dir.store_dir(),
        DiskStoreConfig {
            pledged: pledge,
            ..DiskStoreConfig::default()
        },
    )?;
    let transport = TcpTransport::bind(keypair.clone(), cfg.network.listen, TcpConfig::default())
        .await
        .map_err(|e| {
            CliError::new(
                Exit::Unreachable,
                format!(
                    "cannot listen on {}: {e}; pick another --listen address",
                    cfg.network.listen
                ),
            )
        })?;
    let announced = cfg.network.announced(transport.local_addr());
    let seeds = dial_bootstrap(&transport, &cfg.network.bootstrap).await?;
    let peers = transport.dialer();
    let contracts = ChainContracts::new();
    let mut chain = match genesis {
        Some(g) => {
            Some(open_chain(dir, &g, &cfg, &keypair, plots)?.with_contracts(contracts.clone()))
        }
        None => {
            tracing::info!("no genesis file: running without the ledger");
            None
        }
    };
    let unix_now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // The gossip join references the host storage contract (active, or about to be
    // published); a node without one joins under an id derived from its own.
    let host_contract = chain
        .as_mut()
        .and_then(|c| c.host_contract(unix_now, &mut OsRng))
        .unwrap_or_else(|| ContractId::from_bytes(keypair.node_id().to_bytes()));

    let ledger = MemoryLedger::new();
    let mut default_contract = None;
    let mut owned = Vec::new();
    for c in &cfg.contract {
        let (id, owner) = c.parse()?;
        ledger.open_contract(id, owner, c.max_record_bytes);
        if owner == keypair.public() {
            default_contract.get_or_insert(id);
            owned.push(id);
        }
    }
    let ledger: Arc<dyn ContractLedger> = if chain.is_some() {
        Arc::new(ChainLedger::new(contracts, ledger))
    } else {
        Arc::new(ledger)
    };
    let host_cfg = HostConfig {
        replicas: cfg.storage.replicas,
        layers: cfg.storage.por_layers,
        pledged_bytes: pledge,
        ..HostConfig::default()
    };
    let mut builder = Node::builder();
    for id in owned {
        builder = builder.owned_contract(id);
    }
    if let Some(chain) = chain {
        builder = builder.chain(chain);
    }
    let node = builder
        .keypair(keypair.clone())
        .store(store)
        .transport(transport)
        .ledger(ledger)
        .config(host_cfg)
        .seeds(seeds)
        .contract(host_contract)
        .rng_seed(OsRng.next_u64())
        .spawn()?;

    let stop = Arc::new(Notify::new());
    let ctx = ControlContext {
        node: node.clone(),
        keypair: keypair.clone(),
        default_contract,
        peers,
        info: LocalInfo {
            listen: announced.to_string(),
            plots: plots_info.0,
            plotted_bytes: plots_info.1,
            pledged_bytes: pledge,
        },
        started: Instant::now(),
        stop: stop.clone(),
    };
    let control_path = dir.control_path();
    let file = control::serve(ctx, &control_path).await?;
    tracing::info!(node_id = %keypair.node_id(), listen = %announced, control = %file.addr, "node running");
    if json {
        println!(
            "{}",
            serde_json::json!({
                "event": "running",
                "node_id": keypair.node_id().to_string(),
                "listen": announced.to_string(),
            })
        );
    } else {
        println!("node {} listening on {announced}", keypair.node_id());
    }

    wait_for_shutdown(&stop).await;
    tracing::info!("shutting down: leaving the network");
    match tokio::time::timeout(Duration::from_secs(3), node.leave()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "leave failed"),
        Err(_) => tracing::warn!("leave timed out"),
    }
    // Give the transport a moment to put the Leave on the wire before the sockets close.
    tokio::time::sleep(Duration::from_millis(300)).await;
    node.abort();
    let _ = std::fs::remove_file(&control_path);
    Ok(())
}

fn apply(cfg: &mut NodeConfig, args: &RunArgs) {
    if let Some(l) = args.listen {
        cfg.network.listen = l;
    }
    if !args.bootstrap.is_empty() {
        cfg.network.bootstrap = args.bootstrap.clone();
    }
    if let Some(p) = &args.pledge {
        cfg.storage.pledge = p.clone();
    }
    if args.farm {
        cfg.farming.farm = true;
    }
}

/// Reads the data directory's `genesis.bin`. Without one the node stores records but runs no
/// ledger; asking it to farm then is an error.
fn load_genesis(dir: &DataDir, farm: bool) -> Result<Option<NetworkGenesis>, CliError> {
    let path = dir.genesis_path();
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if farm {
                return Err(CliError::new(
                    Exit::Config,
                    format!(
                        "farming needs the network's genesis file at {}; copy it from the network's founder (devnet writes one per node)",
                        path.display()
                    ),
                ));
            }
            return Ok(None);
        }
        Err(e) => {
            return Err(CliError::new(
                Exit::File,
                format!("cannot read {}: {e}", path.display()),
            ));
        }
    };
    NetworkGenesis::decode(&bytes).map(Some).map_err(|e| {
        CliError::new(
            Exit::Config,
            format!(
                "{}: {e}; replace it with the network's genesis file",
                path.display()
            ),
        )
    })
}

/// Opens the ledger from `genesis` and the data directory's `chain.redb` (re-validating the
/// stored best chain), farming with `plots` if asked.
fn open_chain(
    dir: &DataDir,
    genesis: &NetworkGenesis,
    cfg: &NodeConfig,
    keypair: &Keypair,
    plots: Option<PlotSet>,
) -> Result<ChainService, CliError> {
    let farm = cfg.farming.farm;
    let params = genesis.params();
    let block = genesis.block()?;
    let chain_path = dir.chain_path();
    let store = RedbChainStore::open(&chain_path).map_err(|e| {
        CliError::new(
            Exit::File,
            format!("chain database {}: {e}", chain_path.display()),
        )
    })?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let chain = Chain::open(
        &block,
        params.clone(),
        DynChainStore(Box::new(store)),
        SubspacePos::default(),
        now,
    )
    .map_err(|e| {
        CliError::new(
            Exit::File,
            format!(
                "chain database {}: {e}; move it away to fetch the chain from peers again",
                chain_path.display()
            ),
        )
    })?;
    tracing::info!(
        genesis = %genesis.hash()?,
        height = chain.state().height(),
        "ledger opened"
    );
    let mut service = ChainService::new(
        ChainConfig {
            params,
            host_interval_secs: (cfg.farming.host_interval_secs > 0)
                .then_some(cfg.farming.host_interval_secs),
            ..ChainConfig::default()
        },
        chain,
    );
    match (farm, plots) {
        (true, Some(plots)) => service = service.with_farmer(keypair.clone(), plots),
        (true, None) => {
            return Err(CliError::new(
                Exit::Config,
                "farming needs plots: give a pledge (--pledge 64MiB)",
            ));
        }
        (false, _) => {}
    }
    Ok(service)
}

async fn wait_for_shutdown(stop: &Notify) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "no SIGTERM handler");
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = stop.notified() => {}
                }
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
            _ = stop.notified() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = stop.notified() => {}
    }
}

/// Dials every bootstrap address (with retries); fails only if none answers.
async fn dial_bootstrap(
    transport: &TcpTransport,
    addrs: &[SocketAddr],
) -> Result<Vec<NodeId>, CliError> {
    let mut seeds = Vec::new();
    let mut last = String::new();
    for addr in addrs {
        for attempt in 0..DIAL_ATTEMPTS {
            match transport.connect(*addr).await {
                Ok(id) => {
                    tracing::info!(%addr, peer = %id, "connected to bootstrap peer");
                    seeds.push(id);
                    break;
                }
                Err(e) => {
                    last = format!("{addr}: {e}");
                    if attempt + 1 < DIAL_ATTEMPTS {
                        tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
                    }
                }
            }
        }
    }
    if !addrs.is_empty() && seeds.is_empty() {
        return Err(CliError::new(
            Exit::Unreachable,
            format!(
                "network unreachable: no bootstrap peer answered (last: {last}); check --bootstrap and that those nodes run"
            ),
        ));
    }
    Ok(seeds)
}

/// Plots (or reopens) the pledge, with a progress bar on the terminal.
async fn plot_pledge(
    dir: &DataDir,
    cfg: &NodeConfig,
    keypair: &Keypair,
    pledge: u64,
) -> Result<Option<PlotSet>, CliError> {
    if pledge == 0 {
        return Ok(None);
    }
    let k = cfg.farming.plot_k;
    let n = plot_count(pledge, k).map_err(|e| {
        CliError::new(
            Exit::Config,
            format!(
                "pledge of {pledge} bytes: {e}; a k={k} plot counts for {} bytes",
                nominal_plot_bytes(k)
            ),
        )
    })?;
    let bar = ProgressBar::new(n * 1000);
    bar.set_style(
        ProgressStyle::with_template("plotting {msg} [{bar:40}] {percent}% ({elapsed}, eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let host = keypair.public();
    let plots_dir = dir.plots_dir();
    let threads = cfg.farming.plot_threads.max(1);
    let started = Instant::now();
    let b = bar.clone();
    let set = tokio::task::spawn_blocking(move || {
        PlotSet::create(&plots_dir, &host, k, pledge, threads, move |index, p| {
            b.set_message(format!("plot {}/{n}", index + 1));
            b.set_position(index * 1000 + (f64::from(p.fraction) * 1000.0) as u64);
        })
    })
    .await
    .map_err(|e| CliError::new(Exit::Internal, format!("plotting task: {e}")))?
    .map_err(|e| CliError::new(Exit::File, format!("plotting failed: {e}")))?;
    bar.finish_and_clear();
    tracing::info!(
        plots = set.len(),
        k,
        bytes = set.pledged_bytes(),
        secs = started.elapsed().as_secs_f32(),
        "pledge plotted"
    );
    Ok(Some(set))
}
