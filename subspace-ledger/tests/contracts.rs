//! Storage contracts, payment requests, the nexus and the transaction rules, end to end.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers of a test file

use crate::common;

use common::*;
use subspace_crypto::Keypair;
use subspace_ledger::economics::{self, Cos};
use subspace_ledger::tx::{Input, Transfer};
use subspace_ledger::{Address, ConsensusParams, LedgerError, ProposalInputs, Transaction, TxOut};

const GB: u64 = 1_000_000_000;

struct Net {
    chain: TestChain,
    farmers: Vec<Farmer>,
    alice: Keypair,
    host: Keypair,
    params: ConsensusParams,
}

fn net() -> Net {
    let farmers = vec![farmer(1, 4), farmer(2, 4)];
    let alice = Keypair::from_seed(&[50; 32]);
    let host = Keypair::from_seed(&[60; 32]);
    // A one-hour interval with a 10-minute grace period keeps the tests short.
    let params = ConsensusParams {
        payment_grace_secs: 600,
        ..params()
    };
    let g = genesis(&params, &[&alice]);
    let chain = new_chain(&g, &params, ModelPos::new(&farmers));
    Net {
        chain,
        farmers,
        alice,
        host,
        params,
    }
}

/// Expects `tx` to be refused with `err`, both by the proposer and by a validator.
fn refused(n: &mut Net, tx: Transaction, err: LedgerError) {
    refused_with(n, tx, |e| *e == err);
}

fn refused_with(n: &mut Net, tx: Transaction, ok: impl Fn(&LedgerError) -> bool) {
    let b = next_block(&mut n.chain, &n.farmers, &inputs(vec![tx.clone()]), 0);
    assert_eq!(b.transactions.len(), 1, "proposer skipped nothing");
    // Hand-build a block that includes it anyway: the validator must refuse it.
    let mut forced = b.clone();
    forced.transactions.insert(1, tx);
    forced.header.tx_root = subspace_ledger::merkle::merkle_root(&forced.tx_ids().unwrap());
    let farmer = n
        .farmers
        .iter()
        .find(|f| f.kp.public() == b.header.farmer)
        .unwrap();
    forced.header.sign(&farmer.kp).unwrap();
    let before = n.chain.state().clone();
    let got = n.chain.insert_block(forced, NOW).unwrap_err();
    assert!(ok(&got), "unexpected error {got:?}");
    assert_eq!(n.chain.state(), &before);
}

#[test]
fn host_and_data_contracts_set_the_cost_of_storage_and_pay_through_the_nexus() {
    let mut n = net();
    // 1. Host pledges 1,000 GB for one-hour intervals.
    let hc = host_contract(&n.host, 1000 * GB, 3600, 1);
    let hid = contract_id(&hc);
    let b1 = mine(&mut n.chain, &n.farmers, vec![hc.clone()]);
    let t1 = b1.header.timestamp;
    // S = 1e12 · 3600 byte-seconds, D = 0: CoS = C / S.
    let c = n.chain.state().supply();
    assert_eq!(
        b1.header.cos,
        economics::cost_of_storage(c, u128::from(1000 * GB) * 3600, 0)
    );
    // The same host cannot hold two active contracts.
    let dup = host_contract(&n.host, 10 * GB, 3600, 2);
    refused(&mut n, dup, LedgerError::DuplicateHostContract);

    // 2. Alice reserves 10 GB × 3 replicas for 30 minutes at the published CoS.
    let cos = n.chain.state().tip().cos.unwrap();
    let price = economics::reservation_price(cos, 30 * GB, 1800).unwrap() as u64;
    let underpaid = data_contract(n.chain.state(), &n.alice, 10 * GB, 1800, 3, price - 1);
    refused(
        &mut n,
        underpaid,
        LedgerError::Underfunded {
            paid: price - 1,
            cost: u128::from(price),
        },
    );
    // Larger than the free space-time: refused whatever it pays.
    let huge = data_contract(n.chain.state(), &n.alice, 2000 * GB, 3600, 1, 1);
    refused_with(
        &mut n,
        huge,
        |e| matches!(e, LedgerError::NetworkFull { needed, free } if needed > free),
    );
    let dc = data_contract(n.chain.state(), &n.alice, 10 * GB, 1800, 3, price);
    let did = contract_id(&dc);
    let supply_before = n.chain.state().supply();
    mine(&mut n.chain, &n.farmers, vec![dc]);
    assert_eq!(n.chain.state().nexus_balance(), price);
    assert_eq!(
        n.chain.state().data_contract(&did).unwrap().writers,
        vec![n.alice.public()]
    );
    // Supply moves only by the block reward (fees are re-issued in the coinbase).
    assert_eq!(
        n.chain.state().supply(),
        supply_before + n.params.block_reward
    );

    // 3. A renewal extends it by 10 minutes.
    let cos = n.chain.state().tip().cos.unwrap();
    let price2 = economics::reservation_price(cos, 30 * GB, 600).unwrap() as u64;
    let expires = n.chain.state().data_contract(&did).unwrap().expires;
    let rn = renewal(n.chain.state(), &n.alice, did, 600, price2);
    mine(&mut n.chain, &n.farmers, vec![rn]);
    assert_eq!(
        n.chain.state().data_contract(&did).unwrap().expires,
        expires + 600
    );

    // 4. A payment request before the interval ends is refused.
    let early = payment_request(&n.host, hid, n.chain.state().tip().hash);
    refused(&mut n, early, LedgerError::PaymentTooEarly);

    // 5. Farm past the interval end, then request: the nexus pays the host.
    while n.chain.state().tip().timestamp < t1 + 3600 - 60 {
        extend_stored(&mut n.chain, &n.farmers, 1, 15 * GB);
    }
    let req = payment_request(&n.host, hid, n.chain.state().tip().hash);
    let stale = payment_request(&n.host, hid, b1.hash().unwrap());
    let mut uptime = std::collections::BTreeMap::new();
    uptime.insert(hid, 2400); // two thirds of the hour
    let prop = ProposalInputs {
        candidates: vec![stale, req],
        uptime,
        stored_bytes: 15 * GB,
    };
    // Wait until the block would be stamped after the due time.
    let mut b = next_block(&mut n.chain, &n.farmers, &prop, 0);
    let mut delay = 0;
    while b.header.timestamp < t1 + 3600 {
        delay += 30;
        b = next_block(&mut n.chain, &n.farmers, &prop, delay);
    }
    let Some(Transaction::Nexus(nexus)) = b.transactions.last() else {
        panic!("no nexus")
    };
    assert_eq!(nexus.payments.len(), 1, "the stale request was skipped");
    let pay = nexus.payments[0].output;
    assert_eq!(
        pay.lock,
        subspace_ledger::Lock::PayToPublicKeyHash(Address::of(&n.host.public()))
    );
    assert!(pay.value > 0 && pay.value <= n.chain.state().nexus_balance());
    // The payment is the formula over the interval's averages (recomputed here from the
    // state's rolling sums): avg CoS × min(pledge, avg level) × uptime / 2^64.
    let s = n.chain.state();
    let start = s.summary(1).unwrap();
    let tip = s.tip();
    let blocks = s.height() - 1;
    let avg_cos = Cos((tip.cos_prefix - start.cos_prefix) / u128::from(blocks));
    let avg_level = ((tip.level_prefix - start.level_prefix) / u128::from(blocks)) as u64;
    let want = economics::nexus_payment(avg_cos, avg_level.min(1000 * GB), 3600, 2400).unwrap();
    assert_eq!(
        u128::from(pay.value),
        want.min(u128::from(s.nexus_balance()))
    );
    // A producer that inflates the payment is refused.
    let mut inflated = b.clone();
    if let Some(Transaction::Nexus(x)) = inflated.transactions.last_mut() {
        x.payments[0].output.value += 1;
    }
    inflated.header.tx_root = subspace_ledger::merkle::merkle_root(&inflated.tx_ids().unwrap());
    let fk = n
        .farmers
        .iter()
        .find(|f| f.kp.public() == b.header.farmer)
        .unwrap()
        .kp
        .clone();
    inflated.header.sign(&fk).unwrap();
    assert_eq!(
        n.chain.insert_block(inflated, NOW),
        Err(LedgerError::BadNexus("payment amount or address"))
    );
    let balance = n.chain.state().nexus_balance();
    n.chain.insert_block(b, NOW).unwrap();
    assert_eq!(n.chain.state().nexus_balance(), balance - pay.value);
    assert_eq!(
        n.chain.state().host_contract(&hid).unwrap().next_due,
        t1 + 7200
    );

    // 6. Miss the next request: after the grace period the contract lapses.
    while n.chain.state().tip().timestamp < t1 + 7200 + 600 {
        extend(&mut n.chain, &n.farmers, 1);
    }
    let late = payment_request(&n.host, hid, n.chain.state().tip().hash);
    refused(&mut n, late, LedgerError::ContractLapsed);
    // A lapsed host pledges no space-time any more, and may pledge anew.
    let t = n.chain.state().tip().timestamp;
    assert_eq!(n.chain.state().space_time(t, &n.params), 0);
    mine(
        &mut n.chain,
        &n.farmers,
        vec![host_contract(&n.host, 10 * GB, 3600, 3)],
    );
    assert_eq!(
        circulating(n.chain.state()),
        u128::from(n.chain.state().supply())
    );
}

#[test]
fn transfer_rules_have_typed_errors() {
    let mut n = net();
    let bob = Keypair::from_seed(&[51; 32]);
    let t = transfer(n.chain.state(), &n.alice, &bob.public(), 1_000_000);
    mine(&mut n.chain, &n.farmers, vec![t.clone()]);
    // Spending the same output again.
    refused(&mut n, t.clone(), LedgerError::MissingOrSpentInput);
    let (op, out) = coin(n.chain.state(), &n.alice, 1);
    let spend = |outputs: Vec<TxOut>, key: &Keypair| {
        let mut t = Transaction::Transfer(Transfer {
            inputs: vec![Input {
                prev: op,
                public_key: key.public(),
            }],
            outputs,
            signatures: vec![],
        });
        t.sign(&[key], None).unwrap();
        t
    };
    let alice = n.alice.clone();
    let over = spend(vec![TxOut::to_key(out.value + 1, &bob.public())], &alice);
    refused(&mut n, over, LedgerError::Overspend);
    let no_fee = spend(vec![TxOut::to_key(out.value, &bob.public())], &alice);
    let required = n.params.fee_per_byte * no_fee.encoded_len().unwrap() as u64;
    refused(&mut n, no_fee, LedgerError::FeeTooLow { paid: 0, required });
    refused(
        &mut n,
        spend(vec![TxOut::to_key(5, &bob.public())], &bob),
        LedgerError::LockMismatch,
    );
    // Two transactions of one block spending one output.
    let a = spend(vec![TxOut::to_key(out.value - FEE, &bob.public())], &alice);
    let b = spend(
        vec![TxOut::to_key(out.value - 2 * FEE, &bob.public())],
        &alice,
    );
    let blk = next_block(
        &mut n.chain,
        &n.farmers,
        &inputs(vec![a.clone(), b.clone()]),
        0,
    );
    assert_eq!(
        blk.transactions.len(),
        2,
        "the proposer keeps only the first"
    );
    let mut forced = blk.clone();
    forced.transactions.push(b);
    forced.header.tx_root = subspace_ledger::merkle::merkle_root(&forced.tx_ids().unwrap());
    let fk = n
        .farmers
        .iter()
        .find(|f| f.kp.public() == blk.header.farmer)
        .unwrap()
        .kp
        .clone();
    forced.header.sign(&fk).unwrap();
    assert_eq!(
        n.chain.insert_block(forced, NOW),
        Err(LedgerError::MissingOrSpentInput)
    );
    n.chain.insert_block(blk, NOW).unwrap();
    assert_eq!(
        n.chain
            .state()
            .outputs_of(&Address::of(&bob.public()))
            .len(),
        2
    );
}
