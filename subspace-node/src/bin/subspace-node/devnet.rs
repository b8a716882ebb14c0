//! `subspace-node devnet`: N `run --farm` child processes on 127.0.0.1 sharing one genesis
//! (pre-farmed credits for every node) and one data contract, a sample file stored and fetched
//! end to end, blocks farmed by the nodes, and a live summary until Ctrl-C (or until
//! `--exit-after-blocks N` blocks are on every node's best chain).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use subspace_node::NetworkGenesis;
use subspace_node::config::DataDir;
use subspace_node::control::{self, Request};

use crate::{CliError, Exit};

/// Options of `devnet`.
#[derive(clap::Args, Clone, Debug)]
pub struct DevnetArgs {
    /// Number of nodes (child processes).
    #[arg(long, default_value_t = 5)]
    pub nodes: usize,
    /// Pledge of each node.
    #[arg(long, default_value = "16MiB")]
    pub pledge: String,
    /// Bytes of the sample file stored and fetched end to end.
    #[arg(long, default_value_t = 3 << 19)]
    pub sample_bytes: usize,
    /// Exit (stopping every node) once the sample file is back, instead of running until Ctrl-C.
    #[arg(long)]
    pub exit_after_sample: bool,
    /// Exit (stopping every node) once every node's best chain is N blocks high and they agree.
    #[arg(long, value_name = "N")]
    pub exit_after_blocks: Option<u64>,
    /// Target seconds between blocks of the devnet's chain.
    #[arg(long, default_value_t = 3)]
    pub block_secs: u64,
}

/// Where a devnet node's log goes: `node.log` in its data directory (appended), so that a
/// devnet that went wrong can be read afterwards.
fn node_log(d: &DataDir) -> Stdio {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(d.root().join("node.log"))
        .map_or_else(|_| Stdio::null(), Stdio::from)
}

/// Credits each devnet node starts with (the genesis "pre-farmed" reserve).
const DEVNET_CREDITS: u64 = 100_000_000_000_000;

/// Writes one genesis for all `dirs`: every node's key funded, parameters for a quick chain.
fn write_genesis(dirs: &[DataDir], block_secs: u64, plots_per_node: u64) -> Result<(), CliError> {
    let cfg_err =
        |e: &dyn std::fmt::Display| CliError::new(Exit::Internal, format!("devnet genesis: {e}"));
    let params = subspace_ledger::ConsensusParams {
        target_block_secs: block_secs.max(1),
        // The expected number of competing proofs per challenge: about one per plot.
        initial_difficulty: (plots_per_node * dirs.len() as u64).max(1),
        retarget_window: 16,
        ..subspace_ledger::ConsensusParams::default()
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut seed = [0u8; 32];
    rand_core::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seed);
    let mut builder = subspace_ledger::GenesisBuilder::new(now, seed);
    for d in dirs {
        builder = builder.allocate(&d.node_keypair()?.public(), DEVNET_CREDITS);
    }
    let signer = subspace_crypto::Keypair::from_seed(&seed);
    let block = builder.build(&params, &signer).map_err(|e| cfg_err(&e))?;
    let bytes = NetworkGenesis::new(&params, &block)?.encode()?;
    for d in dirs {
        std::fs::write(d.genesis_path(), &bytes)
            .map_err(|e| CliError::new(Exit::File, format!("devnet genesis: {e}")))?;
    }
    Ok(())
}

/// The children, stopped (then killed) on drop so none outlives the command.
struct Children {
    procs: Vec<(DataDir, Child)>,
}

impl Drop for Children {
    fn drop(&mut self) {
        for (_, c) in &mut self.procs {
            if let Ok(None) = c.try_wait() {
                let _ = Command::new("kill")
                    .args(["-INT", &c.id().to_string()])
                    .status();
            }
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        for (_, c) in &mut self.procs {
            while matches!(c.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

async fn status(dir: &DataDir) -> Option<serde_json::Value> {
    control::request(&dir.control_path(), Request::Status)
        .await
        .ok()
}

fn timed_out(what: &str) -> CliError {
    CliError::new(
        Exit::Unreachable,
        format!("devnet: timed out waiting for {what}"),
    )
}

pub async fn devnet(root: &Path, args: DevnetArgs, json: bool) -> Result<(), CliError> {
    if args.nodes < 2 {
        return Err(CliError::new(
            Exit::BadInput,
            "devnet needs --nodes 2 or more",
        ));
    }
    let exe = std::env::current_exe()
        .map_err(|e| CliError::new(Exit::Internal, format!("own path: {e}")))?;
    let root = root.join("devnet");
    let _ = std::fs::remove_dir_all(&root);
    let dirs: Vec<DataDir> = (0..args.nodes)
        .map(|i| DataDir::new(root.join(format!("node{i}"))))
        .collect();
    let mut rng = rand::rngs::OsRng;
    for d in &dirs {
        d.init(&mut rng)?;
    }
    // R is at most N - 1 since a client never hosts its own put. One Sloth layer keeps the
    // local network quick (a network constant, so it is the same everywhere).
    let replicas = (args.nodes - 1).min(3);
    let config = format!("[storage]\nreplicas = {replicas}\npor_layers = 1\n");
    for d in &dirs {
        std::fs::write(d.config_path(), &config)
            .map_err(|e| CliError::new(Exit::File, format!("devnet config: {e}")))?;
    }
    let plots_per_node = subspace_node::config::parse_size(&args.pledge)
        .ok()
        .and_then(|b| subspace_pos::plot_count(b, 16).ok())
        .unwrap_or(1);
    write_genesis(&dirs, args.block_secs, plots_per_node)?;

    let mut children = Children { procs: Vec::new() };
    let mut boot = None::<String>;
    for d in &dirs {
        let mut cmd = Command::new(&exe);
        cmd.arg("--data-dir")
            .arg(d.root())
            .args([
                "run",
                "--farm",
                "--listen",
                "127.0.0.1:0",
                "--pledge",
                &args.pledge,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(node_log(d));
        if let Some(b) = &boot {
            cmd.args(["--bootstrap", b]);
        }
        let child = cmd
            .spawn()
            .map_err(|e| CliError::new(Exit::Internal, format!("starting a node: {e}")))?;
        children.procs.push((d.clone(), child));
        let deadline = Instant::now() + Duration::from_secs(120);
        let listen = loop {
            if let Some(l) = status(d)
                .await
                .and_then(|s| s["listen"].as_str().map(String::from))
            {
                break l;
            }
            if Instant::now() > deadline {
                return Err(timed_out("a node to start"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        if boot.is_none() {
            boot = Some(listen);
        }
        if !json {
            eprintln!("devnet: node {} up", d.root().display());
        }
    }
    let n = args.nodes;
    let deadline = Instant::now() + Duration::from_secs(60);
    'mesh: loop {
        let mut all = true;
        for d in &dirs {
            all &= status(d).await.is_some_and(|s| s["live_members"] == n);
        }
        if all {
            break 'mesh;
        }
        if Instant::now() > deadline {
            return Err(timed_out("every node to see every other"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Node 0 (the sample's client) reserves space on the ledger once the hosts' contracts have
    // made a Cost of Storage: the data contract is created, funded and included by the chain.
    let deadline = Instant::now() + Duration::from_secs(120);
    while status(&dirs[0])
        .await
        .is_none_or(|s| s["chain"]["cos"].is_null())
    {
        if Instant::now() > deadline {
            return Err(timed_out("the hosts' contracts (a Cost of Storage)"));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Replicas go only to hosts whose pledge the chain backs: wait until node 0 sees enough
    // of them (their host contracts are in blocks it holds).
    let deadline = Instant::now() + Duration::from_secs(120);
    while status(&dirs[0])
        .await
        .is_none_or(|s| s["placeable_members"].as_u64() < Some(replicas as u64))
    {
        if Instant::now() > deadline {
            return Err(timed_out("enough hosts with a host contract on the chain"));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let created = control::request(
        &dirs[0].control_path(),
        Request::ContractCreate {
            bytes: args.sample_bytes as u64 + (1 << 20),
            secs: 3600,
            replication: replicas as u8,
        },
    )
    .await?;
    let contract = created["contract"].as_str().unwrap_or_default().to_string();
    if !json {
        eprintln!("devnet: data contract {contract} on the chain");
    }

    // The sample file, stored through node 0 and fetched through the last node.
    let sample = root.join("sample.bin");
    let mut data = vec![0u8; args.sample_bytes];
    rand_core::RngCore::fill_bytes(&mut rng, &mut data);
    std::fs::write(&sample, &data)
        .map_err(|e| CliError::new(Exit::File, format!("devnet sample: {e}")))?;
    let put = control::request(
        &dirs[0].control_path(),
        Request::Put {
            path: sample.clone(),
            contract: Some(contract.clone()),
            public: true,
            share: Vec::new(),
        },
    )
    .await?;
    let key = put["key"].as_str().unwrap_or_default().to_string();
    let fetched = root.join("sample.fetched");
    control::request(
        &dirs[n - 1].control_path(),
        Request::Get {
            key: key.clone(),
            out: fetched.clone(),
        },
    )
    .await?;
    let identical = std::fs::read(&fetched).is_ok_and(|f| f == data);

    if !identical {
        print_summary(
            &summarize(&dirs, &key, &contract, args.sample_bytes, identical).await,
            json,
        );
        return Err(CliError::new(
            Exit::Internal,
            "devnet: the fetched sample differs from the stored one",
        ));
    }
    if let Some(blocks) = args.exit_after_blocks {
        // Generous: plotting is over, so blocks come about every `block_secs`.
        let limit = Duration::from_secs(120 + blocks.saturating_mul(args.block_secs) * 10);
        let deadline = Instant::now() + limit;
        let mut last_print = Instant::now();
        loop {
            let mut tips = Vec::new();
            for d in &dirs {
                let s = status(d).await;
                tips.push(s.map(|s| (s["chain"]["height"].as_u64(), s["chain"]["tip"].clone())));
            }
            let agreed = tips.iter().all(|t| {
                t.as_ref().is_some_and(|(h, tip)| {
                    h.is_some_and(|h| h >= blocks)
                        && tips[0].as_ref().is_some_and(|(_, t0)| t0 == tip)
                })
            });
            if agreed {
                break;
            }
            if Instant::now() > deadline {
                print_summary(
                    &summarize(&dirs, &key, &contract, args.sample_bytes, identical).await,
                    json,
                );
                return Err(timed_out(&format!("{blocks} blocks on every node")));
            }
            if !json && last_print.elapsed() > Duration::from_secs(5) {
                print_summary(
                    &summarize(&dirs, &key, &contract, args.sample_bytes, identical).await,
                    false,
                );
                last_print = Instant::now();
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        print_summary(
            &summarize(&dirs, &key, &contract, args.sample_bytes, identical).await,
            json,
        );
        drop(children);
        return Ok(());
    }
    let summary = summarize(&dirs, &key, &contract, args.sample_bytes, identical).await;
    print_summary(&summary, json);
    if !args.exit_after_sample {
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                _ = tokio::time::sleep(Duration::from_secs(5)) => {
                    print_summary(&summarize(&dirs, &key, &contract, args.sample_bytes, identical).await, json);
                }
            }
        }
    }
    drop(children);
    Ok(())
}

async fn summarize(
    dirs: &[DataDir],
    key: &str,
    contract: &str,
    sample_bytes: usize,
    identical: bool,
) -> serde_json::Value {
    let mut nodes = Vec::new();
    let mut chain = serde_json::Value::Null;
    let mut names = serde_json::Map::new();
    for (i, d) in dirs.iter().enumerate() {
        let s = status(d).await.unwrap_or(serde_json::Value::Null);
        if let Some(pk) = s["public_key"].as_str() {
            names.insert(pk.to_string(), serde_json::json!(format!("node{i}")));
        }
        if chain.is_null() && !s["chain"].is_null() {
            chain = s["chain"].clone();
        }
        nodes.push(serde_json::json!({
            "data_dir": PathBuf::from(d.root()),
            "node_id": s["node_id"],
            "listen": s["listen"],
            "live_members": s["live_members"],
            "stored_records": s["stored_records"],
            "stored_bytes": s["stored_bytes"],
            "plots": s["plots"],
            "chain_height": s["chain"]["height"],
            "blocks_farmed": s["chain"]["blocks_farmed"],
            "balance": s["balance"],
        }));
    }
    // Who farmed the recent blocks, by node name, as the first answering node sees its chain.
    let mut farmed_by = serde_json::Map::new();
    if let Some(f) = chain["recent_farmers"].as_object() {
        for (pk, n) in f {
            let name = names
                .get(pk)
                .and_then(|v| v.as_str())
                .unwrap_or(pk.as_str());
            farmed_by.insert(name.to_string(), n.clone());
        }
    }
    serde_json::json!({
        "nodes": nodes,
        "sample": {
            "key": key,
            "contract": contract,
            "bytes": sample_bytes,
            "fetched_identical": identical,
        },
        "chain": {
            "height": chain["height"],
            "tip": chain["tip"],
            "cos": chain["cos"],
            "farmed_by": farmed_by,
            "farmers": farmed_by.len(),
        },
    })
}

fn print_summary(v: &serde_json::Value, json: bool) {
    if json {
        println!("{v}");
        return;
    }
    println!(
        "sample {} ({} bytes): fetched {}",
        v["sample"]["key"].as_str().unwrap_or_default(),
        v["sample"]["bytes"],
        if v["sample"]["fetched_identical"] == true {
            "byte-identical"
        } else {
            "DIFFERENT"
        }
    );
    let c = &v["chain"];
    println!(
        "chain height {}  tip {}  CoS {}  farmed by {}",
        c["height"],
        c["tip"].as_str().map_or("?", |s| &s[..s.len().min(12)]),
        c["cos"].as_str().unwrap_or("none"),
        c["farmed_by"],
    );
    for n in v["nodes"].as_array().into_iter().flatten() {
        println!(
            "  {} {}  members {}  records {}  bytes {}  plots {}  height {}  farmed {}",
            n["node_id"].as_str().map_or("?", |s| &s[..s.len().min(12)]),
            n["listen"].as_str().unwrap_or("?"),
            n["live_members"],
            n["stored_records"],
            n["stored_bytes"],
            n["plots"],
            n["chain_height"],
            n["blocks_farmed"],
        );
    }
    println!("  Ctrl-C stops every node");
}
