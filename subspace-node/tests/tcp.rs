//! TcpTransport against hostile and broken peers: it disconnects them and keeps serving others.

// Test helpers outside #[test] functions panic on failure, as the tests themselves do.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use subspace_crypto::{Keypair, domain};
use subspace_node::tcp_transport::NOISE_PARAMS;
use subspace_node::{NodeError, TcpConfig, TcpTransport, Transport, TransportEvent};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn kp(i: u8) -> Keypair {
    Keypair::from_seed(&[i; 32])
}

fn local() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn quick() -> TcpConfig {
    TcpConfig {
        handshake_timeout: Duration::from_millis(300),
        frame_timeout: Duration::from_millis(300),
        ..TcpConfig::default()
    }
}

/// Asserts the server still accepts and serves an honest peer.
async fn still_serves(server: &mut TcpTransport) {
    let honest = TcpTransport::bind(kp(77), local(), quick()).await.unwrap();
    let id = honest.connect(server.local_addr()).await.unwrap();
    honest.send(id, b"still here".to_vec()).unwrap();
    loop {
        match server.recv().await.unwrap() {
            TransportEvent::Message { from, bytes } => {
                assert_eq!(from, kp(77).node_id());
                assert_eq!(bytes, b"still here");
                return;
            }
            _ => continue,
        }
    }
}

/// Reads until EOF or error; returns whether the server closed within `within`.
async fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    tokio::time::timeout(within, async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    })
    .await
    .is_ok()
}

#[tokio::test]
async fn garbage_before_the_handshake_is_disconnected() {
    let mut server = TcpTransport::bind(kp(1), local(), quick()).await.unwrap();
    let mut s = TcpStream::connect(server.local_addr()).await.unwrap();
    s.write_all(&[0xFF; 4000]).await.unwrap();
    assert!(closed_within(&mut s, Duration::from_secs(2)).await);
    still_serves(&mut server).await;
    assert!(server.rejected_connections() >= 1);
}

#[tokio::test]
async fn a_silent_peer_times_out() {
    let mut server = TcpTransport::bind(kp(1), local(), quick()).await.unwrap();
    let mut s = TcpStream::connect(server.local_addr()).await.unwrap();
    assert!(closed_within(&mut s, Duration::from_secs(2)).await);
    still_serves(&mut server).await;
}

#[tokio::test]
async fn an_oversized_frame_ends_the_connection() {
    let small = TcpConfig {
        max_frame: 1000,
        ..quick()
    };
    let mut server = TcpTransport::bind(kp(1), local(), small).await.unwrap();
    let mut client = TcpTransport::bind(kp(2), local(), quick()).await.unwrap();
    let sid = client.connect(server.local_addr()).await.unwrap();
    assert!(matches!(
        server.recv().await,
        Some(TransportEvent::Connected { peer, addr: Some(_) }) if peer == kp(2).node_id()
    ));
    client.send(sid, vec![0; 1001]).unwrap();
    assert_eq!(
        server.recv().await,
        Some(TransportEvent::Disconnected(kp(2).node_id()))
    );
    // The sender learns it too.
    loop {
        if client.recv().await == Some(TransportEvent::Disconnected(sid)) {
            break;
        }
    }
    // Locally, sending above the bound is refused before anything is queued.
    assert!(matches!(
        server.send(kp(2).node_id(), vec![0; 1001]),
        Err(NodeError::FrameTooLarge {
            len: 1001,
            max: 1000
        })
    ));
    still_serves(&mut server).await;
}

#[tokio::test]
async fn sending_to_an_unknown_peer_is_an_error() {
    let server = TcpTransport::bind(kp(1), local(), quick()).await.unwrap();
    assert!(matches!(
        server.send(kp(9).node_id(), vec![1]),
        Err(NodeError::NotConnected(_))
    ));
}

/// A peer that completes Noise with one key but claims another identity is refused.
#[tokio::test]
async fn an_identity_proof_for_a_different_key_is_refused() {
    let mut server = TcpTransport::bind(kp(1), local(), quick()).await.unwrap();
    let mut s = TcpStream::connect(server.local_addr()).await.unwrap();
    let noise_key = kp(5);
    let claimed = kp(6);
    let secret = noise_key.x25519_secret().to_bytes();
    let mut hs = snow::Builder::new(NOISE_PARAMS.parse().unwrap())
        .local_private_key(&secret)
        .build_initiator()
        .unwrap();
    let mut out = vec![0u8; 65535];
    let mut inp = vec![0u8; 65535];
    let n = hs.write_message(&[], &mut out).unwrap();
    send_noise(&mut s, &out[..n]).await;
    let msg = recv_noise(&mut s).await;
    hs.read_message(&msg, &mut inp).unwrap();
    let n = hs.write_message(&[], &mut out).unwrap();
    send_noise(&mut s, &out[..n]).await;
    let hash = hs.get_handshake_hash().to_vec();
    let t = hs.into_stateless_transport_mode().unwrap();
    // A valid signature over this session's hash, but by a key that is not the Noise key.
    let sig = claimed.sign(domain::NODE_HANDSHAKE, &hash);
    let mut proof = claimed.public().to_bytes().to_vec();
    proof.extend_from_slice(&sig.to_bytes());
    let n = t.write_message(0, &proof, &mut out).unwrap();
    send_noise(&mut s, &out[..n]).await;
    assert!(closed_within(&mut s, Duration::from_secs(2)).await);
    still_serves(&mut server).await;
    assert!(server.rejected_connections() >= 1);
    assert!(!server.connected_peers().contains(&claimed.node_id()));
}

async fn send_noise(s: &mut TcpStream, m: &[u8]) {
    s.write_all(&(m.len() as u16).to_be_bytes()).await.unwrap();
    s.write_all(m).await.unwrap();
}

async fn recv_noise(s: &mut TcpStream) -> Vec<u8> {
    let mut l = [0u8; 2];
    s.read_exact(&mut l).await.unwrap();
    let mut m = vec![0u8; u16::from_be_bytes(l) as usize];
    s.read_exact(&mut m).await.unwrap();
    m
}

#[tokio::test]
async fn both_sides_learn_the_authenticated_id() {
    let mut a = TcpTransport::bind(kp(1), local(), quick()).await.unwrap();
    let mut b = TcpTransport::bind(kp(2), local(), quick()).await.unwrap();
    assert_eq!(a.connect(b.local_addr()).await.unwrap(), kp(2).node_id());
    assert!(matches!(
        a.recv().await,
        Some(TransportEvent::Connected { peer, addr: Some(_) }) if peer == kp(2).node_id()
    ));
    assert!(matches!(
        b.recv().await,
        Some(TransportEvent::Connected { peer, addr: Some(_) }) if peer == kp(1).node_id()
    ));
    b.send(kp(1).node_id(), b"pong".to_vec()).unwrap();
    assert_eq!(
        a.recv().await,
        Some(TransportEvent::Message {
            from: kp(2).node_id(),
            bytes: b"pong".to_vec()
        })
    );
}
