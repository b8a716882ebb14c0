//! SLIP-0010 hierarchical deterministic keys for ed25519.
//!
//! One seed gives a tree of identities: an app can derive a per-user identity under its own
//! contract (`m/44'/…'/user'`), as the whitepaper's HD wallets do. ed25519 supports only
//! hardened derivation; asking for a non-hardened index is an error.
//!
//! ```
//! use subspace_crypto::hd::ExtendedKey;
//! let master = ExtendedKey::from_seed(&[0x5a; 32]).unwrap();
//! let user = master.derive_path("m/44'/0'/7'").unwrap();
//! let again = master.derive_path("m/44'/0'/7'").unwrap();
//! assert_eq!(user.public_key(), again.public_key());
//! assert!(master.derive_path("m/44'/0").is_err()); // non-hardened
//! ```

use core::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha512;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::{CryptoError, Keypair, PublicKey, Result};

/// Indexes at or above this are hardened (`i'` in a path).
pub const HARDENED: u32 = 0x8000_0000;

/// A SLIP-0010 extended private key: a 32-byte ed25519 seed and a 32-byte chain code.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct ExtendedKey {
    secret: [u8; 32],
    chain_code: [u8; 32],
    #[zeroize(skip)]
    depth: u8,
}

fn hmac512(key: &[u8], parts: &[&[u8]]) -> [u8; 64] {
    // HMAC accepts keys of any length, so construction cannot fail.
    let mut mac = match <Hmac<Sha512> as Mac>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => unreachable_hmac(),
    };
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

#[cold]
fn unreachable_hmac() -> ! {
    // HMAC's `new_from_slice` only errors for fixed-key-size MACs; SHA-512 HMAC takes any key.
    panic!("HMAC-SHA512 rejected a key, which it never does")
}

impl ExtendedKey {
    /// The master key of a seed (16 to 64 bytes, as BIP-32 and SLIP-0010 allow).
    pub fn from_seed(seed: &[u8]) -> Result<ExtendedKey> {
        if !(16..=64).contains(&seed.len()) {
            return Err(CryptoError::InvalidSeedLength(seed.len()));
        }
        let mut i = hmac512(b"ed25519 seed", &[seed]);
        let k = Self::split(&i, 0);
        i.zeroize();
        Ok(k)
    }

    fn split(i: &[u8; 64], depth: u8) -> ExtendedKey {
        let mut secret = [0u8; 32];
        let mut chain_code = [0u8; 32];
        secret.copy_from_slice(&i[..32]);
        chain_code.copy_from_slice(&i[32..]);
        ExtendedKey {
            secret,
            chain_code,
            depth,
        }
    }

    /// The child at `index`, which must be hardened (`>= HARDENED`).
    pub fn derive_child(&self, index: u32) -> Result<ExtendedKey> {
        if index < HARDENED {
            return Err(CryptoError::InvalidPath(format!(
                "index {index} is not hardened; ed25519 derives hardened children only"
            )));
        }
        let depth = self
            .depth
            .checked_add(1)
            .ok_or_else(|| CryptoError::InvalidPath("deeper than 255 levels".into()))?;
        let mut i = hmac512(
            &self.chain_code,
            &[&[0u8], &self.secret, &index.to_be_bytes()],
        );
        let k = Self::split(&i, depth);
        i.zeroize();
        Ok(k)
    }

    /// Follows a path like `m/44'/0'/0'` (`'` or `h` marks hardened; every level must be).
    pub fn derive_path(&self, path: &str) -> Result<ExtendedKey> {
        let mut parts = path.split('/');
        if parts.next() != Some("m") {
            return Err(CryptoError::InvalidPath(format!(
                "{path:?} must start with m"
            )));
        }
        let mut key = self.clone();
        for part in parts {
            let digits = part
                .strip_suffix('\'')
                .or_else(|| part.strip_suffix('h'))
                .ok_or_else(|| {
                    CryptoError::InvalidPath(format!(
                        "level {part:?} is not hardened; ed25519 derives hardened children only"
                    ))
                })?;
            let n: u32 = digits
                .parse()
                .ok()
                .filter(|n| *n < HARDENED)
                .ok_or_else(|| CryptoError::InvalidPath(format!("bad index {part:?}")))?;
            key = key.derive_child(n | HARDENED)?;
        }
        Ok(key)
    }

    /// The 32-byte ed25519 secret key (seed) of this node.
    pub fn secret_bytes(&self) -> [u8; 32] {
        self.secret
    }

    /// The chain code.
    pub fn chain_code(&self) -> [u8; 32] {
        self.chain_code
    }

    /// How many derivations from the master (0 for the master).
    pub fn depth(&self) -> u8 {
        self.depth
    }

    /// The identity at this node.
    pub fn keypair(&self) -> Keypair {
        Keypair::from_seed(&self.secret)
    }

    /// The public key at this node. (SLIP-0010 prints it with a `00` prefix byte.)
    pub fn public_key(&self) -> PublicKey {
        self.keypair().public()
    }
}

impl fmt::Debug for ExtendedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ExtendedKey {{ depth: {}, public: {} }}",
            self.depth,
            self.public_key()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hex;

    /// (path, chain code, private key, public key with SLIP-0010's 00 prefix)
    type Row = (&'static str, &'static str, &'static str, &'static str);

    // SLIP-0010, "Test vector 1 for ed25519".
    const SEED1: &str = "000102030405060708090a0b0c0d0e0f";
    const V1: &[Row] = &[
        (
            "m",
            "90046a93de5380a72b5e45010748567d5ea02bbf6522f979e05c0d8d8ca9fffb",
            "2b4be7f19ee27bbf30c667b642d5f4aa69fd169872f8fc3059c08ebae2eb19e7",
            "00a4b2856bfec510abab89753fac1ac0e1112364e7d250545963f135f2a33188ed",
        ),
        (
            "m/0'",
            "8b59aa11380b624e81507a27fedda59fea6d0b779a778918a2fd3590e16e9c69",
            "68e0fe46dfb67e368c75379acec591dad19df3cde26e63b93a8e704f1dade7a3",
            "008c8a13df77a28f3445213a0f432fde644acaa215fc72dcdf300d5efaa85d350c",
        ),
        (
            "m/0'/1'",
            "a320425f77d1b5c2505a6b1b27382b37368ee640e3557c315416801243552f14",
            "b1d0bad404bf35da785a64ca1ac54b2617211d2777696fbffaf208f746ae84f2",
            "001932a5270f335bed617d5b935c80aedb1a35bd9fc1e31acafd5372c30f5c1187",
        ),
        (
            "m/0'/1'/2'",
            "2e69929e00b5ab250f49c3fb1c12f252de4fed2c1db88387094a0f8c4c9ccd6c",
            "92a5b23c0b8a99e37d07df3fb9966917f5d06e02ddbd909c7e184371463e9fc9",
            "00ae98736566d30ed0e9d2f4486a64bc95740d89c7db33f52121f8ea8f76ff0fc1",
        ),
        (
            "m/0'/1'/2'/2'",
            "8f6d87f93d750e0efccda017d662a1b31a266e4a6f5993b15f5c1f07f74dd5cc",
            "30d1dc7e5fc04c31219ab25a27ae00b50f6fd66622f6e9c913253d6511d1e662",
            "008abae2d66361c879b900d204ad2cc4984fa2aa344dd7ddc46007329ac76c429c",
        ),
        (
            "m/0'/1'/2'/2'/1000000000'",
            "68789923a0cac2cd5a29172a475fe9e0fb14cd6adb5ad98a3fa70333e7afa230",
            "8f94d394a8e8fd6b1bc2f3f49f5c47e385281d5c17e65324b0f62483e37e8793",
            "003c24da049451555d51a7014a37337aa4e12d41e485abccfa46b47dfb2af54b7a",
        ),
    ];

    // SLIP-0010, "Test vector 2 for ed25519".
    const SEED2: &str = "fffcf9f6f3f0edeae7e4e1dedbd8d5d2cfccc9c6c3c0bdbab7b4b1aeaba8a5a29f9c999693908d8a8784817e7b7875726f6c696663605d5a5754514e4b484542";
    const V2: &[Row] = &[
        (
            "m",
            "ef70a74db9c3a5af931b5fe73ed8e1a53464133654fd55e7a66f8570b8e33c3b",
            "171cb88b1b3c1db25add599712e36245d75bc65a1a5c9e18d76f9f2b1eab4012",
            "008fe9693f8fa62a4305a140b9764c5ee01e455963744fe18204b4fb948249308a",
        ),
        (
            "m/0'",
            "0b78a3226f915c082bf118f83618a618ab6dec793752624cbeb622acb562862d",
            "1559eb2bbec5790b0c65d8693e4d0875b1747f4970ae8b650486ed7470845635",
            "0086fab68dcb57aa196c77c5f264f215a112c22a912c10d123b0d03c3c28ef1037",
        ),
        (
            "m/0'/2147483647'",
            "138f0b2551bcafeca6ff2aa88ba8ed0ed8de070841f0c4ef0165df8181eaad7f",
            "ea4f5bfe8694d8bb74b7b59404632fd5968b774ed545e810de9c32a4fb4192f4",
            "005ba3b9ac6e90e83effcd25ac4e58a1365a9e35a3d3ae5eb07b9e4d90bcf7506d",
        ),
        (
            "m/0'/2147483647'/1'",
            "73bd9fff1cfbde33a1b846c27085f711c0fe2d66fd32e139d3ebc28e5a4a6b90",
            "3757c7577170179c7868353ada796c839135b3d30554bbb74a4b1e4a5a58505c",
            "002e66aa57069c86cc18249aecf5cb5a9cebbfd6fadeab056254763874a9352b45",
        ),
        (
            "m/0'/2147483647'/1'/2147483646'",
            "0902fe8a29f9140480a00ef244bd183e8a13288e4412d8389d140aac1794825a",
            "5837736c89570de861ebc173b1086da4f505d4adb387c6a1b1342d5e4ac9ec72",
            "00e33c0f7d81d843c572275f287498e8d408654fdf0d1e065b84e2e6f157aab09b",
        ),
        (
            "m/0'/2147483647'/1'/2147483646'/2'",
            "5d70af781f3a37b829f0d060924d5e960bdc02e85423494afc0b1a41bbe196d4",
            "551d333177df541ad876a60ea71f00447931c0a9da16f227c11ea080d7391b8d",
            "0047150c75db263559a70d5778bf36abbab30fb061ad69f69ece61a72b0cfa4fc0",
        ),
    ];

    fn check(seed: &str, rows: &[Row]) {
        let master = ExtendedKey::from_seed(&hex::decode(seed).unwrap()).unwrap();
        for (path, cc, sk, pk) in rows {
            let k = master.derive_path(path).unwrap();
            assert_eq!(hex::encode(k.chain_code()), *cc, "chain code at {path}");
            assert_eq!(hex::encode(k.secret_bytes()), *sk, "private key at {path}");
            assert_eq!(format!("00{}", k.public_key()), *pk, "public key at {path}");
        }
    }

    #[test]
    fn slip10_vector_1() {
        check(SEED1, V1);
    }

    #[test]
    fn slip10_vector_2() {
        check(SEED2, V2);
    }

    #[test]
    fn bad_paths_are_errors() {
        let m = ExtendedKey::from_seed(&[1; 16]).unwrap();
        for p in ["", "x/0'", "m/0", "m/a'", "m/2147483648'", "m//0'", "m/0'/"] {
            assert!(m.derive_path(p).is_err(), "{p:?}");
        }
        assert!(m.derive_child(5).is_err());
        assert!(ExtendedKey::from_seed(&[1; 15]).is_err());
        assert!(ExtendedKey::from_seed(&[1; 65]).is_err());
        assert_eq!(m.derive_path("m/1h/2'").unwrap().depth(), 2);
    }
}
