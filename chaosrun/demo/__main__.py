"""`python -m chaosrun.demo`: the demo without the click CLI (docker-compose.yml runs it with --attach)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from . import DEMOS, run_demo


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m chaosrun.demo", description="Run the chaosrun demo.")
    parser.add_argument("--out", type=Path, default=Path("reports/demo"), help="report folder (default reports/demo)")
    parser.add_argument("--state-dir", type=Path, default=None, help="ledger/history folder (default XDG state dir)")
    parser.add_argument("--var", action="append", default=[], metavar="NAME=VALUE", help="override a variable")
    parser.add_argument("--only", action="append", default=[], choices=[d.name for d in DEMOS])
    parser.add_argument("--attach", action="store_true", help="use a demo system that is already running")
    args = parser.parse_args()
    variables = {}
    for pair in args.var:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            parser.error(f"--var expects NAME=VALUE, got {pair!r}")
        variables[name] = value
    if args.state_dir is None:
        from ..state import default_state_dir

        args.state_dir = default_state_dir()
    code = asyncio.run(
        run_demo(
            out_root=args.out,
            state_dir=args.state_dir,
            echo=lambda s: print(s, flush=True),
            variables=variables,
            only=tuple(args.only),
            attach=args.attach,
        )
    )
    sys.exit(code)


if __name__ == "__main__":
    main()
