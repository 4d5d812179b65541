"""The sandbox: every hostile program is failed or timed out, the harness survives, nothing leaks."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from eval_helpers import HOSTILE, SPAWN_DAEMON, processes_of
from mtp_cli.eval import Launcher, SandboxConfig, run_program
from mtp_cli.eval._launcher import WALL_CAP_FACTOR

EARLY = "failed: exited before the tests finished"

HOSTILE_PROGRAMS = {
    "infinite loop": ("while True:\n    pass\n", "timed out"),
    "sleep": ("import time\ntime.sleep(60)\n", "timed out"),
    "memory bomb": ("x = 'a' * (1 << 40)\n", "failed: MemoryError"),
    # Zeroing 50 MB chunks up to the 512 MiB limit may outlast 1 s on a busy machine: either is right.
    "growing memory bomb": ("chunks = []\nwhile True:\n    chunks.append(bytearray(50 << 20))\n", ("failed: MemoryError", "timed out")),
    "100 MB of output": ("import sys\nfor _ in range(100_000):\n    sys.stdout.write('x' * 1000)\n", "failed: OSError: [Errno 27] File too large"),
    "reading stdin": ("data = input()\nassert data\n", "failed: EOFError"),
    "sys.exit(0)": ("import sys\nsys.exit(0)\nassert False\n", f"{EARLY} (SystemExit: 0)"),
    "exit()": ("exit()\nassert False\n", f"{EARLY} (SystemExit: None)"),
    "quit()": ("quit()\nassert False\n", f"{EARLY} (SystemExit: None)"),
    "os._exit(0)": ("import os\nos._exit(0)\nassert False\n", f"{EARLY} (exit status 0)"),
    "os._exit(0) in a thread": ("import os, threading, time\nthreading.Thread(target=os._exit, args=(0,)).start()\ntime.sleep(5)\n", f"{EARLY} (exit status 0)"),
    "blocking thread": ("import threading\nlock = threading.Lock()\nlock.acquire()\nthreading.Thread(target=lock.acquire).start()\n", "timed out"),
    "thread joined forever": ("import threading, time\nt = threading.Thread(target=time.sleep, args=(60,))\nt.start()\nt.join()\n", "timed out"),
    "SIGTERM ignored": ("import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nwhile True:\n    time.sleep(0.01)\n", "timed out"),
    "segfault": ("import ctypes\nctypes.string_at(0)\n", "crashed: SIGSEGV"),
    "kill itself": ("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n", "crashed: SIGKILL"),
    "syntax error": ("def f(:\n", "failed: SyntaxError"),
    "open file flood": ("files = [open('/dev/null') for _ in range(10_000)]\n", "failed: OSError: [Errno 24] Too many open files"),
}


@pytest.mark.parametrize("name", list(HOSTILE_PROGRAMS))
def test_hostile_program_fails_or_times_out(launcher, name):
    program, expected = HOSTILE_PROGRAMS[name]
    started = time.monotonic()
    result = launcher.run(program)
    assert result.outcome.startswith(expected), result.outcome  # str.startswith takes a tuple too
    assert not result.passed
    assert time.monotonic() - started < HOSTILE.timeout * WALL_CAP_FACTOR + 3  # whatever the load


def test_a_program_cannot_signal_the_launcher_or_the_next_program(launcher):
    restarts = launcher.restarts
    attack = (
        "import os, signal\n"
        "for pid in range(1, os.getpid() + 50):\n"
        "    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGSTOP, signal.SIGKILL):\n"
        "        if pid != os.getpid():\n"
        "            try:\n"
        "                os.kill(pid, sig)\n"
        "            except OSError:\n"
        "                pass\n"
    )
    assert launcher.run(attack).outcome == "passed"
    assert launcher.run("import signal\nassert signal.getsignal(signal.SIGINT) is signal.default_int_handler\n").outcome == "passed"
    assert launcher.restarts == restarts


def test_passing_and_failing_programs(launcher):
    assert launcher.run("def f(x):\n    return x + 1\nassert f(1) == 2\n").outcome == "passed"
    assert launcher.run("assert 1 == 2, 'one is not two'\n").outcome == "failed: AssertionError: one is not two"
    # Only the standard library: no site-packages of the harness.
    assert launcher.run("import numpy\n").outcome == "failed: ModuleNotFoundError: No module named 'numpy'"
    # tests that finish, then exit normally or via sys.exit(0) at the very end, pass
    assert launcher.run("assert True\nimport sys\nsys.stdout.write('done')\n").outcome == "passed"


def host_addresses() -> list[str]:
    """Loopback and, where a route exists, the address this machine reaches others from."""
    addresses = ["127.0.0.1"]
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("10.255.255.255", 1))  # no packet is sent: this only picks the outgoing address
        addresses.append(probe.getsockname()[0])
    return list(dict.fromkeys(addresses))


def test_network_is_unreachable(launcher):
    # A server outside the sandbox, on this machine: a plain process reaches it (so the check can
    # fail), a sandboxed program does not, on loopback or on the machine's own address.
    with socket.create_server(("", 0)) as server:
        port = server.getsockname()[1]
        for address in host_addresses():
            program = f"import socket\nsocket.create_connection(({address!r}, {port}), timeout=0.5).close()\n"
            assert subprocess.run([sys.executable, "-c", program], timeout=30).returncode == 0, address
            outcome = launcher.run(program).outcome
            assert outcome.startswith("failed: ") and "Error" in outcome, (address, outcome)
    local = "import socket\ns = socket.socket()\ns.bind(('127.0.0.1', 0))\ns.listen()\nsocket.create_connection(s.getsockname(), timeout=0.5)\n"
    assert launcher.run(local).outcome.startswith("failed: ")


def test_environment_is_minimal(launcher, monkeypatch):
    monkeypatch.setenv("MTP_SECRET_TOKEN", "hunter2")
    with Launcher(HOSTILE) as fresh:
        program = "import os\nassert not [k for k in os.environ if 'SECRET' in k or 'TOKEN' in k], os.environ\nassert os.getcwd() == os.environ['HOME']\n"
        assert fresh.run(program).outcome == "passed"


def test_fork_bomb_is_contained(isolated):
    launcher = isolated
    bomb = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    started = time.monotonic()
    result = launcher.run(bomb)
    assert result.outcome in ("timed out", "failed: BlockingIOError: [Errno 11] Resource temporarily unavailable")
    assert time.monotonic() - started < HOSTILE.timeout * WALL_CAP_FACTOR + 3
    assert processes_of(launcher.sandbox_uid) == []
    assert launcher.run("assert 1 + 1 == 2\n").outcome == "passed"  # the launcher survived


def test_daemon_child_is_killed_and_fails_the_sample(isolated):
    launcher = isolated
    program = SPAWN_DAEMON + 'time.sleep(0.2)\nassert True  # the tests "pass", but a process is left running\n'
    result = launcher.run(program)
    assert result.outcome.startswith("failed: left 1 process"), result.outcome
    assert processes_of(launcher.sandbox_uid) == []


def test_nothing_outside_the_program_folder_changes(isolated, tmp_path):
    launcher = isolated
    shared = tmp_path / "world-writable"  # in the host's /tmp
    shared.mkdir()
    shared.chmod(0o777)
    private = tmp_path / "private"
    private.mkdir()
    sentinels = [shared / "keep.txt", private / "keep.txt"]
    for path in sentinels:
        path.write_text("original")
    before = {p: (p.read_text(), p.stat().st_mtime_ns) for p in sentinels}
    for path in sentinels:
        for action in (f"open({str(path)!r}, 'w').write('owned')", f"import os\nos.remove({str(path)!r})",
                       f"open({str(path.parent / 'new.txt')!r}, 'w').write('x')"):
            assert launcher.run(action + "\n").outcome.startswith("failed: "), action
    # Writing into the private /tmp works but is gone for the next program.
    assert launcher.run("open('/tmp/left-behind', 'w').write('x')\n").outcome == "passed"
    assert launcher.run("import os\nassert not os.path.exists('/tmp/left-behind')\n").outcome == "passed"
    assert not os.path.exists("/tmp/left-behind")
    assert {p: (p.read_text(), p.stat().st_mtime_ns) for p in sentinels} == before
    assert sorted(os.listdir(shared)) == ["keep.txt"] and sorted(os.listdir(private)) == ["keep.txt"]
    assert launcher.run("import os\nassert os.getuid() != 0\n").outcome == "passed"


def test_folder_is_fresh_and_removed(launcher):
    program = "import os\nassert os.listdir('.') == ['output.txt'], os.listdir('.')\nopen('mine.txt', 'w').write('x')\n"
    assert launcher.run(program).outcome == "passed"
    assert launcher.run(program).outcome == "passed"  # nothing left from the previous program


def test_without_namespaces_or_uid_the_socket_module_is_disabled():
    config = SandboxConfig(timeout=1.0, memory_mb=512, isolate_network=False, private_root=False, drop_privileges=False)
    with Launcher(config) as plain:
        assert plain.isolation["network"] == "socket module disabled"
        outcome = plain.run("import socket\nsocket.socket()\n").outcome
        assert outcome == "failed: OSError: [Errno 101] network is disabled in the mtp sandbox"
        assert plain.run("import sys\nsys.exit(0)\n").outcome.startswith(EARLY)
        assert plain.run("assert [1, 2] == sorted([2, 1])\n").outcome == "passed"


def test_run_program_one_off():
    assert run_program("assert 2 ** 10 == 1024\n", HOSTILE).outcome == "passed"


def test_wall_clock_guard_replaces_a_stuck_launcher(monkeypatch):
    from mtp_cli.eval import sandbox

    monkeypatch.setattr(sandbox, "GUARD_SECONDS", 0.5)
    with Launcher(HOSTILE) as stuck:
        os.killpg(stuck.proc.pid, signal.SIGSTOP)  # the launcher itself stops answering
        started = time.monotonic()
        assert stuck.run("assert True\n").outcome == "timed out"
        assert time.monotonic() - started < HOSTILE.timeout * WALL_CAP_FACTOR + 3
        assert stuck.restarts == 1
        assert stuck.run("assert True\n").outcome == "passed"  # a fresh launcher took over


def test_a_dead_launcher_is_reported_and_replaced():
    with Launcher(HOSTILE) as dying:
        os.kill(dying.proc.pid, signal.SIGKILL)
        assert dying.run("assert True\n").outcome == "crashed: sandbox launcher died"
        assert dying.run("assert True\n").outcome == "passed"


def test_timeout_counts_cpu_seconds_and_wall_clock_backs_it_up():
    # 1 CPU second; 4 s idle for a program that sleeps.
    with Launcher(SandboxConfig(timeout=1.0, wall_factor=4.0)) as cpu_limited:
        busy = cpu_limited.run("while True:\n    pass\n")
        assert busy.outcome == "timed out" and 0.9 < busy.cpu_seconds < 2.5  # stopped by the CPU limit
        sleeper = cpu_limited.run("import time\ntime.sleep(1.5)\nassert True\n")
        assert sleeper.outcome == "passed" and sleeper.seconds >= 1.5 and sleeper.cpu_seconds < 0.5
        ignores = cpu_limited.run("import signal\nsignal.signal(signal.SIGXCPU, signal.SIG_IGN)\nwhile True:\n    pass\n")
        assert ignores.outcome == "timed out"  # SIGKILL at the hard limit, a second later
