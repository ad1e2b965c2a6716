//! `docs/architecture.md` says there is no import cycle between modules. This test keeps it
//! true: for every module, the graph of its direct children — an edge from A to B when any file
//! in A's subtree names something in B's by `crate::…` or `super::…` — has no cycle.
//!
//! Paths are read from the source text (comments left out), so a path inside a macro counts
//! too; a path that names an item re-exported by a parent counts as the parent's.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module path below the crate root: `["pg", "settings"]`.
type Module = Vec<String>;

/// Every module file under `src/` (the binary's `main.rs` left out) and its module path.
fn modules(src: &Path) -> BTreeMap<Module, PathBuf> {
    let mut found = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(src).unwrap();
            let mut parts: Module = relative
                .iter()
                .map(|p| p.to_str().unwrap().trim_end_matches(".rs").to_owned())
                .collect();
            if parts.last().is_some_and(|p| p == "mod") {
                parts.pop();
            }
            if parts == ["lib"] {
                parts.clear();
            }
            if parts == ["main"] {
                continue;
            }
            found.insert(parts, path);
        }
    }
    found
}

/// The modules `text` (the file of `module`) names, as the longest known module prefix.
fn references(module: &Module, text: &str, known: &BTreeSet<Module>) -> BTreeSet<Module> {
    let path = regex::Regex::new(r"\b(crate|super)((?:::[A-Za-z_][A-Za-z0-9_]*)+)").unwrap();
    let mut found = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        for capture in path.captures_iter(code) {
            let mut target: Module = if &capture[1] == "crate" {
                Vec::new()
            } else {
                // `super` from a file is its parent module.
                module[..module.len().saturating_sub(1)].to_vec()
            };
            let mut segments = capture[2].split("::").filter(|s| !s.is_empty()).peekable();
            // `super::super::…`
            while segments.peek() == Some(&"super") {
                segments.next();
                target.pop();
            }
            let mut longest = target.clone();
            for segment in segments {
                target.push(segment.to_owned());
                if known.contains(&target) {
                    longest = target.clone();
                }
            }
            found.insert(longest);
        }
    }
    found
}

/// A cycle in `edges`, if there is one, as the modules along it.
fn cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        done: &mut BTreeSet<String>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| n == node) {
            let mut cycle = path[start..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, done, path) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    edges
        .keys()
        .find_map(|node| visit(node, edges, &mut done, &mut Vec::new()))
}

#[test]
fn no_module_imports_a_sibling_that_imports_it_back() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let files = modules(&src);
    let known: BTreeSet<Module> = files.keys().cloned().collect();
    // For each parent, the edges between its children.
    let mut graphs: BTreeMap<Module, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (module, path) in &files {
        let text = std::fs::read_to_string(path).unwrap();
        for target in references(module, &text, &known) {
            // The closest common parent, and the children of it on each side.
            let common = module
                .iter()
                .zip(&target)
                .take_while(|(a, b)| a == b)
                .count();
            if common >= module.len() || common >= target.len() {
                continue; // a module and its own ancestor or descendant
            }
            graphs
                .entry(module[..common].to_vec())
                .or_default()
                .entry(module[common].clone())
                .or_default()
                .insert(target[common].clone());
        }
    }
    assert!(
        graphs.contains_key(&Vec::new()),
        "the crate's modules were read"
    );
    let cycles: Vec<String> = graphs
        .iter()
        .filter_map(|(parent, edges)| {
            let cycle = cycle(edges)?;
            let parent = if parent.is_empty() {
                "crate".to_owned()
            } else {
                parent.join("::")
            };
            Some(format!("in {parent}: {}", cycle.join(" → ")))
        })
        .collect();
    assert!(
        cycles.is_empty(),
        "import cycles (break each by moving what both sides need below them):\n{}",
        cycles.join("\n")
    );
}

#[test]
fn a_cycle_is_found() {
    let edges: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec!["a"]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.into_iter().map(String::from).collect()))
    .collect();
    assert_eq!(cycle(&edges).unwrap(), ["a", "b", "c", "a"]);
    let mut acyclic = edges.clone();
    acyclic.get_mut("c").unwrap().clear();
    assert_eq!(cycle(&acyclic), None);
}
