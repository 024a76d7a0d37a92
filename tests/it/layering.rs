//! The crate's layers as `src/lib.rs` lists them, and each layer's modules as its own file
//! lists them: bottom-up, each under a line naming what it uses. This test holds the code to
//! those lines: a layer or module may use only what is listed above it (so imports form no
//! cycle), and it uses exactly what its line names (so the line stays true when code changes).

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

/// The paths a file's non-test code names through `crate::`, each cut to its first two
/// segments (`crate::core::plan::Plan` is `[core, plan]`). Test code (a `tests.rs` file, or
/// what follows `#[cfg(test)]`) may reach anywhere; comments do not count.
fn crate_paths(path: &Path) -> BTreeSet<Vec<String>> {
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
    let mut paths = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        let preceded_by_ident = rest[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_');
        rest = &rest[at + "crate::".len()..];
        if !preceded_by_ident {
            paths.extend(use_tree(rest).0);
        }
    }
    paths
}

/// The paths of the use tree `text` starts with (`a::X`, `{a::X, b::{Y, Z}}`), each cut to
/// two segments, and how many bytes the tree took.
fn use_tree(text: &str) -> (Vec<Vec<String>>, usize) {
    let trimmed = text.trim_start();
    let skipped = text.len() - trimmed.len();
    if let Some(group) = trimmed.strip_prefix('{') {
        let mut paths = Vec::new();
        let mut at = 0;
        loop {
            let (found, used) = use_tree(&group[at..]);
            paths.extend(found);
            at += used;
            // Past an `as` rename or the like, to the item's end.
            let mut depth = 0;
            while let Some(c) = group[at..].chars().next() {
                at += c.len_utf8();
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => return (paths, skipped + 1 + at),
                    '}' => depth -= 1,
                    ',' if depth == 0 => break,
                    _ => {}
                }
            }
            if at >= group.len() {
                return (paths, skipped + 1 + at);
            }
        }
    }
    let name = ident(trimmed);
    if name.is_empty() {
        return (Vec::new(), skipped);
    }
    let after = &trimmed[name.len()..];
    match after.strip_prefix("::") {
        Some(tail) => {
            let (inner, used) = use_tree(tail);
            let paths = match inner.is_empty() {
                true => vec![vec![name.clone()]],
                false => inner
                    .into_iter()
                    .map(|mut path| {
                        path.insert(0, name.clone());
                        path.truncate(2);
                        path
                    })
                    .collect(),
            };
            (paths, skipped + name.len() + 2 + used)
        }
        None => {
            let used = name.len();
            (vec![vec![name]], skipped + used)
        }
    }
}

fn ident(text: &str) -> String {
    text.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// Everything wrong with `layers` (as `file` lists them) given what each really uses: a line
/// naming one not listed above it (a cycle, or an upward import), a use its line leaves out, a
/// line naming one it does not use.
fn problems(
    file: &str,
    layers: &[Layer],
    uses_of: impl Fn(&str) -> BTreeSet<String>,
) -> Vec<String> {
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
                "{}: uses {used}, which its line in {file} does not name",
                layer.name
            ));
        }
        for unused in layer.uses.difference(&actual) {
            problems.push(format!(
                "{}: its line in {file} names {unused}, which it does not use",
                layer.name
            ));
        }
    }
    problems
}

/// The file that lists a layer's modules: `src/NAME/mod.rs`, else `src/NAME.rs`.
fn layer_file(src: &Path, name: &str) -> PathBuf {
    let dir = src.join(name).join("mod.rs");
    match dir.exists() {
        true => dir,
        false => src.join(format!("{name}.rs")),
    }
}

/// Everything wrong with the crate's layers (`src/lib.rs`) and with the modules each layer's
/// file lists. A module's line names the modules of its own layer it uses and the layers below
/// it it uses (`Uses: crd, model, aws.`).
fn crate_problems(src: &Path) -> Vec<String> {
    let layers = layers(&fs::read_to_string(src.join("lib.rs")).unwrap());
    let paths_of = |dir: &Path, name: &str| -> BTreeSet<Vec<String>> {
        let module_files = files(dir, name);
        assert!(!module_files.is_empty(), "no file for module {name}");
        module_files.iter().flat_map(|f| crate_paths(f)).collect()
    };
    let mut found = problems("src/lib.rs", &layers, |name| {
        paths_of(src, name)
            .into_iter()
            .map(|p| p[0].clone())
            .collect()
    });
    for (i, layer) in layers.iter().enumerate() {
        let file = layer_file(src, &layer.name);
        // The layers below, as if listed first: a module may name any of them.
        let mut listed: Vec<Layer> = layers[..i]
            .iter()
            .map(|below| Layer {
                name: below.name.clone(),
                uses: BTreeSet::new(),
            })
            .collect();
        let below = listed.len();
        listed.extend(self::layers(&fs::read_to_string(&file).unwrap()));
        let shown = format!("src/{}", file.strip_prefix(src).unwrap().display());
        let dir = src.join(&layer.name);
        found.extend(
            problems(&shown, &listed, |name| {
                if listed[..below].iter().any(|l| l.name == name) {
                    return BTreeSet::new();
                }
                paths_of(&dir, name)
                    .into_iter()
                    .filter_map(|p| match p[0] == layer.name {
                        true => p.get(1).cloned(),
                        false => Some(p[0].clone()),
                    })
                    .collect()
            })
            .into_iter()
            .map(|problem| format!("{}::{problem}", layer.name)),
        );
    }
    found
}

#[test]
fn layers_and_their_modules_use_only_what_is_listed_above_them_and_exactly_what_their_lines_name() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let listed = layers(&fs::read_to_string(src.join("lib.rs")).unwrap());
    assert_eq!(
        listed.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(),
        ["core", "aws", "reconcile", "k8s", "cli"]
    );
    let core = layers(&fs::read_to_string(src.join("core/mod.rs")).unwrap());
    assert!(core.len() > 10, "core lists {} modules", core.len());
    let problems = crate_problems(&src);
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
         use crate::core::{plan::{self, Plan}, model as m, kind};\n\
         // crate::commented\n\
         fn f() -> crate::d::T { my_crate::e::U }\n\
         #[cfg(test)]\n\
         mod tests { use crate::f::V; }\n",
    )
    .unwrap();
    let found = crate_paths(&file);
    fs::remove_dir_all(&dir).unwrap();
    let expected = [
        &["a", "X"][..],
        &["b", "Y"],
        &["b", "Z"],
        &["c"],
        &["core", "plan"],
        &["core", "model"],
        &["core", "kind"],
        &["d", "T"],
    ];
    assert_eq!(
        found,
        expected
            .iter()
            .map(|p| p.iter().map(|s| s.to_string()).collect())
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
        problems("lib.rs", &parsed, |name| match name {
            "high" => set(&["low"]),
            _ => set(&[]),
        })
        .is_empty()
    );
    // low reaching up to high closes a cycle.
    assert_eq!(
        problems("lib.rs", &parsed, |name| match name {
            "high" => set(&["low"]),
            _ => set(&["high"]),
        }),
        ["low: uses high, which its line in lib.rs does not name"]
    );
    let cyclic = "// Uses: high.\npub mod low;\n// Uses: low.\npub mod high;\n";
    assert_eq!(
        problems("lib.rs", &layers(cyclic), |name| match name {
            "high" => set(&["low"]),
            _ => set(&["high"]),
        }),
        ["low: its line names high, which is not listed above it"]
    );
    assert_eq!(
        problems("lib.rs", &parsed, |_| set(&[])),
        ["high: its line in lib.rs names low, which it does not use"]
    );
}

#[test]
fn a_module_reaching_into_a_layer_above_or_a_later_sibling_is_refused() {
    let src = std::env::temp_dir().join(format!("layering-crate-{}", std::process::id()));
    let write = |path: &str, text: &str| {
        let path = src.join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    };
    write(
        "lib.rs",
        "// Pure. Uses: nothing.\npub mod core;\n// Top. Uses: core.\npub mod cli;\n",
    );
    write(
        "core/mod.rs",
        "// A. Uses: nothing.\npub mod a;\n// B. Uses: a.\npub mod b;\n",
    );
    write("core/a.rs", "use crate::core::b::X;\n");
    write("core/b.rs", "use crate::core::a::Y;\nuse crate::cli::Z;\n");
    write("cli.rs", "use crate::core::a::Y;\n");
    let found = crate_problems(&src);
    fs::remove_dir_all(&src).unwrap();
    assert_eq!(
        found,
        [
            "core: uses cli, which its line in src/lib.rs does not name",
            "core::a: uses b, which its line in src/core/mod.rs does not name",
            "core::b: uses cli, which its line in src/core/mod.rs does not name",
        ]
    );
}

/// The README's module map: a row for each line of `lib` (a layer), each followed by a row for
/// each line of that layer's file (`layer_file`), as they would read there: the layer or
/// module, what it holds, what it uses.
fn module_map(lib: &str, layer_file: impl Fn(&str) -> String) -> Vec<String> {
    let mut rows = Vec::new();
    for (layer, holds, uses) in lines(lib) {
        rows.push(format!("| **`{layer}`** | {holds} | {uses} |"));
        for (module, holds, uses) in lines(&layer_file(&layer)) {
            rows.push(format!("| `{layer}::{module}` | {holds} | {uses} |"));
        }
    }
    rows
}

/// Each commented `pub mod` of `text`: its name, what it holds and what it uses, as the
/// README shows them.
fn lines(text: &str) -> Vec<(String, String, String)> {
    let mut found = Vec::new();
    let mut comment = "";
    for line in text.lines().map(str::trim) {
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
            let holds = holds.trim_end_matches('.').to_owned();
            found.push((name.to_owned(), holds, uses));
        }
    }
    found
}

#[test]
fn the_readmes_module_map_is_lib_rs_and_the_layers_files() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let src = root.join("src");
    let lib = fs::read_to_string(src.join("lib.rs")).unwrap();
    let readme = fs::read_to_string(root.join("README.md")).unwrap();
    let (_, table) = readme
        .split_once("| module | holds | uses |\n|---|---|---|\n")
        .expect("README.md has the module map");
    let rows: Vec<String> = table
        .lines()
        .take_while(|line| line.starts_with('|'))
        .map(str::to_owned)
        .collect();
    let layer_text = |name: &str| fs::read_to_string(layer_file(&src, name)).unwrap();
    assert_eq!(
        rows,
        module_map(&lib, layer_text),
        "rewrite README.md's table from src/lib.rs and the layers' files"
    );
    assert_eq!(
        module_map("// What it holds. Uses: a, b.\npub mod c;\n", |_| {
            "// Inside. Uses: nothing.\npub mod d;\n".to_owned()
        }),
        [
            "| **`c`** | What it holds | `a`, `b` |",
            "| `c::d` | Inside | nothing |"
        ]
    );
}
