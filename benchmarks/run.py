#!/usr/bin/env python3
"""Entry point: ``python benchmarks/run.py [NAME ...] [--repeat N] [--list]``."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from runner import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
