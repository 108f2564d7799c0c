//! The binary as an operator runs it, isolated from the developer's environment.

use std::process::Command;

pub fn viewmark() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_viewmark"));
    // Isolate from the developer's environment and config file.
    for (key, _) in std::env::vars() {
        if key.starts_with("VIEWMARK_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("VIEWMARK_CONFIG", "/nonexistent/viewmark.toml").env_remove("RUST_LOG");
    cmd
}

/// Where the tests keep the master key: beside the data directory, not in it.
pub fn secrets_dir(data_dir: &std::path::Path) -> std::path::PathBuf {
    let mut name = data_dir.as_os_str().to_owned();
    name.push(".secrets");
    name.into()
}

/// `viewmark detect --json` on a file under a key file: its one JSON object.
pub fn detect(path: &std::path::Path, key: &std::path::Path) -> serde_json::Value {
    let out = viewmark()
        .args(["detect", "--json", "--input"])
        .arg(path)
        .arg("--key-file")
        .arg(key)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
}
