"""`coordinator bench` refuses bad input with one clear line and exit 2, before starting
anything; `--compare etcd` without etcd installed names the script that installs it."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from coordinator.bench import etcd
from coordinator.cli import main


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--mode", "unary,batch"], "'batch' is not one of unary, stream"),
        (["--mode", ","], "expected a comma-separated list"),
        (["--clients", "0"], "'0' is not an integer from 1 to 1024"),
        (["--clients", "1,x"], "'x' is not an integer from 1 to 1024"),
        (["--in-flight", "2,2"], "'2,2' names a value twice"),
        (["--duration", "0"], "0.0 is not in the range"),
        (["--rounds", "0"], "0 is not in the range"),
        (["--compare", "zookeeper"], "'zookeeper' is not 'etcd'"),
    ],
)
def test_bad_input_is_one_clear_error_and_exit_2(args: list[str], error: str) -> None:
    result = CliRunner().invoke(main, ["bench", *args])
    assert result.exit_code == 2, result.output
    assert error in result.output
    assert "Traceback" not in result.output


def test_compare_etcd_without_etcd_names_the_install_script(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(etcd, "find_etcd", lambda: None)
    result = CliRunner().invoke(main, ["bench", "--compare", "etcd", "--duration", "1"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "--compare etcd: etcd is not installed (not on PATH); run scripts/install-etcd"
    ]
