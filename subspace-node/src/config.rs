//! The node's data directory: its configuration file (TOML), its identity seed and the
//! layout of everything else it keeps on disk.
//!
//! A data directory holds `config.toml` (every option, commented), `identity.seed` (the
//! SLIP-0010 master seed, hex, readable by its owner only), `store/` (the [`DiskStore`](crate::DiskStore)),
//! `plots/` (the pledge's plot files) and, while a node runs, `control.json` (how local
//! commands reach it).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use subspace_crypto::hd::ExtendedKey;
use subspace_crypto::{ContractId, Keypair, PublicKey, hex};
use zeroize::Zeroizing;

use crate::{NodeError, Result};

/// File name of the configuration inside a data directory.
pub const CONFIG_FILE: &str = "config.toml";
/// File name of the identity seed inside a data directory.
pub const SEED_FILE: &str = "identity.seed";
/// SLIP-0010 path of the node identity under the master seed.
pub const NODE_KEY_PATH: &str = "m/44'/9000'/0'";

/// The configuration file `init` writes: every option with its default, commented out.
pub const DEFAULT_CONFIG: &str = r#"# Subspace node configuration.
# Every option is listed with its default value; uncomment a line to change it.
# Command-line flags (`run --listen`, `--bootstrap`, `--pledge`) override this file.

[network]
# Address to listen on for peers (TCP, Noise-encrypted, authenticated by the node identity).
# listen = "0.0.0.0:30333"
# Peers learn this node's address from the connection it dials them on (its IP) and the
# listening port it announces after the handshake, so no external address is configured.
# Peers to join through, as "IP:PORT". Empty: this node starts a new network.
# bootstrap = []

[storage]
# Space pledged to the network, e.g. "10GiB", "64MiB". It is plotted (proof of space) and
# offered for hosting records. "0" makes a client that stores nothing.
# pledge = "0"
# Replicas per record (R) for puts made through this node.
# replicas = 3
# Sloth layers per replica piece: a network constant, every node must use the same value.
# Higher is slower to encode on purpose (64 layers: ~1 s per MiB on 8 cores).
# por_layers = 64

[farming]
# Proof-of-space k of each plot (16..=20 here; a k=16 plot counts for 1.5 MiB of pledge).
# plot_k = 16
# Threads used for plotting.
# plot_threads = 2
# Farm blocks with the plots (needs the network's genesis.bin in the data directory and a
# pledge). `run --farm` sets it too.
# farm = false
# A farmer publishes a host storage contract for its pledge (with a proof of its plots) and
# asks the nexus for payment at the end of every interval of this many seconds (0: never).
# host_interval_secs = 86400

# Data contracts this node accepts records under, until the ledger on the network holds them.
# Every node of a network must list the same contracts. One block per contract:
# [[contract]]
# id = "<64 hex digits>"
# owner = "<public key, 64 hex digits>"
# max_record_bytes = 1114112
"#;

/// `[network]` options.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkConfig {
    /// Address to listen on for peers.
    pub listen: SocketAddr,
    /// Peers to join through.
    pub bootstrap: Vec<SocketAddr>,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 30333)),
            bootstrap: Vec::new(),
        }
    }
}

impl NetworkConfig {
    /// The address shown to the user as this node's: `bound`, with loopback for an
    /// unspecified IP (peers see the IP of the connection itself).
    pub fn announced(&self, bound: SocketAddr) -> SocketAddr {
        if bound.ip().is_unspecified() {
            SocketAddr::from(([127, 0, 0, 1], bound.port()))
        } else {
            bound
        }
    }
}

/// `[storage]` options.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// Pledged space, as a size string ("10GiB").
    pub pledge: String,
    /// Replicas per record.
    pub replicas: usize,
    /// Sloth layers per replica piece (network constant).
    pub por_layers: u32,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            pledge: "0".into(),
            replicas: 3,
            por_layers: subspace_por::DEFAULT_LAYERS,
        }
    }
}

/// `[farming]` options.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FarmingConfig {
    /// Proof-of-space k of each plot.
    pub plot_k: u8,
    /// Plotting threads.
    pub plot_threads: usize,
    /// Whether the node farms blocks with its plots (`run --farm` sets it too).
    pub farm: bool,
    /// Reward interval of the host storage contract a farmer publishes for its pledge, in
    /// seconds (0: farm without offering the pledge for hosting payments).
    pub host_interval_secs: u64,
}

impl Default for FarmingConfig {
    fn default() -> Self {
        FarmingConfig {
            plot_k: 16,
            plot_threads: 2,
            farm: false,
            host_interval_secs: 86_400,
        }
    }
}

/// One `[[contract]]` block: a data contract every node of the network accepts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContractEntry {
    /// The contract id, 64 hex digits.
    pub id: String,
    /// The owner's public key, 64 hex digits.
    pub owner: String,
    /// Largest encoded record accepted under the contract.
    pub max_record_bytes: u64,
}

impl ContractEntry {
    /// The parsed id and owner.
    pub fn parse(&self) -> Result<(ContractId, PublicKey)> {
        let id = hex::decode_array::<32>(&self.id)
            .map_err(|_| config_err(format!("contract id {:?} is not 64 hex digits", self.id)))?;
        let owner = hex::decode_array::<32>(&self.owner)
            .ok()
            .and_then(|b| PublicKey::from_bytes(&b).ok())
            .ok_or_else(|| {
                config_err(format!(
                    "contract owner {:?} is not a public key in hex",
                    self.owner
                ))
            })?;
        Ok((ContractId::from_bytes(id), owner))
    }
}

/// The whole configuration file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeConfig {
    /// `[network]`.
    pub network: NetworkConfig,
    /// `[storage]`.
    pub storage: StorageConfig,
    /// `[farming]`.
    pub farming: FarmingConfig,
    /// `[[contract]]` blocks.
    pub contract: Vec<ContractEntry>,
}

impl NodeConfig {
    /// Parses a configuration file's text; unknown keys are errors (a typo never goes silent).
    pub fn parse(text: &str) -> Result<NodeConfig> {
        let cfg: NodeConfig = toml::from_str(text).map_err(|e| {
            config_err(format!(
                "{CONFIG_FILE}: {}",
                e.message().lines().next().unwrap_or("")
            ))
        })?;
        parse_size(&cfg.storage.pledge)?;
        for c in &cfg.contract {
            c.parse()?;
        }
        Ok(cfg)
    }

    /// Pledged bytes.
    pub fn pledge_bytes(&self) -> Result<u64> {
        parse_size(&self.storage.pledge)
    }
}

fn config_err(msg: String) -> NodeError {
    NodeError::Config(msg)
}

/// Parses a size: a whole number with an optional unit (`B`, `KiB`, `MiB`, `GiB`, `TiB`, or
/// the decimal `KB`, `MB`, `GB`, `TB`), e.g. `"64MiB"`, `"10 GiB"`, `"4096"`.
pub fn parse_size(s: &str) -> Result<u64> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let bad = || {
        config_err(format!(
            "size {s:?}: expected a number and a unit like 64MiB"
        ))
    };
    let n: u64 = num.parse().map_err(|_| bad())?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        _ => return Err(bad()),
    };
    n.checked_mul(mult).ok_or_else(bad)
}

/// A node's data directory.
#[derive(Clone, Debug)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// The data directory at `root` (nothing is read or created yet).
    pub fn new(root: impl Into<PathBuf>) -> DataDir {
        DataDir { root: root.into() }
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `config.toml`.
    pub fn config_path(&self) -> PathBuf {
        self.root.join(CONFIG_FILE)
    }

    /// `identity.seed`.
    pub fn seed_path(&self) -> PathBuf {
        self.root.join(SEED_FILE)
    }

    /// `store/`, the record store.
    pub fn store_dir(&self) -> PathBuf {
        self.root.join("store")
    }

    /// `plots/`, the pledge's plot files.
    pub fn plots_dir(&self) -> PathBuf {
        self.root.join("plots")
    }

    /// `genesis.bin`, the network's genesis ([`crate::NetworkGenesis`]).
    pub fn genesis_path(&self) -> PathBuf {
        self.root.join(crate::genesis::GENESIS_FILE)
    }

    /// `chain.redb`, the blocks this node holds.
    pub fn chain_path(&self) -> PathBuf {
        self.root.join(crate::chain_store::CHAIN_FILE)
    }

    /// `control.json`, present while a node runs.
    pub fn control_path(&self) -> PathBuf {
        self.root.join("control.json")
    }

    /// Whether `init` has run here.
    pub fn is_initialized(&self) -> bool {
        self.seed_path().exists()
    }

    /// Creates the directory with a fresh identity seed from `rng` and the default
    /// configuration. Returns the seed, which the caller shows once and never logs.
    /// Refuses to overwrite an existing identity.
    pub fn init(&self, rng: &mut impl rand_core::CryptoRngCore) -> Result<Zeroizing<[u8; 32]>> {
        if self.is_initialized() {
            return Err(config_err(format!(
                "{} already holds an identity; choose another --data-dir",
                self.root.display()
            )));
        }
        std::fs::create_dir_all(&self.root).map_err(NodeError::io("create data directory"))?;
        let mut seed = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(&mut seed[..]);
        let text = Zeroizing::new(hex::encode(&seed[..]));
        write_private(&self.seed_path(), text.as_bytes())?;
        if !self.config_path().exists() {
            std::fs::write(self.config_path(), DEFAULT_CONFIG)
                .map_err(NodeError::io("write config file"))?;
        }
        Ok(seed)
    }

    /// The master key of this directory's seed.
    pub fn master_key(&self) -> Result<ExtendedKey> {
        let text = Zeroizing::new(std::fs::read_to_string(self.seed_path()).map_err(|_| {
            config_err(format!(
                "no identity in {}; run `subspace-node init --data-dir {}` first",
                self.root.display(),
                self.root.display()
            ))
        })?);
        let seed = Zeroizing::new(
            hex::decode_array::<32>(text.trim())
                .map_err(|_| config_err(format!("{SEED_FILE} is not 64 hex digits")))?,
        );
        ExtendedKey::from_seed(&seed[..]).map_err(|e| config_err(e.to_string()))
    }

    /// The node identity (SLIP-0010 child at [`NODE_KEY_PATH`]).
    pub fn node_keypair(&self) -> Result<Keypair> {
        let k = self
            .master_key()?
            .derive_path(NODE_KEY_PATH)
            .map_err(|e| config_err(e.to_string()))?;
        Ok(k.keypair())
    }

    /// The configuration file, parsed (the defaults if it is missing).
    pub fn config(&self) -> Result<NodeConfig> {
        match std::fs::read_to_string(self.config_path()) {
            Ok(text) => NodeConfig::parse(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(NodeConfig::default()),
            Err(e) => Err(NodeError::Io {
                op: "read config file",
                source: e,
            }),
        }
    }
}

/// Writes a file only its owner can read (on Unix; elsewhere a plain write).
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .map_err(NodeError::io("create private file"))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(NodeError::io("write private file"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    #[test]
    fn sizes_parse_with_binary_and_decimal_units() {
        assert_eq!(parse_size("64MiB").ok(), Some(64 << 20));
        assert_eq!(parse_size("10 GiB").ok(), Some(10 << 30));
        assert_eq!(parse_size("4096").ok(), Some(4096));
        assert_eq!(parse_size("2kb").ok(), Some(2000));
        assert!(parse_size("ten").is_err());
        assert!(parse_size("5XB").is_err());
        assert!(parse_size("99999999999TiB").is_err());
    }

    #[test]
    fn default_config_parses_to_the_defaults_and_typos_are_refused() {
        assert_eq!(
            NodeConfig::parse(DEFAULT_CONFIG).ok(),
            Some(NodeConfig::default())
        );
        // Every option of the struct is named in the commented file.
        for key in [
            "listen",
            "bootstrap",
            "pledge",
            "replicas",
            "por_layers",
            "plot_k",
            "plot_threads",
            "[[contract]]",
            "max_record_bytes",
        ] {
            assert!(DEFAULT_CONFIG.contains(key), "{key} undocumented");
        }
        assert!(NodeConfig::parse("[storage]\npledeg = \"1GiB\"\n").is_err());
        assert!(NodeConfig::parse("[storage]\npledge = \"lots\"\n").is_err());
    }

    #[test]
    fn init_writes_a_private_seed_once_and_the_identity_is_stable() {
        let dir = std::env::temp_dir().join(format!("subspace-cfg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let d = DataDir::new(&dir);
        assert!(d.node_keypair().is_err());
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let seed = d.init(&mut rng).unwrap();
        let kp = d.node_keypair().unwrap();
        let expected = ExtendedKey::from_seed(&seed[..])
            .unwrap()
            .derive_path(NODE_KEY_PATH)
            .unwrap()
            .keypair();
        assert_eq!(kp.public(), expected.public());
        assert!(
            d.init(&mut rng).is_err(),
            "a second init must not replace the identity"
        );
        assert_eq!(d.node_keypair().unwrap().public(), kp.public());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(d.seed_path())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "seed readable by others");
        }
        assert_eq!(d.config().unwrap(), NodeConfig::default());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
