//! Where tests find the `opencode` binary, and what they do without it.

use std::path::PathBuf;

/// The `opencode` binary for tests: `OPEN_COWORK_OPENCODE_BIN`, else the one `tools/opencode`
/// installs. `None` (with a printed `SKIPPED` line) when it is missing; with `CI=true` a missing
/// binary fails the test instead.
pub fn opencode_test_binary() -> Option<PathBuf> {
    let path = std::env::var_os("OPEN_COWORK_OPENCODE_BIN").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tools/opencode/node_modules/.bin/opencode")
    });
    if path.is_file() {
        return Some(path);
    }
    let ci = std::env::var("CI").is_ok_and(|value| value == "true");
    assert!(
        !ci,
        "CI=true but the opencode binary is missing at {} (run `npm install` in tools/opencode)",
        path.display()
    );
    eprintln!(
        "SKIPPED: the opencode binary is not at {} (run `npm install` in tools/opencode, or set OPEN_COWORK_OPENCODE_BIN)",
        path.display()
    );
    None
}
