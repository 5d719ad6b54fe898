//! The `open-cowork.config.json` file as both binaries read it: the gateway's
//! `GatewayConfig::load` (`gateway/src/config/file.rs` and `provider.rs`, the `cloud` section
//! through `cowork_cloud::config`) and the cloud service's `ServeConfig::load`
//! (`cloud/src/config/server.rs`), each given the input as its config file (`--config`) and an
//! empty environment.
//!
//! Invariants: arbitrary bytes never panic; a load is deterministic (the same file gives the
//! same configuration or the same error twice); an accepted gateway configuration has at least
//! one provider, all enabled; every error names a setting or the file.
//!
//! Inputs containing `file:` are skipped: a `file:/path` secret reference makes the loader read
//! that file of this machine (a device or a FIFO could block the run), which is not parsing.
#![no_main]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::LazyLock;

use cowork_cloud::config::server::{ServeConfig, ServeFlags};
use cowork_gateway::config::{ConfigError, Flags, GatewayConfig};
use libfuzzer_sys::fuzz_target;

/// A private directory for this process's config file (in memory when `/dev/shm` exists).
static DIR: LazyLock<PathBuf> = LazyLock::new(|| {
    let base = if std::path::Path::new("/dev/shm").is_dir() { PathBuf::from("/dev/shm") } else { std::env::temp_dir() };
    let dir = base.join(format!("cowork-fuzz-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
});

/// The configuration as text, without the instance id (random per load when not configured).
fn shown(config: impl std::fmt::Debug) -> String {
    let text = format!("{config:?}");
    let Some(at) = text.find("instance_id: \"") else { return text };
    let start = at + "instance_id: \"".len();
    let end = text[start..].find('"').map_or(text.len(), |len| start + len);
    format!("{}*{}", &text[..start], &text[end..])
}

fn check_error(error: &ConfigError) {
    let message = error.to_string();
    assert!(
        ["invalid configuration: `", "config file ", "cannot read config file "].iter().any(|p| message.starts_with(p)),
        "{message}"
    );
}

fuzz_target!(|data: &[u8]| {
    if data.windows(5).any(|w| w == b"file:") {
        return;
    }
    let path = DIR.join("open-cowork.config.json");
    std::fs::write(&path, data).expect("write the config file");
    let env = HashMap::new();

    let flags = Flags { config_path: Some(path.clone()), ..Flags::default() };
    let gateway = || GatewayConfig::load(&DIR, &env, &flags).map(shown).map_err(|e| e.to_string());
    let first = GatewayConfig::load(&DIR, &env, &flags);
    match &first {
        Ok(config) => {
            assert!(!config.providers.is_empty(), "no provider");
            assert!(config.providers.iter().all(|p| p.enabled), "a disabled provider kept");
        }
        Err(error) => check_error(error),
    }
    let first = first.map(shown).map_err(|e| e.to_string());
    assert_eq!(first, gateway(), "the gateway's load is not deterministic");

    let flags = ServeFlags { config_path: Some(path), ..ServeFlags::default() };
    let serve = || ServeConfig::load(&DIR, &env, &flags).map(shown).map_err(|e| e.to_string());
    let first = ServeConfig::load(&DIR, &env, &flags);
    if let Err(error) = &first {
        check_error(error);
    }
    let first = first.map(shown).map_err(|e| e.to_string());
    assert_eq!(first, serve(), "the cloud's load is not deterministic");
});
