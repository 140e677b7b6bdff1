#!/usr/bin/env python3
"""test_io_calls.py — io/'s files call and include one another without a
loop: the model-file reader is layered (tree, values, schema, layers,
training sections, the probe build, the top level, the width rewrite), so
each file can be read knowing only the ones below it. A call is a use of
a non-static function defined in another io/*.c file; an include is a
#include "..." between io/ files. Prints the edges and any loop (a
strongly connected group of more than one file); fails on a loop.

usage: test_io_calls.py SOURCE_ROOT
"""
import collections
import glob
import os
import re
import sys


def definitions(files):
    """Non-static functions: name -> the file defining it."""
    defs = {}
    pattern = re.compile(r"^(?!static)[a-z_][\w \*]*?\b(nb_\w+)\s*\([^;{]*\)\s*\{", re.M)
    for f in files:
        for m in pattern.finditer(open(f, encoding="utf-8").read()):
            defs[m.group(1)] = f
    return defs


def edges(root):
    files = sorted(glob.glob(os.path.join(root, "io", "*.c")))
    defs = definitions(files)
    calls = collections.defaultdict(set)
    for f in files:
        text = re.sub(r"/\*.*?\*/", "", open(f, encoding="utf-8").read(), flags=re.S)
        for name, where in defs.items():
            if where != f and re.search(r"\b" + name + r"\s*\(", text):
                calls[f].add(where)
    includes = collections.defaultdict(set)
    for f in glob.glob(os.path.join(root, "io", "*.[ch]")):
        for m in re.finditer(r'#include "([^"/]+)"', open(f, encoding="utf-8").read()):
            includes[f].add(os.path.join(root, "io", m.group(1)))
    return calls, includes


def loops(graph):
    """Tarjan's strongly connected components of more than one node."""
    index, low, stack, on, found = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(os.path.basename(x) for x in group))

    for v in sorted(set(graph) | {w for ws in graph.values() for w in ws}):
        if v not in index:
            visit(v)
    return found


def main():
    root = sys.argv[1]
    calls, includes = edges(root)
    bad = 0
    for what, graph in (("calls", calls), ("includes", includes)):
        for f in sorted(graph):
            print(f"{what}: {os.path.basename(f)} -> "
                  + ", ".join(sorted(os.path.basename(w) for w in graph[f])))
        for group in loops(graph):
            bad += 1
            print(f"not ok - io/ {what} loop among {', '.join(group)}")
    if not calls:
        print("not ok - no calls found: the scan is broken")
        bad += 1
    print(f"io calls: {bad} loop(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
