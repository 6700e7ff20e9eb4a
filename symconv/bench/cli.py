"""``symconv-bench``: list and run benchmark suites, compare with PyTorch/JAX, write JSON.

Exit status: 0 when every requested case ran, 1 when a case failed, a suite cannot run in
this build or a requested --compare peer cannot run, 2 for a usage error (unknown suite or
peer, unavailable device, bad flag), 130 on Ctrl-C.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any

import numpy as np

import symconv
from symconv.bench import measure
from symconv.bench.peers import PEERS, available, make_peer
from symconv.bench.suites import SUITES, Case, missing_requirement

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
SCHEMA_VERSION = 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="symconv-bench",
        description="Benchmark symconv's compiled functions (conv, pool, LeNet, MLP, compile "
                    "time) and compare them with PyTorch and JAX measured in the same process.",
        epilog="Exit status: 0 all cases ran, 1 a case failed or a suite or requested peer is "
               "unavailable, "
               "2 usage error.")
    parser.add_argument("--version", action="version",
                        version=f"%(prog)s {symconv.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    sub.add_parser("list", help="list the suites", description="List the benchmark suites, "
                   "their default batch sizes and whether this build can run them.")
    run = sub.add_parser(
        "run", help="run one or more suites",
        description="Run suites and print a table: median and min time per call, images/s, "
                    "GFLOP/s and, per --compare peer, its time and the ratio "
                    "symconv time / peer time (below 1: symconv is faster).")
    run.add_argument("suites", nargs="+", metavar="SUITE",
                     help=f"suite names ({', '.join(SUITES)}) or 'all'")
    run.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                     help="where symconv and the peers run (default: cpu)")
    run.add_argument("--floatX", default="float32", choices=["float32", "float64"],
                     help="float dtype of the data and weights (default: float32)")
    run.add_argument("--batch", type=int, nargs="+", metavar="N",
                     help="batch sizes (default: each suite's own)")
    run.add_argument("--repeat", type=int, default=10, metavar="N",
                     help="timed samples per implementation (default: 10)")
    run.add_argument("--compare", default="", metavar="PEERS",
                     help=f"comma-separated peers to time alongside: {','.join(PEERS)}")
    run.add_argument("--pause", type=float, default=0.3, metavar="S",
                     help="idle seconds before each timed block when comparing, so that the "
                          "previous library's worker threads stop spinning (default: 0.3)")
    run.add_argument("--json", metavar="FILE", help="also write figures and environment here")
    run.add_argument("--seed", type=int, default=0, help="seed of the random inputs")
    return parser


def _list() -> int:
    problem = symconv.config.problem
    if problem is not None:
        print(f"note: {problem.code}; 'run' will stop on it", file=sys.stderr)
    width = max(map(len, SUITES))
    for suite in SUITES.values():
        batches = ",".join(map(str, suite.batches)) or "-"
        missing = missing_requirement(suite)
        state = "" if missing is None else "  [unavailable: needs conv2d/pool_2d]"
        print(f"{suite.name:<{width}}  batch {batches:<7} {suite.help}{state}")
    return EXIT_OK


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _bar(total: int) -> Any:
    """A tqdm bar over the cases (with an ETA) on a terminal; None elsewhere (logs and CI get
    one line per case) or without tqdm."""
    if not sys.stderr.isatty():
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="case", file=sys.stderr, leave=False, dynamic_ncols=True)


def _peers(names: list[str], device: str, notes: list[str]) -> list:
    peers = []
    for name in names:
        if not available(name):
            hint = ("pip install torch --index-url https://download.pytorch.org/whl/cpu"
                    if name == "torch" else f"pip install {name}")
            notes.append(f"peer {name} cannot run: not importable ({hint})")
            continue
        try:
            peers.append(make_peer(name, device))
        except Exception as err:  # noqa: BLE001  (e.g. a CPU-only peer asked for CUDA)
            notes.append(f"peer {name} cannot run: {err}")
    return peers


def _figures(timing: measure.Timing, case: Case) -> dict:
    median_s = timing.median_ms / 1e3
    return {
        "median_ms": round(timing.median_ms, 4),
        "min_ms": round(timing.min_ms, 4),
        "max_ms": round(timing.max_ms, 4),
        "spread": round(timing.spread, 4),
        "images_per_s": round(case.batch / median_s, 3) if case.batch else None,
        "gflop_per_s": round(case.flops / median_s / 1e9, 3) if case.flops else None,
        "samples": len(timing.samples),
    }


def _run_case(case: Case, peers: list, repeat: int, pause: float, notes: list[str]) -> dict:
    row = {"suite": case.suite, "case": case.name, "batch": case.batch,
           "gflop": round(case.flops / 1e9, 6) if case.flops else None,
           "symconv": None, "peers": {}, "error": None}
    try:
        fns = {"symconv": case.build()}
        fns["symconv"]()
    except Exception as err:  # noqa: BLE001  (any failure of a case is reported in its row)
        row["error"] = f"{type(err).__name__}: {err}"
        if os.environ.get("SYMCONV_BENCH_TRACEBACK"):
            traceback.print_exc()
        return row
    for peer in peers:
        # A peer that cannot run a case is left out of that row, with a note; it does not
        # make the symconv measurement fail.
        try:
            fn = peer.build(case)
            if fn is not None:
                fn()
                fns[peer.name] = fn
        except Exception as err:  # noqa: BLE001
            notes.append(f"{peer.name} could not run {case.suite}/{case.name}: "
                         f"{type(err).__name__}: {str(err)[:200]}")
    timings = measure.interleaved(fns, repeat, pause=pause)
    ours = timings.pop("symconv")
    row["symconv"] = _figures(ours, case)
    for name, timing in timings.items():
        figures = _figures(timing, case)
        figures["ratio"] = round(row["symconv"]["median_ms"] / figures["median_ms"], 3)
        figures["unstable"] = measure.instability(ours, timing)
        row["peers"][name] = figures
    return row


def _fmt(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def format_table(rows: list[dict], peer_names: list[str]) -> str:
    """The results as an aligned text table."""
    head = ["suite", "case", "batch", "median ms", "min ms", "max ms", "images/s", "GFLOP/s"]
    for name in peer_names:
        head += [f"{name} ms", f"sym/{name}"]
    lines = [head]
    flagged = False
    for row in rows:
        line = [row["suite"], row["case"], str(row["batch"] or "-")]
        if row["error"]:
            lines.append(line + [f"error: {row['error']}"])
            continue
        ours = row["symconv"]
        line += [_fmt(ours["median_ms"], 3), _fmt(ours["min_ms"], 3),
                 _fmt(ours.get("max_ms"), 3), _fmt(ours["images_per_s"], 0),
                 _fmt(ours["gflop_per_s"], 1)]
        for name in peer_names:
            peer = row["peers"].get(name)
            if peer is None:
                line += ["-", "-"]
                continue
            unstable = "?" if peer.get("unstable") else ""
            flagged = flagged or bool(unstable)
            line += [_fmt(peer["median_ms"], 3), _fmt(peer["ratio"], 2) + unstable]
        lines.append(line)
    widths = [max(len(line[i]) for line in lines if i < len(line) and len(line) == len(head))
              for i in range(len(head))]
    out = []
    for line in lines:
        if len(line) != len(head):  # an error row: free text after the fixed columns
            out.append("  ".join([line[0].ljust(widths[0]), line[1].ljust(widths[1]),
                                  line[2].rjust(widths[2]), line[3]]))
            continue
        cells = [c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in
                 enumerate(zip(line, widths))]
        out.append("  ".join(cells))
    out.insert(1, "-" * len(out[0]))
    if peer_names:
        out.append("sym/PEER = symconv median time / peer median time (below 1: symconv faster)")
    if flagged:
        out.append(f"? = unstable: the middle half of a side's samples spans more than "
                   f"{measure.UNSTABLE_SPREAD:.0%} of its median, or the load average exceeds "
                   "the core count (see 'unstable' in --json); rerun on a quiet machine")
    return "\n".join(out)


def _check_device(device: str) -> str | None:
    if device == "cpu":
        return None
    try:
        from symconv.backends import get_backend
        get_backend(device)
    except Exception as err:  # noqa: BLE001  (whatever the reason, the device is unusable)
        return f"device {device!r} is not available: {type(err).__name__}: {err}"
    return None


def _run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    names = list(SUITES) if args.suites == ["all"] else args.suites
    unknown = [n for n in names if n not in SUITES]
    if unknown:
        parser.error(f"unknown suite(s) {', '.join(unknown)}; known: {', '.join(SUITES)}")
    peer_names = [p.strip() for p in args.compare.split(",") if p.strip()]
    bad = [p for p in peer_names if p not in PEERS]
    if bad:
        parser.error(f"unknown peer(s) {', '.join(bad)}; known: {', '.join(PEERS)}")
    if args.repeat < 1 or any(b < 1 for b in args.batch or []) or args.pause < 0:
        parser.error("--repeat and --batch must be positive, --pause not negative")
    problem = _check_device(args.device)
    if problem:
        print(f"symconv-bench: {problem}", file=sys.stderr)
        return EXIT_USAGE

    if args.json:
        folder = os.path.dirname(os.path.abspath(args.json))
        if not os.path.isdir(folder):
            print(f"symconv-bench: --json {args.json}: folder {folder} does not exist",
                  file=sys.stderr)
            return EXIT_USAGE
    notes: list[str] = []
    peers = _peers(peer_names, args.device, notes)
    rows: list[dict] = []
    status = EXIT_OK
    if len(peers) < len(peer_names):  # a requested peer cannot run: say so now, fail at the end
        for note in notes:
            print(f"symconv-bench: {note}", file=sys.stderr)
        notes.clear()
        status = EXIT_FAILED
    rng = np.random.default_rng(args.seed)
    with symconv.config.change_flags(floatX=args.floatX, device=args.device):
        cases: list[Case] = []
        for name in names:
            suite = SUITES[name]
            missing = missing_requirement(suite)
            if missing:
                notes.append(f"suite {name} skipped: it {missing}")
                status = EXIT_FAILED
                continue
            batches = (args.batch or suite.batches) if suite.batches else [None]
            for batch in batches:
                cases += suite.expand(batch, args.floatX, rng)
        bar = _bar(len(cases))
        for n, case in enumerate(cases, 1):
            text = (f"[{n}/{len(cases)}] {case.suite}: {case.name}"
                    + (f" (batch {case.batch})" if case.batch else ""))
            if bar is None:
                _progress(text)
            else:
                bar.set_description(text)
            row = _run_case(case, peers, args.repeat, args.pause, notes)
            if bar is not None:
                bar.update(1)
            if row["error"]:
                (bar.write if bar is not None else _progress)(f"{text} failed: {row['error']}")
                status = EXIT_FAILED
            rows.append(row)
        if bar is not None:
            bar.close()
    shown = [p.name for p in peers]
    for note in notes:  # before the table, so that it is not missed below it
        print(f"note: {note}", file=sys.stderr)
    if rows:
        print(format_table(rows, shown))
    if args.json:
        _write_json(args, rows, notes, shown, status)
    return status


def _write_json(args: argparse.Namespace, rows: list[dict], notes: list[str],
                peers: list[str], status: int) -> None:
    record = {
        "schema": f"symconv-bench/{SCHEMA_VERSION}",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": "symconv-bench " + " ".join(args.argv),
        "settings": {"suites": args.suites, "device": args.device, "floatX": args.floatX,
                     "batch": args.batch, "repeat": args.repeat, "compare": peers,
                     "seed": args.seed, "pause_s": args.pause},
        "method": "2 warm-up calls per implementation, then up to 3 alternating blocks per "
                  "implementation (order rotated), each after an idle pause and one untimed "
                  "call; each sample auto-ranged to >= 5 ms; median, min and max per call; "
                  "spread = IQR / median; a ratio is 'unstable' when either side's spread exceeds "
                  f"{measure.UNSTABLE_SPREAD} or the load average exceeds the core count",
        "environment": dict(measure.environment(peers), load_average=measure.load_average()),
        "notes": notes,
        "status": status,
        "results": rows,
    }
    tmp = f"{args.json}.tmp{os.getpid()}"
    with open(tmp, "w") as fh:
        json.dump(record, fh, indent=2)
        fh.write("\n")
    os.replace(tmp, args.json)
    _progress(f"wrote {args.json}")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``symconv-bench`` and ``python -m symconv.bench``; returns the exit status."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
        args.argv = list(sys.argv[1:] if argv is None else argv)
    except SystemExit as exc:  # argparse exits 0 for --help and 2 for usage errors
        return int(exc.code or 0)
    try:
        if args.command == "list":
            return _list()
        if symconv.config.problem is not None:  # a bad flag: one line, before any work
            print(symconv.config.problem.code, file=sys.stderr)
            return EXIT_USAGE
        return _run(args, parser)
    except SystemExit as exc:
        if isinstance(exc.code, str):  # a flag error (symconv.config.FlagError): one line
            print(exc.code, file=sys.stderr)
            return EXIT_USAGE
        return int(exc.code or 0)
    except KeyboardInterrupt:
        print("symconv-bench: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
