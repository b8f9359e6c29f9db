#!/usr/bin/env python3
"""The workspace's structure check, run by scripts/test.sh.

Fails (exit 1, one line per finding) when
  * a crate's modules import each other in a cycle (`use crate::a` in b and
    `use crate::b` in a, or any longer loop), counting `use crate::…`,
    `super::…` and `self::…` paths outside `#[cfg(test)]` modules; or
  * a function body is longer than MAX_FN_LINES lines.

A module is a file: `src/a/b.rs` and `src/a/b/mod.rs` are `a::b`. An item
path `crate::a::b::C` is an edge to the longest module prefix that exists
(`a::b`). Declaring a child (`mod b;`) is not an edge; using it is.

Usage: scripts/check-structure.py [ROOT]    (default: the repository root)
       scripts/check-structure.py --self-test (the check finds what it must)
"""

import os
import re
import sys

MAX_FN_LINES = 120
SKIP_DIRS = {"target", ".git", "node_modules", "__pycache__"}


def strip_code(text):
    """The text with comments, string and char literals blanked out (newlines
    kept, so line numbers still match)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == "r" and re.match(r'r#*"', text[i:i + 12]) and not (i and (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.match(r'r(#*)"', text[i:])
            end = '"' + m.group(1)
            j = text.find(end, i + len(m.group(0)))
            j = n if j < 0 else j + len(end)
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            j += 1
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == "'":
            # A char literal ('x', '\n', '\u{1F600}') or a lifetime ('a).
            m = re.match(r"'(\\u\{[0-9a-fA-F]+\}|\\.|[^\\'\n])'", text[i:])
            if m:
                out.append(" " * len(m.group(0)))
                i += len(m.group(0))
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def blank_test_modules(code):
    """Blank `#[cfg(test)] mod x { … }` blocks: tests may use their parent."""
    while True:
        m = re.search(r"#\[cfg\(test\)\]\s*(pub(\([^)]*\))?\s+)?mod\s+\w+\s*\{", code)
        if not m:
            return code
        start, j, depth = m.start(), m.end(), 1
        while j < len(code) and depth:
            depth += {"{": 1, "}": -1}.get(code[j], 0)
            j += 1
        code = code[:start] + re.sub(r"[^\n]", " ", code[start:j]) + code[j:]


def inline_super_as_self(code):
    """Inside an inline `mod x { … }` of a file, `super::` is the file's own
    module: rewrite it to `self::` so it is not taken for the parent."""
    out, pos = [], 0
    for m in re.finditer(r"\bmod\s+\w+\s*\{", code):
        if m.start() < pos:
            continue
        j, depth = m.end(), 1
        while j < len(code) and depth:
            depth += {"{": 1, "}": -1}.get(code[j], 0)
            j += 1
        out.append(code[pos:m.end()])
        out.append(re.sub(r"\bsuper(\s*::)", r"self \1", code[m.end():j]))
        pos = j
    out.append(code[pos:])
    return "".join(out)


def crate_modules(src):
    """{module path tuple: file} for every .rs file under a crate's src/."""
    mods = {}
    for dirpath, dirs, files in os.walk(src):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS]
        for f in files:
            if not f.endswith(".rs"):
                continue
            rel = os.path.relpath(os.path.join(dirpath, f), src)
            parts = rel[:-3].split(os.sep)
            if parts[-1] == "mod":
                parts = parts[:-1]
            if parts in (["lib"], ["main"]):
                parts = []
            mods[tuple(parts)] = os.path.join(dirpath, f)
    return mods


def use_paths(code):
    """Every path that starts with crate::, super:: or self::, with use-tree
    braces expanded one level (`use crate::{a, b::c}`)."""
    paths = []
    for m in re.finditer(r"\b(crate|super|self)((?:\s*::\s*(?:\w+|\{[^;]*?\}))+)", code):
        head, rest = m.group(1), re.sub(r"\s+", "", m.group(2))
        brace = rest.find("{")
        if brace >= 0:
            prefix = rest[:brace].strip(":")
            inner = rest[brace + 1:rest.rfind("}")]
            depth, cur, items = 0, "", []
            for ch in inner:
                if ch == "," and depth == 0:
                    items.append(cur)
                    cur = ""
                    continue
                depth += {"{": 1, "}": -1}.get(ch, 0)
                cur += ch
            items.append(cur)
            for it in items:
                it = it.split("{")[0].strip(":")
                segs = [s for s in (prefix.split("::") + it.split("::")) if s]
                paths.append((head, segs))
        else:
            paths.append((head, [s for s in rest.split("::") if s]))
    return paths


def child_paths(code, mods, here):
    """Paths that start with the name of a child module of `here` (Rust
    2018 lets `use sql::lex;` or `sql::lex(…)` name the child `sql`)."""
    children = {m[-1] for m in mods if len(m) == len(here) + 1 and m[:-1] == here}
    paths = []
    for m in re.finditer(r"(?<![\w:])([a-z_][a-z0-9_]*)((?:\s*::\s*(?:\w+|\{[^;]*?\}))+)", code):
        if m.group(1) in children and m.group(1) not in ("crate", "super", "self"):
            for head, segs in use_paths("self::" + m.group(1) + m.group(2)):
                paths.append((head, segs))
    return paths


def resolve(mods, here, head, segs):
    """The module an import points at, or None (external or same module)."""
    if head == "crate":
        base = ()
    elif head == "self":
        base = here
    else:
        base = here[:-1]
        while segs and segs[0] == "super":
            base, segs = base[:-1], segs[1:]
    best = None
    for k in range(len(segs), -1, -1):
        cand = base + tuple(segs[:k])
        if cand in mods:
            best = cand
            break
    return best


def find_cycles(mods):
    graph = {m: set() for m in mods}
    for m, path in mods.items():
        with open(path, encoding="utf-8") as fh:
            code = inline_super_as_self(blank_test_modules(strip_code(fh.read())))
        if m == ():
            # The crate root's `pub use` lines are its public face, not a
            # dependency: `pub use lines::FileLine;` beside a `lines` that
            # says `crate::Failure` is not a loop.
            code = re.sub(r"\bpub(\([^)]*\))?\s+use\s[^;]*;", lambda x: re.sub(r"[^\n]", " ", x.group(0)), code)
        for head, segs in use_paths(code) + child_paths(code, mods, m):
            target = resolve(mods, m, head, segs)
            if target is None or target == m:
                continue
            # A module using its own ancestor's re-exports is normal only
            # when the ancestor does not use it back; the SCC test decides.
            graph[m].add(target)
    # Tarjan's strongly connected components.
    index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(comp)

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            visit(v)
    return sccs, graph


FN_RE = re.compile(r"\bfn\s+(\w+)")


def long_functions(path):
    with open(path, encoding="utf-8") as fh:
        code = strip_code(fh.read())
    found = []
    for m in FN_RE.finditer(code):
        # The body starts at the first `{` after the signature, unless a `;`
        # (a declaration in a trait) comes first.
        j = m.end()
        depth_paren = 0
        while j < len(code):
            ch = code[j]
            if ch in "([<":
                depth_paren += 1
            elif ch in ")]>":
                depth_paren -= 1
            elif ch == ";" and depth_paren <= 0:
                j = -1
                break
            elif ch == "{" and depth_paren <= 0:
                break
            j += 1
        if j < 0 or j >= len(code):
            continue
        start_line = code.count("\n", 0, m.start()) + 1
        depth, k = 1, j + 1
        while k < len(code) and depth:
            depth += {"{": 1, "}": -1}.get(code[k], 0)
            k += 1
        end_line = code.count("\n", 0, k) + 1
        length = end_line - start_line + 1
        if length > MAX_FN_LINES:
            found.append((start_line, m.group(1), length))
    return found


def self_test():
    """Run the check on a throw-away workspace holding one cycle, one long
    function and some traps (braces in strings, test modules, a `self::`
    child, a lifetime), and insist on exactly the two real findings."""
    import tempfile
    long_body = "\n".join(f"    let x{i} = {i};" for i in range(MAX_FN_LINES))
    files = {
        "Cargo.toml": "",
        "demo/Cargo.toml": "[package]\nname = \"demo\"\n",
        "demo/src/lib.rs": "mod a;\nmod b;\nmod c;\nmod p;\nmod r;\npub use c::Leaf;\npub use a::A;\n",
        "demo/src/r/mod.rs": "mod s;\npub fn f() { s::g() }\n",
        "demo/src/r/s.rs": "pub fn g() {}\nmod inner {\n    use super::g;\n}\n",
        "demo/src/p/mod.rs": "mod q;\npub struct P;\npub fn f() { q::g() }\n",
        "demo/src/p/q.rs": "use super::P;\npub fn g() {}\n",
        "demo/src/a.rs": "use crate::b::B;\npub struct A;\n",
        "demo/src/b.rs": "use crate::{a::A, c};\npub struct B;\n",
        "demo/src/c.rs": (
            "pub struct Leaf<'a>(&'a str, crate::A);\n"
            "pub fn short() -> &'static str { \"}}}} {{ use crate::a;\" }\n"
            "// use crate::a;\n"
            "#[cfg(test)]\nmod tests {\n    use crate::a::A;\n}\n"
            "pub fn long() {\n" + long_body + "\n}\n"
        ),
    }
    with tempfile.TemporaryDirectory() as root:
        for rel, text in files.items():
            path = os.path.join(root, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(text)
        found = check(root)
    want = ["demo: module import cycle: a <-> b", "demo: module import cycle: p <-> p::q"]
    ok = len(found) == 3 and sorted(found[:2]) == want and "fn long is" in found[2]
    print("\n".join(found) or "(nothing found)", file=sys.stderr)
    print(f"check-structure self-test: {'ok' if ok else 'FAILED'}", file=sys.stderr)
    return 0 if ok else 1


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
    problems = check(os.path.abspath(root))
    for p in problems:
        print(p)
    if problems:
        print(f"check-structure: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print("check-structure: no module cycles, no function over "
          f"{MAX_FN_LINES} lines", file=sys.stderr)
    return 0


def check(root):
    problems = []
    for entry in sorted(os.listdir(root)):
        crate = os.path.join(root, entry)
        if entry in SKIP_DIRS or not os.path.isfile(os.path.join(crate, "Cargo.toml")):
            continue
        src = os.path.join(crate, "src")
        if os.path.isdir(src):
            mods = crate_modules(src)
            sccs, _ = find_cycles(mods)
            for comp in sccs:
                names = sorted("::".join(c) or "<root>" for c in comp)
                problems.append(f"{entry}: module import cycle: {' <-> '.join(names)}")
        for dirpath, dirs, files in os.walk(crate):
            dirs[:] = [d for d in dirs if d not in SKIP_DIRS]
            for f in sorted(files):
                if f.endswith(".rs"):
                    p = os.path.join(dirpath, f)
                    for line, name, length in long_functions(p):
                        rel = os.path.relpath(p, root)
                        problems.append(
                            f"{rel}:{line}: fn {name} is {length} lines (limit {MAX_FN_LINES})"
                        )
    return problems


if __name__ == "__main__":
    sys.exit(main())
