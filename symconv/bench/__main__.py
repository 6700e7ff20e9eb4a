"""``python -m symconv.bench``: the same as the ``symconv-bench`` console script."""
import sys

from symconv.bench.cli import main

sys.exit(main())
