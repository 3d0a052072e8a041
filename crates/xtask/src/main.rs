//! Developer tasks: `cargo xtask demo`, `cargo xtask test`, `cargo xtask deps`.
//!
//! Both `demo` and `test` first make sure the one system prerequisite is
//! present: **libclang** (Debian package `libclang-dev`), which `bindgen` needs
//! to generate RocksDB's Rust bindings while building `librocksdb-sys`. When it
//! is missing, it is installed with `apt-get` (as root, or through `sudo`).

use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (task, rest) = match args.split_first() {
        Some((task, rest)) => (task.as_str(), rest.to_vec()),
        None => ("help", Vec::new()),
    };
    let result = match task {
        "deps" => ensure_libclang(),
        "test" => ensure_libclang()
            .and_then(|()| cargo(&[&["test", "--workspace"][..], &as_strs(&rest)].concat())),
        "demo" => ensure_libclang().and_then(|()| demo(&rest)),
        _ => {
            eprintln!("usage: cargo xtask <deps|demo|test> [args…]\n  deps  install libclang-dev if missing\n  demo  run the clientele demo\n  test  run the whole test suite (extra args go to cargo test)");
            return if task == "help" {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            };
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

fn as_strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn demo(rest: &[String]) -> Result<(), String> {
    let cli = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../cli/Cargo.toml");
    if cli.exists() {
        cargo(
            &[
                &["run", "--quiet", "--package", "clientele-cli", "--", "demo"][..],
                &as_strs(rest),
            ]
            .concat(),
        )
    } else {
        cargo(
            &[
                &["run", "--quiet", "--example", "quickstart", "--"][..],
                &as_strs(rest),
            ]
            .concat(),
        )
    }
}

fn cargo(args: &[&str]) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(args)
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("cargo {} failed ({status})", args.join(" ")))
    }
}

/// Whether a libclang shared library is visible (where bindgen looks for it).
fn libclang_present() -> bool {
    if std::env::var_os("LIBCLANG_PATH").is_some() {
        return true;
    }
    let dirs = [
        "/usr/lib",
        "/usr/lib64",
        "/usr/local/lib",
        "/usr/lib/x86_64-linux-gnu",
        "/usr/lib/aarch64-linux-gnu",
    ];
    let found_in = |dir: &std::path::Path| {
        std::fs::read_dir(dir).map(|entries| {
            entries.flatten().any(|e| {
                let name = e.file_name();
                let name = name.to_string_lossy();
                // libclang-cpp (the C++ API, shipped with LLVM) is not what
                // bindgen loads: it needs libclang's C API.
                name.starts_with("libclang")
                    && !name.starts_with("libclang-cpp")
                    && name.contains(".so")
            })
        })
    };
    if dirs
        .iter()
        .any(|d| found_in(std::path::Path::new(d)).unwrap_or(false))
    {
        return true;
    }
    // Debian keeps it under /usr/lib/llvm-*/lib.
    std::fs::read_dir("/usr/lib")
        .map(|entries| {
            entries.flatten().any(|e| {
                e.file_name().to_string_lossy().starts_with("llvm-")
                    && found_in(&e.path().join("lib")).unwrap_or(false)
            })
        })
        .unwrap_or(false)
}

fn ensure_libclang() -> Result<(), String> {
    if libclang_present() {
        return Ok(());
    }
    eprintln!("xtask: libclang not found; installing Debian package libclang-dev (bindgen needs it to build RocksDB)…");
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0"))
        .unwrap_or(false);
    let run = |args: &[&str]| -> Result<(), String> {
        let mut command = if is_root {
            Command::new(args[0])
        } else {
            Command::new("sudo")
        };
        if !is_root {
            command.arg(args[0]);
        }
        let status = command
            .args(&args[1..])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .map_err(|e| format!("cannot run {}: {e}", args[0]))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!(
                "`{}` failed ({status}); install libclang-dev yourself and retry",
                args.join(" ")
            ))
        }
    };
    run(&["apt-get", "update", "-qq"])?;
    run(&["apt-get", "install", "-y", "-qq", "libclang-dev"])?;
    if libclang_present() {
        Ok(())
    } else {
        Err("libclang-dev installed but libclang still not found; set LIBCLANG_PATH".into())
    }
}
