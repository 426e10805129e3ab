"""The coordinator.v1 contract is only ever extended, names every language's package, and buf's
lint exceptions (proto/buf.yaml) cover the names we had published and nothing else.

scripts/test runs `buf lint proto` and `buf breaking proto --against proto-released` itself;
these tests show that those checks catch what they are there for, with the real buf."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

from coordinator.v1 import admin_pb2, command_pb2, engine_pb2, types_pb2
from tests.proto_tools import ROOT, run, tool

PROTO = ROOT / "proto"
RELEASED = ROOT / "proto-released"

# What STANDARD lint says about the names published before buf checked the contract, and that
# proto/buf.yaml therefore excepts: (file, rule, message).
PUBLISHED_NAMES_FINDINGS = {
    ("admin.proto", "SERVICE_SUFFIX", 'Service name "Admin" should be suffixed with "Service".'),
    ("engine.proto", "SERVICE_SUFFIX", 'Service name "Engine" should be suffixed with "Service".'),
    *(
        (
            "admin.proto",
            "ENUM_VALUE_PREFIX",
            f'Enum value name "{v}" should be prefixed with "ROLE_".',
        )
        for v in ("FOLLOWER", "CANDIDATE", "LEADER", "LEARNER")
    ),
    *(
        (
            "types.proto",
            "ENUM_VALUE_PREFIX",
            f'Enum value name "{v}" should be prefixed with "SIDE_".',
        )
        for v in ("BUY", "SELL")
    ),
    *(
        (
            "types.proto",
            "ENUM_VALUE_PREFIX",
            f'Enum value name "{v}" should be prefixed with "ORDER_STATUS_".',
        )
        for v in ("PENDING_NEW", "OPEN", "PARTIALLY_FILLED", "FILLED", "CANCELED", "REJECTED")
    ),
    *(
        (
            "types.proto",
            "ENUM_VALUE_PREFIX",
            f'Enum value name "{v}" should be prefixed with "READ_CONSISTENCY_".',
        )
        for v in ("LINEARIZABLE", "STALE")
    ),
    (
        "types.proto",
        "ENUM_ZERO_VALUE_SUFFIX",
        'Enum zero value name "LINEARIZABLE" should be suffixed with "_UNSPECIFIED".',
    ),
}


def findings(stdout: str) -> set[tuple[str, str, str]]:
    """buf's --error-format=json lines as (file name, rule, message)."""
    rows = (json.loads(line) for line in stdout.splitlines() if line.strip())
    return {(Path(r["path"]).name, r["type"], r["message"]) for r in rows}


@pytest.fixture
def proto_copy() -> Iterator[Path]:
    """A scratch copy of proto/ (buf.yaml included), removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="proto-copy-") as tmp:
        copy = Path(tmp) / "proto"
        shutil.copytree(PROTO, copy)
        yield copy


def edit(copy: Path, name: str, old: str, new: str) -> None:
    """Replaces the one occurrence of `old` in coordinator/v1/`name` of the copy."""
    path = copy / "coordinator" / "v1" / name
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} is not in {name} exactly once"
    path.write_text(text.replace(old, new))


def breaking(copy: Path) -> tuple[int, set[tuple[str, str, str]]]:
    result = run(
        [tool("buf"), "breaking", str(copy), "--against", str(RELEASED), "--error-format", "json"]
    )
    return result.returncode, findings(result.stdout)


def test_lint_exceptions_are_exactly_the_published_names(proto_copy: Path) -> None:
    config = proto_copy / "buf.yaml"
    text = config.read_text()
    without_exceptions = re.sub(r"\n  ignore_only:\n(?:    .*\n|      .*\n)+", "\n", text)
    assert "ignore_only" not in without_exceptions and "STANDARD" in without_exceptions
    config.write_text(without_exceptions)

    result = run([tool("buf"), "lint", str(proto_copy), "--error-format", "json"])

    assert result.returncode == 100, result.stderr
    assert findings(result.stdout) == PUBLISHED_NAMES_FINDINGS


def test_an_unchanged_contract_is_not_breaking(proto_copy: Path) -> None:
    assert breaking(proto_copy) == (0, set())


MUTATIONS: dict[str, tuple[Callable[[Path], None], set[tuple[str, str, str]]]] = {
    "a field renamed": (
        lambda copy: edit(copy, "admin.proto", "  string leader_id = 6;", "  string leader = 6;"),
        {
            (
                "admin.proto",
                "FIELD_SAME_NAME",
                'Field "6" on message "StatusResponse" changed name from "leader_id" to "leader".',
            ),
            (
                "admin.proto",
                "FIELD_SAME_JSON_NAME",
                'Field "6" with name "leader" on message "StatusResponse" changed option '
                '"json_name" from "leaderId" to "leader".',
            ),
        },
    ),
    "a field renumbered": (
        lambda copy: edit(copy, "admin.proto", "  uint64 term = 3;", "  uint64 term = 99;"),
        {
            (
                "admin.proto",
                f"FIELD_NO_DELETE_UNLESS_{kept.upper()}_RESERVED",
                'Previously present field "3" with name "term" on message "StatusResponse" was '
                f'deleted without reserving the {kept} "{value}".',
            )
            for kept, value in (("number", "3"), ("name", "term"))
        },
    ),
    "an enum value renumbered": (
        lambda copy: edit(copy, "types.proto", "  SELL = 2;", "  SELL = 7;"),
        {
            (
                "types.proto",
                "ENUM_VALUE_NO_DELETE_UNLESS_NAME_RESERVED",
                'Previously present enum value "2" on enum "Side" was deleted without reserving '
                'the name "SELL".',
            ),
            (
                "types.proto",
                "ENUM_VALUE_NO_DELETE_UNLESS_NUMBER_RESERVED",
                'Previously present enum value "2" on enum "Side" was deleted without reserving '
                'the number "2".',
            ),
        },
    ),
    "a method removed": (
        lambda copy: edit(
            copy, "admin.proto", "  rpc Halt(HaltRequest) returns (HaltResponse);\n", ""
        ),
        {
            (
                "admin.proto",
                "RPC_NO_DELETE",
                'Previously present RPC "Halt" on service "Admin" was deleted.',
            )
        },
    ),
}


@pytest.mark.parametrize("change", MUTATIONS)
def test_buf_breaking_refuses_a_change_to_the_released_contract(
    proto_copy: Path, change: str
) -> None:
    mutate, expected = MUTATIONS[change]
    mutate(proto_copy)
    status, found = breaking(proto_copy)
    assert (status, found) == (100, expected)


@pytest.mark.parametrize(
    ("module", "outer_class"),
    [
        (admin_pb2, "AdminProto"),
        (command_pb2, "CommandProto"),
        (engine_pb2, "EngineProto"),
        (types_pb2, "TypesProto"),
    ],
)
def test_each_file_names_its_package_for_go_java_and_csharp(
    module: ModuleType, outer_class: str
) -> None:
    # protoc-gen-go refuses a file without go_package; the Java and C# names are set here so
    # that every engine's generated code has the same, stable package names.
    options = module.DESCRIPTOR.GetOptions()
    assert (
        options.go_package,
        options.java_package,
        options.java_multiple_files,
        options.java_outer_classname,
        options.csharp_namespace,
    ) == (
        "coordinator/clients/go/coordinator/v1;coordinatorv1",
        "coordinator.v1",
        True,
        outer_class,
        "Coordinator.V1",
    )
