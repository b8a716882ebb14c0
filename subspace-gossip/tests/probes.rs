//! Probe authentication: pings, ping-requests and acks carry no signature, so a node believes
//! one only from the sender the transport authenticated (or, in MAC mode, whose MAC checks).

use std::time::Duration;

use crate::net::Net;

use subspace_crypto::pairwise::PairKey;
use subspace_crypto::{Keypair, NodeId, domain};
use subspace_gossip::message::{Ack, Hop, Probe};
use subspace_gossip::{Body, Event, GossipError, Message, ProbeAuth};

fn ping(from: NodeId, target: NodeId, seq: u64, mac: Option<[u8; 16]>) -> Message {
    Message {
        body: Body::Ping(Hop {
            body: Probe { from, target, seq },
            mac,
        }),
        piggyback: vec![],
    }
}

#[test]
fn a_forged_ping_changes_nothing_and_is_counted() {
    let mut net = Net::new(ProbeAuth::Transport);
    let (a, b, c) = (net.id(0), net.id(1), net.id(2));
    net.deliver();
    let before = net.views();
    // c, authenticated as c, sends b a ping claiming to come from a.
    let r = net.nodes[1].handle_message(net.now, c, ping(a, b, 99, None));
    assert_eq!(r, Err(GossipError::SenderMismatch));
    assert_eq!(net.nodes[1].stats().probes_forged, 1);
    assert!(net.nodes[1].poll_transmit().is_none(), "nobody is acked");
    assert_eq!(net.views(), before);
    // The same ping from a itself is answered.
    net.nodes[1]
        .handle_message(net.now, a, ping(a, b, 99, None))
        .unwrap();
    let (to, m) = net.nodes[1].poll_transmit().unwrap();
    assert_eq!(to, a);
    assert!(matches!(m.body, Body::Ack(h) if h.body == Ack { from: b, to: a, seq: 99 }));
    assert_eq!(net.nodes[1].stats().probes_forged, 1);
}

#[test]
fn a_forged_ping_request_is_not_relayed() {
    let mut net = Net::new(ProbeAuth::Transport);
    let (a, b, c) = (net.id(0), net.id(1), net.id(2));
    net.deliver();
    let req = Message {
        body: Body::PingReq(Hop {
            body: Probe {
                from: a,
                target: c,
                seq: 5,
            },
            mac: None,
        }),
        piggyback: vec![],
    };
    // Sent by c in a's name: b would probe c for a without a's asking.
    assert_eq!(
        net.nodes[1].handle_message(net.now, c, req.clone()),
        Err(GossipError::SenderMismatch)
    );
    assert_eq!(net.nodes[1].stats().probes_forged, 1);
    assert!(net.nodes[1].poll_transmit().is_none());
    // From a it is relayed to c.
    net.nodes[1].handle_message(net.now, a, req).unwrap();
    let (to, m) = net.nodes[1].poll_transmit().unwrap();
    assert_eq!(to, c);
    assert!(matches!(m.body, Body::IndirectPing(_)));
    let _ = b;
}

/// Runs `net` until node 0 sends a direct ping; returns its target and sequence number,
/// leaving the ping undelivered.
fn next_ping_of_node_0(net: &mut Net) -> (NodeId, u64) {
    for _ in 0..50 {
        net.now += Duration::from_millis(100);
        for g in &mut net.nodes {
            g.handle_timeout(net.now);
        }
        let mut found = None;
        let mut rest = Vec::new();
        while let Some((to, m)) = net.nodes[0].poll_transmit() {
            match m.body {
                Body::Ping(h) if found.is_none() => found = Some((to, h.body.seq)),
                _ => rest.push((to, m)),
            }
        }
        for (to, m) in rest {
            let j = net.index(&to);
            let from = net.id(0);
            let _ = net.nodes[j].handle_message(net.now, from, m);
        }
        if let Some(found) = found {
            return found;
        }
        net.deliver();
    }
    panic!("node 0 never probed");
}

#[test]
fn a_forged_ack_does_not_save_a_silent_member() {
    let mut net = Net::new(ProbeAuth::Transport);
    net.deliver();
    while net.nodes[0].poll_event().is_some() {}
    let (target, seq) = next_ping_of_node_0(&mut net);
    let forger = (1..3).map(|i| net.id(i)).find(|id| *id != target).unwrap();
    let me = net.id(0);
    // The member that was not probed answers in the target's name.
    let forged = Message {
        body: Body::Ack(Hop {
            body: Ack {
                from: target,
                to: me,
                seq,
            },
            mac: None,
        }),
        piggyback: vec![],
    };
    assert_eq!(
        net.nodes[0].handle_message(net.now, forger, forged.clone()),
        Err(GossipError::SenderMismatch)
    );
    assert_eq!(net.nodes[0].stats().probes_forged, 1);
    // The target stays silent (every message to it is lost): node 0 suspects it at its probe's
    // deadline, as if the forged ack had never come.
    let ti = net.index(&target);
    let mut suspected = false;
    for _ in 0..20 {
        net.now += Duration::from_millis(100);
        for (i, g) in net.nodes.iter_mut().enumerate() {
            if i != ti {
                g.handle_timeout(net.now);
            }
        }
        while let Some((to, m)) = net.nodes[0].poll_transmit() {
            if to != target {
                let j = net.index(&to);
                let _ = net.nodes[j].handle_message(net.now, me, m);
            }
        }
        suspected |= std::iter::from_fn(|| net.nodes[0].poll_event())
            .any(|e| e == Event::Suspected { node: target });
        // The forger keeps relaying nothing for the target either.
        for i in 1..3 {
            while net.nodes[i].poll_transmit().is_some() {}
        }
    }
    assert!(suspected, "node 0 suspected the silent target");
}

#[test]
fn probes_with_macs_keep_members_alive_and_refuse_bad_macs() {
    let mut net = Net::new(ProbeAuth::Mac);
    // 30 periods of probing with MACs on every hop: nobody is ever suspected.
    while net.nodes[0].poll_event().is_some() {}
    net.run(Duration::from_secs(30));
    for g in &mut net.nodes {
        assert_eq!(g.live_members().len(), 3);
        assert!(
            !std::iter::from_fn(|| g.poll_event()).any(|e| matches!(e, Event::Suspected { .. })),
            "a MAC failed between honest members"
        );
        assert_eq!(g.stats().probes_forged, 0);
    }
    let (a, b) = (net.id(0), net.id(1));
    let body = Probe {
        from: a,
        target: b,
        seq: 3,
    };
    let bytes = Hop::mac_bytes(&body, &a, &b).unwrap();
    // The transport claims the sender is a, but authenticates nobody: c's key with b, no MAC,
    // or a's MAC for another receiver are all refused.
    let c_key = PairKey::derive(&net.keys[2], &net.keys[1].public(), domain::PROBE_MAC).unwrap();
    let a_to_c = PairKey::derive(&net.keys[0], &net.keys[2].public(), domain::PROBE_MAC).unwrap();
    for mac in [Some(c_key.tag(&bytes)), None, Some(a_to_c.tag(&bytes))] {
        assert_eq!(
            net.nodes[1].handle_message(net.now, a, ping(a, b, 3, mac)),
            Err(GossipError::SenderMismatch)
        );
        assert!(net.nodes[1].poll_transmit().is_none());
    }
    assert_eq!(net.nodes[1].stats().probes_forged, 3);
    // a's own MAC for b is answered, with a MAC b made for a.
    let a_key = PairKey::derive(&net.keys[0], &net.keys[1].public(), domain::PROBE_MAC).unwrap();
    net.nodes[1]
        .handle_message(net.now, a, ping(a, b, 3, Some(a_key.tag(&bytes))))
        .unwrap();
    let (to, m) = net.nodes[1].poll_transmit().unwrap();
    assert_eq!(to, a);
    let Body::Ack(h) = m.body else {
        panic!("no ack")
    };
    let ack_bytes = Hop::mac_bytes(&h.body, &b, &a).unwrap();
    assert!(a_key.check(&ack_bytes, &h.mac.unwrap()));
    let _ = net.t0;
}

#[test]
fn a_relay_cannot_aim_acks_at_strangers() {
    let mut net = Net::new(ProbeAuth::Transport);
    let (b, c) = (net.id(1), net.id(2));
    net.deliver();
    // c relays a "probe" from a stranger that b has never heard of.
    let stranger = Keypair::from_seed(&[9; 32]).node_id();
    let m = Message {
        body: Body::IndirectPing(Hop {
            body: Probe {
                from: stranger,
                target: b,
                seq: 1,
            },
            mac: None,
        }),
        piggyback: vec![],
    };
    net.nodes[1].handle_message(net.now, c, m).unwrap();
    let sent: Vec<NodeId> = std::iter::from_fn(|| net.nodes[1].poll_transmit())
        .map(|(to, _)| to)
        .collect();
    // The ack goes back to the relay only.
    assert_eq!(sent, vec![c]);
}
