//! `subspace-node`: the command line of a Subspace host and client.
//!
//! `init` creates a data directory (identity seed, commented config); `run` starts a host;
//! `put`, `get`, `status` and `stop` talk to the host running on the same data directory
//! through its local control channel; `keys derive` shows SLIP-0010 child identities.
//! Errors are one line on stderr and a non-zero exit code (see [`Exit`]).

mod devnet;
mod run;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use subspace_crypto::hex;
use subspace_node::config::DataDir;
use subspace_node::control::{self, ClientError, ErrorKind, Request};

/// Exit codes, as the README lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Something unexpected (a bug or an OS failure).
    Internal = 1,
    /// The data directory or config is missing or invalid.
    Config = 3,
    /// A local file could not be read or written.
    File = 4,
    /// The network or the local node could not be reached.
    Unreachable = 5,
    /// An argument is malformed (key, path, contract id).
    BadInput = 6,
    /// Nothing was found under the key.
    NotFound = 7,
    /// The contract is unknown or refused the data.
    Contract = 8,
}

/// A failed command: its exit code and one line for the user.
#[derive(Debug)]
pub struct CliError {
    /// Exit code.
    pub exit: Exit,
    /// What went wrong and what to do.
    pub message: String,
}

impl CliError {
    /// An error with `exit` and `message`.
    pub fn new(exit: Exit, message: impl Into<String>) -> CliError {
        CliError {
            exit,
            message: message.into(),
        }
    }
}

impl From<subspace_node::NodeError> for CliError {
    fn from(e: subspace_node::NodeError) -> CliError {
        use subspace_node::NodeError as E;
        let exit = match &e {
            E::Config(_) => Exit::Config,
            E::Io { .. } => Exit::File,
            E::Timeout | E::NotConnected(_) | E::Handshake(_) => Exit::Unreachable,
            _ => Exit::Internal,
        };
        CliError::new(exit, e.to_string())
    }
}

impl From<ClientError> for CliError {
    fn from(e: ClientError) -> CliError {
        match e {
            ClientError::NotRunning(m) => CliError::new(Exit::Unreachable, m),
            ClientError::Node(r) => {
                let exit = match r.kind {
                    Some(ErrorKind::BadInput) => Exit::BadInput,
                    Some(ErrorKind::File) => Exit::File,
                    Some(ErrorKind::Contract) => Exit::Contract,
                    Some(ErrorKind::NotFound) => Exit::NotFound,
                    Some(ErrorKind::Network) => Exit::Unreachable,
                    Some(ErrorKind::Unauthorized) | None => Exit::Internal,
                };
                CliError::new(exit, r.error.unwrap_or_else(|| "the node failed".into()))
            }
        }
    }
}

#[derive(Parser)]
#[command(
    name = "subspace-node",
    version,
    about = "A Subspace storage host and client"
)]
struct Cli {
    /// Data directory (identity, config, store, plots). Default: $SUBSPACE_DATA_DIR or ~/.subspace.
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Print results as JSON on stdout.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a data directory: a new identity (its seed is shown once) and a commented config.
    Init,
    /// Identity keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Run a host: join the network, plot the pledge, store and serve records.
    Run(RunArgs),
    /// Store a file through the running node; prints the key to get it back with.
    Put {
        /// The file to store.
        file: PathBuf,
        /// Contract to store under (hex id); default: the config's contract owned by this node.
        #[arg(long, value_name = "ID")]
        contract: Option<String>,
        /// Share the file with these public keys (hex) as readers.
        #[arg(long, value_name = "PUBKEY", num_args = 1..)]
        share: Vec<String>,
        /// Store the file in the clear, readable by anyone with the key.
        #[arg(long)]
        public: bool,
    },
    /// Fetch a file by key through the running node.
    Get {
        /// The key `put` printed (hex).
        key: String,
        /// Where to write the file (default: stdout).
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Data contracts on the ledger.
    #[command(subcommand)]
    Contract(ContractCommand),
    /// Show the running node's status: peers, storage, plots, uptime.
    Status,
    /// Ask the running node to leave the network and exit.
    Stop,
    /// A local network of `run` child processes (under DATA_DIR/devnet), a sample file stored
    /// and fetched end to end, and a live summary until Ctrl-C.
    Devnet(devnet::DevnetArgs),
}

#[derive(Subcommand)]
enum ContractCommand {
    /// Reserve space for a duration, paid from the node's credits at the current Cost of
    /// Storage; prints the contract id once a block includes it.
    Create {
        /// Bytes reserved per replica, e.g. 1GiB.
        #[arg(long, value_name = "SIZE")]
        bytes: String,
        /// Duration in days.
        #[arg(long, default_value_t = 30, conflicts_with = "secs")]
        days: u64,
        /// Duration in seconds (instead of --days).
        #[arg(long)]
        secs: Option<u64>,
        /// Replication factor R.
        #[arg(long, default_value_t = 3)]
        replication: u8,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// This node's identity (public key and node id).
    Show,
    /// The SLIP-0010 child identity at PATH (e.g. m/44'/9000'/1'/7'), for an app user.
    Derive {
        /// Hardened derivation path.
        path: String,
        /// Also print the child's secret key (hex). Anyone who sees it can act as that identity.
        #[arg(long)]
        show_secret: bool,
    },
}

/// Options of `run`; flags override the config file.
#[derive(Args, Clone, Debug)]
pub struct RunArgs {
    /// Address to listen on for peers (e.g. 0.0.0.0:30333; port 0 picks one).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Peers to join through.
    #[arg(long, value_name = "ADDR", num_args = 1..)]
    pub bootstrap: Vec<SocketAddr>,
    /// Space to pledge, e.g. 10GiB (plotted, and offered for hosting).
    #[arg(long, value_name = "SIZE")]
    pub pledge: Option<String>,
    /// Farm blocks with the plotted pledge (needs the network's genesis.bin in the data dir).
    #[arg(long)]
    pub farm: bool,
}

fn default_data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("SUBSPACE_DATA_DIR") {
        return PathBuf::from(d);
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".subspace")
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    let default_level = if matches!(cli.command, Command::Run(_) | Command::Devnet(_)) {
        "info"
    } else {
        "warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let dir = DataDir::new(cli.data_dir.unwrap_or_else(default_data_dir));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(json, &CliError::new(Exit::Internal, e.to_string())),
    };
    match runtime.block_on(dispatch(cli.command, &dir, json)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(json, &e),
    }
}

/// Reports `e` as one line (and as JSON on stdout with `--json`) and picks the exit code.
fn fail(json: bool, e: &CliError) -> ExitCode {
    let line = e.message.replace(['\n', '\r'], " ");
    eprintln!("error: {line}");
    if json {
        println!(
            "{}",
            serde_json::json!({ "ok": false, "error": line, "exit_code": e.exit as u8 })
        );
    }
    ExitCode::from(e.exit as u8)
}

/// Prints `value` as JSON, or each field as `name: value` lines.
fn emit(json: bool, value: &serde_json::Value) {
    if json {
        println!("{value}");
        return;
    }
    match value.as_object() {
        Some(map) => {
            for (k, v) in map {
                match v {
                    serde_json::Value::String(s) => println!("{k}: {s}"),
                    other => println!("{k}: {other}"),
                }
            }
        }
        None => println!("{value}"),
    }
}

async fn dispatch(cmd: Command, dir: &DataDir, json: bool) -> Result<(), CliError> {
    match cmd {
        Command::Init => init(dir, json),
        Command::Keys(k) => keys(dir, k, json),
        Command::Run(args) => run::run(dir, args, json).await,
        Command::Put {
            file,
            contract,
            share,
            public,
        } => {
            let path = std::fs::canonicalize(&file).map_err(|e| {
                CliError::new(
                    Exit::File,
                    format!("cannot read {}: {e}; check the path", file.display()),
                )
            })?;
            if !path.is_file() {
                return Err(CliError::new(
                    Exit::File,
                    format!("{} is not a file", file.display()),
                ));
            }
            if let Some(c) = &contract {
                check_hex32(c, "contract id")?;
            }
            for s in &share {
                check_hex32(s, "--share public key")?;
            }
            let data = control::request(
                &dir.control_path(),
                Request::Put {
                    path,
                    contract,
                    public,
                    share,
                },
            )
            .await?;
            if json {
                emit(true, &data);
            } else {
                println!("{}", data["key"].as_str().unwrap_or_default());
            }
            Ok(())
        }
        Command::Get { key, output } => get(dir, key, output, json).await,
        Command::Devnet(args) => devnet::devnet(dir.root(), args, json).await,
        Command::Contract(ContractCommand::Create {
            bytes,
            days,
            secs,
            replication,
        }) => {
            let bytes = subspace_node::config::parse_size(&bytes)
                .map_err(|e| CliError::new(Exit::BadInput, format!("--bytes: {e}")))?;
            let secs = secs.unwrap_or(days.saturating_mul(86_400));
            let data = control::request(
                &dir.control_path(),
                Request::ContractCreate {
                    bytes,
                    secs,
                    replication,
                },
            )
            .await?;
            emit(json, &data);
            Ok(())
        }
        Command::Status => {
            let data = control::request(&dir.control_path(), Request::Status).await?;
            emit(json, &data);
            Ok(())
        }
        Command::Stop => {
            let data = control::request(&dir.control_path(), Request::Stop).await?;
            emit(json, &data);
            Ok(())
        }
    }
}

fn check_hex32(s: &str, what: &str) -> Result<[u8; 32], CliError> {
    hex::decode_array::<32>(s).map_err(|_| {
        CliError::new(
            Exit::BadInput,
            format!(
                "{what} {s:?} is not 64 hex digits; copy it again from the command that printed it"
            ),
        )
    })
}

async fn get(
    dir: &DataDir,
    key: String,
    output: Option<PathBuf>,
    json: bool,
) -> Result<(), CliError> {
    check_hex32(&key, "key")?;
    let (out, to_stdout) = match output {
        Some(o) => {
            let parent = o
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
            let parent = std::fs::canonicalize(&parent).map_err(|e| {
                CliError::new(
                    Exit::File,
                    format!("cannot write into {}: {e}", parent.display()),
                )
            })?;
            let name = o.file_name().ok_or_else(|| {
                CliError::new(Exit::File, format!("{} is not a file name", o.display()))
            })?;
            (parent.join(name), false)
        }
        None => (
            std::fs::canonicalize(dir.root())
                .map_err(|e| CliError::new(Exit::Config, e.to_string()))?
                .join(format!("get-{}.tmp", std::process::id())),
            true,
        ),
    };
    let result = control::request(
        &dir.control_path(),
        Request::Get {
            key,
            out: out.clone(),
        },
    )
    .await;
    let data = match result {
        Ok(d) => d,
        Err(e) => {
            if to_stdout {
                let _ = std::fs::remove_file(&out);
            }
            return Err(e.into());
        }
    };
    if to_stdout {
        let copied = std::fs::File::open(&out)
            .and_then(|mut f| std::io::copy(&mut f, &mut std::io::stdout().lock()));
        let _ = std::fs::remove_file(&out);
        copied.map_err(|e| CliError::new(Exit::File, format!("writing to stdout: {e}")))?;
    } else {
        emit(json, &data);
    }
    Ok(())
}

fn init(dir: &DataDir, json: bool) -> Result<(), CliError> {
    let mut rng = rand::rngs::OsRng;
    let seed = dir.init(&mut rng)?;
    let kp = dir.node_keypair()?;
    // The seed goes to stdout once, never through the logger.
    let seed_hex = zeroize::Zeroizing::new(hex::encode(&seed[..]));
    if json {
        println!(
            "{}",
            serde_json::json!({
                "data_dir": dir.root(),
                "config": dir.config_path(),
                "node_id": kp.node_id().to_string(),
                "public_key": kp.public().to_string(),
                "seed": seed_hex.as_str(),
            })
        );
    } else {
        println!("Initialized {}", dir.root().display());
        println!("node id:    {}", kp.node_id());
        println!("public key: {}", kp.public());
        println!("config:     {}", dir.config_path().display());
        println!();
        println!("Recovery seed (shown only now; write it down, anyone with it is this node):");
        println!("{}", seed_hex.as_str());
    }
    Ok(())
}

fn keys(dir: &DataDir, cmd: KeysCommand, json: bool) -> Result<(), CliError> {
    match cmd {
        KeysCommand::Show => {
            let kp = dir.node_keypair()?;
            emit(
                json,
                &serde_json::json!({
                    "path": subspace_node::config::NODE_KEY_PATH,
                    "public_key": kp.public().to_string(),
                    "node_id": kp.node_id().to_string(),
                }),
            );
        }
        KeysCommand::Derive { path, show_secret } => {
            let master = dir.master_key()?;
            let child = master.derive_path(&path).map_err(|e| {
                CliError::new(
                    Exit::BadInput,
                    format!("bad derivation path: {e}; use hardened levels like m/44'/9000'/1'"),
                )
            })?;
            let kp = child.keypair();
            let mut v = serde_json::json!({
                "path": path,
                "public_key": kp.public().to_string(),
                "node_id": kp.node_id().to_string(),
            });
            if show_secret {
                v["secret_key"] = serde_json::Value::String(hex::encode(kp.secret_bytes()));
            }
            emit(json, &v);
        }
    }
    Ok(())
}
