//! Builds every guest (the examples and the test guests) for wasm32-wasip2
//! once, and hands the tests their paths as constants in `guests.rs`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// (workspace folder, crate folder names)
const WORKSPACES: &[(&str, &[&str])] = &[
    (
        "../examples",
        &[
            "hello",
            "hello-p3",
            "echo",
            "json-handler",
            "upload-processor",
            "url-shortener",
            "webhook-relay",
            "whoami",
            "doc-indexer",
            "deploy-approval",
            "travel-saga",
            "order-pipeline",
        ],
    ),
    (
        "guests",
        &[
            "faults",
            "faults-p3",
            "unknown-world",
            "bad-import",
            "caps",
            "events-sink",
            "steps",
        ],
    ),
];

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let target_dir = manifest.join("../target/guests");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    println!("cargo:rerun-if-changed=../sdk/src");
    println!("cargo:rerun-if-changed=../sdk/Cargo.toml");
    println!("cargo:rerun-if-changed=../wit");

    let mut constants = String::new();
    for (workspace, crates) in WORKSPACES {
        let dir = manifest.join(workspace);
        println!("cargo:rerun-if-changed={}", dir.join("Cargo.toml").display());
        for name in *crates {
            println!("cargo:rerun-if-changed={}", dir.join(name).join("src").display());
            println!(
                "cargo:rerun-if-changed={}",
                dir.join(name).join("Cargo.toml").display()
            );
        }
        build(&cargo, &dir, &target_dir);
        for name in *crates {
            let file = target_dir
                .join("wasm32-wasip2/release")
                .join(format!("{}.wasm", name.replace('-', "_")));
            assert!(file.exists(), "guest {name} was not built at {}", file.display());
            let constant = name.replace('-', "_").to_uppercase();
            constants.push_str(&format!(
                "/// `{workspace}/{name}`, built for wasm32-wasip2.\npub const {constant}: &str = {:?};\n",
                file.canonicalize()
                    .expect("built guest exists")
                    .display()
                    .to_string()
            ));
        }
    }
    let python = build_python(&manifest, &target_dir);
    constants.push_str(&format!(
        "/// `../examples/python-counter`, built with componentize-py.\npub const PYTHON_COUNTER: &str = {:?};\n",
        python.display().to_string()
    ));
    let python_p3 = build_python_p3(&cargo, &manifest, &target_dir);
    constants.push_str(&format!(
        "/// `../examples/hello-p3-py`, built with componentize-py for WASI 0.3.\npub const HELLO_P3_PY: &str = {:?};\n",
        python_p3.display().to_string()
    ));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("guests.rs"), constants).expect("write guests.rs");
}

/// Builds the Python example with componentize-py (from PyPI; scripts/test.sh
/// installs it) against the platform's WIT.
fn build_python(manifest: &Path, target_dir: &Path) -> PathBuf {
    let wit = manifest.join("../wit");
    componentize(manifest, "python-counter", &wit, "handler", target_dir)
}

/// Builds the Python WASI 0.3 hello against the `wasi:http/service` world
/// of WASI 0.3, whose WIT comes with the `wasip3` crate the Rust 0.3
/// examples build with (pinned by `examples/Cargo.lock`; the guests'
/// build has fetched it).
fn build_python_p3(cargo: &str, manifest: &Path, target_dir: &Path) -> PathBuf {
    let output = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--filter-platform",
            "wasm32-wasip2",
        ])
        .arg("--manifest-path")
        .arg(manifest.join("../examples/Cargo.toml"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cargo} metadata: {e}"));
    assert!(
        output.status.success(),
        "cargo metadata of the examples failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).expect("cargo metadata's JSON");
    let wasip3 = metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == "wasip3")
        .and_then(|p| p["manifest_path"].as_str())
        .expect("the examples depend on the wasip3 crate");
    let wit = Path::new(wasip3).with_file_name("wit");
    componentize(
        manifest,
        "hello-p3-py",
        &wit,
        "wasi:http/service@0.3.0",
        target_dir,
    )
}

/// `componentize-py` of `examples/{example}/app.py` for `world` of `wit`.
fn componentize(manifest: &Path, example: &str, wit: &Path, world: &str, target_dir: &Path) -> PathBuf {
    let dir = manifest.join("../examples").join(example);
    println!("cargo:rerun-if-changed={}", dir.join("app.py").display());
    let out = target_dir.join(format!("{example}.wasm"));
    std::fs::create_dir_all(target_dir).expect("create the guest target dir");
    let status = Command::new("componentize-py")
        .arg("-d")
        .arg(wit)
        .args(["-w", world, "componentize", "-p"])
        .arg(&dir)
        .arg("app")
        .arg("-o")
        .arg(&out)
        .status()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run componentize-py ({e}): the Python example needs it; \
                 `python3 -m pip install componentize-py` (scripts/test.sh does it)"
            )
        });
    assert!(
        status.success(),
        "componentize-py failed to build examples/{example}"
    );
    out.canonicalize().expect("built python component exists")
}

fn build(cargo: &str, workspace: &Path, target_dir: &Path) {
    let mut cmd = Command::new(cargo);
    cmd.args([
        "build",
        "--release",
        "--target",
        "wasm32-wasip2",
        "--manifest-path",
    ])
    .arg(workspace.join("Cargo.toml"))
    .arg("--target-dir")
    .arg(target_dir);
    // The outer build's flags are for the host, not for guests.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTC_WORKSPACE_WRAPPER",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd.status().unwrap_or_else(|e| panic!("cannot run {cargo}: {e}"));
    assert!(
        status.success(),
        "building the guests in {} failed; is the wasm32-wasip2 target installed? \
         (`rustup target add wasm32-wasip2`; scripts/test.sh does it)",
        workspace.display()
    );
}
