"""Write docs/results.md from the committed benchmark JSON files in benchmarks/results/.

Usage: ``python docs/make_results.py [--check]``; ``--check`` exits 1 when docs/results.md is
out of date instead of rewriting it.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
OUT = ROOT / "docs" / "results.md"


def _table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(" --- " for _ in head) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _num(value: object, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10000 else str(value)
    if isinstance(value, float):
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.{digits}f}"
    return str(value)


def _machine(record: dict) -> str:
    env = record.get("environment") or record.get("machine") or {}
    if not isinstance(env, dict):      # a plain string ("x86_64") in some records
        env = {"cpu": str(env)}
    parts = [env.get("cpu"), env.get("gpu")]
    threads = env.get("threads") or env.get("nproc") or env.get("cpus")
    versions = record.get("versions") or env.get("versions") or {}
    text = ", ".join(p for p in parts if p)
    if threads:
        text += f", {threads} threads"
    if versions:
        text += "; " + ", ".join(f"{k} {v}" for k, v in versions.items() if v)
    return text


def render_bench(record: dict) -> str:
    """A ``symconv-bench --json`` record: one table per suite."""
    settings = record["settings"]
    peers = settings.get("compare") or []
    out = [(f"Command: `{record['command']}` ({record['date'][:10]}; device "
            f"{settings['device']}, {settings['floatX']}, {settings['repeat']} samples)  "),
           f"Machine: {_machine(record)}", ""]
    suites: dict[str, list[dict]] = {}
    for row in record["results"]:
        suites.setdefault(row["suite"], []).append(row)
    for suite, rows in suites.items():
        head = ["case", "batch", "median ms", "images/s", "GFLOP/s"]
        for peer in peers:
            head += [f"{peer} ms", f"symconv/{peer}"]
        body = []
        for row in rows:
            line = [row["case"], _num(row["batch"])]
            if row.get("error"):
                body.append(line + [f"error: {row['error']}"] + [""] * (len(head) - 3))
                continue
            ours = row["symconv"]
            line += [_num(ours["median_ms"], 3), _num(ours["images_per_s"], 0),
                     _num(ours["gflop_per_s"], 1)]
            for peer in peers:
                fig = row["peers"].get(peer)
                line += [_num(fig["median_ms"], 3), _num(fig["ratio"])] if fig else ["-", "-"]
            body.append(line)
        out += [f"#### {suite}", "", _table(head, body), ""]
    if peers:
        out.append("symconv/PEER is symconv's median time divided by the peer's: below 1 means "
                   "symconv is faster.")
    for note in record.get("notes", []):
        out.append(f"- note: {note}")
    return "\n".join(out)


def render_accuracy(record: dict) -> str:
    """benchmarks/tutorial_accuracy.py's record."""
    head = ["tutorial", "epochs run", "symconv test error", "PyTorch test error",
            "difference (points)", f"agree (<= {record['tolerance_points']:.1f})",
            "symconv s", "PyTorch s"]
    body = []
    for run in record["results"]:
        ours, theirs = run["symconv"], run["torch"]
        body.append([run["tutorial"], f"{ours['epochs']} / {theirs['epochs']}",
                     f"{100 * ours['test_error']:.2f}%", f"{100 * theirs['test_error']:.2f}%",
                     _num(run["test_error_difference_points"]), "yes" if run["agree"] else "NO",
                     _num(ours["seconds"], 1), _num(theirs["seconds"], 1)])
    return "\n".join([(f"Data: {record['data']['source']} split {record['data']['split']}; "
                       f"{record['floatX']}; {record['date'][:10]}  "),
                      f"Machine: {_machine(record)}", "", _table(head, body), "",
                      record.get("note", "")])


def render_generic(record: dict) -> str:
    """Any record with a ``results`` list of flat dicts: a table of its keys."""
    rows = record["results"]
    head = list(dict.fromkeys(k for row in rows for k in row))
    body = [[_num(row.get(k), 3) for k in head] for row in rows]
    lines = [f"{record.get('date', '')[:10]}; machine: {_machine(record)}", ""]
    if record.get("method"):
        lines.insert(0, f"Method: {record['method']}  ")
    lines.append(_table(head, body))
    if record.get("note"):
        lines += ["", record["note"]]
    return "\n".join(lines)


def render_fashion(record: dict) -> str:
    """benchmarks/fashion_lenet.py's record: one row per framework."""
    head = ["framework", "epochs", "best epoch", "best valid error %", "test error % at best",
            "train s per epoch (median)", "wall s"]
    body = []
    for name, r in record["results"].items():
        per_epoch = sorted(r["train_seconds_per_epoch"])
        body.append([name, str(len(r["valid_error_per_epoch"])), str(r["best_epoch"]),
                     _num(r["best_valid_error"]), _num(r["test_error_at_best"]),
                     _num(per_epoch[len(per_epoch) // 2], 1), _num(r.get("wall_seconds"), 0)])
    return "\n".join([f"Data: {record['data']} split {record['sizes']}; {record['floatX']}; "
                      f"batch {record['batch_size']}; {record['date'][:10]}  ",
                      f"Method: {record['method']}  ", f"Machine: {_machine(record)}", "",
                      _table(head, body), "",
                      f"Test error difference: {record['test_error_difference_points']} points."])


def render(path: Path) -> str:
    record = json.loads(path.read_text())
    if str(record.get("schema", "")).startswith("symconv-bench/"):
        body = render_bench(record)
    elif record.get("benchmark") == "tutorial_accuracy":
        body = render_accuracy(record)
    elif record.get("benchmark") == "fashion_lenet":
        body = render_fashion(record)
    elif isinstance(record.get("results"), list):
        body = render_generic(record)
    else:
        body = "(no renderer for this file's layout)"
    return f"### {path.name}\n\n{body}\n"


def make() -> str:
    files = sorted(RESULTS.glob("*.json"))
    parts = ["# Results", "",
             ("Generated by `python docs/make_results.py` from the JSON files committed under "
              "`benchmarks/results/`; do not edit by hand. Re-run a benchmark, commit its JSON, "
              "then re-run the script."), ""]
    parts += [render(path) for path in files] or ["No results committed yet."]
    return "\n".join(parts).rstrip() + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if docs/results.md is stale instead of writing it")
    args = parser.parse_args()
    text = make()
    if args.check:
        stale = not OUT.exists() or OUT.read_text() != text
        print("docs/results.md is " + ("stale" if stale else "up to date"))
        return 1 if stale else 0
    OUT.write_text(text)
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
