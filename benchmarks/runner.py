"""Time whole commands side by side, in one run, and print ratios.

A benchmark is a function decorated with ``@benchmark("name")`` that receives a
:class:`Bench` and calls ``bench.compare(title, {label: argv, ...}, baseline=label)``.
Each command runs ``--repeat`` times, interleaved (a, b, a, b, ...) so that machine
noise hits every contender alike; the report gives the median and the best wall time
and each contender's ratio to the baseline (median / median).

    python benchmarks/run.py --list
    python benchmarks/run.py startup show --repeat 15
    python benchmarks/run.py --json results.json

Benchmarks live in ``benchmarks/bench_*.py`` and register themselves on import.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

REGISTRY: dict[str, Callable[[Bench], None]] = {}


def benchmark(name: str) -> Callable[[Callable[[Bench], None]], Callable[[Bench], None]]:
    def register(func: Callable[[Bench], None]) -> Callable[[Bench], None]:
        REGISTRY[name] = func
        return func

    return register


@dataclass
class Timing:
    label: str
    argv: list[str]
    seconds: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def best(self) -> float:
        return min(self.seconds)


@dataclass
class Comparison:
    title: str
    baseline: str
    timings: list[Timing]
    notes: dict[str, Any] = field(default_factory=dict)

    def ratio(self, label: str) -> float:
        base = next(t for t in self.timings if t.label == self.baseline)
        mine = next(t for t in self.timings if t.label == label)
        return mine.median / base.median


class Bench:
    def __init__(self, repeat: int, warmup: int = 1, env: Mapping[str, str] | None = None) -> None:
        self.repeat = repeat
        self.warmup = warmup
        self.env = dict(os.environ if env is None else env)
        self.results: list[Comparison] = []

    def run_once(self, argv: Sequence[str], env: Mapping[str, str] | None = None) -> float:
        started = time.perf_counter()
        proc = subprocess.run(list(argv), env={**self.env, **(env or {})}, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        elapsed = time.perf_counter() - started
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}: "
                               f"{proc.stderr.decode(errors='replace')[-500:]}")
        return elapsed

    def compare(self, title: str, commands: Mapping[str, Sequence[str]], *, baseline: str,
                env: Mapping[str, str] | None = None,
                notes: Mapping[str, Any] | None = None) -> Comparison:
        timings = [Timing(label, list(argv)) for label, argv in commands.items()]
        for _ in range(self.warmup):
            for t in timings:
                self.run_once(t.argv, env)
        for _ in range(self.repeat):
            for t in timings:
                t.seconds.append(self.run_once(t.argv, env))
        result = Comparison(title, baseline, timings, dict(notes or {}))
        self.results.append(result)
        print_comparison(result)
        return result


def print_comparison(c: Comparison) -> None:
    print(f"\n## {c.title}")
    width = max(len(t.label) for t in c.timings)
    print(f"{'command':<{width}}  {'median':>9}  {'best':>9}  {'ratio':>6}")
    for t in c.timings:
        print(f"{t.label:<{width}}  {t.median * 1000:7.1f}ms  {t.best * 1000:7.1f}ms  "
              f"{c.ratio(t.label):6.2f}")
    for k, v in c.notes.items():
        print(f"  {k}: {v}")
    sys.stdout.flush()


# -- helpers for benchmarks ----------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fake_aws_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RDSPROXYCTL_"))}
    env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
               AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE="/nonexistent",
               AWS_SHARED_CREDENTIALS_FILE="/nonexistent", AWS_EC2_METADATA_DISABLED="true",
               MOTO_EC2_LOAD_DEFAULT_AMIS="false")
    return env


@contextmanager
def moto_server(env: Mapping[str, str]) -> Iterator[str]:
    """A moto server with the project's extension on a free loopback port."""
    import urllib.request

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "rdsproxyctl.motoext", "-p", str(port)],
                            env=dict(env), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(url + "/moto-api/", timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def tool(name: str) -> str:
    """A console script of this environment (rdsproxyctl, aws ...)."""
    path = BIN / name
    if not path.exists():
        raise RuntimeError(f"{name} is not installed in {BIN}")
    return str(path)


def main(argv: list[str] | None = None) -> int:
    import argparse

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    for module in sorted(Path(__file__).resolve().parent.glob("bench_*.py")):
        __import__(module.stem)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args(argv)
    if args.list:
        for name, func in REGISTRY.items():
            print(f"{name}: {(func.__doc__ or '').strip().splitlines()[0]}")
        return 0
    unknown = [n for n in args.names if n not in REGISTRY]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}; see --list")
    # pip byte-compiles an installed package; an editable checkout under
    # PYTHONDONTWRITEBYTECODE=1 would otherwise recompile rdsproxyctl on every run.
    import compileall

    compileall.compile_dir(str(ROOT / "rdsproxyctl"), quiet=1)
    bench = Bench(repeat=args.repeat)
    print(f"# rdsproxyctl benchmarks ({time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs, "
          f"python {sys.version.split()[0]}, repeat {args.repeat})")
    for name in args.names or list(REGISTRY):
        REGISTRY[name](bench)
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in bench.results], indent=2))
    return 0
