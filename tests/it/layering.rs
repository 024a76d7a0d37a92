//! The crate's layers as `src/lib.rs` lists them: bottom-up, each module under a line naming
//! the modules it uses. This test holds the code to those lines: a module may use only
//! modules listed above it (so imports form no cycle), and it uses exactly the ones its line
//! names (so the line stays true when code changes).

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

/// One `pub mod` of `src/lib.rs` and the modules its line says it uses.
struct Layer {
    name: String,
    uses: BTreeSet<String>,
}

fn layers(lib: &str) -> Vec<Layer> {
    let mut layers = Vec::new();
    let mut comment = None;
    for line in lib.lines().map(str::trim) {
        if let Some(text) = line.strip_prefix("// ") {
            comment = Some(text.to_owned());
        } else if let Some(name) = line
            .strip_prefix("pub mod ")
            .and_then(|rest| rest.strip_suffix(';'))
        {
            let text = comment
                .take()
                .unwrap_or_else(|| panic!("src/lib.rs: `pub mod {name};` has no line above it"));
            let (_, list) = text.split_once("Uses: ").unwrap_or_else(|| {
                panic!("src/lib.rs: the line above `pub mod {name};` names no `Uses: `")
            });
            let list = list.trim_end_matches('.');
            let uses = match list {
                "nothing" => BTreeSet::new(),
                list => list.split(", ").map(str::to_owned).collect(),
            };
            layers.push(Layer {
                name: name.to_owned(),
                uses,
            });
        }
    }
    layers
}

/// The files of module `name`: `src/name.rs` and everything under `src/name/`.
fn files(src: &Path, name: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut out = vec![src.join(format!("{name}.rs"))];
    walk(&src.join(name), &mut out);
    out.retain(|path| path.exists());
    out
}

/// The top-level modules a file's non-test code names through `crate::`. Test code (a
/// `tests.rs` file, or what follows `#[cfg(test)]`) may reach anywhere; comments do not count.
fn crate_uses(path: &Path) -> BTreeSet<String> {
    if path.file_name().is_some_and(|n| n == "tests.rs") {
        return BTreeSet::new();
    }
    let text = fs::read_to_string(path).unwrap();
    let code: String = text
        .lines()
        .take_while(|line| line.trim() != "#[cfg(test)]")
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut uses = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        let preceded_by_ident = rest[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_');
        rest = &rest[at + "crate::".len()..];
        if preceded_by_ident {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            // `crate::{a::X, b}`: the first name of each item at depth one.
            let mut depth = 1;
            let mut item_start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 1 => break,
                    '}' => depth -= 1,
                    ',' if depth == 1 => item_start = true,
                    c if item_start && (c.is_alphanumeric() || c == '_') => {
                        uses.insert(ident(&group[i..]));
                        item_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            uses.insert(ident(rest));
        }
    }
    uses
}

fn ident(text: &str) -> String {
    text.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// Everything wrong with `layers` given what each module really uses: a line naming a module
/// not listed above it (a cycle, or an upward import), a use its line leaves out, a line
/// naming a module it does not use.
fn problems(layers: &[Layer], uses_of: impl Fn(&str) -> BTreeSet<String>) -> Vec<String> {
    let position: HashMap<&str, usize> = layers
        .iter()
        .enumerate()
        .map(|(i, layer)| (layer.name.as_str(), i))
        .collect();
    let mut problems = Vec::new();
    for (i, layer) in layers.iter().enumerate() {
        for used in &layer.uses {
            if position.get(used.as_str()).is_none_or(|&j| j >= i) {
                problems.push(format!(
                    "{}: its line names {used}, which is not listed above it",
                    layer.name
                ));
            }
        }
        let mut actual = uses_of(&layer.name);
        actual.remove(&layer.name);
        for used in actual.difference(&layer.uses) {
            problems.push(format!(
                "{}: uses crate::{used}, which its line in src/lib.rs does not name",
                layer.name
            ));
        }
        for unused in layer.uses.difference(&actual) {
            problems.push(format!(
                "{}: its line in src/lib.rs names {unused}, which it does not use",
                layer.name
            ));
        }
    }
    problems
}

#[test]
fn modules_use_only_the_layers_below_them_and_exactly_those_lib_rs_names() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let layers = layers(&fs::read_to_string(src.join("lib.rs")).unwrap());
    assert!(
        layers.len() > 10,
        "src/lib.rs lists {} modules",
        layers.len()
    );
    let problems = problems(&layers, |name| {
        let module_files = files(&src, name);
        assert!(!module_files.is_empty(), "no file for module {name}");
        module_files.iter().flat_map(|f| crate_uses(f)).collect()
    });
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_parser_sees_grouped_nested_and_inline_paths_but_not_tests_or_comments() {
    let dir = std::env::temp_dir().join(format!("layering-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let file = dir.join("sample.rs");
    fs::write(
        &file,
        "use crate::{a::X, b::{Y, Z}, c};\n\
         // crate::commented\n\
         fn f() -> crate::d::T { my_crate::e::U }\n\
         #[cfg(test)]\n\
         mod tests { use crate::f::V; }\n",
    )
    .unwrap();
    let found = crate_uses(&file);
    fs::remove_dir_all(&dir).unwrap();
    assert_eq!(
        found,
        ["a", "b", "c", "d"]
            .map(str::to_owned)
            .into_iter()
            .collect()
    );
}

#[test]
fn a_cycle_an_upward_use_and_a_stale_line_are_refused() {
    let lib = "// What it is. Uses: nothing.\npub mod low;\n// Uses: low.\npub mod high;\n";
    let parsed = layers(lib);
    let set = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(parsed[1].uses, set(&["low"]));
    assert!(
        problems(&parsed, |name| match name {
            "high" => set(&["low"]),
            _ => set(&[]),
        })
        .is_empty()
    );
    // low reaching up to high closes a cycle.
    assert_eq!(
        problems(&parsed, |name| match name {
            "high" => set(&["low"]),
            _ => set(&["high"]),
        }),
        ["low: uses crate::high, which its line in src/lib.rs does not name"]
    );
    let cyclic = "// Uses: high.\npub mod low;\n// Uses: low.\npub mod high;\n";
    assert_eq!(
        problems(&layers(cyclic), |name| match name {
            "high" => set(&["low"]),
            _ => set(&["high"]),
        }),
        ["low: its line names high, which is not listed above it"]
    );
    assert_eq!(
        problems(&parsed, |_| set(&[])),
        ["high: its line in src/lib.rs names low, which it does not use"]
    );
}

/// The README's module map, one row per line of `lib` as it would read there: the module, what
/// it holds, what it uses.
fn module_map(lib: &str) -> Vec<String> {
    let mut rows = Vec::new();
    let mut comment = "";
    for line in lib.lines().map(str::trim) {
        if let Some(text) = line.strip_prefix("// ") {
            comment = text;
        } else if let Some(name) = line
            .strip_prefix("pub mod ")
            .and_then(|rest| rest.strip_suffix(';'))
        {
            let (holds, uses) = comment.split_once(" Uses: ").unwrap();
            let uses = match uses.trim_end_matches('.') {
                "nothing" => "nothing".to_owned(),
                list => list
                    .split(", ")
                    .map(|used| format!("`{used}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
            };
            let holds = holds.trim_end_matches('.');
            rows.push(format!("| `{name}` | {holds} | {uses} |"));
        }
    }
    rows
}

#[test]
fn the_readmes_module_map_is_lib_rs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lib = fs::read_to_string(root.join("src/lib.rs")).unwrap();
    let readme = fs::read_to_string(root.join("README.md")).unwrap();
    let (_, table) = readme
        .split_once("| module | holds | uses |\n|---|---|---|\n")
        .expect("README.md has the module map");
    let rows: Vec<String> = table
        .lines()
        .take_while(|line| line.starts_with('|'))
        .map(str::to_owned)
        .collect();
    assert_eq!(
        rows,
        module_map(&lib),
        "rewrite README.md's table from src/lib.rs"
    );
    assert_eq!(
        module_map("// What it holds. Uses: a, b.\npub mod c;\n"),
        ["| `c` | What it holds | `a`, `b` |"]
    );
}
