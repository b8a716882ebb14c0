//! The local control channel: how `subspace-node put/get/status/stop` reach a running node.
//!
//! A running node listens on a loopback TCP port and writes `control.json` (the address and a
//! random 32-byte token, readable by its owner only) into its data directory. A client reads
//! the file, connects, and sends one JSON request line carrying the token; the node answers
//! with one JSON line. A request without the right token is refused, so other local users
//! cannot drive the node. Files are read and written by path: the channel is for the same
//! machine only.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use rand::rngs::OsRng;
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use serde::{Deserialize, Serialize};
use subspace_crypto::{ContractId, Keypair, PublicKey, RecordKey, hex};
use subspace_record::fs::{ChunkOptions, Manifest, chunk, reassemble};
use subspace_record::{RecordError, Role};
use subtle::ConstantTimeEq;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use crate::config::write_private;
use crate::node::NodeHandle;
use crate::tcp_transport::TcpDialer;
use crate::{NodeError, Result};

/// Longest request line accepted.
const MAX_REQUEST: u64 = 64 * 1024;

/// What `control.json` holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ControlFile {
    /// Loopback address of the control listener.
    pub addr: SocketAddr,
    /// Hex token every request must carry.
    pub token: String,
    /// The node's process id.
    pub pid: u32,
}

/// A request to a running node.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Request {
    /// Store the file at `path` (chunked, with a manifest); answers the manifest key.
    Put {
        /// Absolute path of the file to store.
        path: PathBuf,
        /// Contract to store under (hex id); the node's default contract if absent.
        contract: Option<String>,
        /// Store in the clear (default: sealed for the node's identity).
        public: bool,
        /// Public keys (hex) the file is shared with as readers.
        share: Vec<String>,
    },
    /// Fetch the file whose manifest key is `key` into `out`.
    Get {
        /// The manifest (or single record) key, hex.
        key: String,
        /// Absolute path to write the file to.
        out: PathBuf,
    },
    /// Create a data contract owned by the node's key, funded from its credits; answers once
    /// a block includes it.
    ContractCreate {
        /// Bytes reserved per replica.
        bytes: u64,
        /// Duration in seconds.
        secs: u64,
        /// Replication factor R.
        replication: u8,
    },
    /// Report status.
    Status,
    /// Leave the network and exit.
    Stop,
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    token: String,
    #[serde(flatten)]
    request: Request,
}

/// What a client command failed on, so the CLI can pick its exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// A malformed argument (key, contract id, public key).
    BadInput,
    /// A local file could not be read or written.
    File,
    /// The contract is unknown to the network or refused the data.
    Contract,
    /// Nothing was found under the key.
    NotFound,
    /// The network could not complete the operation (too few peers, timeouts).
    Network,
    /// The token was wrong.
    Unauthorized,
}

/// A node's answer: `ok` with data, or an error and its kind.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Response {
    /// Whether the request succeeded.
    pub ok: bool,
    /// On failure, what kind of failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<ErrorKind>,
    /// On failure, one line saying what went wrong and what to do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// On success, the command's data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
}

impl Response {
    fn ok(data: serde_json::Value) -> Response {
        Response {
            ok: true,
            kind: None,
            error: None,
            data: Some(data),
        }
    }

    fn err(kind: ErrorKind, msg: impl Into<String>) -> Response {
        Response {
            ok: false,
            kind: Some(kind),
            error: Some(msg.into()),
            data: None,
        }
    }
}

/// Facts about the running node the status report includes beside the node's own counters.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LocalInfo {
    /// Address peers dial.
    pub listen: String,
    /// Plot files of the pledge.
    pub plots: usize,
    /// Bytes the plots count for.
    pub plotted_bytes: u64,
    /// Bytes pledged.
    pub pledged_bytes: u64,
}

/// Everything the control server needs.
pub struct ControlContext {
    /// The running node.
    pub node: NodeHandle,
    /// The node identity, used as the client identity of puts and gets.
    pub keypair: Keypair,
    /// Contract used when a put names none.
    pub default_contract: Option<ContractId>,
    /// The transport's dialer, for peer counts.
    pub peers: TcpDialer,
    /// Static facts for `status`.
    pub info: LocalInfo,
    /// When the node started.
    pub started: Instant,
    /// Notified when a `stop` request arrives.
    pub stop: Arc<Notify>,
}

impl std::fmt::Debug for ControlContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlContext")
            .field("node", &self.node)
            .finish()
    }
}

/// Binds the control listener on loopback, writes `control_path`, and serves requests until
/// the runtime stops. Returns the written file.
pub async fn serve(ctx: ControlContext, control_path: &Path) -> Result<ControlFile> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(NodeError::io("bind control listener"))?;
    let addr = listener
        .local_addr()
        .map_err(NodeError::io("read control address"))?;
    let mut token = [0u8; 32];
    OsRng.fill_bytes(&mut token);
    let file = ControlFile {
        addr,
        token: hex::encode(token),
        pid: std::process::id(),
    };
    let text = serde_json::to_vec(&file).map_err(|e| NodeError::Config(e.to_string()))?;
    write_private(control_path, &text)?;
    let ctx = Arc::new(ctx);
    let token = file.token.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let ctx = ctx.clone();
            let token = token.clone();
            tokio::spawn(async move {
                if let Err(e) = session(&ctx, &token, stream).await {
                    tracing::debug!(error = %e, "control session ended");
                }
            });
        }
    });
    Ok(file)
}

async fn session(ctx: &Arc<ControlContext>, token: &str, stream: TcpStream) -> Result<()> {
    let (r, mut w) = stream.into_split();
    let mut line = String::new();
    let mut r = BufReader::new(tokio::io::AsyncReadExt::take(r, MAX_REQUEST));
    r.read_line(&mut line)
        .await
        .map_err(NodeError::io("read control request"))?;
    let response = match parse_request(&line, token) {
        Err(refused) => refused,
        Ok(request) => handle(ctx, request).await,
    };
    let mut out = serde_json::to_vec(&response).map_err(|e| NodeError::Config(e.to_string()))?;
    out.push(b'\n');
    w.write_all(&out)
        .await
        .map_err(NodeError::io("write control response"))?;
    w.shutdown().await.ok();
    Ok(())
}

/// Decodes one request line (at most 64 KiB, read by the caller) and checks its token in
/// constant time; a malformed line or a wrong token gives the error response to send back.
pub fn parse_request(line: &str, token: &str) -> std::result::Result<Request, Response> {
    match serde_json::from_str::<Envelope>(line) {
        Err(e) => Err(Response::err(
            ErrorKind::BadInput,
            format!("bad request: {e}"),
        )),
        Ok(env) if !bool::from(env.token.as_bytes().ct_eq(token.as_bytes())) => Err(Response::err(
            ErrorKind::Unauthorized,
            "wrong control token",
        )),
        Ok(env) => Ok(env.request),
    }
}

/// Largest response line a client reads from the control channel.
pub const MAX_RESPONSE: u64 = 4 << 20;

/// Decodes one response line (at most [`MAX_RESPONSE`] bytes, read by the caller).
pub fn parse_response(line: &str) -> std::result::Result<Response, serde_json::Error> {
    serde_json::from_str(line)
}

fn node_err_kind(e: &NodeError) -> ErrorKind {
    match e {
        NodeError::PutFailed {
            step: crate::PutStep::Contract,
            ..
        } => ErrorKind::Contract,
        NodeError::NotFound(_) => ErrorKind::NotFound,
        NodeError::Io { .. } => ErrorKind::File,
        _ => ErrorKind::Network,
    }
}

async fn handle(ctx: &Arc<ControlContext>, req: Request) -> Response {
    match req {
        Request::Status => status(ctx).await,
        Request::ContractCreate {
            bytes,
            secs,
            replication,
        } => create_contract(ctx, bytes, secs, replication).await,
        Request::Stop => {
            ctx.stop.notify_one();
            Response::ok(serde_json::json!({ "stopping": true }))
        }
        Request::Put {
            path,
            contract,
            public,
            share,
        } => {
            let contract = match contract {
                Some(c) => match hex::decode_array::<32>(&c) {
                    Ok(b) => ContractId::from_bytes(b),
                    Err(_) => {
                        return Response::err(
                            ErrorKind::BadInput,
                            format!("contract id {c:?} is not 64 hex digits"),
                        );
                    }
                },
                None => match ctx.default_contract {
                    Some(c) => c,
                    None => {
                        return Response::err(
                            ErrorKind::Contract,
                            "no contract: pass --contract ID or list one owned by this node in config.toml",
                        );
                    }
                },
            };
            let mut readers = Vec::new();
            for s in &share {
                match hex::decode_array::<32>(s)
                    .ok()
                    .and_then(|b| PublicKey::from_bytes(&b).ok())
                {
                    Some(pk) => readers.push(pk),
                    None => {
                        return Response::err(
                            ErrorKind::BadInput,
                            format!("--share {s:?} is not a public key in hex"),
                        );
                    }
                }
            }
            let ctx = ctx.clone();
            let rt = tokio::runtime::Handle::current();
            let joined = tokio::task::spawn_blocking(move || {
                put_file(&ctx, &rt, &path, contract, public, readers)
            })
            .await;
            match joined {
                Ok(r) => r,
                Err(e) => Response::err(ErrorKind::Network, format!("put task failed: {e}")),
            }
        }
        Request::Get { key, out } => {
            let Ok(k) = hex::decode_array::<32>(&key) else {
                return Response::err(
                    ErrorKind::BadInput,
                    format!("key {key:?} is not 64 hex digits"),
                );
            };
            let ctx = ctx.clone();
            let rt = tokio::runtime::Handle::current();
            let joined = tokio::task::spawn_blocking(move || {
                get_file(&ctx, &rt, RecordKey::from_bytes(k), &out)
            })
            .await;
            match joined {
                Ok(r) => r,
                Err(e) => Response::err(ErrorKind::Network, format!("get task failed: {e}")),
            }
        }
    }
}

/// How long `contract create` waits for a block to include the contract.
const CONTRACT_WAIT: std::time::Duration = std::time::Duration::from_secs(300);

async fn create_contract(ctx: &ControlContext, bytes: u64, secs: u64, replication: u8) -> Response {
    if bytes == 0 || secs == 0 || !(1..=16).contains(&replication) {
        return Response::err(
            ErrorKind::BadInput,
            "a contract needs --bytes > 0, a duration > 0 and --replication 1..=16",
        );
    }
    // The host names the owner's next numbered contract-state record.
    let state_record = RecordKey::from_bytes([0; 32]);
    let terms = crate::ContractTerms {
        reserved_bytes: bytes,
        duration_secs: secs,
        replication,
        state_record,
    };
    let id = match ctx.node.create_contract(terms).await {
        Ok(id) => id,
        Err(e) => {
            let msg = e.to_string();
            let kind = if msg.contains("runs no ledger") {
                ErrorKind::Network
            } else {
                ErrorKind::Contract
            };
            return Response::err(
                kind,
                format!("{msg}; check `status` for the balance and that the network has hosts"),
            );
        }
    };
    let deadline = tokio::time::Instant::now() + CONTRACT_WAIT;
    loop {
        match ctx.node.data_contract(id).await {
            Ok(Some(c)) => {
                return Response::ok(serde_json::json!({
                    "contract": id.to_string(),
                    "reserved_bytes": c.reserved_bytes,
                    "replication": c.replication,
                    "expires": c.expires,
                }));
            }
            Ok(None) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            }
            Ok(None) => {
                return Response::err(
                    ErrorKind::Network,
                    format!(
                        "contract {id} was broadcast but no block included it yet; check `status` later"
                    ),
                );
            }
            Err(e) => return Response::err(ErrorKind::Network, e.to_string()),
        }
    }
}

async fn status(ctx: &ControlContext) -> Response {
    let st = match ctx.node.status().await {
        Ok(s) => s,
        Err(e) => return Response::err(ErrorKind::Network, e.to_string()),
    };
    let connected = ctx.peers.connected_peers().len();
    let known = ctx.peers.known_addrs().len();
    Response::ok(serde_json::json!({
        "node_id": st.id.to_string(),
        "public_key": ctx.keypair.public().to_string(),
        "listen": ctx.info.listen,
        "uptime_secs": ctx.started.elapsed().as_secs(),
        "peers_connected": connected,
        "peers_known": known,
        "live_members": st.live_members,
        "placeable_members": st.placeable_members,
        "stored_bytes": st.usage.used,
        "stored_records": st.usage.entries,
        "pledged_bytes": ctx.info.pledged_bytes,
        "plots": ctx.info.plots,
        "plotted_bytes": ctx.info.plotted_bytes,
        "replicas_stored": st.stats.replicas_stored,
        "heals_done": st.stats.heals_done,
        "faults_reported": st.stats.faults_reported,
        "contracts": st.contracts.iter().map(|c| serde_json::json!({
            "id": c.id.to_string(),
            "bytes_used": c.bytes_used,
            "keys": c.keys,
            "state_restored": c.restored,
            "state_saved": c.saved,
        })).collect::<Vec<_>>(),
        "chain_height": st.chain.as_ref().map(|c| c.stats.height),
        "balance": st.chain.as_ref().map(|c| c.balance),
        "chain": st.chain.as_ref().map(|c| serde_json::json!({
            "height": c.stats.height,
            "tip": c.stats.tip.map(|h| h.to_string()),
            "work": c.stats.work.to_string(),
            "blocks_farmed": c.stats.blocks_farmed,
            "blocks_received": c.stats.blocks_received,
            "invalid_blocks": c.stats.invalid_blocks,
            "block_requests_refused": c.stats.block_requests_refused,
            "reorgs": c.stats.reorgs,
            "mempool": c.stats.mempool,
            "farming_plots": c.plots,
            "cos": c.cos.map(|v| v.to_string()),
            "recent_farmers": c.recent_farmers,
            "archive_key": c.archive_key.map(|k| k.to_string()),
        })),
    }))
}

fn put_file(
    ctx: &ControlContext,
    rt: &tokio::runtime::Handle,
    path: &Path,
    contract: ContractId,
    public: bool,
    share: Vec<PublicKey>,
) -> Response {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => {
            return Response::err(
                ErrorKind::File,
                format!("cannot read {}: {e}", path.display()),
            );
        }
    };
    let mut rng = ChaCha20Rng::from_rng(OsRng).unwrap_or_else(|_| {
        // OsRng failing is an OS-level fault; fall back to a seed from the token space.
        ChaCha20Rng::seed_from_u64(OsRng.next_u64())
    });
    let mut opts = ChunkOptions::new(contract, unix_now());
    opts.public = public;
    opts.share = share.into_iter().map(|pk| (pk, Role::Read)).collect();
    let keypair = ctx.keypair.clone();
    let mut chunker = chunk(std::io::BufReader::new(file), &keypair, opts, &mut rng);
    let mut chunks = 0u64;
    let mut holders = std::collections::BTreeSet::new();
    for rec in chunker.by_ref() {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => return Response::err(ErrorKind::File, format!("chunking failed: {e}")),
        };
        match rt.block_on(ctx.node.put(rec)) {
            Ok(receipts) => holders.extend(receipts.iter().map(|r| r.host_id().to_string())),
            Err(e) => return Response::err(node_err_kind(&e), format!("chunk {chunks}: {e}")),
        }
        chunks += 1;
    }
    let file = match chunker.finish() {
        Ok(f) => f,
        Err(e) => return Response::err(ErrorKind::File, format!("chunking failed: {e}")),
    };
    let key = file.record.key();
    let receipts = match rt.block_on(ctx.node.put(file.record)) {
        Ok(r) => r,
        Err(e) => return Response::err(node_err_kind(&e), format!("manifest: {e}")),
    };
    Response::ok(serde_json::json!({
        "key": key.to_string(),
        "bytes": file.manifest.total_len(),
        "chunks": chunks,
        "replicas": receipts.len(),
        "manifest_holders": receipts.iter().map(|r| r.host_id().to_string()).collect::<Vec<_>>(),
        "hosts": holders.len(),
    }))
}

fn get_file(
    ctx: &ControlContext,
    rt: &tokio::runtime::Handle,
    key: RecordKey,
    out: &Path,
) -> Response {
    let record = match rt.block_on(ctx.node.get(key)) {
        Ok(r) => r,
        Err(e) => return Response::err(node_err_kind(&e), e.to_string()),
    };
    let tmp = out.with_extension("subspace-partial");
    let written = (|| -> std::result::Result<u64, Response> {
        let file_err = |e: std::io::Error| {
            Response::err(
                ErrorKind::File,
                format!("cannot write {}: {e}", out.display()),
            )
        };
        let mut f = std::fs::File::create(&tmp).map_err(file_err)?;
        let n = match Manifest::open(&record, &ctx.keypair) {
            Ok(manifest) => {
                let mut reader = reassemble(&manifest, |k| {
                    rt.block_on(ctx.node.get(k))
                        .map_err(|e| RecordError::Io(e.to_string()))
                });
                std::io::copy(&mut reader, &mut f).map_err(|e| {
                    Response::err(ErrorKind::Network, format!("reassembly failed: {e}"))
                })?
            }
            // Not a manifest: a single record; its data is the file.
            Err(_) => {
                let data = record.open(&ctx.keypair).map_err(|e| {
                    Response::err(
                        ErrorKind::BadInput,
                        format!("cannot open record {key}: {e} (is it shared with this node?)"),
                    )
                })?;
                std::io::Write::write_all(&mut f, &data).map_err(file_err)?;
                data.len() as u64
            }
        };
        f.sync_all().map_err(file_err)?;
        std::fs::rename(&tmp, out).map_err(file_err)?;
        Ok(n)
    })();
    match written {
        Ok(n) => {
            Response::ok(serde_json::json!({ "key": key.to_string(), "bytes": n, "out": out }))
        }
        Err(r) => {
            let _ = std::fs::remove_file(&tmp);
            r
        }
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Why a client could not talk to a node.
#[derive(Debug)]
pub enum ClientError {
    /// No node is running for this data directory (no `control.json`, or nothing listens).
    NotRunning(String),
    /// The node answered with an error.
    Node(Response),
}

/// Sends `request` to the node running in the data directory whose `control.json` is at
/// `control_path`, and returns its data.
pub async fn request(
    control_path: &Path,
    req: Request,
) -> std::result::Result<serde_json::Value, ClientError> {
    let not_running = |why: String| ClientError::NotRunning(why);
    let text = std::fs::read(control_path).map_err(|_| {
        not_running(format!(
            "no node running for this data directory ({} missing); start one with `subspace-node run`",
            control_path.display()
        ))
    })?;
    let file: ControlFile = serde_json::from_slice(&text)
        .map_err(|e| not_running(format!("{} is damaged: {e}", control_path.display())))?;
    let stream = TcpStream::connect(file.addr).await.map_err(|e| {
        not_running(format!(
            "the node at {} does not answer ({e}); is `subspace-node run` still running?",
            file.addr
        ))
    })?;
    let (r, mut w) = stream.into_split();
    let mut line = serde_json::to_vec(&Envelope {
        token: file.token,
        request: req,
    })
    .map_err(|e| not_running(e.to_string()))?;
    line.push(b'\n');
    w.write_all(&line)
        .await
        .map_err(|e| not_running(format!("control write: {e}")))?;
    let mut answer = String::new();
    BufReader::new(tokio::io::AsyncReadExt::take(r, MAX_RESPONSE))
        .read_line(&mut answer)
        .await
        .map_err(|e| not_running(format!("control read: {e}")))?;
    let resp = parse_response(&answer)
        .map_err(|e| not_running(format!("the node closed the control channel ({e})")))?;
    if resp.ok {
        Ok(resp.data.unwrap_or(serde_json::Value::Null))
    } else {
        Err(ClientError::Node(resp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const TOKEN: &str = "5eed";

    fn line(token: &str, request: &Request) -> String {
        serde_json::to_string(&Envelope {
            token: token.into(),
            request: request.clone(),
        })
        .unwrap()
    }

    #[test]
    fn a_request_needs_the_token() {
        let req = Request::ContractCreate {
            bytes: 1 << 20,
            secs: 60,
            replication: 3,
        };
        assert!(matches!(
            parse_request(&line(TOKEN, &req), TOKEN),
            Ok(Request::ContractCreate {
                bytes: 1048576,
                secs: 60,
                replication: 3
            })
        ));
        let refused = parse_request(&line("other", &req), TOKEN).unwrap_err();
        assert_eq!(refused.kind, Some(ErrorKind::Unauthorized));
        let bad = parse_request("{\"token\":\"5eed\",\"cmd\":\"fly\"}", TOKEN).unwrap_err();
        assert_eq!(bad.kind, Some(ErrorKind::BadInput));
    }

    proptest! {
        #[test]
        fn any_line_gives_a_typed_result(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let text = String::from_utf8_lossy(&bytes);
            if let Err(r) = parse_request(&text, TOKEN) {
                prop_assert!(!r.ok);
            }
            let _ = parse_response(&text);
        }

        #[test]
        fn requests_round_trip(key in "[0-9a-f]{0,64}", public in any::<bool>(), n in 0usize..4) {
            let req = Request::Put {
                path: PathBuf::from(format!("/tmp/{key}")),
                contract: (n % 2 == 0).then(|| key.clone()),
                public,
                share: vec![key.clone(); n],
            };
            let back = parse_request(&line(TOKEN, &req), TOKEN);
            let ok = matches!(
                back,
                Ok(Request::Put { ref share, public: p, .. }) if share.len() == n && p == public
            );
            prop_assert!(ok);
        }
    }
}
