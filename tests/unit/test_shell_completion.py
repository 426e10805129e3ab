"""Shell completion as the README documents it (issue 14, item 10): the installed `coordinator`
command prints a bash and a zsh completion script when asked through
`_COORDINATOR_COMPLETE`, and the bash script, sourced in a real bash, completes `coordinator
eng` to `engines`. Runs the console script next to this interpreter, so a rename of the entry
point or of the command fails here."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COMMAND = Path(sys.executable).parent / "coordinator"


def run(args: list[str], **env: str) -> str:
    """The command's stdout; it must exit 0 within 30 s."""
    assert COMMAND.exists(), f"the console script {COMMAND} is not installed"
    done = subprocess.run(
        args,
        env={
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "PATH": f"{COMMAND.parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_bash_source_prints_a_completion_script_for_coordinator() -> None:
    script = run([str(COMMAND)], _COORDINATOR_COMPLETE="bash_source")
    assert "_coordinator_completion()" in script
    assert "complete -o nosort -F _coordinator_completion coordinator" in script


def test_zsh_source_prints_a_completion_script_for_coordinator() -> None:
    script = run([str(COMMAND)], _COORDINATOR_COMPLETE="zsh_source")
    assert script.startswith("#compdef coordinator")


def test_bash_complete_completes_a_command_name() -> None:
    reply = run(
        [str(COMMAND)],
        _COORDINATOR_COMPLETE="bash_complete",
        COMP_WORDS="coordinator eng",
        COMP_CWORD="1",
    )
    assert reply.splitlines() == ["plain,engines"]


def test_the_readme_line_in_a_real_bash_completes_subcommands() -> None:
    bash = shutil.which("bash")
    assert bash is not None, "bash is not installed"
    session = (
        'eval "$(_COORDINATOR_COMPLETE=bash_source coordinator)"\n'
        "COMP_WORDS=(coordinator eng); COMP_CWORD=1; COMPREPLY=()\n"
        '_coordinator_completion coordinator; echo "${COMPREPLY[*]}"\n'
        'COMP_WORDS=(coordinator members ""); COMP_CWORD=2; COMPREPLY=()\n'
        '_coordinator_completion coordinator; echo "${COMPREPLY[*]}"\n'
    )
    assert run([bash, "-c", session]).splitlines() == ["engines", "add list remove"]
