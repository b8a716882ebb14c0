//! Make an identity, print its NodeId, seal a message to two recipients and open it.
//!
//! `cargo run -p subspace-crypto --example identity`

use rand_core::OsRng;
use subspace_crypto::{Aead, ContentKey, Keypair, NodeId, Result, unwrap_key, wrap_key};

fn main() -> Result<()> {
    let mut rng = OsRng;
    let me = Keypair::generate(&mut rng);
    println!("my NodeId:   {}", NodeId::from_public_key(&me.public()));
    println!("my key:      {}", me.public());

    let alice = Keypair::generate(&mut rng);
    let bob = Keypair::generate(&mut rng);
    let key = ContentKey::generate(&mut rng);
    let message = b"the eagle lands at dawn";
    let sealed = key.seal(Aead::Aes256Gcm, message, b"", &mut rng);
    let stanzas = [
        wrap_key(&key, &alice.public(), &mut rng)?,
        wrap_key(&key, &bob.public(), &mut rng)?,
    ];
    println!(
        "sealed {} bytes to 2 recipients ({} bytes of ciphertext)",
        message.len(),
        sealed.ciphertext.len()
    );

    for (name, kp, stanza) in [("alice", &alice, &stanzas[0]), ("bob", &bob, &stanzas[1])] {
        let opened = unwrap_key(stanza, kp)?.open(&sealed, b"")?;
        println!("{name} opens: {}", String::from_utf8_lossy(&opened));
    }
    match unwrap_key(&stanzas[0], &me) {
        Err(e) => println!("an outsider gets: {e}"),
        Ok(_) => println!("BUG: an outsider opened the key"),
    }
    Ok(())
}
