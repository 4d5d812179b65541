"""The harness side of the sandbox: start a launcher process, send it programs, guard it.

The launcher (`_launcher.py`, standard library only) does the isolation work; see its docstring.
This side adds the last guard: a launcher that does not answer within the program's wall-clock cap
plus a grace period is killed with everything it started, and a fresh one replaces it, so the
harness never hangs whatever a program does.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from mtp_cli.eval._launcher import WALL_CAP_FACTOR, kill_uid  # standard library only, so the launcher runs it

LAUNCHER = Path(__file__).with_name("_launcher.py")
GUARD_SECONDS = 10.0  # beyond the program timeout, for the launcher's own kill/reap/cleanup
START_SECONDS = 30.0


@dataclass(frozen=True)
class SandboxConfig:
    timeout: float = 3.0  # CPU seconds per program (RLIMIT_CPU, rounded up to whole seconds): decides
    wall_factor: float = 2.0  # a program idle (neither running nor waiting for a CPU) this x timeout is stopped
    memory_mb: int = 2048  # address space
    max_processes: int = 64  # RLIMIT_NPROC of the sandbox uid (threads count too)
    max_file_mb: int = 16  # RLIMIT_FSIZE: any file, stdout/stderr included
    max_open_files: int = 256
    stack_mb: int = 64  # clamped to the hard limit
    tmpfs_mb: int = 512  # size of the private /tmp
    isolate_network: bool = True  # network namespace when permitted, else sockets disabled
    private_root: bool = True  # launcher pid namespace; minimal root; mount, IPC namespaces and tmpfs per program
    drop_privileges: bool = True  # as root, run programs as an unprivileged uid


@dataclass(frozen=True)
class RunResult:
    outcome: str  # passed | failed: <error> | timed out | crashed: <signal>
    seconds: float  # wall clock
    cpu_seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.outcome == "passed"


def _launcher_env() -> dict[str, str]:
    # Nothing inherited: no tokens or secrets reach a program. A fixed hash seed makes set and
    # dict-of-str orders the same on every run, so results are reproducible.
    # Thread counts of 1: under RLIMIT_AS, OpenBLAS fails to start its threads and numpy's import fails.
    threads = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONHASHSEED": "0",
            "PYTHONDONTWRITEBYTECODE": "1", **threads}


class SandboxError(RuntimeError):
    """The launcher could not be started or broke its protocol: a harness fault, not a program's."""


class Launcher:
    """One warm launcher process; `run` sends one program and waits for its outcome."""

    def __init__(self, config: SandboxConfig):
        self.config = config
        self.proc: subprocess.Popen | None = None
        self.isolation: dict[str, str] = {}
        self._buffer = b""
        self._next_id = 0
        self.restarts = 0
        self.sandbox_uid: int | None = None  # the uid programs run as, when the launcher drops root

    def __enter__(self) -> "Launcher":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> None:
        settings = {**asdict(self.config), "temp_dir": tempfile.gettempdir()}
        self.proc = subprocess.Popen(
            [sys.executable, "-S", "-s", str(LAUNCHER), json.dumps(settings)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=_launcher_env(),
            cwd="/",
            start_new_session=True,
        )
        self._buffer = b""
        try:
            ready = self._read_line(START_SECONDS)
        except EOFError:
            ready = None
        if ready is None or not ready.get("ready"):
            self.kill()
            raise SandboxError("the sandbox launcher did not start")
        self.isolation = ready["isolation"]
        self.sandbox_uid: int | None = ready.get("uid")

    def _read_line(self, timeout: float) -> dict | None:
        """The next reply; None when none came in time; EOFError when the launcher is gone."""
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                return None
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                raise EOFError("the sandbox launcher exited")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        try:
            return json.loads(line)
        except ValueError:
            return None

    def run(self, program: str, tests: str = "", timeout: float | None = None) -> RunResult:
        """Run `program`, then `tests` (compiled apart, after trace hooks and builtins are reset)."""
        timeout = self.config.timeout if timeout is None else timeout
        if self.proc is None:
            self.start()
        self._next_id += 1
        request = json.dumps({"id": self._next_id, "program": program, "tests": tests, "timeout": timeout}) + "\n"
        started = time.monotonic()
        outcome = "timed out"
        try:
            self.proc.stdin.write(request.encode())
            self.proc.stdin.flush()
            reply = self._read_line(timeout * max(WALL_CAP_FACTOR, self.config.wall_factor) + GUARD_SECONDS)
        except (OSError, EOFError):
            reply, outcome = None, "crashed: sandbox launcher died"
        if reply is None or reply.get("id") != self._next_id:
            # The launcher is stuck (the wall-clock guard) or gone: kill it and everything it
            # started, and start a fresh one for the next program.
            self.kill()
            self.restarts += 1
            return RunResult(outcome, round(time.monotonic() - started, 4))
        return RunResult(reply["outcome"], reply["seconds"], reply["cpu_seconds"])

    def kill(self) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        self.proc.wait()
        if self.sandbox_uid is not None:
            kill_uid(self.sandbox_uid)
        self._close_pipes()
        self.proc = None

    def close(self) -> None:
        """Ask the launcher to clean up and exit (closing its stdin); kill it if it does not."""
        if self.proc is None:
            return
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=GUARD_SECONDS)
        except (OSError, subprocess.TimeoutExpired):
            self.kill()
            return
        self._close_pipes()
        self.proc = None

    def _close_pipes(self) -> None:
        for pipe in (self.proc.stdin, self.proc.stdout):
            try:
                pipe.close()
            except OSError:
                pass


def run_program(program: str, config: SandboxConfig = SandboxConfig(), tests: str = "") -> RunResult:
    """Run one program in a fresh launcher (tests and one-offs; batches use `run_programs`)."""
    with Launcher(config) as launcher:
        return launcher.run(program, tests)
