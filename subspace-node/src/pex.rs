//! [`PeerExchange`]: address discovery over a [`TcpTransport`], so a node started with one
//! bootstrap address ends up connected to every member it learns of.
//!
//! Gossip and the DHT speak in [`NodeId`]s; TCP needs addresses. On every new connection a
//! node sends its own dial address and the `(id, address)` pairs it knows; whoever learns a new
//! pair passes it on to its connected peers. Of two nodes that learn of each other only the
//! one with the smaller id dials, so they never race to open two connections (which would
//! leave each side holding a different one). A node restarted on the same address is dialed
//! again by the smaller-id side when its announcement arrives.
//!
//! Exchange frames carry a 4-byte prefix that no node message starts with (those begin with
//! a small variant tag) and are consumed here; everything else passes through untouched. A
//! malformed exchange frame is dropped and counted, never fatal.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use subspace_crypto::{NodeId, codec};

use crate::Result;
use crate::tcp_transport::{TcpDialer, TcpTransport};
use crate::transport::{Transport, TransportEvent};

/// First bytes of every exchange frame.
pub const PEX_MAGIC: [u8; 4] = [0xFF, b'P', b'E', b'X'];
/// Most `(id, address)` pairs one exchange frame carries (and the book keeps).
pub const MAX_PEX_PEERS: usize = 1024;
const MAX_PEX_FRAME: usize = 64 * 1024;

#[derive(Serialize, Deserialize)]
struct PexFrame {
    /// The sender's dial address.
    me: SocketAddr,
    /// Pairs the sender knows.
    peers: Vec<(NodeId, SocketAddr)>,
}

#[derive(Default)]
struct Book {
    addrs: BTreeMap<NodeId, SocketAddr>,
    dialing: BTreeSet<NodeId>,
}

/// A [`Transport`] wrapping [`TcpTransport`] with peer-address exchange; see the module docs.
pub struct PeerExchange {
    inner: TcpTransport,
    dialer: TcpDialer,
    me: SocketAddr,
    id: NodeId,
    book: Arc<Mutex<Book>>,
    malformed: Arc<AtomicU64>,
}

impl std::fmt::Debug for PeerExchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerExchange")
            .field("id", &self.id)
            .field("me", &self.me)
            .finish()
    }
}

/// What a [`PeerExchange`] knows, for status reports; clones read the live state.
#[derive(Clone)]
pub struct PexView {
    book: Arc<Mutex<Book>>,
    dialer: TcpDialer,
    malformed: Arc<AtomicU64>,
}

impl std::fmt::Debug for PexView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PexView").finish()
    }
}

impl PexView {
    /// Known peers and whether each is connected now, in id order.
    pub fn peers(&self) -> Vec<(NodeId, SocketAddr, bool)> {
        let book = lock(&self.book);
        book.addrs
            .iter()
            .map(|(id, a)| (*id, *a, self.dialer.is_connected(id)))
            .collect()
    }

    /// Exchange frames dropped as malformed.
    pub fn malformed(&self) -> u64 {
        self.malformed.load(Ordering::Relaxed)
    }
}

fn lock(book: &Mutex<Book>) -> MutexGuard<'_, Book> {
    book.lock().unwrap_or_else(|p| p.into_inner())
}

impl PeerExchange {
    /// Wraps `inner`, announcing `me` as this node's dial address.
    pub fn new(inner: TcpTransport, me: SocketAddr) -> PeerExchange {
        let dialer = inner.dialer();
        let id = inner.local_id();
        PeerExchange {
            inner,
            dialer,
            me,
            id,
            book: Arc::default(),
            malformed: Arc::default(),
        }
    }

    /// A live view of the address book.
    pub fn view(&self) -> PexView {
        PexView {
            book: self.book.clone(),
            dialer: self.dialer.clone(),
            malformed: self.malformed.clone(),
        }
    }

    fn frame(&self, peers: Vec<(NodeId, SocketAddr)>) -> Option<Vec<u8>> {
        let body = codec::encode(&PexFrame { me: self.me, peers }).ok()?;
        let mut out = Vec::with_capacity(PEX_MAGIC.len() + body.len());
        out.extend_from_slice(&PEX_MAGIC);
        out.extend_from_slice(&body);
        Some(out)
    }

    fn announce_to(&self, to: NodeId) {
        let peers: Vec<_> = lock(&self.book)
            .addrs
            .iter()
            .filter(|(id, _)| **id != to)
            .take(MAX_PEX_PEERS)
            .map(|(id, a)| (*id, *a))
            .collect();
        if let Some(f) = self.frame(peers) {
            let _ = self.inner.send(to, f);
        }
    }

    /// Handles an exchange frame from `from`; the pairs learned for the first time are passed
    /// on to every other connected peer, and those this node should dial are dialed.
    fn handle_pex(&self, from: NodeId, body: &[u8]) {
        let Ok(frame) = codec::decode_bounded::<PexFrame, MAX_PEX_FRAME>(body) else {
            self.malformed.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(%from, "malformed peer exchange frame dropped");
            return;
        };
        let mut learned = Vec::new();
        let mut to_dial = Vec::new();
        {
            let mut book = lock(&self.book);
            let pairs = std::iter::once((from, frame.me)).chain(frame.peers);
            for (id, addr) in pairs.take(MAX_PEX_PEERS + 1) {
                if id == self.id {
                    continue;
                }
                let changed = book.addrs.get(&id) != Some(&addr);
                if changed && (book.addrs.len() < MAX_PEX_PEERS || book.addrs.contains_key(&id)) {
                    book.addrs.insert(id, addr);
                    learned.push((id, addr));
                }
                let wanted = changed || id == from;
                if wanted
                    && self.id < id
                    && !self.dialer.is_connected(&id)
                    && book.dialing.insert(id)
                {
                    to_dial.push((id, addr));
                }
            }
        }
        for (id, addr) in to_dial {
            let dialer = self.dialer.clone();
            let book = self.book.clone();
            tokio::spawn(async move {
                match dialer.connect(addr).await {
                    Ok(got) if got != id => {
                        tracing::debug!(%addr, expected = %id, %got, "address answered as another node")
                    }
                    Ok(_) => {}
                    Err(e) => tracing::debug!(%addr, error = %e, "dial failed"),
                }
                lock(&book).dialing.remove(&id);
            });
        }
        if learned.is_empty() {
            return;
        }
        let Some(f) = self.frame(learned) else { return };
        let targets: Vec<NodeId> = lock(&self.book)
            .addrs
            .keys()
            .copied()
            .filter(|id| *id != from && self.dialer.is_connected(id))
            .collect();
        for t in targets {
            let _ = self.inner.send(t, f.clone());
        }
    }

    /// Consumes exchange traffic; returns the events the node should see.
    fn filter(&self, ev: TransportEvent) -> Option<TransportEvent> {
        match ev {
            TransportEvent::Message { from, bytes } if bytes.starts_with(&PEX_MAGIC) => {
                self.handle_pex(from, &bytes[PEX_MAGIC.len()..]);
                None
            }
            TransportEvent::Connected(peer) => {
                self.announce_to(peer);
                Some(TransportEvent::Connected(peer))
            }
            other => Some(other),
        }
    }
}

impl Transport for PeerExchange {
    fn local_id(&self) -> NodeId {
        self.id
    }

    fn send(&self, to: NodeId, bytes: Vec<u8>) -> Result<()> {
        self.inner.send(to, bytes)
    }

    fn try_recv(&mut self) -> Option<TransportEvent> {
        while let Some(ev) = self.inner.try_recv() {
            if let Some(ev) = self.filter(ev) {
                return Some(ev);
            }
        }
        None
    }

    async fn recv(&mut self) -> Option<TransportEvent> {
        loop {
            let ev = self.inner.recv().await?;
            if let Some(ev) = self.filter(ev) {
                return Some(ev);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TcpConfig;
    use std::time::Duration;
    use subspace_crypto::Keypair;

    async fn node(seed: u8) -> PeerExchange {
        let kp = Keypair::from_seed(&[seed; 32]);
        let t = TcpTransport::bind(kp, "127.0.0.1:0".parse().unwrap(), TcpConfig::default())
            .await
            .unwrap();
        let me = t.local_addr();
        PeerExchange::new(t, me)
    }

    /// Five nodes that each know only the first one end up fully meshed, and node messages
    /// still pass through.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_bootstrap_address_gives_a_full_mesh() {
        let mut nodes = Vec::new();
        for i in 0..5u8 {
            nodes.push(node(i + 1).await);
        }
        let first = nodes[0].me;
        for n in &nodes[1..] {
            n.inner.connect(first).await.unwrap();
        }
        let views: Vec<_> = nodes.iter().map(|n| n.view()).collect();
        let ids: Vec<_> = nodes.iter().map(|n| n.id).collect();
        let (got_tx, mut got_rx) = tokio::sync::mpsc::channel(64);
        let mut cmds = Vec::new();
        let mut tasks = Vec::new();
        for mut n in nodes {
            let (cmd_tx, mut cmd_rx) = tokio::sync::mpsc::channel::<(NodeId, Vec<u8>)>(8);
            cmds.push(cmd_tx);
            let got_tx = got_tx.clone();
            tasks.push(tokio::spawn(async move {
                loop {
                    tokio::select! {
                        ev = n.recv() => match ev {
                            Some(TransportEvent::Message { from, bytes }) => {
                                let _ = got_tx.send((n.id, from, bytes)).await;
                            }
                            Some(_) => {}
                            None => break,
                        },
                        Some((to, bytes)) = cmd_rx.recv() => n.send(to, bytes).unwrap(),
                    }
                }
            }));
        }
        let mut meshed = false;
        for _ in 0..100 {
            meshed = views
                .iter()
                .all(|v| v.peers().len() == 4 && v.peers().iter().all(|p| p.2));
            if meshed {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(meshed, "not every node connected to every other");
        for (v, id) in views.iter().zip(&ids) {
            assert!(v.peers().iter().all(|p| p.0 != *id));
            assert_eq!(v.malformed(), 0);
        }
        // Node messages pass through the exchange untouched, between every pair.
        for (i, c) in cmds.iter().enumerate() {
            for (j, to) in ids.iter().enumerate() {
                if i != j {
                    c.send((*to, vec![0, i as u8, j as u8])).await.unwrap();
                }
            }
        }
        let mut seen = BTreeSet::new();
        while seen.len() < 20 {
            let (at, from, bytes) = tokio::time::timeout(Duration::from_secs(5), got_rx.recv())
                .await
                .unwrap()
                .unwrap();
            let (i, j) = (bytes[1] as usize, bytes[2] as usize);
            assert_eq!((ids[i], ids[j]), (from, at));
            seen.insert((i, j));
        }
        for t in tasks {
            t.abort();
        }
    }

    #[tokio::test]
    async fn malformed_exchange_frames_are_dropped_and_counted() {
        let mut a = node(9).await;
        let b = node(10).await;
        b.inner.connect(a.me).await.unwrap();
        let bid = b.id;
        b.inner
            .send(a.id, [&PEX_MAGIC[..], &[0xFF; 40]].concat())
            .unwrap();
        b.inner.send(a.id, vec![7, 7]).unwrap();
        // The garbage exchange frame is swallowed; the next frame is delivered.
        loop {
            match a.recv().await.unwrap() {
                TransportEvent::Message { from, bytes } => {
                    assert_eq!((from, bytes), (bid, vec![7, 7]));
                    break;
                }
                TransportEvent::Connected(_) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(a.view().malformed(), 1);
    }
}
