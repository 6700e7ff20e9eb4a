"""Count how many examples of Theano's documentation run, under Theano or under symconv.

    python docs/theano_doc_examples.py symconv THEANO_CHECKOUT/doc/tutorial/*.txt ...
    THEANORC=... /work/theano-venv/bin/python docs/theano_doc_examples.py theano ...

Under ``symconv`` every ``import theano...`` is answered by the matching ``symconv`` module (the
only change the documentation needs). Each page's ``>>>`` examples run in order in one namespace
(after its ``testsetup`` blocks) and pass when they print what the page prints (doctest with
ELLIPSIS and NORMALIZE_WHITESPACE; NumPy prints in its 1.13 style, as when the pages were
written); each ``testcode`` block runs on its own and passes when it raises nothing within 30 s.
Prints one line per page and writes the counts as JSON to --out.
"""
from __future__ import annotations

import argparse
import contextlib
import doctest
import importlib
import importlib.abc
import importlib.util
import io
import json
import re
import signal
import textwrap
import warnings

SETUP = ["import numpy", "import numpy as np", "import theano", "import theano.tensor as T",
         "from theano import function", "from theano import pp", "from theano import shared",
         "from theano import In", "from theano import Out", "from theano import config"]


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """``import theano.x`` gives ``symconv.x``."""

    def find_spec(self, name, path, target=None):
        if name == "theano" or name.startswith("theano."):
            return importlib.util.spec_from_loader(name, self)
        return None

    def create_module(self, spec):
        return importlib.import_module("symconv" + spec.name[len("theano"):])

    def exec_module(self, module):
        pass


class _Timeout(Exception):
    pass


def _alarm(*_):
    raise _Timeout()


def testcode_blocks(text: str) -> list[str]:
    """The sources of the page's ``.. testcode::`` blocks."""
    blocks = []
    for m in re.finditer(r"^([ ]*)\.\. testcode::.*\n((?:[ ]*:.*\n)*)((?:\n|\1[ ]+.*\n)+)", text,
                         re.MULTILINE):
        blocks.append(textwrap.dedent(m.group(3)))
    return blocks


def run_page(path: str) -> dict:
    import numpy
    numpy.set_printoptions(legacy="1.13")
    text = open(path).read()
    glob: dict = {"__name__": "__main__"}
    for stmt in SETUP:
        with contextlib.suppress(Exception):
            exec(stmt, glob)
    for m in re.finditer(r"\.\. testsetup::.*\n((?:\n|[ ]+.*\n)+)", text):
        with contextlib.suppress(Exception):
            exec(textwrap.dedent(m.group(1)), glob)
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE | doctest.IGNORE_EXCEPTION_DETAIL
    runner = doctest.DocTestRunner(optionflags=flags)
    passed, failed = 0, []
    for ex in doctest.DocTestParser().get_examples(text):
        test = doctest.DocTest([ex], glob, path, path, ex.lineno, None)
        signal.alarm(30)
        try:
            with contextlib.redirect_stderr(io.StringIO()):
                result = runner.run(test, out=lambda s: None, clear_globs=False)
        except _Timeout:
            result = doctest.TestResults(1, 1)
        signal.alarm(0)
        glob.update(test.globs)
        if result.failed:
            failed.append(ex.lineno + 1)
        else:
            passed += 1
    code_ok = 0
    blocks = testcode_blocks(text)
    for source in blocks:
        signal.alarm(30)
        try:
            with contextlib.redirect_stdout(io.StringIO()), \
                    contextlib.redirect_stderr(io.StringIO()):
                exec(compile(source, path, "exec"), {"__name__": "__main__"})
            code_ok += 1
        except BaseException:
            pass
        signal.alarm(0)
    return {"doctest_passed": passed, "doctest_total": passed + len(failed),
            "testcode_passed": code_ok, "testcode_total": len(blocks), "failed_lines": failed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package", choices=["theano", "symconv"])
    parser.add_argument("pages", nargs="+")
    parser.add_argument("--out", default=None, help="write the counts here as JSON")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    if args.package == "symconv":
        import sys
        sys.meta_path.insert(0, _Alias())
    signal.signal(signal.SIGALRM, _alarm)
    counts = {}
    for page in args.pages:
        counts[page] = c = run_page(page)
        print(f"{page}: {c['doctest_passed']}/{c['doctest_total']} examples, "
              f"{c['testcode_passed']}/{c['testcode_total']} testcode blocks", flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(counts, f, indent=1)


if __name__ == "__main__":
    main()
