"""The sandbox launcher: a small, warm Python process that forks one fresh child per test program.

Started by `mtp_cli.eval.sandbox.Launcher` as `python -S -s _launcher.py SETTINGS_JSON`. It imports
only the standard library (never mtp_cli, numpy or torch), so what a program inherits from it is a
bare interpreter; forking it costs about a millisecond where starting a new interpreter costs 7-30.

Once, at start: it asks to be killed with its parent, becomes the subreaper of everything its
programs spawn, and (when the OS allows) moves into its own network namespace (no interface up) and
mount namespace (private tmpfs on /tmp, /var/tmp, /dev/shm). As root, its programs run as an
unprivileged uid of their own (1,000,000 + the launcher's pid), so RLIMIT_NPROC binds and files
outside the program's folder are not writable.

Time: a program gets `timeout` seconds of CPU (RLIMIT_CPU, so a loaded machine does not turn a slow
but correct program into a timeout) and `wall_factor` x `timeout` seconds of wall clock (for programs
that sleep or block).

Per program, the child: new session, fresh temporary folder as cwd, stdin /dev/null, stdout and
stderr to a size-capped file, a minimal environment, rlimits (CPU, address space, processes, file
size, open files, stack), then the uid switch, then `exec` of the program as `__main__`. It reports
"passed" with a per-program nonce only after the whole program (the tests) ran to the end, so an
early `exit()` / `sys.exit(0)` / `os._exit(0)` can never pass. The launcher waits on a pidfd with a
wall-clock deadline, then SIGKILLs the child's process group and every remaining descendant, reaps
them, removes the folder, and replies.

Protocol: one JSON request per line on stdin {"id", "program", "timeout"}; one JSON line per reply on
stdout {"id", "outcome", "seconds"}; the first line it writes is {"ready": true, "isolation": {...}}.
"""

import builtins
import gc
import json
import math
import os
import resource
import select
import shutil
import signal
import sys
import time
import types

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWNET = 0x00020000, 0x10000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 32, 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_CHILD_SUBREAPER = 1, 36
UID_BASE = 1_000_000
# Imported once in the launcher so each child does not pay for them (typing alone costs more than the
# fork): pure modules whose import has no per-process state. A program still has to import them
# itself to use them; they only sit in sys.modules. `random` is reseeded in every child.
PRELOAD = ("typing", "math", "re", "collections", "itertools", "functools", "heapq", "bisect", "string", "hashlib", "operator", "copy")
RESULT_FD = 3
MAX_MESSAGE = 300


# ---------------------------------------------------------------- once, at start


_LIBC = None


def _libc():
    global _LIBC
    import ctypes  # children inherit it already imported

    _LIBC = ctypes.CDLL(None, use_errno=True)
    return ctypes, _LIBC


def _check(ctypes, result: int, what: str) -> None:
    if result != 0:
        raise OSError(ctypes.get_errno(), f"{what}: {os.strerror(ctypes.get_errno())}")


def _write_file(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _isolate(settings: dict) -> tuple[dict, list[str]]:
    """Enter new namespaces where permitted. Returns what was achieved (recorded in every summary)
    and the scratch folders that are now private tmpfs mounts."""
    ctypes, libc = _libc()
    parent = os.getppid()
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the harness died before the line above
        os._exit(1)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    facts = {"network": "socket module disabled", "filesystem": "host /tmp", "user": "same user as mtp"}
    root = os.geteuid() == 0
    if settings["isolate_network"]:
        try:
            if root:
                _check(ctypes, libc.unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")
            else:  # an unprivileged user may still own a user namespace with a network namespace
                uid, gid = os.geteuid(), os.getegid()
                _check(ctypes, libc.unshare(CLONE_NEWUSER | CLONE_NEWNET), "unshare(CLONE_NEWUSER|CLONE_NEWNET)")
                _write_file("/proc/self/setgroups", "deny")
                _write_file("/proc/self/uid_map", f"{uid} {uid} 1")
                _write_file("/proc/self/gid_map", f"{gid} {gid} 1")
            facts["network"] = "network namespace (no interfaces)"
        except OSError:
            pass
    private = _private_tmp(ctypes, libc, settings) if settings["private_tmp"] and root else []
    if private:
        facts["filesystem"] = f"private tmpfs on {', '.join(private)} ({settings['tmpfs_mb']} MB)"
    if root and settings["drop_privileges"]:
        hidden = _hidden_python_dirs()
        if hidden and "/tmp" in private:
            try:
                _expose(ctypes, libc, hidden)
                facts["filesystem"] += f"; {', '.join(sorted(set(a for a, _ in hidden)))} replaced by read-only Python dirs"
                hidden = []
            except OSError:
                pass
        if hidden:  # an unprivileged uid could not even import the standard library
            settings["drop_privileges"] = False
            facts["user"] = f"root (Python under {hidden[0][0]}, unreadable to other users)"
        else:
            facts["user"] = f"uid {UID_BASE + os.getpid()} (unprivileged, one per launcher)"
    return facts, private


def _private_tmp(ctypes, libc, settings: dict) -> list[str]:
    """A mount namespace with a fresh tmpfs on each shared scratch folder; returns those mounted."""
    try:
        _check(ctypes, libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
        _check(ctypes, libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "mount --make-rprivate /")
    except OSError:
        return []
    size = f"size={settings['tmpfs_mb']}m,mode=1777".encode()
    mounted = []
    for path in ("/tmp", "/var/tmp", "/dev/shm"):
        if os.path.isdir(path) and not os.path.islink(path):
            if libc.mount(b"tmpfs", path.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, size) == 0:
                mounted.append(path)
    return mounted


def _python_dirs() -> list[str]:
    """The folders programs import from (stdlib, site-packages), without nested duplicates."""
    dirs = sorted({os.path.realpath(p) for p in [sys.base_prefix, sys.prefix, *sys.path] if os.path.isdir(p)})
    return [d for i, d in enumerate(dirs) if not any(d.startswith(o + os.sep) for o in dirs[:i])]


def _hidden_python_dirs() -> list[tuple[str, str]]:
    """(ancestor, dir) for Python dirs behind an ancestor other users cannot enter (e.g. /root, 0700)."""
    hidden = []
    for path in _python_dirs():
        parts = path.split(os.sep)
        for i in range(2, len(parts)):
            ancestor = os.sep.join(parts[:i])
            if not os.stat(ancestor).st_mode & 0o001:
                hidden.append((ancestor, path))
                break
    return hidden


def _expose(ctypes, libc, hidden: list[tuple[str, str]]) -> None:
    """In our mount namespace: cover each closed ancestor with an empty tmpfs (hiding what it holds)
    and bind the Python dirs back into it read-only, so the sandbox uid can import them."""
    staging = []
    for i, (_, path) in enumerate(hidden):
        stage = f"/tmp/.mtp-python-{i}"
        os.mkdir(stage, 0o755)
        _check(ctypes, libc.mount(path.encode(), stage.encode(), None, MS_BIND | MS_REC, None), f"bind {path}")
        staging.append(stage)
    for ancestor in sorted({a for a, _ in hidden}):
        _check(ctypes, libc.mount(b"tmpfs", ancestor.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, b"size=1m,mode=755"), ancestor)
    for stage, (_, path) in zip(staging, hidden):
        os.makedirs(path, 0o755, exist_ok=True)
        _check(ctypes, libc.mount(stage.encode(), path.encode(), None, MS_BIND | MS_REC, None), f"bind {path}")
        flags = MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC
        _check(ctypes, libc.mount(None, path.encode(), None, flags, None), f"read-only {path}")
        _check(ctypes, libc.umount2(stage.encode(), 2), f"umount {stage}")  # MNT_DETACH


def _sandbox_uid(settings: dict) -> int | None:
    if os.geteuid() == 0 and settings["drop_privileges"]:
        return UID_BASE + os.getpid()
    return None


# ---------------------------------------------------------------- the child: one program


def _cpu_limit(timeout: float) -> int:
    return max(1, math.ceil(timeout))  # RLIMIT_CPU counts whole seconds


def _set_limits(settings: dict, timeout: float) -> None:
    mb = 1 << 20
    cpu = _cpu_limit(timeout)  # SIGXCPU at the soft limit, SIGKILL a second later
    limits = {
        resource.RLIMIT_CPU: (cpu, cpu + 1),
        resource.RLIMIT_AS: (settings["memory_mb"] * mb,) * 2,
        resource.RLIMIT_FSIZE: (settings["max_file_mb"] * mb,) * 2,
        resource.RLIMIT_NOFILE: (settings["max_open_files"],) * 2,
        resource.RLIMIT_NPROC: (settings["max_processes"],) * 2,
        resource.RLIMIT_CORE: (0, 0),
    }
    for which, (soft, hard) in limits.items():
        _, old_hard = resource.getrlimit(which)
        if old_hard != resource.RLIM_INFINITY:  # never ask above the hard limit: that raises
            soft, hard = min(soft, old_hard), min(hard, old_hard)
        resource.setrlimit(which, (soft, hard))
    _, stack_hard = resource.getrlimit(resource.RLIMIT_STACK)
    stack = settings["stack_mb"] * mb
    if stack_hard != resource.RLIM_INFINITY:
        stack = min(stack, stack_hard)
    resource.setrlimit(resource.RLIMIT_STACK, (stack, stack_hard))


def _redirect_fds(result_w: int) -> None:
    null = os.open(os.devnull, os.O_RDONLY)
    out = os.open("output.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(null, 0)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.dup2(result_w, RESULT_FD)
    os.closerange(RESULT_FD + 1, 1 << 16)
    sys.stdin = sys.__stdin__ = open(0, "r", closefd=False)
    sys.stdout = sys.__stdout__ = open(1, "w", closefd=False)
    sys.stderr = sys.__stderr__ = open(2, "w", closefd=False)


def _minimal_env(workdir: str) -> None:
    # The launcher was started with a minimal environment (sandbox._launcher_env); add the folder.
    os.environ["HOME"] = os.environ["TMPDIR"] = workdir


def _blocked(*args, **kwargs):
    raise OSError(101, "network is disabled in the mtp sandbox")


def _disable_sockets() -> None:
    """No network namespace: take the socket constructors away before the program runs."""
    import _socket
    import socket

    for module in (_socket, socket):
        for name in ("socket", "socketpair", "fromfd", "create_connection", "create_server", "getaddrinfo"):
            if hasattr(module, name):
                setattr(module, name, _blocked)
    socket.SocketType = _blocked


def _drop_privileges(uid: int) -> None:
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)


def _describe(error: BaseException) -> str:
    """'ErrorType: first line of its message', short enough for one results line."""
    try:
        message = str(error).strip()
    except Exception:
        message = "<unprintable message>"
    message = message.splitlines()[0] if message else ""
    text = f"{type(error).__name__}: {message}" if message else type(error).__name__
    return text[:MAX_MESSAGE]


def _report(status: str, **fields) -> None:
    try:
        os.write(RESULT_FD, (json.dumps({"status": status, **fields}) + "\n").encode())
    except OSError:
        pass


def _finalize() -> None:
    """What a script's interpreter does at exit: wait for non-daemon threads, run atexit handlers."""
    try:
        if "threading" in sys.modules:
            sys.modules["threading"]._shutdown()
        import atexit

        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:
        pass


def _run_program(program: str, nonce: str) -> None:
    main = types.ModuleType("__main__")
    main.__dict__.update(__builtins__=builtins, __file__="program.py")
    sys.modules["__main__"] = main
    sys.argv = ["program.py"]
    try:
        exec(compile(program, "program.py", "exec"), main.__dict__)
        sys.stdout.flush()  # output over the size cap fails here, as it would at exit
        sys.stderr.flush()
    except SystemExit as e:
        _report("failed", error=f"exited before the tests finished (SystemExit: {e.code})")
        return
    except BaseException as e:
        _report("failed", error=_describe(e))
        return
    _report("passed", nonce=nonce)
    _finalize()


def _prepare_child(timeout: float, settings: dict, workdir: str, uid, result_w: int, sockets_ok: bool) -> None:
    os.setsid()
    os.chdir(workdir)
    _redirect_fds(result_w)
    _minimal_env(workdir)
    _set_limits(settings, timeout)
    if uid is not None:
        _drop_privileges(uid)
    _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # after setuid, which clears it
    if not sockets_ok:
        _disable_sockets()
    if "random" in sys.modules:  # imported by the launcher's own modules: a fresh seed per program
        sys.modules["random"].seed()


def _child(program: str, timeout: float, settings: dict, workdir: str, uid, result_w: int, nonce: str, sockets_ok: bool):
    try:
        _prepare_child(timeout, settings, workdir, uid, result_w, sockets_ok)
    except BaseException as e:  # a broken sandbox must not look like a failing program
        for fd in (RESULT_FD, result_w):
            try:
                os.write(fd, (json.dumps({"status": "sandbox error", "error": _describe(e)}) + "\n").encode())
                break
            except OSError:
                pass
        return
    _run_program(program, nonce)


# ---------------------------------------------------------------- the launcher: wait, kill, reap


def _descendants(pid: int) -> list[int]:
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        try:
            tids = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{current}/task/{tid}/children") as f:
                    children = [int(p) for p in f.read().split()]
            except OSError:
                continue
            found += children
            stack += children
    return found


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def _reap_all() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _kill_leftovers() -> int:
    """SIGKILL every process still below the launcher (orphans come to it: it is a subreaper).

    Returns how many were still running (zombies not counted) at the first look.
    """
    me = os.getpid()
    running = None
    for _ in range(100):  # a fork bomb keeps forking while we kill: repeat until nothing is left
        pids = _descendants(me)
        if running is None:
            running = sum(not _is_zombie(p) for p in pids)
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.001)
        _reap_all()
    _reap_all()
    return running or 0


def kill_uid(uid: int) -> None:
    """Kill every process of the sandbox uid, wherever it lives (leftovers of a killed launcher)."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setuid(uid)
            os.kill(-1, signal.SIGKILL)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def _exited_within(pid: int, timeout: float) -> bool:
    """Block until the child exits or the timeout passes, without reaping it."""
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):  # Linux < 5.3: poll
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                return True
            time.sleep(0.001)
        return False
    try:
        ready, _, _ = select.select([pidfd], [], [], timeout)
    finally:
        os.close(pidfd)
    return bool(ready)


def _wait(pid: int, timeout: float) -> tuple[int, bool, float]:
    """Wait for the child until the deadline; on timeout kill its group.

    Returns (wait status, timed out, CPU seconds the child used).
    """
    timed_out = not _exited_within(pid, timeout)
    if timed_out:
        for kill in (os.killpg, os.kill):  # killpg fails if the child has not yet called setsid
            try:
                kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    _, status, usage = os.wait4(pid, 0)
    return status, timed_out, usage.ru_utime + usage.ru_stime


def _read_result(fd: int) -> dict:
    os.set_blocking(fd, False)
    try:
        data = os.read(fd, 1 << 16)
    except BlockingIOError:
        data = b""
    os.close(fd)
    try:
        result = json.loads(data.split(b"\n", 1)[0])
        return result if isinstance(result, dict) else {}
    except ValueError:
        return {}


def _classify(status: int, timed_out: bool, out_of_cpu: bool, result: dict, nonce: str, leftovers: int) -> str:
    if timed_out:
        return "timed out"
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig == signal.SIGXCPU or (sig == signal.SIGKILL and out_of_cpu):  # soft or hard CPU limit
            return "timed out"
        try:
            return f"crashed: {signal.Signals(sig).name}"
        except ValueError:
            return f"crashed: signal {sig}"
    code = os.WEXITSTATUS(status)
    if result.get("status") == "sandbox error":
        return f"failed: sandbox error: {result.get('error')}"
    if result.get("status") == "failed" and isinstance(result.get("error"), str):
        return f"failed: {result['error'][:MAX_MESSAGE]}"
    if result.get("status") == "passed" and result.get("nonce") == nonce:
        if code != 0:
            return f"failed: exit status {code} after the tests ran"
        if leftovers:
            return f"failed: left {leftovers} process(es) running after it ended"
        return "passed"
    return f"failed: exited before the tests finished (exit status {code})"


class ProgramRunner:
    def __init__(self, settings: dict, facts: dict, private_dirs: list[str]):
        self.settings = settings
        self.uid = _sandbox_uid(settings)
        self.sockets_ok = facts["network"].startswith("network namespace")
        self.private_dirs = private_dirs  # only these are emptied between programs
        self.root = os.path.join("/tmp" if "/tmp" in self.private_dirs else settings["temp_dir"], f"mtp-sandbox-{os.getpid()}")
        os.makedirs(self.root, mode=0o711, exist_ok=True)
        self.count = 0

    def _workdir(self) -> str:
        self.count += 1
        path = os.path.join(self.root, str(self.count))
        os.mkdir(path, 0o700)
        if self.uid is not None:
            os.chown(path, self.uid, self.uid)
        return path

    def run(self, program: str, timeout: float) -> dict:
        workdir = self._workdir()
        nonce = os.urandom(16).hex()
        result_r, result_w = os.pipe()
        start = time.monotonic()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(result_r)
                _child(program, timeout, self.settings, workdir, self.uid, result_w, nonce, self.sockets_ok)
            finally:
                os._exit(0)  # never return into the launcher's loop; no marker was written
        os.close(result_w)
        status, timed_out, cpu_seconds = _wait(pid, timeout * self.settings["wall_factor"])
        seconds = time.monotonic() - start
        result = _read_result(result_r)
        leftovers = _kill_leftovers()
        shutil.rmtree(workdir, ignore_errors=True)
        self._empty_private_dirs()
        out_of_cpu = cpu_seconds >= _cpu_limit(timeout)
        outcome = _classify(status, timed_out, out_of_cpu, result, nonce, leftovers)
        return {"outcome": outcome, "seconds": round(seconds, 4), "cpu_seconds": round(cpu_seconds, 4)}

    def _empty_private_dirs(self) -> None:
        """What one program left in the private /tmp, /var/tmp or /dev/shm must not reach the next."""
        for folder in self.private_dirs:
            try:
                names = os.listdir(folder)
            except OSError:
                continue
            for name in names:
                path = os.path.join(folder, name)
                if path == self.root:
                    continue
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    try:
                        os.unlink(path)
                    except OSError:
                        pass

    def close(self) -> None:
        _kill_leftovers()
        if self.uid is not None:
            kill_uid(self.uid)
        shutil.rmtree(self.root, ignore_errors=True)


class _Lines:
    """Protocol lines read with os.read, so no buffered stdin object holds requests a child could see."""

    def __init__(self, fd: int):
        self.fd, self.buffer = fd, b""

    def __iter__(self):
        while True:
            while b"\n" not in self.buffer:
                chunk = os.read(self.fd, 1 << 20)
                if not chunk:
                    return
                self.buffer += chunk
            line, self.buffer = self.buffer.split(b"\n", 1)
            yield line


def _quit(code=None):
    raise SystemExit(code)


def main() -> None:
    settings = json.loads(sys.argv[1])
    sys.path[:] = [p for p in sys.path if p != os.path.dirname(os.path.abspath(__file__))]
    sys.path += [p for p in settings["site_paths"] if p not in sys.path]
    builtins.exit = builtins.quit = _quit  # what site.py would add; -S skips it
    proto_in, proto_out = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.close(null)
    facts, private_dirs = _isolate(settings)
    launcher = ProgramRunner(settings, facts, private_dirs)
    if launcher.uid is not None:
        kill_uid(launcher.uid)  # a previous launcher with this pid may have left processes
    for name in PRELOAD:
        __import__(name)
    facts["preloaded"] = ", ".join(PRELOAD)
    gc.freeze()  # children must not copy the launcher's pages just to collect its objects
    os.write(proto_out, (json.dumps({"ready": True, "isolation": facts, "uid": launcher.uid}) + "\n").encode())
    try:
        for line in _Lines(proto_in):
            request = json.loads(line)
            reply = launcher.run(request["program"], float(request["timeout"]))
            os.write(proto_out, (json.dumps({"id": request["id"], **reply}) + "\n").encode())
    finally:
        launcher.close()


if __name__ == "__main__":
    main()
