"""`python -m chaos run --scenario NAME --seed N --duration S`: one chaos run (or every fault
kind with --scenario all), printing SEED=N first; the same seed replays the same fault schedule.
Exit status 0 only if every invariant held in every run."""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

from chaos.runner import SCENARIOS, run_all, run_one
from chaos.toxiproxy import ToxiproxyUnavailable, find_server_binary

USAGE_ERROR = 2  # bad input, the same code as the coordinator CLI's


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chaos", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run", help="run a scenario against a fresh local cluster behind Toxiproxy"
    )
    run.add_argument(
        "--scenario", default="mixed", help=f"mixed, all, or one of: {', '.join(SCENARIOS)}"
    )
    run.add_argument("--seed", type=int, default=None, help="replay a run (default: a random seed)")
    run.add_argument("--duration", type=float, default=10.0, help="seconds of faults per run")
    run.add_argument(
        "--out", type=Path, default=Path("chaos-reports"), help="where run directories go"
    )
    run.add_argument("--json", dest="json_out", type=Path, help="also write the reports here")
    commands.add_parser("scenarios", help="list the fault kinds")
    args = parser.parse_args(argv)
    if args.command == "scenarios":
        print("\n".join(["mixed", "all", *SCENARIOS]))
        return 0
    if args.scenario not in ("mixed", "all", *SCENARIOS):
        return refuse(
            f"unknown scenario {args.scenario!r}; choose mixed, all or one of: "
            f"{', '.join(SCENARIOS)}"
        )
    try:
        find_server_binary()  # before anything is created or started
        seed = args.seed if args.seed is not None else random.randrange(2**31)
        args.out.mkdir(parents=True, exist_ok=True)
        if args.scenario == "all":
            reports = run_all(seed, args.duration, args.out)
        else:
            reports = [run_one(args.scenario, seed, args.duration, args.out)]
    except ToxiproxyUnavailable as exc:
        return refuse(str(exc).splitlines()[0])
    if args.json_out is not None:
        args.json_out.write_text(
            json.dumps([r.__dict__ for r in reports], indent=2, default=str) + "\n"
        )
    failed = [f"{r.scenario}/{r.seed}" for r in reports if not r.passed]
    print(
        f"\n{len(reports) - len(failed)} of {len(reports)} runs passed"
        + (f"; failed: {failed}" if failed else "")
    )
    return 0 if not failed else 1


def refuse(problem: str) -> int:
    print(f"python -m chaos: {problem}", file=sys.stderr)
    return USAGE_ERROR


if __name__ == "__main__":
    sys.exit(main())
