#!/usr/bin/env python3
"""The module graph of each crate, drawn from the code's own `crate::` and `super::` paths.

Every `.rs` file under a crate's `src/` is one node (`mod.rs` is its folder's module). A file has
an edge to another when it names a path into it: `use crate::store::Store;`,
`crate::bus::publish(..)`, `use super::queue::Queues;`, a grouped `use crate::{a::B, c::D};`, or a child module named
without a prefix (`audit::list` in `api/mod.rs`).
A path is resolved to the longest prefix that is a file, so `crate::store::manager::Write` points
at `store/manager.rs`. Tests inside a file (`#[cfg(test)] mod tests`) are left out: they may reach
anywhere.

Cycles are the strongly connected components with more than one file. The house rule is that no
component is wider than three files. The server crate's top-level modules also sit in layers
(`LAYERS`, as docs/architecture.md draws them): a file may import from its own layer and the
ones below, never from a layer above. `--check` exits 1 on a cycle too wide or an import that
goes up.

    python3 .ci/modgraph.py                # every crate: components, widest first
    python3 .ci/modgraph.py --check        # CI: fail on a component wider than three files
    python3 .ci/modgraph.py --dot > g.dot  # the whole graph for graphviz
"""

import argparse
import re
import sys
from pathlib import Path

CRATES = {"hive": "src", "hive-actors": "actors/src", "hive-stats": "stats/src"}
LIMIT = 3

# The server crate's layers, top (the binary and its tools) to bottom (the leaves), by top-level
# module. `context` is the services bundle of the middle layer: it holds the store's pool, the bus
# and the agent registry, and the workers read it.
LAYERS = {
    "hive": [
        ("binary and tools", ["cli", "commands", "app", "telemetry", "loadtest", "gate", "evaluation"]),
        ("HTTP", ["api"]),
        ("orchestration", ["managers", "plugins"]),
        ("workers and services", ["agents", "store", "cluster", "bus", "context"]),
        ("published state", ["snapshots"]),
        ("leaves", ["domain", "config", "metrics", "allocator"]),
    ]
}

USE = re.compile(r"\buse\s+((?:crate|super|self)\s*::[^;]*);", re.S)
INLINE = re.compile(r"\b((?:crate|super)(?:\s*::\s*[A-Za-z_][A-Za-z0-9_]*)+)")


def module_of(src: Path, file: Path) -> tuple:
    rel = file.relative_to(src).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return tuple(parts)


def strip_tests(text: str) -> str:
    """Drop `#[cfg(test)] mod name { ... }` blocks and comments."""
    text = re.sub(r"//[^\n]*", "", text)
    out = []
    i = 0
    pattern = re.compile(r"#\[cfg\(test\)\]\s*(?:pub\s+)?mod\s+\w+\s*\{")
    while True:
        m = pattern.search(text, i)
        if not m:
            out.append(text[i:])
            break
        out.append(text[i : m.start()])
        depth = 1
        j = m.end()
        while j < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        i = j
    return "".join(out)


def expand(tree: str) -> list:
    """`crate::{a::B, c::{d, e}}` → [crate::a::B, crate::c::d, crate::c::e]."""
    tree = re.sub(r"\s+", "", tree)
    brace = tree.find("{")
    if brace < 0:
        return [tree]
    prefix = tree[:brace]
    inner = tree[brace + 1 : tree.rfind("}")]
    items, depth, start = [], 0, 0
    for k, ch in enumerate(inner):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append(inner[start:k])
            start = k + 1
    items.append(inner[start:])
    paths = []
    for item in items:
        if item:
            paths.extend(expand(prefix + item))
    return paths


def resolve(path: str, here: tuple, is_dir: bool, modules: set):
    parts = [p for p in re.sub(r"\s+", "", path).split("::") if p]
    if parts[0] == "crate":
        base, rest = [], parts[1:]
    else:
        # `super` from a file's own module: a `mod.rs` is its folder, so its parent is one up.
        base = list(here)
        rest = parts
        while rest and rest[0] in ("super", "self"):
            if rest[0] == "super":
                base = base[:-1]
            rest = rest[1:]
    best = None
    for n in range(len(rest), -1, -1):
        candidate = tuple(base + rest[:n])
        if candidate in modules:
            best = candidate
            break
    return best


def graph(src: Path):
    files = {module_of(src, f): f for f in sorted(src.rglob("*.rs"))}
    # Files that are binaries' roots sit apart (`main.rs` beside `lib.rs` is its own crate).
    files = {m: f for m, f in files.items() if f.name != "main.rs"}
    modules = set(files)
    edges = {m: set() for m in modules}
    for m, f in files.items():
        text = strip_tests(f.read_text())
        paths = []
        for tree in USE.findall(text):
            paths.extend(expand(tree))
        paths.extend(INLINE.findall(text))
        # A module names its own children without a prefix: `audit::list` in `api/mod.rs`.
        for child in (c for c in modules if len(c) == len(m) + 1 and c[: len(m)] == m):
            if re.search(r"(?<![:\w])" + child[-1] + r"::", text):
                paths.append("::".join(("crate",) + child))
        for p in paths:
            target = resolve(p, m, f.name == "mod.rs", modules)
            if target is not None and target != m and target != ():
                # A path into a module's child is an edge to the child, not to every ancestor.
                edges[m].add(target)
    return modules, edges


def components(modules, edges):
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
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
            out.append(comp)

    sys.setrecursionlimit(10000)
    for v in sorted(modules):
        if v not in index:
            visit(v)
    return sorted((c for c in out if len(c) > 1), key=len, reverse=True)


def layer_violations(crate, modules, edges):
    """Imports from a file to a layer above its own."""
    layers = LAYERS.get(crate)
    if not layers:
        return []
    rank = {top: len(layers) - i for i, (_, tops) in enumerate(layers) for top in tops}
    wrong = []
    for m in sorted(modules):
        for t in sorted(edges[m]):
            if not m or not t:
                continue
            if m[0] not in rank or t[0] not in rank:
                wrong.append((m, t, "a top-level module in no layer"))
            elif rank[t[0]] > rank[m[0]]:
                wrong.append((m, t, "goes up a layer"))
    return wrong


def name(m: tuple) -> str:
    return "::".join(m) if m else "lib"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--dot", action="store_true")
    args = parser.parse_args()
    root = Path(__file__).resolve().parent.parent
    wide = False
    for crate, src in CRATES.items():
        modules, edges = graph(root / src)
        if args.dot:
            print(f'digraph "{crate}" {{')
            for m in sorted(modules):
                for t in sorted(edges[m]):
                    print(f'  "{name(m)}" -> "{name(t)}";')
            print("}")
            continue
        comps = components(modules, edges)
        n_edges = sum(len(e) for e in edges.values())
        widest = len(comps[0]) if comps else 1
        print(f"{crate}: {len(modules)} files, {n_edges} edges, widest cycle {widest} files")
        for c in comps:
            flag = "  TOO WIDE" if len(c) > LIMIT else ""
            print(f"  {len(c)}: {', '.join(sorted(name(m) for m in c))}{flag}")
            wide |= len(c) > LIMIT
        for m, t, why in layer_violations(crate, modules, edges):
            print(f"  {name(m)} -> {name(t)}: {why}  WRONG LAYER")
            wide = True
    if args.check and wide:
        print(f"a cycle is wider than {LIMIT} files, or an import goes up a layer", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
