//! The layout guard: keeps `src/` layered as docs/architecture.md describes (the model
//! is ../shared/LAYOUT.md, sections "Layers", "One owner per table" and "A guard, not a
//! reviewer"). It reads every `src/**/*.rs` as text (no build of the crate, std only),
//! maps each file to its top-level module and each module to a layer, and fails, listing
//! every violation as `file:line: what — why`, on:
//! 1. an import (`crate::m`, or `super::` climbing to the crate root) that runs up a layer
//!    or sideways, of an item of `lib.rs` (which only declares modules), or from a module
//!    that is in no layer;
//! 2. a cycle among top-level modules;
//! 3. axum, axum_extra, tower, tower_http or maud named outside `web` and `app`;
//! 4. SQL naming a table outside its owner: writes only in the owner (schema changes also
//!    in `db`'s migrations), reads only in the owner or in a `reads.rs` whose opening `//!`
//!    names every table it reads.
//!
//! Comments and string literals are lexed away before imports are looked for, so prose
//! never counts; tables are looked for only in string literals that look like SQL.
//! To fix a failure, move the code down to where it belongs; a new module or table goes
//! into the tables below *and* into docs/architecture.md.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;

/// The layers, top down: a module may import modules of a lower layer, and modules of
/// its own layer only in `SAME_LAYER_OK` (where the module graph must still be acyclic).
/// Mirrors the module map in docs/architecture.md; keep the two in step.
const LAYERS: &[(u8, &str, &str)] = &[
    (6, "entry", "main cli"),
    (5, "composition", "app"),
    (4, "edge", "web ftp hw"),
    (3, "engine", "sync delivery"),
    (
        2,
        "domain",
        "ingest derivatives consent auth creators event dashboard",
    ),
    (1, "pure", "media metrics"),
    (
        0,
        "foundation",
        "config db files identity tokens net clock logging lowprio devices",
    ),
];
const SAME_LAYER_OK: &[&str] = &["foundation", "domain"];

/// Every table and the one module that writes it. Mirrors the table owners in
/// docs/architecture.md (`delivery_*` tables go here when they exist).
const OWNERS: &[(&str, &str)] = &[
    ("db", "audit_log"),
    ("event", "event event_prices"),
    ("auth", "admin_credential admin_sessions creator_sessions"),
    ("creators", "creators creator_logos"),
    ("ingest", "photos uploads ingest_refusals"),
    ("derivatives", "renders"),
    (
        "consent",
        "attendees consent_events attendance attendee_erasures notices portal_clients",
    ),
    ("consent", "portal_secret photo_attendees"),
    (
        "sync",
        "sync_meta sync_bundles sync_objects sync_photos sync_attendees",
    ),
    ("delivery", "delivery_pass_frames"),
    ("delivery", "delivery_frames"),
    ("delivery", "delivery_stall_scans"),
    ("delivery", "delivery_tags delivery_gallery_views"),
    ("delivery", "delivery_photo_public delivery_creator_public"),
    (
        "delivery",
        "delivery_orders delivery_order_lines delivery_order_photos",
    ),
    (
        "delivery",
        "delivery_links delivery_downloads delivery_order_events",
    ),
];

/// Crates only the HTTP edge and the composition root may name.
const WEB_CRATES: &[&str] = &["axum", "axum_extra", "tower", "tower_http", "maud"];
const WEB_MODULES: &[&str] = &["web", "app"];

fn layer(module: &str) -> Option<(u8, &'static str)> {
    let mut layers = LAYERS.iter();
    layers
        .find(|l| l.2.split(' ').any(|m| m == module))
        .map(|l| (l.0, l.1))
}

fn owner(table: &str) -> Option<&'static str> {
    OWNERS
        .iter()
        .find(|o| o.1.split(' ').any(|t| t == table))
        .map(|o| o.0)
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn is_name(w: &str) -> bool {
    w.starts_with(|c: char| c.is_alphabetic() || c == '_')
}

#[derive(Clone, Copy, PartialEq)]
enum Lex {
    Code,
    LineComment,
    BlockComment(u32),
    Str,
    RawStr(usize),
    Char,
}

/// Splits Rust source into code and string literals: the source with every comment and
/// every string and char literal blanked (newlines kept, so line numbers still hold),
/// and each string literal's contents (escapes left as written) with its first line.
fn strip(src: &str) -> (String, Vec<(usize, String)>) {
    let c: Vec<char> = src.chars().collect();
    let at = |k: usize| c.get(k).copied().unwrap_or('\0');
    let (mut code, mut lits, mut line, mut i, mut lex) =
        (String::new(), Vec::new(), 1, 0, Lex::Code);
    while i < c.len() {
        let (was, ch, mut len) = (lex, c[i], 1); // `len`: how many chars this step takes
        let before = |k: usize| if k <= i { at(i - k) } else { ' ' };
        let raw_prefix =
            !is_ident(before(1)) || (matches!(before(1), 'b' | 'c') && !is_ident(before(2)));
        let hashes = (i + 1..).take_while(|&k| at(k) == '#').count();
        match lex {
            Lex::Code if ch == '/' && at(i + 1) == '/' => lex = Lex::LineComment,
            Lex::Code if ch == '/' && at(i + 1) == '*' => (lex, len) = (Lex::BlockComment(1), 2),
            Lex::Code if ch == '"' => lex = Lex::Str,
            Lex::Code if ch == 'r' && raw_prefix && at(i + 1 + hashes) == '"' => {
                (lex, len) = (Lex::RawStr(hashes), hashes + 2)
            }
            Lex::Code
                if ch == '\''
                    && (at(i + 1) == '\\' || (at(i + 2) == '\'' && at(i + 1) != '\'')) =>
            {
                lex = Lex::Char
            }
            Lex::LineComment if ch == '\n' => lex = Lex::Code,
            Lex::BlockComment(d) if ch == '/' && at(i + 1) == '*' => {
                (lex, len) = (Lex::BlockComment(d + 1), 2)
            }
            Lex::BlockComment(1) if ch == '*' && at(i + 1) == '/' => (lex, len) = (Lex::Code, 2),
            Lex::BlockComment(d) if ch == '*' && at(i + 1) == '/' => {
                (lex, len) = (Lex::BlockComment(d - 1), 2)
            }
            Lex::Str | Lex::Char if ch == '\\' => len = 2,
            Lex::Str if ch == '"' => lex = Lex::Code,
            Lex::Char if ch == '\'' => lex = Lex::Code,
            Lex::RawStr(h) if ch == '"' && (1..=h).all(|k| at(i + k) == '#') => {
                (lex, len) = (Lex::Code, h + 1)
            }
            _ => {}
        }
        if was == Lex::Code && matches!(lex, Lex::Str | Lex::RawStr(_)) {
            lits.push((line, String::new()));
        }
        for &ch in &c[i..(i + len).min(c.len())] {
            let keep = ch == '\n' || (was == Lex::Code && lex == Lex::Code);
            code.push(if keep { ch } else { ' ' });
            if was == lex && matches!(lex, Lex::Str | Lex::RawStr(_)) {
                lits.last_mut().unwrap().1.push(ch);
            }
            line += usize::from(ch == '\n');
        }
        i += len;
    }
    (code, lits)
}

/// The code's tokens with their lines: identifiers, `::`, and single punctuation chars.
fn tokens(code: &str) -> Vec<(usize, String)> {
    let c: Vec<char> = code.chars().collect();
    let (mut out, mut i, mut line) = (Vec::new(), 0, 1);
    while i < c.len() {
        let start = i;
        i += 1;
        if c[start] == '\n' {
            line += 1;
        } else if is_ident(c[start]) {
            i += c[i..].iter().take_while(|&&ch| is_ident(ch)).count();
        } else if c[start] == ':' && c.get(i) == Some(&':') {
            i += 1;
        }
        if !c[start].is_whitespace() {
            out.push((line, c[start..i].iter().collect()));
        }
    }
    out
}

/// Every top-level module the source names from the crate root: `crate::m`, the top-level
/// names of `crate::{a, b::c, d::{e}}`, and `super::…::m` when the `super`s climb to the
/// root. `depth` is how many `super`s reach the root from the file's top level (1 for
/// `src/creators.rs` and `src/web/mod.rs`, 2 for `src/web/tus.rs`); inline `mod x { }`
/// blocks add one. Macros at the root (`crate::m!`) are skipped.
fn references(src: &str, depth: usize) -> Vec<(usize, String)> {
    let t = tokens(&strip(src).0);
    let s = |k: usize| t.get(k).map_or("", |x| x.1.as_str());
    let (mut out, mut braces, mut mods) = (Vec::new(), 0, Vec::new());
    let root = |j: usize, out: &mut Vec<(usize, String)>| {
        if s(j) == "{" {
            let (mut d, mut expect) = (0, true);
            for (line, w) in &t[j..] {
                match w.as_str() {
                    "{" => d += 1,
                    "}" if d == 1 => break,
                    "}" => d -= 1,
                    "," if d == 1 => expect = true,
                    w if d == 1 && expect && is_name(w) && w != "self" => {
                        out.push((*line, w.to_string()))
                    }
                    _ => {}
                }
                expect &= w == "{" || w == ",";
            }
        } else if is_name(s(j)) && !["self", "super", "crate"].contains(&s(j)) && s(j + 1) != "!" {
            out.push((t[j].0, s(j).to_string()));
        }
    };
    for i in 0..t.len() {
        match s(i) {
            "{" => {
                braces += 1;
                if i >= 2 && s(i - 2) == "mod" && is_name(s(i - 1)) {
                    mods.push(braces);
                }
            }
            "}" => {
                if mods.last() == Some(&braces) {
                    mods.pop();
                }
                braces -= 1;
            }
            "crate" if s(i + 1) == "::" => root(i + 2, &mut out),
            "super" if i == 0 || s(i - 1) != "::" => {
                let supers = (0..)
                    .take_while(|k| s(i + 2 * k) == "super" && s(i + 2 * k + 1) == "::")
                    .count();
                if supers == depth + mods.len() {
                    root(i + 2 * supers, &mut out);
                }
            }
            _ => {}
        }
    }
    out
}

/// Every line that names a crate of `WEB_CRATES` (`axum::…`, `use maud`, …), once per
/// line and crate.
fn web_crates(src: &str) -> Vec<(usize, String)> {
    let t = tokens(&strip(src).0);
    let s = |k: usize| t.get(k).map_or("", |x| x.1.as_str());
    let before = |k: usize| if k == 0 { "" } else { s(k - 1) };
    let named = (0..t.len()).filter(|&i| WEB_CRATES.contains(&s(i)));
    let as_crate = named.filter(|&i| s(i + 1) == "::" || ["use", "crate"].contains(&before(i)));
    let not_a_field =
        as_crate.filter(|&i| before(i) != "." && !(before(i) == "::" && is_name(before(i - 1))));
    not_a_field
        .map(|i| t[i].clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Access {
    Read,
    Write,
    Schema,
}

/// The words and punctuation of an SQL string literal with their line offsets; SQL
/// strings ('…'), `--` comments, `{…}` format placeholders and Rust escapes are skipped.
fn sql_words(lit: &str) -> Vec<(usize, String)> {
    let c: Vec<char> = lit.chars().collect();
    let (mut out, mut i, mut line) = (Vec::new(), 0, 0);
    while i < c.len() {
        let skip_to =
            |end: char| i + 1 + c[i + 1..].iter().take_while(|&&ch| ch != end).count() + 1;
        let next = match c[i] {
            '\\' if c.get(i + 1) != Some(&'\n') => i + 2,
            '\'' => skip_to('\''),
            '{' => skip_to('}'),
            '-' if c.get(i + 1) == Some(&'-') => skip_to('\n') - 1,
            ',' | ';' | '(' | ')' | '.' => i + 1,
            ch if is_ident(ch) => i + c[i..].iter().take_while(|&&ch| is_ident(ch)).count(),
            _ => i + 1,
        };
        let next = next.min(c.len());
        if is_ident(c[i]) || ",;().".contains(c[i]) {
            out.push((line, c[i..next].iter().collect()));
        }
        line += c[i..next].iter().filter(|&&ch| ch == '\n').count();
        i = next;
    }
    out
}

/// Words that end a `FROM a [AS] x, b` list instead of being an alias.
const SQL_CLAUSES: &str = "WHERE JOIN LEFT RIGHT INNER OUTER CROSS FULL NATURAL ON USING GROUP \
    ORDER LIMIT UNION EXCEPT INTERSECT HAVING WINDOW RETURNING SET VALUES INDEXED NOT";

/// The index after the `)` that closes the `(` at `open`.
fn close_paren(t: &[(usize, String)], open: usize) -> usize {
    let mut depth = 0;
    for (k, w) in t.iter().enumerate().skip(open) {
        depth += i32::from(w.1 == "(") - i32::from(w.1 == ")");
        if depth == 0 {
            return k + 1;
        }
    }
    t.len()
}

/// Every known table (one in `OWNERS`) that SQL in the source's string literals reads
/// (FROM, JOIN), writes (INSERT/REPLACE INTO, UPDATE, DELETE FROM) or changes the schema
/// of (CREATE/DROP/ALTER TABLE, CREATE INDEX/TRIGGER … ON). A literal counts as SQL only
/// if it has an uppercase SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, DROP or REPLACE.
fn sql_tables(src: &str) -> Vec<(usize, String, Access)> {
    const VERBS: &[&str] = &[
        "SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "ALTER", "DROP", "REPLACE",
    ];
    let mut out = Vec::new();
    for (line, lit) in strip(src).1 {
        let t = sql_words(&lit);
        if !t.iter().any(|w| VERBS.contains(&w.1.as_str())) {
            continue;
        }
        let up = |k: usize| t.get(k).map_or(String::new(), |w| w.1.to_ascii_uppercase());
        let mut hit = |k: usize, a: Access| {
            if let Some((l, w)) = t
                .get(k)
                .filter(|w| owner(&w.1.to_ascii_lowercase()).is_some())
            {
                out.push((line + l, w.to_ascii_lowercase(), a));
            }
        };
        for i in 0..t.len() {
            match up(i).as_str() {
                "FROM" if i > 0 && up(i - 1) == "DELETE" => hit(i + 1, Access::Write),
                "FROM" => {
                    let mut k = i + 1;
                    loop {
                        hit(k, Access::Read);
                        k += 1;
                        if up(k) == "(" {
                            k = close_paren(&t, k); // a table-valued function's arguments
                        }
                        k += usize::from(up(k) == "AS");
                        k += usize::from(
                            is_name(&up(k)) && !SQL_CLAUSES.split_whitespace().any(|w| w == up(k)),
                        );
                        if up(k) != "," {
                            break;
                        }
                        k += 1;
                    }
                }
                "JOIN" => hit(i + 1, Access::Read),
                "INTO" => hit(i + 1, Access::Write),
                "UPDATE" if up(i + 1) == "OR" => hit(i + 3, Access::Write),
                "UPDATE" => hit(i + 1, Access::Write),
                "TABLE" if up(i + 1) == "IF" => {
                    hit(i + 3 + usize::from(up(i + 2) == "NOT"), Access::Schema)
                }
                "TABLE" => hit(i + 1, Access::Schema),
                "INDEX" | "TRIGGER" => {
                    let on = (i + 1..t.len())
                        .take_while(|&k| up(k) != ";")
                        .find(|&k| up(k) == "ON");
                    if let Some(k) = on {
                        hit(k + 1, Access::Schema)
                    }
                }
                _ => {}
            }
        }
    }
    out
}

/// The words of a file's opening `//!` comment.
fn header_words(src: &str) -> BTreeSet<String> {
    let lines = src
        .lines()
        .map(str::trim)
        .skip_while(|l| l.is_empty())
        .take_while(|l| l.starts_with("//!"));
    lines
        .flat_map(|l| {
            l.split(|c: char| !is_ident(c))
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The cycles that show every edge lying on one: for each edge a → b, the shortest way
/// back from b to a, as a path `[a, b, …, a]` rotated to start at its smallest module.
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    let shortest = |from: &String, to: &String| -> Option<Vec<String>> {
        let mut prev = BTreeMap::from([(from, from)]);
        let mut queue = VecDeque::from([from]);
        while let Some(n) = queue.pop_front() {
            if n == to {
                let mut path = vec![n.clone()];
                while path.last() != Some(from) {
                    path.push(prev[path.last().unwrap()].clone());
                }
                return Some(path.into_iter().rev().collect());
            }
            for m in graph.get(n).into_iter().flatten() {
                if !prev.contains_key(m) {
                    prev.insert(m, n);
                    queue.push_back(m);
                }
            }
        }
        None
    };
    let mut found = BTreeSet::new();
    for (a, bs) in graph {
        for back in bs.iter().filter_map(|b| shortest(b, a)) {
            let mut cycle: Vec<String> = std::iter::once(a.clone()).chain(back).collect();
            cycle.pop();
            let smallest = (0..cycle.len()).min_by_key(|&k| &cycle[k]).unwrap();
            cycle.rotate_left(smallest);
            cycle.push(cycle[0].clone());
            found.insert(cycle);
        }
    }
    found.into_iter().collect()
}

/// A file's top-level module (`src/web/tus.rs` → `web`; `src/lib.rs` → `lib`) and how
/// many `super`s reach the crate root from its top level.
fn module_of(path: &str) -> (String, usize) {
    let parts: Vec<&str> = path.trim_start_matches("src/").split('/').collect();
    let name = parts[0].trim_end_matches(".rs").to_string();
    let crate_root = parts.len() == 1 && (name == "lib" || name == "main");
    let depth = parts.len() - usize::from(parts.last() == Some(&"mod.rs"));
    (name, if crate_root { 0 } else { depth })
}

/// Runs the four checks over `(path, source)` pairs, paths like `src/web/tus.rs`, and
/// returns every violation as (kind, `file:line: what — why`).
fn check(files: &[(String, String)]) -> Vec<(&'static str, String)> {
    let mut v = Vec::new();
    let mut say =
        |kind, at: &str, what: String, why: &str| v.push((kind, format!("{at}: {what} — {why}")));
    let module_names = files.iter().map(|f| module_of(&f.0).0);
    let modules: BTreeSet<String> = module_names.filter(|m| m != "lib").collect();
    for m in modules.iter().filter(|m| layer(m).is_none()) {
        let at = &files.iter().find(|f| &module_of(&f.0).0 == m).unwrap().0;
        let why = "add it to the layer table in tests/layout.rs (and docs/architecture.md)";
        say(
            "unknown module",
            at,
            format!("module `{m}` is in no layer"),
            why,
        );
    }
    let mut edges: BTreeMap<(String, String), String> = BTreeMap::new();
    for (path, src) in files {
        let (m, depth) = module_of(path);
        let refs = if m == "lib" {
            vec![]
        } else {
            references(src, depth)
        };
        for (line, t) in refs.into_iter().filter(|r| r.1 != m) {
            let at = format!("{path}:{line}");
            if !modules.contains(&t) {
                let why = "lib.rs only declares modules; import it from its module";
                say(
                    "root item",
                    &at,
                    format!("`{m}` names `crate::{t}`, which is no module"),
                    why,
                );
                continue;
            }
            edges.entry((m.clone(), t.clone())).or_insert(at.clone());
            let (Some((lm, nm)), Some((lt, nt))) = (layer(&m), layer(&t)) else {
                continue;
            };
            let what = format!("`{m}` ({nm}) imports `{t}` ({nt})");
            if lt > lm {
                say("import", &at, what, "imports only point down");
            } else if lt == lm && !SAME_LAYER_OK.contains(&nm) {
                say(
                    "import",
                    &at,
                    what,
                    &format!("{nm} modules never import each other"),
                );
            }
        }
        if !WEB_MODULES.contains(&m.as_str()) {
            for (line, name) in web_crates(src) {
                let why = "only web/ and app/ name axum, axum_extra, tower, tower_http or maud";
                say(
                    "web crate",
                    &format!("{path}:{line}"),
                    format!("`{m}` names `{name}`"),
                    why,
                );
            }
        }
        let (reads_rs, header) = (path.ends_with("/reads.rs"), header_words(src));
        let mut unlisted = BTreeSet::new();
        for (line, t, access) in sql_tables(src) {
            let (o, at) = (owner(&t).unwrap(), format!("{path}:{line}"));
            match access {
                Access::Read if reads_rs && !header.contains(&t) && unlisted.insert(t.clone()) => {
                    let what = format!("`{m}` reads `{t}`, which the opening //! does not name");
                    say("sql", &at, what, "a reads.rs names every table it reads")
                }
                Access::Read if !reads_rs && o != m => {
                    let what = format!("`{m}` reads `{t}`, owned by `{o}`");
                    say(
                        "sql",
                        &at,
                        what,
                        "read through the owner, or join in a reads.rs",
                    )
                }
                Access::Write if o != m => {
                    let what = format!("`{m}` writes `{t}`, owned by `{o}`");
                    say("sql", &at, what, "only the owner writes a table")
                }
                Access::Schema if o != m && m != "db" => {
                    let what = format!("`{m}` changes the schema of `{t}`");
                    say("sql", &at, what, "schema changes live in db's migrations")
                }
                _ => {}
            }
        }
    }
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (a, b) in edges.keys() {
        graph.entry(a.clone()).or_default().insert(b.clone());
    }
    for cycle in cycles(&graph) {
        let step = |w: &[String]| {
            format!(
                "{} → {} at {}",
                w[0],
                w[1],
                edges[&(w[0].clone(), w[1].clone())]
            )
        };
        let steps: Vec<String> = cycle.windows(2).map(step).collect();
        let why = format!("break one of: {}", steps.join("; "));
        say(
            "cycle",
            &cycle.join(" → "),
            "modules import each other".into(),
            &why,
        );
    }
    v
}

fn read_tree(dir: &Path, rel: &str, out: &mut Vec<(String, String)>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut paths: Vec<_> = entries.map(|e| e.unwrap().path()).collect();
    paths.sort();
    for p in paths {
        let name = format!("{rel}/{}", p.file_name().unwrap().to_string_lossy());
        if p.is_dir() {
            read_tree(&p, &name, out)
        } else if name.ends_with(".rs") {
            out.push((name, std::fs::read_to_string(&p).unwrap()))
        }
    }
}

#[test]
fn layout_is_layered() {
    let root = std::env::var("CARGO_MANIFEST_DIR").ok();
    let root = root
        .or(option_env!("CARGO_MANIFEST_DIR").map(String::from))
        .unwrap_or(".".into());
    let mut files = Vec::new();
    read_tree(&Path::new(&root).join("src"), "src", &mut files);
    assert!(
        files.iter().any(|f| f.0 == "src/lib.rs"),
        "no src/lib.rs under {root}"
    );
    let mut v = check(&files);
    v.sort_by_cached_key(|(kind, m)| {
        // by kind, file, then line as a number
        let at = m.split(": ").next().unwrap_or("");
        let (file, line) = at
            .rsplit_once(':')
            .and_then(|(f, l)| Some((f, l.parse().ok()?)))
            .unwrap_or((at, 0usize));
        (*kind, file.to_string(), line, m.clone())
    });
    let mut counts = BTreeMap::new();
    for (kind, _) in &v {
        *counts.entry(*kind).or_insert(0) += 1;
    }
    let counts: Vec<String> = counts.iter().map(|(k, n)| format!("{n} {k}")).collect();
    let list: Vec<String> = v.iter().map(|(k, m)| format!("  [{k}] {m}")).collect();
    let summary = format!("{} violations: {}", v.len(), counts.join(", "));
    assert!(
        v.is_empty(),
        "src/ is not layered ({summary}); see docs/architecture.md\n{}\n",
        list.join("\n")
    );
}

fn files(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(p, s)| (p.to_string(), s.to_string()))
        .collect()
}

fn owned(list: &[(usize, &str)]) -> Vec<(usize, String)> {
    list.iter().map(|(l, s)| (*l, s.to_string())).collect()
}

#[test]
fn comments_and_strings_are_not_references() {
    let src = r##"// crate::a
/// crate::b
//! crate::c
/* crate::d /* nested */ crate::e */
let s = "crate::f \" crate::g";
let r = r#"crate::h "quoted" "#; let q = '"'; let e = '\''; fn f<'a>(x: &'a str) {}
use crate::real;"##;
    assert_eq!(references(src, 1), owned(&[(7, "real")]));
    assert_eq!(strip(src).1.len(), 2);
}

#[test]
fn grouped_uses_and_super_climbing_to_the_root() {
    let src = r#"use crate::{
    a,
    b::c,
    d::{e, f},
    self,
};
use super::sibling;
fn f() { crate::g::h(); crate::m!(); }
mod tests { use super::*; use super::super::db::X; }"#;
    let want = owned(&[
        (2, "a"),
        (3, "b"),
        (4, "d"),
        (7, "sibling"),
        (8, "g"),
        (9, "db"),
    ]);
    assert_eq!(references(src, 1), want);
    assert!(
        references("use super::sibling;", 2).is_empty(),
        "src/web/tus.rs: super is web"
    );
}

#[test]
fn sql_reads_writes_and_schema_are_found() {
    let src = r##"const Q: &str = r#"
    SELECT p.id FROM photos p
    JOIN "renders" r ON r.photo_id = p.id, creators
"#;
let w = "DELETE FROM uploads WHERE id = ?";
let x = "INSERT OR REPLACE INTO \"sync_meta\" (key) VALUES ('from event')";
let y = "UPDATE OR IGNORE event SET name = ?; CREATE UNIQUE INDEX i ON attendees (pass)";
let z = "SELECT a FROM pragma_table_info('photos'), attendance AS t, notices WHERE 1";
let d = "DROP TABLE IF EXISTS renders; CREATE TABLE IF NOT EXISTS sync_photos (id)";"##;
    use Access::*;
    let want = [
        (2, "photos", Read),
        (3, "renders", Read),
        (5, "uploads", Write),
        (6, "sync_meta", Write),
        (7, "event", Write),
        (7, "attendees", Schema),
        (8, "attendance", Read),
        (8, "notices", Read),
        (9, "renders", Schema),
        (9, "sync_photos", Schema),
    ];
    assert_eq!(sql_tables(src), want.map(|(l, t, a)| (l, t.to_string(), a)));
}

#[test]
fn prose_is_not_sql() {
    let src = r#"let m = "removed from event photos"; // SELECT * FROM photos
        let n = format!("select from creators {x}"); let o = "join photos into UPDATE";"#;
    assert_eq!(
        sql_tables(src),
        [(2, "photos".to_string(), Access::Read)],
        "only the last is SQL-like"
    );
}

#[test]
fn the_guard_can_fail() {
    let v = check(&files(&[
        ("src/lib.rs", "pub mod web; use crate::web::Router;"),
        ("src/web/mod.rs", "use axum::Router; use crate::ftp::X;"),
        ("src/ftp/mod.rs", "use crate::sync;"),
        ("src/sync/mod.rs", "use crate::delivery;"),
        ("src/delivery/mod.rs", ""),
        ("src/creators.rs", "//! ok\nuse crate::event; use maud::html;\nfn f() { c.execute(\"INSERT INTO photos (id) VALUES (1)\") }"),
        ("src/event.rs", "use crate::creators::Creator; use crate::web;\nuse crate::AppState;"),
        ("src/ingest/reads.rs", "//! Reads photos joined with renders.\nconst Q: &str = \"SELECT * FROM photos JOIN renders JOIN attendees\";"),
        ("src/ingest/mod.rs", "const Q: &str = \"SELECT * FROM renders\";"),
        ("src/db/mod.rs", "const M: &str = \"CREATE TABLE photos (id); INSERT INTO audit_log (a) VALUES (1)\";"),
        ("src/previews.rs", ""),
    ]));
    let expect = [
        ("unknown module", "src/previews.rs: module `previews` is in no layer"),
        ("import", "src/web/mod.rs:1: `web` (edge) imports `ftp` (edge) — edge modules never import each other"),
        ("import", "src/sync/mod.rs:1: `sync` (engine) imports `delivery` (engine)"),
        ("import", "src/event.rs:1: `event` (domain) imports `web` (edge) — imports only point down"),
        ("root item", "src/event.rs:2: `event` names `crate::AppState`, which is no module"),
        ("web crate", "src/creators.rs:2: `creators` names `maud`"),
        ("sql", "src/creators.rs:3: `creators` writes `photos`, owned by `ingest`"),
        ("sql", "src/ingest/reads.rs:2: `ingest` reads `attendees`, which the opening //! does not name"),
        ("sql", "src/ingest/mod.rs:1: `ingest` reads `renders`, owned by `derivatives`"),
        ("cycle", "creators → event → creators: modules import each other — break one of: creators → event at src/creators.rs:2; event → creators at src/event.rs:1"),
    ];
    for (kind, msg) in expect {
        assert!(
            v.iter().any(|(k, m)| *k == kind && m.starts_with(msg)),
            "missing [{kind}] {msg} in {v:#?}"
        );
    }
    assert_eq!(v.len(), expect.len(), "unexpected violations: {v:#?}");
}

#[test]
fn cycles_are_paths_back_to_the_start() {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (a, b) in [
        ("a", "b"),
        ("b", "a"),
        ("b", "c"),
        ("c", "d"),
        ("d", "b"),
        ("d", "e"),
    ] {
        g.entry(a.to_string()).or_default().insert(b.to_string());
    }
    let want = [vec!["a", "b", "a"], vec!["b", "c", "d", "b"]];
    assert_eq!(
        cycles(&g),
        want.map(|c| c.into_iter().map(String::from).collect::<Vec<_>>())
    );
}
