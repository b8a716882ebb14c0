//! [`TcpTransport`]: tokio TCP, a Noise XX handshake keyed by the node identity, and
//! length-prefixed encrypted frames with a size bound.
//!
//! On the wire every Noise message is a big-endian `u16` length and the ciphertext. The
//! handshake is `Noise_XX_25519_ChaChaPoly_BLAKE2s` with the identity's X25519 secret
//! ([`Keypair::x25519_secret`]) as the static key. Then each side sends, encrypted, its ed25519
//! public key and a signature under [`domain::NODE_HANDSHAKE`] over the handshake hash; the
//! other side checks that the key maps to the Noise static key it saw and that the signature
//! verifies, and only then derives the peer's [`NodeId`]. A replayed or relayed proof fails
//! because the handshake hash is unique to this session.
//!
//! After its proof each side may add its listening port and up to [`MAX_SHARED_ADDRS`] peers it
//! knows an address for (id, IPv6 or IPv4-mapped address, port). A transport dials every peer
//! so learnt that it is not connected to, so a node that connects to one seed address finds the
//! rest of the network (up to [`MAX_DISCOVERED_PEERS`] connections); a peer's own address is its
//! socket's IP with the port it announced.
//! An address is only a hint: whoever answers there must still pass the handshake.
//!
//! An application frame is a `u32` length followed by its bytes, split over as many Noise
//! messages as needed. A length above [`TcpConfig::max_frame`], a decryption failure or a
//! frame that does not complete within [`TcpConfig::frame_timeout`] ends the connection; so
//! does a handshake that does not finish within [`TcpConfig::handshake_timeout`].

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use snow::{HandshakeState, StatelessTransportState};
use subspace_crypto::{Keypair, NodeId, PublicKey, Signature, domain};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::transport::{Transport, TransportEvent};
use crate::{NodeError, Result};

/// The Noise protocol every Subspace TCP connection speaks.
pub const NOISE_PARAMS: &str = "Noise_XX_25519_ChaChaPoly_BLAKE2s";
const NOISE_MAX: usize = 65_535;
const TAG_LEN: usize = 16;
const CHUNK: usize = NOISE_MAX - TAG_LEN;
const PROOF_LEN: usize = 32 + 64;
/// Most peer addresses one side shares after its identity proof.
pub const MAX_SHARED_ADDRS: usize = 64;
/// A transport stops dialing addresses it learnt once it has this many connections (it still
/// accepts and dials explicitly), so discovery does not grow into a full mesh of a large network.
pub const MAX_DISCOVERED_PEERS: usize = 64;
/// Most peer addresses a transport remembers.
const MAX_KNOWN_ADDRS: usize = 4096;
const ADDR_ENTRY_LEN: usize = 32 + 16 + 2;

/// Settings of a [`TcpTransport`].
#[derive(Clone, Copy, Debug)]
pub struct TcpConfig {
    /// Largest application frame sent or accepted; a peer announcing more is disconnected.
    pub max_frame: usize,
    /// Time a peer has to complete the handshake and identity proof.
    pub handshake_timeout: Duration,
    /// Time a peer has to finish a frame once it started sending it.
    pub frame_timeout: Duration,
    /// Frames queued per peer before `send` reports the peer as congested (dropped, counted).
    pub outbox_capacity: usize,
    /// Events queued for the node before connection readers wait.
    pub inbox_capacity: usize,
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            max_frame: subspace_crypto::codec::MAX_DECODE_LEN,
            handshake_timeout: Duration::from_secs(5),
            frame_timeout: Duration::from_secs(30),
            outbox_capacity: 1024,
            inbox_capacity: 4096,
        }
    }
}

/// Older connections to one peer kept open beside the newest (see [`Peer::older`]).
const MAX_OLDER_CONNS: usize = 2;

struct Peer {
    conn: u64,
    outbox: mpsc::Sender<Vec<u8>>,
    /// Connections replaced by a newer one. They stay open: when two nodes dial each other at
    /// once, each side may prefer a different one of the two, and closing the other would end
    /// the connection the peer still sends on. If the newest ends, the last of these takes over.
    older: Vec<(u64, mpsc::Sender<Vec<u8>>)>,
}

struct Shared {
    keypair: Keypair,
    config: TcpConfig,
    peers: Mutex<BTreeMap<NodeId, Peer>>,
    events: mpsc::Sender<TransportEvent>,
    next_conn: AtomicU64,
    dropped_outbound: AtomicU64,
    rejected_connections: AtomicU64,
    listen_port: u16,
    addrs: Mutex<BTreeMap<NodeId, SocketAddr>>,
    dialing: Mutex<BTreeSet<NodeId>>,
}

impl Shared {
    fn peers(&self) -> MutexGuard<'_, BTreeMap<NodeId, Peer>> {
        self.peers.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn addrs(&self) -> MutexGuard<'_, BTreeMap<NodeId, SocketAddr>> {
        self.addrs.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn dialing(&self) -> MutexGuard<'_, BTreeSet<NodeId>> {
        self.dialing.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// This side's port and up to [`MAX_SHARED_ADDRS`] known peer addresses, to follow the
    /// identity proof.
    fn address_book(&self, skip: &NodeId) -> Vec<u8> {
        let addrs = self.addrs();
        let entries: Vec<(&NodeId, &SocketAddr)> = addrs
            .iter()
            .filter(|(id, _)| *id != skip)
            .take(MAX_SHARED_ADDRS)
            .collect();
        let mut out = Vec::with_capacity(3 + entries.len() * ADDR_ENTRY_LEN);
        out.extend_from_slice(&self.listen_port.to_be_bytes());
        out.push(entries.len() as u8);
        for (id, addr) in entries {
            out.extend_from_slice(&id.to_bytes());
            let ip = match addr.ip() {
                IpAddr::V4(v4) => v4.to_ipv6_mapped(),
                IpAddr::V6(v6) => v6,
            };
            out.extend_from_slice(&ip.octets());
            out.extend_from_slice(&addr.port().to_be_bytes());
        }
        out
    }

    /// Remembers `addr` for `peer` (bounded: beyond the cap new peers are not remembered).
    fn remember(&self, peer: NodeId, addr: SocketAddr) {
        let mut addrs = self.addrs();
        if addrs.len() < MAX_KNOWN_ADDRS || addrs.contains_key(&peer) {
            addrs.insert(peer, addr);
        }
    }
}

/// What a peer shared after its identity proof: its listening port and the addresses it knows
/// (`None` when it shared nothing).
pub type SharedBook = Option<(u16, Vec<(NodeId, SocketAddr)>)>;

/// Decodes the address book a peer sends after its identity proof: a 2-byte listening port, a
/// count of at most [`MAX_SHARED_ADDRS`], then per entry a 32-byte id, a 16-byte IPv6 (or
/// IPv4-mapped) address and a 2-byte port. Empty bytes mean no book; anything else malformed is
/// [`NodeError::Handshake`]. Public so the fuzz target can reach it.
pub fn parse_address_book(bytes: &[u8]) -> Result<SharedBook> {
    if bytes.is_empty() {
        return Ok(None);
    }
    let bad = || NodeError::Handshake("malformed address book");
    let (head, rest) = bytes.split_first_chunk::<3>().ok_or_else(bad)?;
    let port = u16::from_be_bytes([head[0], head[1]]);
    let count = usize::from(head[2]);
    if count > MAX_SHARED_ADDRS || rest.len() != count * ADDR_ENTRY_LEN {
        return Err(bad());
    }
    let mut entries = Vec::with_capacity(count);
    for e in rest.chunks_exact(ADDR_ENTRY_LEN) {
        let (id, tail) = e.split_first_chunk::<32>().ok_or_else(bad)?;
        let (ip, port) = tail.split_first_chunk::<16>().ok_or_else(bad)?;
        let port = u16::from_be_bytes(port.try_into().map_err(|_| bad())?);
        let ip = Ipv6Addr::from(*ip);
        let ip = ip.to_ipv4_mapped().map_or(IpAddr::V6(ip), IpAddr::V4);
        entries.push((NodeId::from_bytes(*id), SocketAddr::new(ip, port)));
    }
    Ok(Some((port, entries)))
}

/// Dials `addr` in the background (a peer learnt from another's address book).
fn dial(
    shared: Arc<Shared>,
    peer: NodeId,
    addr: SocketAddr,
) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        let connected =
            tokio::time::timeout(shared.config.handshake_timeout, TcpStream::connect(addr)).await;
        if let Ok(Ok(stream)) = connected
            && let Err(e) = establish(shared.clone(), stream, true).await
        {
            tracing::debug!(%peer, error = %e, "dialing a shared address failed");
        }
        shared.dialing().remove(&peer);
    })
}

/// A [`Transport`] over TCP with Noise encryption and identity authentication.
pub struct TcpTransport {
    shared: Arc<Shared>,
    events: mpsc::Receiver<TransportEvent>,
    local_addr: SocketAddr,
    accept_task: JoinHandle<()>,
}

impl std::fmt::Debug for TcpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpTransport")
            .field("id", &self.shared.keypair.node_id())
            .field("addr", &self.local_addr)
            .finish()
    }
}

impl TcpTransport {
    /// Listens on `addr` (port 0 picks a free one) as the identity `keypair`.
    pub async fn bind(
        keypair: Keypair,
        addr: SocketAddr,
        config: TcpConfig,
    ) -> Result<TcpTransport> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(NodeError::io("bind listener"))?;
        let local_addr = listener
            .local_addr()
            .map_err(NodeError::io("read listener address"))?;
        let (tx, rx) = mpsc::channel(config.inbox_capacity.max(1));
        let shared = Arc::new(Shared {
            keypair,
            config,
            peers: Mutex::new(BTreeMap::new()),
            events: tx,
            next_conn: AtomicU64::new(0),
            dropped_outbound: AtomicU64::new(0),
            rejected_connections: AtomicU64::new(0),
            listen_port: local_addr.port(),
            addrs: Mutex::new(BTreeMap::new()),
            dialing: Mutex::new(BTreeSet::new()),
        });
        let accept_shared = shared.clone();
        let accept_task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let shared = accept_shared.clone();
                tokio::spawn(async move {
                    if let Err(e) = establish(shared.clone(), stream, false).await {
                        shared.rejected_connections.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(error = %e, "inbound connection rejected");
                    }
                });
            }
        });
        Ok(TcpTransport {
            shared,
            events: rx,
            local_addr,
            accept_task,
        })
    }

    /// The address peers connect to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Dials `addr`, runs the handshake, and returns the peer's authenticated [`NodeId`].
    pub async fn connect(&self, addr: SocketAddr) -> Result<NodeId> {
        self.dialer().connect(addr).await
    }

    /// A handle that dials for this transport from any task (the connection's events still
    /// arrive through [`Transport::recv`]).
    pub fn dialer(&self) -> TcpDialer {
        TcpDialer {
            shared: self.shared.clone(),
        }
    }

    /// Peers this transport knows an address for (learnt from handshakes), in id order.
    pub fn known_addrs(&self) -> Vec<(NodeId, SocketAddr)> {
        self.shared.addrs().iter().map(|(n, a)| (*n, *a)).collect()
    }

    /// Peers with a live connection, in ascending order.
    pub fn connected_peers(&self) -> Vec<NodeId> {
        self.shared.peers().keys().copied().collect()
    }

    /// Frames dropped because a peer's outbox was full.
    pub fn dropped_outbound(&self) -> u64 {
        self.shared.dropped_outbound.load(Ordering::Relaxed)
    }

    /// Inbound connections that failed the handshake or identity proof.
    pub fn rejected_connections(&self) -> u64 {
        self.shared.rejected_connections.load(Ordering::Relaxed)
    }
}

/// Dials peers for a [`TcpTransport`]; clones share the transport. See [`TcpTransport::dialer`].
#[derive(Clone)]
pub struct TcpDialer {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for TcpDialer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpDialer")
            .field("id", &self.shared.keypair.node_id())
            .finish()
    }
}

impl TcpDialer {
    /// Dials `addr`, runs the handshake, and returns the peer's authenticated [`NodeId`].
    pub async fn connect(&self, addr: SocketAddr) -> Result<NodeId> {
        let stream = tokio::time::timeout(
            self.shared.config.handshake_timeout,
            TcpStream::connect(addr),
        )
        .await
        .map_err(|_| NodeError::Timeout)?
        .map_err(NodeError::io("connect"))?;
        establish(self.shared.clone(), stream, true).await
    }

    /// Whether a connection to `peer` is up.
    pub fn is_connected(&self, peer: &NodeId) -> bool {
        self.shared.peers().contains_key(peer)
    }

    /// Peers with a live connection, in ascending order (as [`TcpTransport::connected_peers`]).
    pub fn connected_peers(&self) -> Vec<NodeId> {
        self.shared.peers().keys().copied().collect()
    }

    /// Peers with a known address (as [`TcpTransport::known_addrs`]).
    pub fn known_addrs(&self) -> Vec<(NodeId, SocketAddr)> {
        self.shared.addrs().iter().map(|(n, a)| (*n, *a)).collect()
    }
}

impl Drop for TcpTransport {
    fn drop(&mut self) {
        self.accept_task.abort();
        // Dropping the outboxes ends every writer, which closes the sockets.
        self.shared.peers().clear();
    }
}

impl Transport for TcpTransport {
    fn local_id(&self) -> NodeId {
        self.shared.keypair.node_id()
    }

    fn send(&self, to: NodeId, bytes: Vec<u8>) -> Result<()> {
        if bytes.len() > self.shared.config.max_frame {
            return Err(NodeError::FrameTooLarge {
                len: bytes.len() as u64,
                max: self.shared.config.max_frame as u64,
            });
        }
        let peers = self.shared.peers();
        let peer = peers.get(&to).ok_or(NodeError::NotConnected(to))?;
        match peer.outbox.try_send(bytes) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.shared.dropped_outbound.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(NodeError::NotConnected(to)),
        }
    }

    fn try_recv(&mut self) -> Option<TransportEvent> {
        self.events.try_recv().ok()
    }

    async fn recv(&mut self) -> Option<TransportEvent> {
        self.events.recv().await
    }
}

async fn write_noise(w: &mut (impl AsyncWriteExt + Unpin), msg: &[u8]) -> Result<()> {
    let len =
        u16::try_from(msg.len()).map_err(|_| NodeError::Handshake("noise message too long"))?;
    w.write_all(&len.to_be_bytes())
        .await
        .map_err(NodeError::io("write frame"))?;
    w.write_all(msg).await.map_err(NodeError::io("write frame"))
}

async fn read_noise(
    r: &mut (impl AsyncReadExt + Unpin),
    buf: &mut [u8; NOISE_MAX],
) -> Result<usize> {
    let mut len = [0u8; 2];
    r.read_exact(&mut len)
        .await
        .map_err(NodeError::io("read frame"))?;
    let len = u16::from_be_bytes(len) as usize;
    r.read_exact(&mut buf[..len])
        .await
        .map_err(NodeError::io("read frame"))?;
    Ok(len)
}

fn noise_err(_: snow::Error) -> NodeError {
    NodeError::Handshake("noise")
}

/// The handshake and identity proof, then the reader and writer tasks.
async fn establish(shared: Arc<Shared>, stream: TcpStream, initiator: bool) -> Result<NodeId> {
    let _ = stream.set_nodelay(true);
    let remote = stream.peer_addr().ok();
    let remote_ip = remote.map(|a| a.ip());
    let (mut r, mut w) = stream.into_split();
    let (state, peer, book) = tokio::time::timeout(
        shared.config.handshake_timeout,
        handshake(&shared, &mut r, &mut w, initiator),
    )
    .await
    .map_err(|_| NodeError::Timeout)??;
    let me = shared.keypair.node_id();
    if let Some((port, entries)) = book {
        if let Some(ip) = remote_ip {
            shared.remember(peer, SocketAddr::new(ip, port));
        }
        for (id, addr) in entries {
            if id == me || id == peer {
                continue;
            }
            // A third party's claim never replaces an address already known.
            if !shared.addrs().contains_key(&id) {
                shared.remember(id, addr);
            }
            let known = shared.peers().contains_key(&id);
            let enough = shared.peers().len() + shared.dialing().len() >= MAX_DISCOVERED_PEERS;
            if known || enough || !shared.dialing().insert(id) {
                continue;
            }
            tokio::spawn(dial(shared.clone(), id, addr));
        }
    }
    let state = Arc::new(state);
    let conn = shared.next_conn.fetch_add(1, Ordering::Relaxed);
    let (tx, rx) = mpsc::channel(shared.config.outbox_capacity.max(1));
    {
        let mut peers = shared.peers();
        let mut older = Vec::new();
        if let Some(p) = peers.remove(&peer) {
            older = p.older;
            older.push((p.conn, p.outbox));
            older.retain(|(_, o)| !o.is_closed());
            if older.len() > MAX_OLDER_CONNS {
                older.remove(0);
            }
        }
        peers.insert(
            peer,
            Peer {
                conn,
                outbox: tx,
                older,
            },
        );
    }
    if shared
        .events
        .send(TransportEvent::Connected { peer, addr: remote })
        .await
        .is_err()
    {
        return Err(NodeError::Closed);
    }
    tokio::spawn(write_loop(state.clone(), w, rx));
    let reader_shared = shared.clone();
    tokio::spawn(async move {
        let result = read_loop(&reader_shared, &state, &mut r, peer).await;
        if let Err(e) = result {
            tracing::debug!(peer = %peer, error = %e, "connection ended");
        }
        let gone = {
            let mut peers = reader_shared.peers();
            match peers.get_mut(&peer) {
                Some(p) if p.conn == conn => {
                    // The newest ended: fall back to an older one still open, if any.
                    p.older.retain(|(_, o)| !o.is_closed());
                    match p.older.pop() {
                        Some((c, o)) => {
                            p.conn = c;
                            p.outbox = o;
                            false
                        }
                        None => {
                            peers.remove(&peer);
                            true
                        }
                    }
                }
                Some(p) => {
                    p.older.retain(|(c, _)| *c != conn);
                    false
                }
                None => false,
            }
        };
        if gone {
            let _ = reader_shared
                .events
                .send(TransportEvent::Disconnected(peer))
                .await;
        }
    });
    Ok(peer)
}

async fn handshake(
    shared: &Shared,
    r: &mut OwnedReadHalf,
    w: &mut OwnedWriteHalf,
    initiator: bool,
) -> Result<(StatelessTransportState, NodeId, SharedBook)> {
    let keypair = &shared.keypair;
    let params = NOISE_PARAMS
        .parse()
        .map_err(|_| NodeError::Handshake("noise parameters"))?;
    let secret = keypair.x25519_secret().to_bytes();
    let builder = snow::Builder::new(params).local_private_key(&secret);
    let mut hs: HandshakeState = if initiator {
        builder.build_initiator()
    } else {
        builder.build_responder()
    }
    .map_err(noise_err)?;
    let mut buf = Box::new([0u8; NOISE_MAX]);
    let mut out = vec![0u8; NOISE_MAX];
    let mut scratch = vec![0u8; NOISE_MAX];
    // XX: -> e; <- e, ee, s, es; -> s, se.
    for step in 0..3 {
        let my_turn = (step % 2 == 0) == initiator;
        if my_turn {
            let n = hs.write_message(&[], &mut out).map_err(noise_err)?;
            write_noise(w, &out[..n]).await?;
        } else {
            let n = read_noise(r, &mut buf).await?;
            hs.read_message(&buf[..n], &mut scratch)
                .map_err(noise_err)?;
        }
    }
    let remote_static: [u8; 32] = hs
        .get_remote_static()
        .and_then(|s| s.try_into().ok())
        .ok_or(NodeError::Handshake("no remote static key"))?;
    let hash = hs.get_handshake_hash().to_vec();
    let state = hs.into_stateless_transport_mode().map_err(noise_err)?;

    // Identity proof: ed25519 key + signature over this session's handshake hash. Initiator
    // speaks on nonce 0 of its direction; responder likewise on its own.
    let sig = keypair.sign(domain::NODE_HANDSHAKE, &hash);
    let mut proof = Vec::with_capacity(PROOF_LEN);
    proof.extend_from_slice(&keypair.public().to_bytes());
    proof.extend_from_slice(&sig.to_bytes());
    // The remote id is known (to the Noise layer) only as a static key here; skip nobody.
    proof.extend_from_slice(&shared.address_book(&keypair.node_id()));
    let n = state
        .write_message(0, &proof, &mut out)
        .map_err(noise_err)?;
    write_noise(w, &out[..n]).await?;
    let n = read_noise(r, &mut buf).await?;
    let m = state
        .read_message(0, &buf[..n], &mut scratch)
        .map_err(noise_err)?;
    if m < PROOF_LEN {
        return Err(NodeError::Handshake("identity proof has the wrong length"));
    }
    let book = parse_address_book(scratch.get(PROOF_LEN..m).unwrap_or(&[]))?;
    let mut pk = [0u8; 32];
    pk.copy_from_slice(&scratch[..32]);
    let mut sig = [0u8; 64];
    sig.copy_from_slice(&scratch[32..PROOF_LEN]);
    let pk = PublicKey::from_bytes(&pk).map_err(|_| NodeError::Handshake("bad identity key"))?;
    if pk.to_x25519().to_bytes() != remote_static {
        return Err(NodeError::Handshake(
            "identity key does not match the noise key",
        ));
    }
    pk.verify(domain::NODE_HANDSHAKE, &hash, &Signature::from_bytes(sig))
        .map_err(|_| NodeError::Handshake("identity signature"))?;
    Ok((state, pk.node_id(), book))
}

async fn write_loop(
    state: Arc<StatelessTransportState>,
    mut w: OwnedWriteHalf,
    mut rx: mpsc::Receiver<Vec<u8>>,
) {
    // Nonce 0 carried the identity proof.
    let mut nonce = 1u64;
    let mut out = vec![0u8; NOISE_MAX];
    let mut wire = Vec::with_capacity(NOISE_MAX + 2);
    while let Some(frame) = rx.recv().await {
        let mut plain = Vec::with_capacity(frame.len() + 4);
        plain.extend_from_slice(&(frame.len() as u32).to_be_bytes());
        plain.extend_from_slice(&frame);
        for chunk in plain.chunks(CHUNK) {
            let Ok(n) = state.write_message(nonce, chunk, &mut out) else {
                return;
            };
            nonce += 1;
            wire.clear();
            wire.extend_from_slice(&(n as u16).to_be_bytes());
            wire.extend_from_slice(&out[..n]);
            if w.write_all(&wire).await.is_err() {
                return;
            }
        }
    }
    let _ = w.shutdown().await;
}

async fn read_loop(
    shared: &Shared,
    state: &StatelessTransportState,
    r: &mut OwnedReadHalf,
    peer: NodeId,
) -> Result<()> {
    let mut nonce = 1u64;
    let mut buf = Box::new([0u8; NOISE_MAX]);
    let mut plain = vec![0u8; NOISE_MAX];
    let max = shared.config.max_frame;
    loop {
        // Waiting for a frame to start has no deadline (idle peers are fine)...
        let n = read_noise(r, &mut buf).await?;
        let m = state
            .read_message(nonce, &buf[..n], &mut plain)
            .map_err(|_| NodeError::Handshake("frame failed to decrypt"))?;
        nonce += 1;
        if m < 4 {
            return Err(NodeError::Handshake("frame without a length"));
        }
        let len = u32::from_be_bytes([plain[0], plain[1], plain[2], plain[3]]) as usize;
        if len > max {
            return Err(NodeError::FrameTooLarge {
                len: len as u64,
                max: max as u64,
            });
        }
        // The bound was checked, so this allocation is at most `max_frame`.
        let mut frame = Vec::with_capacity(len);
        frame.extend_from_slice(&plain[4..m]);
        // ...but once started, the rest must arrive within the frame timeout.
        let rest = async {
            while frame.len() < len {
                let n = read_noise(r, &mut buf).await?;
                let m = state
                    .read_message(nonce, &buf[..n], &mut plain)
                    .map_err(|_| NodeError::Handshake("frame failed to decrypt"))?;
                nonce += 1;
                frame.extend_from_slice(&plain[..m]);
            }
            Ok::<(), NodeError>(())
        };
        tokio::time::timeout(shared.config.frame_timeout, rest)
            .await
            .map_err(|_| NodeError::Timeout)??;
        if frame.len() != len {
            return Err(NodeError::Handshake("frame longer than announced"));
        }
        if shared
            .events
            .send(TransportEvent::Message {
                from: peer,
                bytes: frame,
            })
            .await
            .is_err()
        {
            return Err(NodeError::Closed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    fn kp(i: u8) -> Keypair {
        Keypair::from_seed(&[i; 32])
    }

    #[test]
    fn address_books_round_trip_and_hostile_ones_are_refused() {
        let (tx, _rx) = mpsc::channel(1);
        let shared = Shared {
            keypair: kp(1),
            config: TcpConfig::default(),
            peers: Mutex::new(BTreeMap::new()),
            events: tx,
            next_conn: AtomicU64::new(0),
            dropped_outbound: AtomicU64::new(0),
            rejected_connections: AtomicU64::new(0),
            listen_port: 30333,
            addrs: Mutex::new(BTreeMap::new()),
            dialing: Mutex::new(BTreeSet::new()),
        };
        let a: SocketAddr = "10.1.2.3:4000".parse().unwrap();
        let b: SocketAddr = "[2001:db8::7]:5000".parse().unwrap();
        shared.remember(kp(2).node_id(), a);
        shared.remember(kp(3).node_id(), b);
        let book = shared.address_book(&kp(1).node_id());
        let (port, mut entries) = parse_address_book(&book).unwrap().unwrap();
        entries.sort();
        let mut want = vec![(kp(2).node_id(), a), (kp(3).node_id(), b)];
        want.sort();
        assert_eq!((port, entries), (30333, want));
        assert_eq!(parse_address_book(&[]).unwrap(), None);
        // Truncated, padded, or claiming more entries than allowed: refused, never a panic.
        assert!(parse_address_book(&book[..book.len() - 1]).is_err());
        assert!(parse_address_book(&[book.as_slice(), &[0]].concat()).is_err());
        assert!(parse_address_book(&[0, 1, (MAX_SHARED_ADDRS + 1) as u8]).is_err());
        for len in 0..200 {
            let _ = parse_address_book(&vec![0xFF; len]);
        }
    }

    proptest::proptest! {
        /// Any bytes: a typed result, never a panic, and whatever decodes holds at most
        /// MAX_SHARED_ADDRS entries; a well-formed book of random entries decodes to itself.
        #[test]
        fn address_book_decoding_is_total(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..4000),
            n in 0usize..=MAX_SHARED_ADDRS,
            seed in proptest::prelude::any::<u8>(),
        ) {
            if let Ok(Some((_, entries))) = parse_address_book(&bytes) {
                proptest::prop_assert!(entries.len() <= MAX_SHARED_ADDRS);
            }
            let mut book = vec![0x75, 0x30, n as u8];
            let mut want = Vec::new();
            for i in 0..n {
                let id = [seed.wrapping_add(i as u8); 32];
                let ip = std::net::Ipv6Addr::from([i as u8; 16]);
                book.extend_from_slice(&id);
                book.extend_from_slice(&ip.octets());
                book.extend_from_slice(&(i as u16).to_be_bytes());
                let ip = ip.to_ipv4_mapped().map_or(IpAddr::V6(ip), IpAddr::V4);
                want.push((NodeId::from_bytes(id), SocketAddr::new(ip, i as u16)));
            }
            proptest::prop_assert_eq!(parse_address_book(&book).unwrap(), Some((0x7530, want)));
        }
    }

    #[test]
    fn the_noise_static_key_is_the_identity_key() {
        // snow derives the public half from the secret we give it; it must equal the
        // Montgomery form of the ed25519 key, or peers could not bind the two.
        let k = Keypair::generate(&mut ChaCha20Rng::seed_from_u64(1));
        let secret = k.x25519_secret();
        let public = x25519_public(&secret.to_bytes());
        assert_eq!(public, k.public().to_x25519().to_bytes());
    }

    fn x25519_public(secret: &[u8; 32]) -> [u8; 32] {
        let params = NOISE_PARAMS.parse().unwrap();
        let mut hs = snow::Builder::new(params)
            .local_private_key(secret)
            .build_initiator()
            .unwrap();
        let mut resp = snow::Builder::new(NOISE_PARAMS.parse().unwrap())
            .local_private_key(&[9; 32])
            .build_responder()
            .unwrap();
        let mut m = [0u8; 1024];
        let mut p = [0u8; 1024];
        let n = hs.write_message(&[], &mut m).unwrap();
        resp.read_message(&m[..n], &mut p).unwrap();
        let n = resp.write_message(&[], &mut m).unwrap();
        hs.read_message(&m[..n], &mut p).unwrap();
        let n = hs.write_message(&[], &mut m).unwrap();
        resp.read_message(&m[..n], &mut p).unwrap();
        resp.get_remote_static().unwrap().try_into().unwrap()
    }

    #[tokio::test]
    async fn frames_cross_the_chunk_boundary_intact() {
        let local: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let a = TcpTransport::bind(kp(1), local, TcpConfig::default())
            .await
            .unwrap();
        let mut b = TcpTransport::bind(kp(2), local, TcpConfig::default())
            .await
            .unwrap();
        let peer = a.connect(b.local_addr()).await.unwrap();
        assert_eq!(peer, kp(2).node_id());
        assert!(matches!(
            b.recv().await,
            Some(TransportEvent::Connected { peer, addr: Some(_) }) if peer == kp(1).node_id()
        ));
        for len in [
            0,
            1,
            CHUNK - 4,
            CHUNK - 3,
            CHUNK + 1,
            3 * CHUNK + 17,
            1 << 20,
        ] {
            let data: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            a.send(peer, data.clone()).unwrap();
            assert_eq!(
                b.recv().await,
                Some(TransportEvent::Message {
                    from: kp(1).node_id(),
                    bytes: data
                })
            );
        }
    }
}
