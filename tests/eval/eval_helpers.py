"""Helpers shared by the eval tests (fixtures live in conftest.py)."""

from __future__ import annotations

import os

from mtp_cli.eval import Launcher, SandboxConfig

# Short limits keep the hostile suite fast; the machine has 2 shared cores.
HOSTILE = SandboxConfig(timeout=1.0, wall_factor=1.0, memory_mb=512, max_processes=32, max_file_mb=8, tmpfs_mb=64)

# Forks a grandchild that leaves the session and sleeps forever: a daemon.
SPAWN_DAEMON = """
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        while True:
            time.sleep(0.05)
    os._exit(0)
"""


def namespaced(launcher: Launcher) -> bool:
    return launcher.isolation["processes"].startswith("pid namespace")


def processes_of(uid: int | None) -> list[int]:
    """Pids owned by `uid` (the sandbox uid of a launcher), anywhere on the machine."""
    if uid is None:
        return []
    found = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and os.stat(f"/proc/{entry}").st_uid == uid:
                found.append(int(entry))
        except OSError:
            pass
    return found
