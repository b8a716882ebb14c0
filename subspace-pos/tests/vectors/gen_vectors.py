#!/usr/bin/env python3
"""Conformance vectors for subspace-pos, produced with Chia's reference implementation.

Run from the crate root with chiapos installed (`pip install chiapos==2.0.12`):

    python3 tests/vectors/gen_vectors.py chiapos           # writes chiapos_k18.txt
    SUBSPACE_POS_EXPORT=tests/vectors/ours_k18.in \
        cargo test -p subspace-pos --release --test conformance export_our_proofs -- --ignored
    python3 tests/vectors/gen_vectors.py ours              # checks ours_k18.in, writes ours_k18.txt

`chiapos` plots k = 18 with chiapos's DiskPlotter and records, for fixed challenges, every
quality string and full proof chiapos produces, plus mutated proofs that chiapos's Verifier
rejects. `ours` validates the proofs our prover wrote with chiapos's Verifier and records
only the ones chiapos accepted, with chiapos's quality string. The Rust suite reads both files
(CI has no chiapos).

File format: one record per line, `kind field field ...`, fields in lowercase hex or decimal.
"""
import hashlib
import os
import sys
import tempfile

from chiapos import DiskPlotter, DiskProver, Verifier

HERE = os.path.dirname(os.path.abspath(__file__))
K = 18
PLOT_ID = hashlib.sha256(b"subspace-pos conformance plot k18").digest()
CHALLENGES = 48


def challenge(i):
    return hashlib.sha256(b"subspace-pos conformance challenge " + str(i).encode()).digest()


def flip(proof, bit):
    b = bytearray(proof)
    b[bit // 8] ^= 0x80 >> (bit % 8)
    return bytes(b)


def swap_halves(proof, k):
    """Swaps the first two x values (proof ordering broken)."""
    bits = int.from_bytes(proof, "big")
    n = 64 * k
    xs = [(bits >> (n - k * (i + 1))) & ((1 << k) - 1) for i in range(64)]
    xs[0], xs[1] = xs[1], xs[0]
    out = 0
    for x in xs:
        out = (out << k) | x
    return out.to_bytes(len(proof), "big")


def chiapos_vectors():
    v = Verifier()
    out = [f"plot_id {PLOT_ID.hex()}", f"k {K}"]
    with tempfile.TemporaryDirectory() as tmp:
        DiskPlotter().create_plot_disk(tmp, tmp, tmp, "k18.plot", K, b"", PLOT_ID, 300, 16, 2000, 2, False)
        path = os.path.join(tmp, "k18.plot")
        out.append(f"chiapos_plot_bytes {os.path.getsize(path)}")
        prover = DiskProver(path)
        for i in range(CHALLENGES):
            c = challenge(i)
            qualities = prover.get_qualities_for_challenge(c)
            out.append(f"challenge {c.hex()} {len(qualities)}")
            for j, q in enumerate(qualities):
                proof = prover.get_full_proof(c, j)
                vq = v.validate_proof(PLOT_ID, K, c, proof)
                assert vq is not None and bytes(vq) == bytes(q), "chiapos disagrees with itself"
                out.append(f"proof {c.hex()} {bytes(q).hex()} {proof.hex()}")
                # Proofs chiapos must reject, each recorded only after chiapos rejected it.
                bad = [
                    ("flip", K, c, flip(proof, (i * 131 + j * 17) % (64 * K))),
                    ("wrong_k", K - 1, c, proof[: 8 * (K - 1)]),
                    ("wrong_challenge", K, challenge(i + 1000), proof),
                    ("out_of_order", K, c, swap_halves(proof, K)),
                ]
                for name, kk, cc, pp in bad:
                    assert v.validate_proof(PLOT_ID, kk, cc, pp) is None, name
                    out.append(f"reject {name} {kk} {cc.hex()} {pp.hex()}")
    with open(os.path.join(HERE, "chiapos_k18.txt"), "w") as f:
        f.write("\n".join(out) + "\n")


def our_vectors():
    v = Verifier()
    out = []
    with open(os.path.join(HERE, "ours_k18.in")) as f:
        for line in f:
            parts = line.split()
            if parts[0] != "proof":
                out.append(line.strip())
                continue
            plot_id, k, c, q, proof = bytes.fromhex(parts[1]), int(parts[2]), *map(bytes.fromhex, parts[3:])
            vq = v.validate_proof(plot_id, k, c, proof)
            assert vq is not None, "chiapos rejected one of our proofs"
            assert bytes(vq) == q, "chiapos computes a different quality"
            out.append(f"proof {plot_id.hex()} {k} {c.hex()} {bytes(vq).hex()} {proof.hex()}")
    with open(os.path.join(HERE, "ours_k18.txt"), "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    {"chiapos": chiapos_vectors, "ours": our_vectors}[sys.argv[1]]()
