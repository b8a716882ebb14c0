//! The ledger on the network: farmers over a seeded in-process network build one chain,
//! forged blocks are refused, and a farmer cut off from the others reorganises to the heavier
//! chain when it comes back.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use common::{Sim, UNIX_START, config};
use subspace_crypto::{Keypair, NodeId};
use subspace_ledger::{
    Block, Chain, ChainStore, ConsensusParams, GenesisBuilder, MemoryChainStore, SubspacePos,
};
use subspace_node::{
    ChainConfig, ChainContracts, ChainLedger, ChainMessage, ChainService, Completion,
    ContractTerms, DynChainStore, Message, NodeError, PutStep, RecordStore, Transport,
};
use subspace_pos::PlotSet;

/// Genesis credits of every host.
const ALLOC: u64 = 1_000_000_000_000;

fn params() -> ConsensusParams {
    ConsensusParams {
        target_block_secs: 10,
        initial_difficulty: 8,
        retarget_window: 8,
        payment_grace_secs: 60,
        ..ConsensusParams::default()
    }
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("subspace-chain-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// Gives every host a chain from one genesis; the first `farmers` hosts farm two k = 16 plots.
fn attach_chains(sim: &mut Sim, farmers: usize, dir: &std::path::Path) -> Block {
    attach_chains_with(sim, farmers, dir, None)
}

/// As [`attach_chains`]; farmers pledge with host contracts of `host_interval` seconds, and
/// hosts check records against the chain's data contracts.
fn attach_chains_with(
    sim: &mut Sim,
    farmers: usize,
    dir: &std::path::Path,
    host_interval: Option<u64>,
) -> Block {
    let genesis = genesis_for(sim, [7; 32]);
    let cfg = ChainConfig {
        host_interval_secs: host_interval,
        ..ChainConfig::default()
    };
    attach_chains_from(sim, &genesis, farmers, dir, &cfg, 2 << 20);
    genesis
}

/// A genesis funding every host of `sim`, whose first challenges derive from `seed`.
fn genesis_for(sim: &Sim, seed: [u8; 32]) -> Block {
    let mut g = GenesisBuilder::new(UNIX_START, seed);
    for kp in sim.keys.values() {
        g = g.allocate(&kp.public(), ALLOC);
    }
    g.build(&params(), &Keypair::from_seed(&[9; 32])).unwrap()
}

/// Gives every host a chain from `genesis` with service settings `cfg` (its consensus
/// parameters replaced by [`params`]); the first `farmers` hosts farm k = 16 plots for
/// `pledge` bytes.
fn attach_chains_from(
    sim: &mut Sim,
    genesis: &Block,
    farmers: usize,
    dir: &std::path::Path,
    cfg: &ChainConfig,
    pledge: u64,
) {
    let keys = sim.keys.clone();
    for (i, (id, (host, _))) in sim.hosts.iter_mut().enumerate() {
        let store = DynChainStore(Box::new(MemoryChainStore::new()));
        let chain = Chain::new(genesis, params(), store, SubspacePos::default()).unwrap();
        let cfg = ChainConfig {
            params: params(),
            ..cfg.clone()
        };
        let contracts = ChainContracts::new();
        let mut svc = ChainService::new(cfg, chain).with_contracts(contracts.clone());
        host.set_ledger(Arc::new(ChainLedger::new(contracts, sim.ledger.clone())));
        if i < farmers {
            let kp = keys[id].clone();
            let plots = PlotSet::create(
                dir.join(format!("{i}")),
                &kp.public(),
                16,
                pledge,
                1,
                |_, _| {},
            )
            .unwrap();
            svc = svc.with_farmer(kp, plots);
        }
        host.set_chain(svc);
    }
}

fn tips(sim: &Sim) -> Vec<(NodeId, u64, subspace_crypto::BlockHash)> {
    sim.hosts
        .iter()
        .map(|(id, (h, _))| {
            let s = h.chain().unwrap().stats();
            (*id, s.height, s.tip.unwrap())
        })
        .collect()
}

fn assert_one_tip(sim: &Sim, what: &str) -> u64 {
    let t = tips(sim);
    assert!(
        t.iter().all(|(_, _, h)| *h == t[0].2),
        "seed {}: {what}: tips differ: {t:?}",
        sim.seed
    );
    t[0].1
}

#[test]
fn farmers_build_one_chain_over_the_network() {
    let dir = scratch("one");
    let mut sim = Sim::new(51, 5, config(1));
    attach_chains(&mut sim, 4, &dir);
    sim.run_for(Duration::from_secs(400));
    // Let the last block reach everyone.
    sim.run_for(Duration::from_secs(3));
    let height = assert_one_tip(&sim, "after 400 s");
    assert!(
        height >= 10,
        "seed 51: only {height} blocks in 400 s at a 10 s target"
    );
    let (_, (host, _)) = sim.hosts.iter().next().unwrap();
    let chain = host.chain().unwrap();
    let farmers = chain.recent_farmers(height);
    assert_eq!(farmers.values().sum::<u64>(), height);
    assert!(
        farmers.len() >= 2,
        "seed 51: one farmer made every block: {farmers:?}"
    );
    // Rewards reached the farmers: each farmer's balance is its allocation plus its blocks.
    let reward = params().block_reward;
    for (pk, blocks) in &farmers {
        assert!(chain.balance(pk) >= ALLOC + blocks * reward);
    }
    // The non-farming host holds the chain too, block for block.
    let store = chain.chain().store();
    let tip = chain.stats().tip.unwrap();
    assert_eq!(store.block(&tip).unwrap().unwrap().header.height, height);

    // History as linked immutable records on SSDB: the non-farming host fetches a block by its
    // archive key from whoever holds it, then walks back through the parent keys.
    let reader = *sim.ids().last().unwrap();
    let (mut key, mut expect) = {
        let h = &mut sim.hosts.get_mut(&reader).unwrap().0;
        let c = h.chain_mut().unwrap();
        let hash = c.chain().state().summary(height - 2).unwrap().hash;
        (c.archive_key(&hash).unwrap(), hash)
    };
    for _ in 0..5 {
        let op = sim.get(reader, key);
        let record = match sim.wait(reader, op, Duration::from_secs(60)) {
            Completion::Get(Ok(r)) => r,
            other => panic!("seed 51: archive record {key} not fetched: {other:?}"),
        };
        let data = match record.payload() {
            subspace_record::Payload::Plain(d) => d.clone(),
            subspace_record::Payload::Sealed(_) => panic!("seed 51: a sealed archive record"),
        };
        let archived = subspace_node::archive::ArchivedBlock::decode(&data).unwrap();
        let block = archived.block().unwrap();
        assert_eq!(block.hash().unwrap(), expect, "seed 51");
        assert_eq!(record.owner(), &block.header.farmer);
        expect = block.header.parent;
        key = archived.parent.unwrap();
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_challenge_no_plot_answers_gives_way_to_the_next_slot() {
    // One farmer with one plot, and a genesis whose first challenge that plot cannot answer
    // (about 1 in e challenges): the chain must move on once a slot (N · T = 80 s) has passed.
    let dir = scratch("slot");
    let mut sim = Sim::new(54, 2, config(1));
    let farmer = sim.ids()[0];
    let pk = sim.keys[&farmer].public();
    let probe = PlotSet::create(dir.join("probe"), &pk, 16, 3 << 19, 1, |_, _| {}).unwrap();
    assert_eq!(probe.len(), 1);
    let answers = |genesis: &Block, slot: u64| {
        let store = MemoryChainStore::new();
        let chain = Chain::new(genesis, params(), store, SubspacePos::default()).unwrap();
        let c = chain.state().challenge_in_slot(&params(), slot);
        probe
            .best(&subspace_pos::Challenge::from_bytes(c))
            .unwrap()
            .is_some()
    };
    let genesis = (0u8..=255)
        .map(|s| genesis_for(&sim, [s; 32]))
        .find(|g| !answers(g, 0) && answers(g, 1))
        .expect("a genesis whose slot-0 challenge the plot cannot answer");
    drop(probe);
    attach_chains_from(
        &mut sim,
        &genesis,
        1,
        &dir,
        &ChainConfig::default(),
        3 << 19,
    );
    let slot = subspace_ledger::consensus::slot_secs(
        params().initial_difficulty,
        params().target_block_secs,
    );
    // Nothing can happen in slot 0.
    sim.run_for(Duration::from_secs(slot - 5));
    assert_eq!(assert_one_tip(&sim, "in slot 0"), 0);
    // Slot 1 has an answer, due at most one slot after it opens.
    sim.run_for(Duration::from_secs(slot + 10));
    assert!(
        assert_one_tip(&sim, "after slot 1") >= 1,
        "seed 54: the chain did not move on"
    );
    let c = sim.hosts[&farmer].0.chain().unwrap();
    let first = c.chain().state().summary(1).unwrap().hash;
    let block = c.chain().store().block(&first).unwrap().unwrap();
    let g = Chain::new(
        &genesis,
        params(),
        MemoryChainStore::new(),
        SubspacePos::default(),
    )
    .unwrap();
    assert_eq!(
        block.header.challenge,
        g.state().challenge_in_slot(&params(), 1)
    );
    assert!(block.header.timestamp >= UNIX_START + slot);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_forged_block_is_refused_and_the_peer_count_stays_sane() {
    let dir = scratch("forged");
    let mut sim = Sim::new(52, 5, config(1));
    attach_chains(&mut sim, 3, &dir);
    sim.run_for(Duration::from_secs(120));
    let height = assert_one_tip(&sim, "before the forgery");
    assert!(height >= 2, "seed 52: no blocks to forge from");
    let ids = sim.ids();
    let (victim, liar) = (ids[4], ids[3]);
    let members_before = sim.hosts[&victim].0.gossip().live_members().len();
    let tip_block = {
        let c = sim.hosts[&victim].0.chain().unwrap();
        c.chain()
            .store()
            .block(&c.stats().tip.unwrap())
            .unwrap()
            .unwrap()
    };
    let farmer = sim
        .keys
        .values()
        .find(|k| k.public() == tip_block.header.farmer)
        .unwrap()
        .clone();
    // Twelve siblings of the tip, each with one proof bit flipped and a valid signature.
    for i in 0..12 {
        let mut b = tip_block.clone();
        b.header.proof[i] ^= 1;
        b.header.sign(&farmer).unwrap();
        let bytes = Message::Chain(ChainMessage::Block(b.encode().unwrap()))
            .encode()
            .unwrap();
        sim.hosts[&liar].1.send(victim, bytes).unwrap();
        sim.run_for(Duration::from_millis(200));
    }
    let stats = sim.hosts[&victim].0.chain().unwrap().stats();
    assert!(stats.invalid_blocks >= 8, "seed 52: {stats:?}");
    assert_eq!(
        stats.ignored_peers, 1,
        "seed 52: the liar is ignored: {stats:?}"
    );
    assert!(
        stats.height >= height,
        "seed 52: the forged sibling did not replace the tip"
    );
    // The victim keeps its peers and keeps following the honest chain.
    assert_eq!(
        sim.hosts[&victim].0.gossip().live_members().len(),
        members_before
    );
    sim.run_for(Duration::from_secs(120));
    let after = assert_one_tip(&sim, "after the forgery");
    assert!(
        after > height,
        "seed 52: the chain stopped after the forgery"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_transaction_no_block_takes_leaves_the_mempool() {
    // A transfer spending an output that does not exist passes every stateless check, so it
    // enters the mempool; no block can include it, and after the age limit it is gone.
    let dir = scratch("mempool");
    let mut sim = Sim::new(55, 3, config(1));
    let genesis = genesis_for(&sim, [7; 32]);
    let cfg = ChainConfig {
        mempool_max_age_blocks: 3,
        ..ChainConfig::default()
    };
    attach_chains_from(&mut sim, &genesis, 3, &dir, &cfg, 2 << 20);
    sim.run_for(Duration::from_secs(20));
    let id = sim.ids()[0];
    let kp = sim.keys[&id].clone();
    let mut junk = subspace_ledger::Transaction::Transfer(subspace_ledger::tx::Transfer {
        inputs: vec![subspace_ledger::tx::Input {
            prev: subspace_ledger::OutPoint {
                txid: subspace_ledger::TxId(subspace_crypto::Hash256([9; 32])),
                index: 0,
            },
            public_key: kp.public(),
        }],
        outputs: vec![subspace_ledger::TxOut::to_key(1_000, &kp.public())],
        signatures: vec![],
    });
    junk.sign(&[&kp], None).unwrap();
    let c = sim.hosts.get_mut(&id).unwrap().0.chain_mut().unwrap();
    c.submit_transaction(junk, &[]).unwrap();
    let start = c.stats();
    assert_eq!(start.mempool, 1);
    sim.run_for(Duration::from_secs(300));
    let end = sim.hosts[&id].0.chain().unwrap().stats();
    assert!(
        end.height > start.height + 3,
        "seed 55: too few blocks: {end:?}"
    );
    assert_eq!(end.mempool, 0, "seed 55: {end:?}");
    assert_eq!(end.mempool_expired, 1, "seed 55: {end:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_offline_farmer_reorganises_to_the_heavier_chain() {
    let dir = scratch("offline");
    let mut sim = Sim::new(53, 5, config(1));
    attach_chains(&mut sim, 5, &dir);
    sim.run_for(Duration::from_secs(60));
    assert_one_tip(&sim, "before the partition");
    let ids = sim.ids();
    let loner = ids[0];
    let rest: Vec<NodeId> = ids[1..].to_vec();
    sim.net.partition(&[&[loner], &rest]);
    sim.run_for(Duration::from_secs(300));
    let t = tips(&sim);
    let loner_tip = t[0].2;
    assert_ne!(
        loner_tip, t[1].2,
        "seed 53: the loner did not farm its own branch"
    );
    assert!(
        sim.hosts[&loner].0.chain().unwrap().stats().blocks_farmed > 0,
        "seed 53: the loner farmed nothing while cut off"
    );
    sim.net.heal();
    sim.run_for(Duration::from_secs(120));
    assert_one_tip(&sim, "after the partition healed");
    let s = sim.hosts[&loner].0.chain().unwrap().stats();
    assert!(s.reorgs >= 1, "seed 53: {s:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn hosts_pledge_clients_reserve_and_the_nexus_pays_hosts() {
    let dir = scratch("contracts");
    let mut sim = Sim::new(54, 5, config(1));
    attach_chains_with(&mut sim, 4, &dir, Some(120));
    sim.run_for(Duration::from_secs(60));
    // Every farmer's host contract (with its pledge proof) is on the chain: CoS is published.
    let ids = sim.ids();
    for id in &ids[..4] {
        let s = sim.hosts[id].0.chain().unwrap().stats();
        assert!(
            s.host_contract.is_some(),
            "seed 54: no host contract: {s:?}"
        );
    }
    let client = ids[4];
    let chain = |sim: &Sim| {
        sim.hosts[&client]
            .0
            .chain()
            .unwrap()
            .chain()
            .state()
            .clone()
    };
    assert!(
        chain(&sim).tip().cos.is_some(),
        "seed 54: no Cost of Storage"
    );

    // The client (no plots) reserves 16 KiB x 3 for ten minutes, paid from its genesis
    // credits (the pledged space-time left in 120 s intervals bounds what can be reserved).
    let terms = ContractTerms {
        reserved_bytes: 16 << 10,
        duration_secs: 600,
        replication: 3,
        state_record: subspace_crypto::RecordKey::from_bytes([0x5E; 32]),
    };
    let contract = sim
        .hosts
        .get_mut(&client)
        .unwrap()
        .0
        .create_data_contract(&terms)
        .unwrap();
    // Blocks come every 10 s on average, with a long tail: wait for inclusion everywhere.
    let on_chain = |sim: &Sim| {
        sim.hosts.values().all(|(h, _)| {
            h.chain()
                .unwrap()
                .chain()
                .state()
                .data_contract(&contract)
                .is_some()
        })
    };
    for _ in 0..60 {
        if on_chain(&sim) {
            break;
        }
        sim.run_for(Duration::from_secs(5));
    }
    for id in &ids {
        let st = sim.hosts[id].0.chain().unwrap().chain().state().clone();
        assert!(
            st.data_contract(&contract).is_some(),
            "seed 54: contract not on every chain"
        );
        assert!(st.nexus_balance() > 0, "seed 54: the nexus was not funded");
    }

    // A record under the chain's contract is stored; one above its reserved size is refused.
    let owner = sim.keys[&client].clone();
    let mut build = |len: usize| {
        subspace_record::RecordBuilder::new(contract, owner.public(), common::UNIX_START)
            .data(vec![7u8; len])
            .public()
            .build(&owner, &mut sim.rng)
            .unwrap()
    };
    let (small, big, more) = (build(10_000), build(100_000), build(10_000));
    let op = sim.put(client, &small);
    match sim.wait(client, op, Duration::from_secs(60)) {
        Completion::Put(Ok(r)) => assert_eq!(r.len(), 3),
        other => panic!("seed 54: {other:?}"),
    }
    // 30 kB of the 48 KiB reserved (all replicas) are used: another 30 kB does not fit.
    let op = sim.put(client, &more);
    match sim.wait(client, op, Duration::from_secs(60)) {
        Completion::Put(Err(NodeError::PutFailed {
            step: PutStep::Contract,
            reason,
        })) => assert!(reason.contains("reserved size"), "{reason}"),
        other => panic!("seed 54: {other:?}"),
    }
    let op = sim.put(client, &big);
    match sim.wait(client, op, Duration::from_secs(60)) {
        Completion::Put(Err(NodeError::PutFailed {
            step: PutStep::Contract,
            ..
        })) => {}
        other => panic!("seed 54: {other:?}"),
    }

    // The owner's tally and key index are in its contract-state record on SSDB, which any
    // holder serves and only the owner can open.
    sim.run_for(Duration::from_secs(10));
    let tracked = sim.hosts[&client]
        .0
        .owned_contracts()
        .into_iter()
        .find(|c| c.id == contract)
        .expect("seed 54: the owner does not track its contract");
    let small_len = small.encode().unwrap().len() as u64;
    assert_eq!(tracked.bytes_used, 3 * small_len, "seed 54: {tracked:?}");
    assert_eq!(tracked.keys, 1);
    assert!(tracked.restored && tracked.saved, "seed 54: {tracked:?}");
    let state_key = subspace_node::contract_state::state_keypair(&owner, &contract).key();
    let reader = ids[0];
    let op = sim.get(reader, state_key);
    let record = match sim.wait(reader, op, Duration::from_secs(60)) {
        Completion::Get(Ok(r)) => r,
        other => panic!("seed 54: contract-state record not fetched: {other:?}"),
    };
    let saved =
        subspace_node::contract_state::open_state(&owner, &contract, &state_key, &record).unwrap();
    assert_eq!(saved.bytes_used, 3 * small_len);
    assert_eq!(saved.keys, vec![small.key()]);
    assert!(
        subspace_node::contract_state::open_state(
            &sim.keys[&reader],
            &contract,
            &state_key,
            &record
        )
        .is_err(),
        "seed 54: a host opened the owner's sealed state"
    );

    // After the 120 s interval each host asks for payment and a nexus output pays it.
    sim.run_for(Duration::from_secs(140));
    let st = chain(&sim);
    let store_host = &sim.hosts[&client].0;
    let store = store_host.chain().unwrap().chain().store();
    let mut paid = Vec::new();
    for h in 1..=st.height() {
        let b = store.block(&st.summary(h).unwrap().hash).unwrap().unwrap();
        for t in &b.transactions {
            if let subspace_ledger::Transaction::Nexus(n) = t {
                paid.extend(
                    n.payments
                        .iter()
                        .map(|p| (p.contract, p.uptime_secs, p.output.value)),
                );
            }
        }
    }
    let requested: u64 = ids[..4]
        .iter()
        .map(|id| sim.hosts[id].0.chain().unwrap().stats().payment_requests)
        .sum();
    assert!(requested >= 4, "seed 54: {requested} payment requests");
    assert!(paid.len() >= 4, "seed 54: nexus payments {paid:?}");
    // Hosts were up the whole interval, and gossip says so (within a protocol period).
    assert!(
        paid.iter().all(|(_, up, _)| *up >= 110),
        "seed 54: {paid:?}"
    );
    // The client's usage claim (10 kB x 3 replicas) reached the producers: hosts were paid
    // for utilised space, out of the nexus the contract funded.
    assert!(paid.iter().all(|(_, _, v)| *v > 0), "seed 54: {paid:?}");
    let used = st.summary(st.height()).unwrap();
    let tip = store.block(&used.hash).unwrap().unwrap();
    assert!(
        tip.header.stored_bytes >= 30_000,
        "seed 54: {}",
        tip.header.stored_bytes
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn hosted_data_reclaims_plots_so_farming_odds_drop() {
    let dir = scratch("reclaim");
    // Pledges of two 1 MiB plots plus 200 kB: the first ~200 kB of replicas fit beside the
    // plots, more overwrite one of them.
    let mut cfg = config(1);
    cfg.pledged_bytes = (2 << 20) + 200_000;
    let mut sim = Sim::new(55, 5, cfg);
    attach_chains(&mut sim, 5, &dir);
    sim.run_for(Duration::from_secs(5));
    let ids = sim.ids();
    let plots = |sim: &Sim| -> Vec<usize> {
        sim.hosts
            .values()
            .map(|(h, _)| h.chain().unwrap().plots().unwrap().len())
            .collect()
    };
    assert!(plots(&sim).iter().all(|n| *n == 2));
    // Eight 120 kB records, three replicas each, over four hosts (the client holds none).
    for _ in 0..8 {
        let rec = sim.record(120_000);
        let op = sim.put(ids[0], &rec);
        assert!(
            matches!(
                sim.wait(ids[0], op, Duration::from_secs(60)),
                Completion::Put(Ok(_))
            ),
            "seed 55"
        );
    }
    let after = plots(&sim);
    for (id, (h, _)) in &sim.hosts {
        let used = h.store().usage().used;
        let plotted = h.chain().unwrap().plots().unwrap().pledged_bytes();
        assert!(
            used + plotted <= (2 << 20) + 200_000 || plotted == 0,
            "seed 55: {id:?} holds {used} B beside {plotted} B of plots"
        );
    }
    assert!(
        after.iter().any(|n| *n < 2),
        "seed 55: no plot was reclaimed: {after:?}"
    );
    // The chain goes on with the plots that are left.
    let before = sim.hosts[&ids[1]].0.chain().unwrap().stats().height;
    sim.run_for(Duration::from_secs(120));
    assert!(sim.hosts[&ids[1]].0.chain().unwrap().stats().height > before);
    let _ = std::fs::remove_dir_all(&dir);
}
