//! Child-process helpers shared by the tests that run the built `subspace-node` binary.

use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

/// Sends SIGINT (Ctrl-C) to `child` and waits up to `within` for it to exit; a child still
/// running then is killed and the test fails.
pub fn interrupt(child: &mut Child, within: Duration) -> ExitStatus {
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + within;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("no exit within {within:?} after Ctrl-C");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
