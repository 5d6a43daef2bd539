//! The checks behind Ferrocast's fuzz targets (`fuzz_targets/`), kept in a library so seeds and
//! regressions can be replayed by ordinary tests. See README.md.

pub mod protocol_checks;
#[cfg(feature = "server")]
pub mod server_checks;

#[cfg(test)]
mod replay {
    //! Every seed and regression input, through its target's checks (`cargo test` here; the
    //! protocol targets are also replayed by the protocol crate's own tests).

    use std::path::Path;

    fn replay(target: &str, check: fn(&[u8])) {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut n = 0;
        for dir in ["seeds", "regressions"] {
            let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
                continue;
            };
            for entry in entries {
                let path = entry.expect("dir entry").path();
                let data = std::fs::read(&path).expect("read input");
                eprintln!("{target}: {}", path.display());
                check(&data);
                n += 1;
            }
        }
        assert!(n > 0, "no inputs for {target}");
    }

    #[test]
    fn client_msg() {
        replay("client_msg", crate::protocol_checks::client_msg);
    }

    #[test]
    fn api_signature() {
        replay("api_signature", |d| {
            crate::protocol_checks::api_signature(d);
            #[cfg(feature = "server")]
            crate::server_checks::signed_request(d);
        });
    }

    #[test]
    fn channel_name() {
        replay("channel_name", crate::protocol_checks::channel_name);
    }

    #[test]
    fn presence() {
        replay("presence", crate::protocol_checks::presence);
    }

    #[cfg(feature = "server")]
    #[test]
    fn config() {
        replay("config", crate::server_checks::config);
    }
}
