"""The exit codes are defined once (coordinator/cli/exits.py) and agree with click's own."""

from __future__ import annotations

import click
from click.testing import CliRunner

from coordinator.cli import main
from coordinator.cli.exits import ExitCode, summary


def test_a_usage_error_exits_with_clicks_own_code() -> None:
    assert ExitCode.USAGE == click.UsageError.exit_code == click.BadParameter.exit_code


def test_the_top_level_help_lists_every_exit_code() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == ExitCode.OK
    assert (
        summary()
        == "0 ok, 1 refused by the cluster, 2 usage or config error, 3 cluster unavailable"
    )
    assert f"Exit codes: {summary()}." in result.output
