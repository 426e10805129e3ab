"""The coordinator.v1 contract names every language's package."""

from __future__ import annotations

from types import ModuleType

import pytest

from coordinator.v1 import admin_pb2, command_pb2, engine_pb2, types_pb2


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
