//! The workspace's shape as docs/DESIGN.md draws it: the mermaid graph of the crates is
//! `cargo metadata`'s (normal dependencies between workspace crates, both ways), and the
//! functions' whole dependency tree (`cargo tree`) holds nothing that writes the table or
//! talks to MySQL.

use std::collections::BTreeSet;
use std::process::Command;

use integration_tests::workspace_root;
use serde_json::Value;

fn cargo(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO"))
        .args(args)
        .current_dir(workspace_root())
        .output()
        .expect("run cargo");
    assert!(
        out.status.success(),
        "cargo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// `(crate, dependency)` pairs of DESIGN's mermaid graph.
fn drawn() -> BTreeSet<(String, String)> {
    let design = std::fs::read_to_string(workspace_root().join("docs/DESIGN.md")).unwrap();
    let graph = design
        .split("```mermaid\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("docs/DESIGN.md has a mermaid graph");
    graph
        .lines()
        .filter_map(|l| l.trim().split_once(" --> "))
        .map(|(a, b)| (a.trim().to_string(), b.trim().to_string()))
        .collect()
}

#[test]
fn the_crate_graph_in_design_is_cargos() {
    let metadata: Value =
        serde_json::from_str(&cargo(&["metadata", "--format-version", "1", "--no-deps"])).unwrap();
    let packages = metadata["packages"].as_array().unwrap();
    let names: BTreeSet<&str> = packages.iter().map(|p| p["name"].as_str().unwrap()).collect();
    let mut linked = BTreeSet::new();
    for p in packages {
        for d in p["dependencies"].as_array().unwrap() {
            let name = d["name"].as_str().unwrap();
            if names.contains(name) && d["kind"].is_null() {
                linked.insert((p["name"].as_str().unwrap().to_string(), name.to_string()));
            }
        }
    }
    assert_eq!(
        drawn(),
        linked,
        "docs/DESIGN.md's crate graph (left) against cargo metadata (right)"
    );
}

#[test]
fn the_functions_link_neither_writes_nor_mysql() {
    for function in ["get-conversations", "get-conversation-messages"] {
        let tree = cargo(&[
            "tree", "-p", function, "-e", "normal", "--prefix", "none", "--target", "all",
        ]);
        let crates: BTreeSet<&str> = tree.lines().filter_map(|l| l.split_whitespace().next()).collect();
        assert!(crates.contains("shared"), "{function}: {crates:?}");
        for never in [
            "writer",
            "convo-admin",
            "integration-tests",
            "mysql_async",
            "clap",
            "indicatif",
        ] {
            assert!(!crates.contains(never), "{function} links {never}");
        }
    }
}
