//! Shared by the CLI's end-to-end tests: runs the `clientele` binary with its
//! home, data and config directories in a scratch directory, so a test never
//! touches the real user's files, database (`CLIENTELE_DB`) or master key.

// Each test crate uses part of this module.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// The CDNOW sample (2,357 customers, 6,919 purchases).
pub const CDNOW: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/cdnow_sample.txt"
);

/// A fixed master key, so every command of a test reads the same personal data.
pub const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

/// Runs `clientele ARGS` with `home` as its home (data and config under it)
/// and `key` as the master key (None: no key in the environment).
pub fn clientele(home: &Path, args: &[&str], key: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_clientele"));
    cmd.args(args)
        .env("HOME", home)
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env_remove("CLIENTELE_DB")
        .env_remove("CLIENTELE_MASTER_KEY")
        .env_remove("CLIENTELE_LOG");
    if let Some(key) = key {
        cmd.env("CLIENTELE_MASTER_KEY", key);
    }
    cmd.output().expect("run clientele")
}

/// (exit code, the one JSON document on stdout, stderr) of a `--json` run.
pub fn parse_json(args: &[&str], out: &Output) -> (i32, Value, String) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let doc: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "{args:?}: not one JSON document ({e}): {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (
        out.status.code().unwrap_or(-1),
        doc,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A scratch home for a test's commands.
pub struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn home(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The path of file or database `name` in the sandbox, as an argument.
    pub fn db(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }

    /// `clientele ARGS`, with the master key [`KEY`] if `key`.
    pub fn command(&self, args: &[&str], key: bool) -> Output {
        clientele(self.home(), args, key.then_some(KEY))
    }

    /// `clientele ARGS` with the master key.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args, true)
    }

    /// `clientele ARGS --json` with the master key: (exit code, document, stderr).
    pub fn json(&self, args: &[&str]) -> (i32, Value, String) {
        self.json_with(args, true)
    }

    /// `clientele ARGS --json`, with the master key if `key`.
    pub fn json_with(&self, args: &[&str], key: bool) -> (i32, Value, String) {
        let mut all = args.to_vec();
        all.push("--json");
        parse_json(args, &self.command(&all, key))
    }

    /// Writes `text` to file `name` in the sandbox; returns its path.
    pub fn write(&self, name: &str, text: &str) -> String {
        let p = self.path(name);
        std::fs::write(&p, text).expect("write");
        p.display().to_string()
    }
}
