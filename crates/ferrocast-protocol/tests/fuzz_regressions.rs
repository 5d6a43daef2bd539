//! Replays the fuzz seeds and every minimised crash input (`fuzz/seeds/<target>/`,
//! `fuzz/regressions/<target>/`) through the same checks the protocol fuzz targets run, so a
//! fixed crash stays fixed without nightly or cargo-fuzz.

#[path = "../../../fuzz/src/protocol_checks.rs"]
#[allow(dead_code, unreachable_pub, unused_imports)]
mod protocol_checks;

use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut n = 0;
    for dir in ["seeds", "regressions"] {
        let Ok(entries) = std::fs::read_dir(fuzz.join(dir).join(target)) else {
            continue;
        };
        let mut paths: Vec<_> = entries.map(|e| e.expect("dir entry").path()).collect();
        paths.sort();
        for path in paths {
            let data = std::fs::read(&path).expect("read input");
            let outcome = std::panic::catch_unwind(|| check(&data));
            assert!(outcome.is_ok(), "{target}: {} fails", path.display());
            n += 1;
        }
    }
    assert!(n > 0, "no inputs for {target} under {}", fuzz.display());
}

#[test]
fn client_msg_inputs() {
    replay("client_msg", protocol_checks::client_msg);
}

#[test]
fn api_signature_inputs() {
    replay("api_signature", protocol_checks::api_signature);
}

#[test]
fn channel_name_inputs() {
    replay("channel_name", protocol_checks::channel_name);
}

#[test]
fn presence_inputs() {
    replay("presence", protocol_checks::presence);
}
