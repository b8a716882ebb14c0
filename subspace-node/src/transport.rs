//! The [`Transport`] seam: authenticated messages between [`NodeId`]s.

use std::future::Future;
use std::net::SocketAddr;

use subspace_crypto::NodeId;

use crate::Result;

/// Something a transport reports to the node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransportEvent {
    /// An authenticated connection to a peer is up.
    Connected {
        /// The peer, as proven by the transport.
        peer: NodeId,
        /// The address the connection came from, when the transport has one (the DHT caps
        /// how many routing entries one network neighbourhood can hold).
        addr: Option<SocketAddr>,
    },
    /// The connection to this peer ended (closed, timed out, or dropped for bad bytes).
    Disconnected(NodeId),
    /// A message arrived from an authenticated peer.
    Message {
        /// The sender, as proven by the transport (not as claimed by the bytes).
        from: NodeId,
        /// The message bytes, at most the transport's frame bound.
        bytes: Vec<u8>,
    },
}

/// Framed, authenticated messages between nodes.
///
/// `send` never blocks: it queues, and reports an error only for what it knows locally (no
/// connection, frame too large, closed). Delivery is best effort; protocols above retry.
pub trait Transport: Send + 'static {
    /// This node's id, as peers authenticate it.
    fn local_id(&self) -> NodeId;
    /// Queues `bytes` for `to`.
    fn send(&self, to: NodeId, bytes: Vec<u8>) -> Result<()>;
    /// The next event, if one is ready now.
    fn try_recv(&mut self) -> Option<TransportEvent>;
    /// Waits for the next event; `None` once the transport has shut down.
    fn recv(&mut self) -> impl Future<Output = Option<TransportEvent>> + Send;
}
