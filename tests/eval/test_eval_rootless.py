"""The sandbox without root: the hostile, isolation and fake suites run again as an unprivileged user.

CI runs as root, so this test makes the unprivileged run itself: uid 65534 (nobody) in a private
mount namespace where the interpreter is reachable even when it lives under a folder other users
cannot enter (pyenv under /root, mode 700). The launcher then takes its user-namespace path.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SUITES = ["tests/eval/test_eval_sandbox.py", "tests/eval/test_eval_isolation.py", "tests/eval/test_eval_fakes.py"]
NOBODY = 65534


def closed_ancestors(paths: list[str]) -> list[tuple[str, str]]:
    """(ancestor, path) for each path behind a folder that other users cannot enter."""
    found = []
    real = sorted({os.path.realpath(p) for p in paths})
    for path in [p for i, p in enumerate(real) if not any(p.startswith(o + os.sep) for o in real[:i])]:
        parts = path.split(os.sep)
        for i in range(2, len(parts) + 1):
            ancestor = os.sep.join(parts[:i])
            if not os.stat(ancestor).st_mode & 0o001:
                found.append((ancestor, path))
                break
    return found


def expose_script(hidden: list[tuple[str, str]], stage: Path) -> list[str]:
    """Shell lines: cover each closed ancestor with an empty tmpfs and bind the needed paths back."""
    lines = []
    for i, (_, path) in enumerate(hidden):
        lines += [f"mkdir -p {stage}/{i}", f"mount --bind {shlex.quote(path)} {stage}/{i}"]
    for ancestor in sorted({a for a, _ in hidden}):
        lines.append(f"mount -t tmpfs -o mode=755,size=1m tmpfs {shlex.quote(ancestor)}")
    for i, (_, path) in enumerate(hidden):
        lines += [f"mkdir -p {shlex.quote(path)}", f"mount --bind {stage}/{i} {shlex.quote(path)}"]
    return lines


@pytest.mark.skipif(os.geteuid() != 0, reason="already unprivileged: the other eval tests take the rootless path")
def test_eval_suites_pass_as_an_unprivileged_user(tmp_path):
    missing = [tool for tool in ("unshare", "setpriv", "mount") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"cannot become an unprivileged user here: {', '.join(missing)} not installed")
    hidden = closed_ancestors([sys.base_prefix, sys.prefix, sys.executable, str(ROOT)])
    home = Path(tempfile.mkdtemp(prefix="mtp-nobody-"))  # pytest's own temp folders are root's, mode 700
    os.chown(home, NOBODY, NOBODY)
    pytest_args = ["-q", "-p", "no:cacheprovider", "-rs", "--basetemp", str(home / "pytest"), *SUITES]
    command = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "env", f"HOME={home}", f"TMPDIR={home}",
               "PYTHONDONTWRITEBYTECODE=1", sys.executable, "-m", "pytest", *pytest_args]
    script = "\n".join(["set -e", *expose_script(hidden, tmp_path / "stage"), "exec " + shlex.join(command)])
    try:
        run = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                             cwd=ROOT, capture_output=True, text=True, timeout=900)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    output = run.stdout + run.stderr
    if "Operation not permitted" in output and "user namespace" not in output and run.returncode != 0 and "passed" not in output:
        pytest.skip(f"this machine does not let an unprivileged user run the suite: {output.strip().splitlines()[-1]}")
    assert run.returncode == 0, output[-4000:]
    skipped = [line for line in output.splitlines() if line.startswith("SKIPPED")]
    assert skipped == []  # every test ran: the user namespace gave the same isolation as root
    assert " passed" in output
