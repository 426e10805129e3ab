"""The soak: every scenario across many seeds until the time budget is spent, with a
progress bar; a summary of runs, operations, faults, takeovers and violations at the end."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

from chaos.runner import SCENARIOS, RunReport, run_one


def bar(done_s: float, total_s: float, width: int = 30) -> str:
    filled = int(width * min(1.0, done_s / total_s))
    return (
        "[" + "#" * filled + "." * (width - filled) + f"] {done_s / 60:5.1f}/{total_s / 60:.0f} min"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of faults per run")
    parser.add_argument("--first-seed", type=int, default=int(time.time()) % 100_000)
    parser.add_argument(
        "--scenarios", default="", help="comma-separated fault kinds (default: all, then mixed)"
    )
    args = parser.parse_args(argv)
    scenarios = [s for s in args.scenarios.split(",") if s] or [*SCENARIOS, "mixed"]
    unknown = sorted(set(scenarios) - {*SCENARIOS, "mixed"})
    if unknown:
        print(
            f"soak: unknown scenarios {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}, "
            "mixed",
            file=sys.stderr,
        )
        return 2
    out = Path("chaos-reports") / time.strftime("soak-%Y%m%d-%H%M%S")
    out.mkdir(parents=True)
    budget_s, started = args.minutes * 60, time.monotonic()
    reports: list[RunReport] = []
    seed = args.first_seed
    quiet = open(out / "runs.log", "w")  # noqa: SIM115 (closed at exit)
    while time.monotonic() - started < budget_s:
        for scenario in scenarios:
            if time.monotonic() - started >= budget_s:
                break
            report = run_one(
                scenario,
                seed,
                args.duration,
                out,
                log=lambda line: print(line, file=quiet, flush=True),
            )
            reports.append(report)
            failed = sum(1 for r in reports if not r.passed)
            print(
                f"\r{bar(time.monotonic() - started, budget_s)} runs {len(reports)} failed "
                f"{failed} last {scenario}/{seed} {'ok' if report.passed else 'FAILED'}    ",
                end="",
                flush=True,
            )
        seed += 1
    print()
    operations = Counter[str]()
    for report in reports:
        for op, counts in report.operations.items():
            for kind, n in counts.items():
                operations[f"{op}:{kind}"] += n
    summary = {
        "minutes": round((time.monotonic() - started) / 60, 1),
        "runs": len(reports),
        "operations": sum(operations.values()),
        "operations_by_outcome": dict(sorted(operations.items())),
        "faults": sum(len(r.faults) for r in reports),
        "faults_by_kind": dict(Counter(f["fault"] for r in reports for f in r.faults)),
        "takeovers": sum(
            1 for r in reports for t in r.takeovers if t.get("fault") and not t["resumed"]
        ),
        "violations": [
            {
                "scenario": r.scenario,
                "seed": r.seed,
                "directory": r.directory,
                "invariants": [n for n, v in r.verdicts.items() if not v["ok"]],
            }
            for r in reports
            if not r.passed
        ],
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    return 0 if not summary["violations"] else 1


if __name__ == "__main__":
    sys.exit(main())
