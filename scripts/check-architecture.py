#!/usr/bin/env python3
"""Checks docs/ARCHITECTURE.md against Package.swift's real target graph,
and that no file of Sources/NotifyServer/Services builds an `RPCError(`
(services throw their layer's errors; ErrorMapping alone maps them).

The module table must have one row per target (test targets aside) whose
last cell, "depends on", lists exactly that target's dependencies in
Package.swift, each in backticks (targets and products alike; text outside
backticks is free). The module graph between the `module-graph` markers must
be the one this script draws from Package.swift.

Usage:
  scripts/check-architecture.py            check; exit 1 with what to fix
  scripts/check-architecture.py --write    redraw the graph in the doc
  scripts/check-architecture.py --package-json FILE   use a saved
      `swift package dump-package` instead of running it

The manifest is read with `swift package --scratch-path <tmp> dump-package`,
so that the check never waits for (or blocks) a build using .build.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(ROOT, "docs", "ARCHITECTURE.md")
BEGIN = "<!-- module-graph: drawn by scripts/check-architecture.py --write; do not edit by hand -->"
END = "<!-- end of module-graph -->"


def dump_package(path):
    if path:
        with open(path) as f:
            return json.load(f)
    with tempfile.TemporaryDirectory() as scratch:
        out = subprocess.run(
            ["swift", "package", "--package-path", ROOT, "--scratch-path", scratch, "dump-package"],
            check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def targets(package):
    """{target: set of dependency names}, test targets left out."""
    graph = {}
    for target in package["targets"]:
        if target["type"] == "test":
            continue
        deps = set()
        for dep in target.get("dependencies", []):
            for kind in ("byName", "target", "product"):
                if kind in dep:
                    deps.add(dep[kind][0])
        graph[target["name"]] = deps
    return graph


def table_rows(doc):
    """{module: (line number, set of dependency names)} from the module table."""
    rows = {}
    lines = doc.splitlines()
    start = next((i for i, line in enumerate(lines) if re.match(r"\|\s*module\s*\|", line)), None)
    if start is None:
        return None
    for number in range(start + 2, len(lines)):
        line = lines[number]
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        names = re.findall(r"`([^`]+)`", cells[0])
        if not names:
            continue
        rows[names[0]] = (number + 1, set(re.findall(r"`([^`]+)`", cells[-1])))
    return rows


def internal_edges(graph):
    """Every direct dependency between this package's targets: all of them,
    so that a layer that reaches past the one below it shows."""
    return sorted((name, dep) for name, deps in graph.items() for dep in deps if dep in graph)


def drawing(graph):
    lines = ["```mermaid", "graph TD"]
    lines += [f"  {name} --> {dep}" for name, dep in internal_edges(graph)]
    lines += [f"  {name}" for name in sorted(graph) if not any(name in edge for edge in internal_edges(graph))]
    lines.append("```")
    return "\n".join(lines)


def services_building_rpc_errors():
    """Lines of Sources/NotifyServer/Services that build an RPCError themselves."""
    folder = os.path.join("Sources", "NotifyServer", "Services")
    return [f"{folder}/{name}:{number}: builds an RPCError; throw a ServiceError and map it in ErrorMapping"
            for name in sorted(os.listdir(os.path.join(ROOT, folder))) if name.endswith(".swift")
            for number, line in enumerate(open(os.path.join(ROOT, folder, name)), 1) if "RPCError(" in line]


def cell(deps, graph):
    """A "depends on" cell: this package's targets first, then other packages' products."""
    ordered = sorted(deps, key=lambda dep: (dep not in graph, dep))
    return ", ".join(f"`{dep}`" for dep in ordered) or "(none)"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--package-json")
    args = parser.parse_args()
    graph = targets(dump_package(args.package_json))
    with open(DOC) as f:
        doc = f.read()
    problems = []
    where = "docs/ARCHITECTURE.md"

    rows = table_rows(doc)
    if rows is None:
        problems.append(f"{where} has no module table (a header row starting with '| module |')")
        rows = {}
    for name in sorted(graph):
        if name not in rows:
            problems.append(
                f"{where}: the module table has no row for target `{name}`; add one:\n"
                f"    | `{name}` | <what it is, and why it is a layer of its own> | {cell(graph[name], graph)} |")
            continue
        line, listed = rows[name]
        if listed != graph[name]:
            missing = sorted(graph[name] - listed)
            extra = sorted(listed - graph[name])
            detail = "; ".join(part for part in (
                f"add {', '.join(f'`{d}`' for d in missing)}" if missing else "",
                f"remove {', '.join(f'`{d}`' for d in extra)}" if extra else "") if part)
            problems.append(
                f"{where}:{line}: the row of `{name}` does not list its dependencies in Package.swift: {detail}.\n"
                f"    Its last cell should read: {cell(graph[name], graph)}")
    for name in sorted(set(rows) - set(graph)):
        problems.append(f"{where}:{rows[name][0]}: the row of `{name}` names no target of Package.swift: remove it, or fix its name")

    expected = drawing(graph)
    match = re.search(re.escape(BEGIN) + r"\n(.*?)\n" + re.escape(END), doc, re.S)
    if args.write:
        block = f"{BEGIN}\n{expected}\n{END}"
        doc = doc.replace(match.group(0), block) if match else doc
        with open(DOC, "w") as f:
            f.write(doc)
        if not match:
            problems.append(f"{where} has no module-graph markers to draw between; add these two lines where it goes:\n    {BEGIN}\n    {END}")
    elif not match:
        problems.append(f"{where} has no module graph between its markers:\n    {BEGIN}\n    {END}")
    elif match.group(1) != expected:
        problems.append(f"{where}: the module graph is not Package.swift's: run scripts/check-architecture.py --write")

    problems += services_building_rpc_errors()
    if problems:
        print("architecture check failed\n", file=sys.stderr)
        for problem in problems:
            print("- " + problem, file=sys.stderr)
        return 1
    print(f"docs/ARCHITECTURE.md agrees with Package.swift ({len(graph)} targets, {len(internal_edges(graph))} edges drawn)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
