"""The sandbox launcher: a small, warm Python process that forks one fresh sandbox per test program.

Started by `mtp_cli.eval.sandbox.Launcher` as `python -S -s _launcher.py SETTINGS_JSON`. It imports
only the standard library (never mtp_cli, numpy or torch), so what a program inherits from it is a
bare interpreter; forking it costs about a millisecond where starting a new interpreter costs 7-30.

Processes, with namespaces (root, or any user allowed to create a user namespace):

    mtp eval thread -> stub -> launcher L (pid 1 of its own pid namespace) -> one child per program

Each link asks the kernel to SIGKILL it when its parent dies (PR_SET_PDEATHSIG), and the death of a
pid namespace's pid 1 kills every process in it, so whatever ends `mtp eval` (SIGINT, SIGTERM,
SIGKILL, the OOM killer), no program process survives it, daemons and setsid'd grandchildren
included. Between programs L kills every process left below it (orphans come to it: it is pid 1).
Without root the stub first enters a new user namespace (uid 1000 inside, the user's own uid
outside); programs then run with no capabilities.

Once, at start, L builds its root the way bubblewrap does: a tmpfs with read-only bind mounts of the
Python standard library (its site-packages hidden) and the system library folders, /etc holding only
passwd, group, hosts and ld.so.cache, a /dev with null, zero, full, random and urandom, and /proc of
its own pid namespace; then pivot_root into it. Nothing else of the host is there: no harness
site-packages, benchmark data, host /tmp, unix sockets or other processes. L also owns a network
namespace with no interface up.

Per program, a child (as root forked ahead of its job, so the kernel's namespace work overlaps the
previous program) enters fresh mount and IPC namespaces, mounts one tmpfs (`tmpfs_mb`, the total of
everything the program can write) bound to /work (its folder and cwd), /tmp, /var/tmp, /dev/shm and
/run, and a /proc (hidepid) showing only its own processes; all of it vanishes with the program, so
the harness never walks what a program leaves behind. Then, given its job: new session, stdin
/dev/null, stdout and stderr to a size-capped file, minimal environment, rlimits (CPU, address
space, processes, file size, open files, stack), the uid switch (root: an unprivileged uid per
launcher; without root: every capability dropped), and the program as `__main__`.

Time: the CPU limit decides. A program gets `timeout` CPU seconds: RLIMIT_CPU per process, and L
stops it when its processes together reach that. The wall guard only stops programs that sleep or
block: it kills one that has spent `wall_factor` x `timeout` seconds neither running nor waiting
for a CPU (per-thread schedstat), so load on the machine never turns a correct program into a
timeout; WALL_CAP_FACTOR x `timeout` of wall clock is the last resort.

A program is two code objects, the solution and its tests, compiled before either runs. Before the
tests run, trace and profile hooks are removed and builtins restored, so neither can skip or fake
them. The program reports "passed" with a per-program nonce only after the tests ran to the end,
so an early `exit()` / `sys.exit(0)` / `os._exit(0)` can never pass; a program that leaves
processes running fails.

Without namespaces (`private_root` off, or neither root nor user namespaces available) a program
runs in a folder under the host temp folder, L is the subreaper of its orphans, and a daemon can
outlive a killed `mtp eval`.

Protocol: one JSON request per line on stdin {"id", "program", "tests", "timeout"}; one JSON line
per reply on stdout {"id", "outcome", "seconds", "cpu_seconds"}; the first line it writes is
{"ready": true, "isolation": {...}, "uid": ...}.
"""

import builtins
import gc
import json
import math
import os
import resource
import select
import signal
import sys
import time
import types

CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x20000, 0x8000000, 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 8, 32, 4096, 16384, 1 << 18
MNT_DETACH = 2
PR_SET_PDEATHSIG, PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS = 1, 36, 38
PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41}  # syscall numbers; elsewhere chroot
UID_BASE = 1_000_000  # as root, programs run as UID_BASE + the stub's pid
INNER_UID = 1000  # without root: the user's uid inside its user namespace
WALL_CAP_FACTOR = 10  # wall clock, x timeout, after which any program is stopped
POLL_SECONDS = 0.25  # how often the launcher looks at a running program's CPU and idle time
SCRATCH = {"/work": 0o700, "/tmp": 0o1777, "/var/tmp": 0o1777, "/dev/shm": 0o1777, "/run": 0o755}
DEVICES = ("null", "zero", "full", "random", "urandom")
# Imported once in the launcher so each child does not pay for them (typing alone costs more than the
# fork): pure modules whose import has no per-process state. A program still has to import them
# itself to use them; they only sit in sys.modules. `random` is reseeded in every child.
PRELOAD = ("typing", "math", "re", "collections", "itertools", "functools", "heapq", "bisect", "string", "hashlib", "operator", "copy")
RESULT_FD = 3
MAX_MESSAGE = 300

# What a program can replace, saved before any program runs, restored before its tests.
_EXEC, _COMPILE, _SETTRACE, _SETPROFILE = exec, compile, sys.settrace, sys.setprofile
_BUILTINS: dict = {}
_LIBC = None
_CTYPES = None


# ---------------------------------------------------------------- system calls


def _libc():
    global _LIBC, _CTYPES
    if _LIBC is None:
        import ctypes  # children inherit it already imported

        _CTYPES, _LIBC = ctypes, ctypes.CDLL(None, use_errno=True)
    return _LIBC


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = _CTYPES.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _bytes(text):
    return None if text is None else os.fsencode(text)


def _unshare(flags: int) -> None:
    _check(_libc().unshare(flags), "unshare")


def _mount(source, target: str, fstype, flags: int, data=None) -> None:
    _check(_libc().mount(_bytes(source), _bytes(target), _bytes(fstype), flags, _bytes(data)), f"mount {target}")


def _bind_read_only(source: str, target: str) -> None:
    _mount(source, target, None, MS_BIND | MS_REC)
    _mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


def _die_with_parent() -> None:
    _libc().prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _write_file(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


# ---------------------------------------------------------------- once, at start: namespaces


def _enter_namespaces(settings: dict) -> dict:
    """Enter new namespaces where the OS allows; returns the facts recorded in every summary."""
    facts = {"processes": "process group and subreaper (a daemon can outlive a killed mtp eval)",
             "network": "socket module disabled", "filesystem": f"host filesystem, folder under {settings['temp_dir']}",
             "user": "same user as mtp", "ipc": "shared with the host"}
    root = os.geteuid() == 0
    flags = (CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWPID) if settings["private_root"] else 0
    flags |= CLONE_NEWNET if settings["isolate_network"] else 0
    if not flags:
        return facts
    try:
        if root:
            _unshare(flags)
        else:
            uid, gid = os.geteuid(), os.getegid()
            _unshare(CLONE_NEWUSER | flags)
            _write_file("/proc/self/setgroups", "deny")
            _write_file("/proc/self/uid_map", f"{INNER_UID} {uid} 1")
            _write_file("/proc/self/gid_map", f"{INNER_UID} {gid} 1")
            facts["user"] = f"user namespace: uid {INNER_UID} inside ({uid} outside), no capabilities"
            settings["user_namespace"] = True
    except OSError:
        settings["private_root"] = False
        return facts
    if flags & CLONE_NEWNET:
        facts["network"] = "network namespace (no interfaces)"
    if flags & CLONE_NEWPID:
        facts["processes"] = "pid namespace of the launcher (all killed with it); leftovers killed after each program"
        facts["ipc"] = "IPC namespace per program"
        facts["filesystem"] = (f"minimal read-only root (stdlib, system libraries); private tmpfs of {settings['tmpfs_mb']} MB "
                               f"on {', '.join(SCRATCH)}; /proc of its own processes")
    return facts


def _split_into_pid_namespace() -> None:
    """Fork: the child, pid 1 of the new pid namespace, goes on as the launcher; this stub waits.

    The lifeline pipe tells the child whether the stub died before it asked to die with it."""
    lifeline_r, lifeline_w = os.pipe()
    pid = os.fork()
    if pid:
        os.close(lifeline_r)
        _, status = os.waitpid(pid, 0)
        os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
    os.close(lifeline_w)
    _die_with_parent()
    if select.select([lifeline_r], [], [], 0)[0]:  # EOF: the stub is gone
        os._exit(1)
    os.close(lifeline_r)


# ---------------------------------------------------------------- once, at start: the root


def _python_dirs() -> list[str]:
    """The folders programs import from (the standard library), without nested duplicates."""
    dirs = sorted({os.path.realpath(p) for p in sys.path if os.path.isdir(p)})
    return [d for i, d in enumerate(dirs) if not any(d.startswith(o + os.sep) for o in dirs[:i])]


def _library_dirs() -> list[str]:
    return [d for d in ("/lib", "/lib64", "/lib32", "/usr/lib", "/usr/lib64", "/usr/lib32", "/usr/local/lib") if os.path.lexists(d)]


def _package_dirs(bound: list[str]) -> list[str]:
    """site-packages and dist-packages inside the bound folders: hidden under empty mounts."""
    found = []
    for top in bound:
        if os.path.islink(top):
            continue
        for parent in [top] + [os.path.join(top, n) for n in os.listdir(top) if n.startswith("python")]:
            for name in ("site-packages", "dist-packages"):
                path = os.path.join(parent, name)
                if os.path.isdir(path) and not os.path.islink(path):
                    found.append(path)
    return found


def _make_path(base: str, path: str, directory: bool = True) -> str:
    target = base + path
    os.makedirs(target if directory else os.path.dirname(target), 0o755, exist_ok=True)
    if not directory and not os.path.exists(target):
        os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o644))
    return target


def _mount_point(needed: list[str]) -> str:
    """An existing host folder to build the root on, not holding anything the root needs."""
    for candidate in ("/tmp", "/mnt", "/media", "/srv", "/opt", "/var/tmp"):
        if os.path.isdir(candidate) and not os.path.islink(candidate) and not any((p + "/").startswith(candidate + "/") for p in needed):
            return candidate
    raise OSError("no folder to build the sandbox root on")


def _fill_etc(base: str, uid: int) -> None:
    _make_path(base, "/etc")
    _write_file(base + "/etc/passwd", f"root:x:0:0:root:/:/usr/sbin/nologin\nsandbox:x:{uid}:{uid}:sandbox:/work:/usr/sbin/nologin\n")
    _write_file(base + "/etc/group", f"root:x:0:\nsandbox:x:{uid}:\n")
    _write_file(base + "/etc/hosts", "127.0.0.1 localhost\n::1 localhost\n")
    if os.path.isfile("/etc/ld.so.cache"):
        _bind_read_only("/etc/ld.so.cache", _make_path(base, "/etc/ld.so.cache", directory=False))


def _fill_dev(base: str) -> None:
    _make_path(base, "/dev")
    for name in DEVICES:
        _mount(f"/dev/{name}", _make_path(base, f"/dev/{name}", directory=False), None, MS_BIND)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{base}/dev/{name}")


def _build_root(uid: int) -> None:
    """A tmpfs root holding only what a program needs (see the module docstring); pivot into it.
    On failure nothing of it stays mounted."""
    _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing of ours propagates to the host
    python, libraries = _python_dirs(), _library_dirs()
    base = _mount_point(python + [os.path.realpath(d) for d in libraries])
    _mount("tmpfs", base, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=755")
    try:
        _fill_root(base, python, libraries, uid)
    except OSError:
        os.chdir("/")
        _libc().umount2(os.fsencode(base), MNT_DETACH)
        raise


def _fill_root(base: str, python: list[str], libraries: list[str], uid: int) -> None:
    for path in libraries:
        if os.path.islink(path):
            _make_path(base, os.path.dirname(path))
            os.symlink(os.readlink(path), base + path)
    for path in python + [d for d in libraries if not os.path.islink(d)]:
        _bind_read_only(path, _make_path(base, path))
    for path in _package_dirs(python + libraries):
        _mount("tmpfs", base + path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "size=4k,mode=555")
    _fill_etc(base, uid)
    _fill_dev(base)
    for path in [*SCRATCH, "/proc", "/.scratch"]:
        _make_path(base, path)
    _mount("proc", base + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)  # this launcher's pid namespace
    _mount(None, base, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    os.chdir(base)
    number = PIVOT_ROOT.get(os.uname().machine)
    if number is not None:
        _check(_libc().syscall(number, b".", b"."), "pivot_root")
        _check(_libc().umount2(b".", MNT_DETACH), "umount the old root")
    else:
        os.chroot(".")
    os.chdir("/")


# ---------------------------------------------------------------- per program: its namespaces, its processes


def _scratch(settings: dict, uid: int | None) -> None:
    """The program's fresh mount and IPC namespaces: one tmpfs for every writable folder, and a
    /proc where hidepid hides every process it could not ptrace (the launcher and its spare,
    which have another uid as root, and capabilities it lacks without root)."""
    _unshare(CLONE_NEWNS | CLONE_NEWIPC)
    _mount("tmpfs", "/.scratch", "tmpfs", MS_NOSUID | MS_NODEV, f"size={settings['tmpfs_mb']}m,mode=755")
    for path, mode in SCRATCH.items():
        source = "/.scratch/" + path.strip("/").replace("/", "-")
        os.mkdir(source)
        os.chmod(source, mode)
        if path == "/work" and uid is not None:
            os.chown(source, uid, uid)
        _mount(source, path, None, MS_BIND)
    _check(_libc().umount2(b"/.scratch", MNT_DETACH), "umount /.scratch")  # the binds keep the tmpfs
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=2")


def _thread_files(pid: int, name: str):
    """(tid, text) of each /proc/PID/task/*/NAME, skipping threads and processes gone meanwhile."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/{name}") as f:
                yield tid, f.read()
        except OSError:
            continue


def _descendants(pid: int, exclude: int | None = None) -> list[int]:
    """Every process below `pid` (through /proc/*/task/*/children), leaving out `exclude`'s branch."""
    found, stack = [], [pid]
    while stack:
        for _, text in _thread_files(stack.pop(), "children"):
            children = [c for c in map(int, text.split()) if c != exclude]
            found += children
            stack += children
    return found


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def _reap_all(spare: int | None) -> None:
    """Reap exited children but the spare (which exits early only when broken: its run reaps it)."""
    while True:
        try:
            found = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return
        if found is None or found.si_pid == spare:
            return
        os.waitpid(found.si_pid, 0)


def _kill_leftovers(spare: int | None) -> int:
    """SIGKILL every process still below the launcher but its spare (orphans come to the launcher:
    it is pid 1 of its namespace, or a subreaper).

    Returns how many were still running (zombies not counted) at the first look.
    """
    me = os.getpid()
    running = None
    for _ in range(100):  # a fork bomb keeps forking while we kill: repeat until nothing is left
        pids = _descendants(me, spare)
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
        _reap_all(spare)
    _reap_all(spare)
    return running or 0


def kill_uid(uid: int) -> None:
    """Kill every process of the sandbox uid, wherever it lives (leftovers without a pid namespace)."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setuid(uid)
            os.kill(-1, signal.SIGKILL)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def _busy_seconds(pids: set[int]) -> dict[str, float]:
    """Seconds each thread of `pids` spent running or waiting for a CPU (schedstat), by thread."""
    busy = {}
    for pid in pids:
        for tid, text in _thread_files(pid, "schedstat"):
            run_ns, wait_ns = text.split()[:2]
            busy[tid] = (int(run_ns) + int(wait_ns)) / 1e9
    return busy


def _exited_within(pidfd: int, timeout: float) -> bool:
    return bool(select.select([pidfd], [], [], max(0.0, timeout))[0])


def _cpu_seconds(pids: set[int]) -> float:
    """CPU seconds of these processes and of the children they reaped (zombies still count)."""
    ticks = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            ticks += sum(int(n) for n in fields[11:15])  # utime, stime, cutime, cstime
        except (OSError, IndexError, ValueError):
            continue
    return ticks / os.sysconf("SC_CLK_TCK")


def _guard(pid: int, timeout: float, wall_factor: float, spare: int | None) -> bool:
    """Wait for the program; kill it when its processes together have used the CPU limit, when it
    has idled (neither run nor waited for a CPU) `wall_factor` x `timeout` seconds, or after
    WALL_CAP_FACTOR x `timeout` of wall clock. Returns whether it was killed."""
    start = last = time.monotonic()
    idle_limit, cap = wall_factor * timeout, max(WALL_CAP_FACTOR, wall_factor) * timeout
    pidfd = os.pidfd_open(pid)
    credit, seen = 0.0, {}  # busy seconds so far; each thread's busy seconds at the last look
    try:
        while not _exited_within(pidfd, POLL_SECONDS):
            now = time.monotonic()
            pids = {pid, *_descendants(os.getpid(), spare)}
            busy = _busy_seconds(pids)
            credit += min(sum(b - seen.get(t, 0.0) for t, b in busy.items()), now - last)
            seen, last = busy, now
            if _cpu_seconds(pids) >= _cpu_limit(timeout) or now - start >= cap or now - start - credit >= idle_limit:
                os.kill(pid, signal.SIGKILL)  # the others die in _kill_leftovers
                return True
        return False
    finally:
        os.close(pidfd)


def _read_job(fd: int) -> dict | None:
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    os.close(fd)
    return json.loads(b"".join(chunks)) if chunks else None


def _spare(job_r: int, settings: dict, uid, result_w: int, namespaces: bool) -> None:
    """A child forked ahead: build its namespaces, wait for its job, become the program."""
    _die_with_parent()
    if namespaces:
        _scratch(settings, uid)
    job = _read_job(job_r)
    if job is not None:  # None: the launcher is closing and needs no spare
        _program(job, settings, "/work" if namespaces else job["workdir"], uid, result_w)


# ---------------------------------------------------------------- per program: the program


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


def _drop_capabilities() -> None:
    """Inside our user namespace the uid stays; every capability goes (capset with empty sets)."""
    ctypes = _CTYPES
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    data = (ctypes.c_uint32 * 6)()
    _check(_libc().capset(header, data), "capset")


def _drop_privileges(uid: int | None, settings: dict) -> None:
    if uid is not None:  # root: an unprivileged uid, which clears every capability
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    elif settings["user_namespace"]:
        _drop_capabilities()
    _libc().prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)


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


def _restore_interpreter(main: types.ModuleType) -> None:
    """Undo what a solution could do to make its tests pass without running them: trace and
    profile hooks (which can jump over lines), and replaced builtins."""
    _SETTRACE(None)
    _SETPROFILE(None)
    threading = sys.modules.get("threading")
    if threading is not None:
        threading._trace_hook = threading._profile_hook = None
    builtins.__dict__.clear()
    builtins.__dict__.update(_BUILTINS)
    main.__dict__["__builtins__"] = builtins


def _run_program(solution: str, tests: str, nonce: str) -> None:
    main = types.ModuleType("__main__")
    main.__dict__.update(__builtins__=builtins, __file__="program.py")
    sys.modules["__main__"] = main
    sys.argv = ["program.py"]
    try:
        code = [_COMPILE(solution, "program.py", "exec"), _COMPILE(tests, "tests.py", "exec")]
        _EXEC(code[0], main.__dict__)
        _restore_interpreter(main)
        _EXEC(code[1], main.__dict__)
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


def _prepare_program(job: dict, settings: dict, workdir: str, uid, result_w: int) -> None:
    os.setsid()
    os.chdir(workdir)
    _redirect_fds(result_w)
    os.environ["HOME"] = os.environ["TMPDIR"] = workdir  # the rest is sandbox._launcher_env
    signal.signal(signal.SIGINT, signal.default_int_handler)  # the launcher ignores it
    _set_limits(settings, job["timeout"])
    _drop_privileges(uid, settings)
    _die_with_parent()  # after setuid, which clears it
    if not settings["sockets_ok"]:
        _disable_sockets()
    if "random" in sys.modules:  # imported by the launcher's own modules: a fresh seed per program
        sys.modules["random"].seed()


def _program(job: dict, settings: dict, workdir: str, uid, result_w: int) -> None:
    try:
        _prepare_program(job, settings, workdir, uid, result_w)
    except BaseException as e:  # a broken sandbox must not look like a failing program
        for fd in (RESULT_FD, result_w):
            try:
                os.write(fd, (json.dumps({"status": "sandbox error", "error": _describe(e)}) + "\n").encode())
                break
            except OSError:
                pass
        return
    _run_program(job["program"], job["tests"], job["nonce"])


# ---------------------------------------------------------------- the launcher: fork, wait, classify


def _read_all(fd: int) -> bytes:
    os.set_blocking(fd, False)
    chunks = []
    try:
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
    except BlockingIOError:
        pass
    os.close(fd)
    return b"".join(chunks)


def _first_json(data: bytes) -> dict:
    try:
        result = json.loads(data.split(b"\n", 1)[0])
        return result if isinstance(result, dict) else {}
    except ValueError:
        return {}


def _classify(report: dict, out_of_cpu: bool, result: dict, nonce: str) -> str:
    if report["timed_out"]:
        return "timed out"
    status = report["status"]
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
        if report.get("leftovers"):
            return f"failed: left {report['leftovers']} process(es) running after it ended"
        return "passed"
    return f"failed: exited before the tests finished (exit status {code})"


def _remove_tree(path: str) -> None:
    """Remove a folder whatever a program left in it: trees deeper than PATH_MAX (walked with chdir,
    one folder open at a time), modes 000, FIFOs and sockets (unlinked, never opened)."""
    names = []
    try:
        os.chmod(path, 0o700)
        os.chdir(path)
        while True:
            folders = []
            with os.scandir(".") as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        folders.append(entry.name)
                    else:
                        os.unlink(entry.name)
            if folders:
                os.chmod(folders[0], 0o700)
                os.chdir(folders[0])
                names.append(folders[0])
            elif names:
                os.chdir("..")
                os.rmdir(names.pop())
            else:
                break
        os.chdir("/")
        os.rmdir(path)
    except OSError:
        pass  # something the launcher cannot remove: leave it rather than fail the run
    finally:
        os.chdir("/")


class ProgramRunner:
    def __init__(self, settings: dict, uid: int | None):
        self.settings = settings
        self.uid = uid
        self.namespaces = settings["private_root"]
        self.root = os.path.join(settings["temp_dir"], f"mtp-sandbox-{os.getpid()}")
        if not self.namespaces:
            os.makedirs(self.root, mode=0o711, exist_ok=True)
        self.count = 0
        self.spare: tuple[int, int, int] | None = None
        # Fork each program ahead of its job only when it cannot signal that spare: as root the
        # program runs as another uid; in a user namespace it has the spare's uid.
        self.ahead = uid is not None

    def _workdir(self) -> str:
        self.count += 1
        path = os.path.join(self.root, str(self.count))
        os.mkdir(path, 0o700)
        if self.uid is not None:
            os.chown(path, self.uid, self.uid)
        return path

    def _spawn(self) -> tuple[int, int, int]:
        """A spare child, its namespaces built, waiting for a job: (pid, job_w, result_r)."""
        job_r, job_w = os.pipe()
        result_r, result_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(job_w)
                os.close(result_r)
                _spare(job_r, self.settings, self.uid, result_w, self.namespaces)
            except BaseException as e:  # a broken sandbox must not look like a failing program
                os.write(result_w, (json.dumps({"status": "sandbox error", "error": _describe(e)}) + "\n").encode())
            finally:
                os._exit(0)  # never return into the launcher's loop; no marker was written
        os.close(job_r)
        os.close(result_w)
        return pid, job_w, result_r

    def run(self, program: str, tests: str, timeout: float) -> dict:
        """Hand the job to the spare, fork the next spare while it runs, guard it, clean up.

        Building and dropping namespaces mostly waits on the kernel (RCU grace periods), so the
        next program's namespaces are built while this one runs."""
        job = {"program": program, "tests": tests, "timeout": timeout, "nonce": os.urandom(16).hex()}
        if not self.namespaces:
            job["workdir"] = self._workdir()
        pid, job_w, result_r = self.spare or self._spawn()
        start = time.monotonic()
        try:
            os.write(job_w, json.dumps(job).encode())  # the spare reads as we write: no pipe-size limit
        except BrokenPipeError:
            pass  # it failed before reading: its result says why
        os.close(job_w)
        self.spare = self._spawn() if self.ahead else None
        spare = self.spare[0] if self.spare else None
        timed_out = _guard(pid, timeout, self.settings["wall_factor"], spare)
        _, status, usage = os.wait4(pid, 0)
        seconds = time.monotonic() - start
        leftovers = _kill_leftovers(spare)
        result = _first_json(_read_all(result_r))
        if not self.namespaces:
            _remove_tree(job["workdir"])
        cpu_seconds = usage.ru_utime + usage.ru_stime
        report = {"status": status, "timed_out": timed_out, "leftovers": leftovers}
        outcome = _classify(report, cpu_seconds >= _cpu_limit(timeout), result, job["nonce"])
        return {"outcome": outcome, "seconds": round(seconds, 4), "cpu_seconds": round(cpu_seconds, 4)}

    def close(self) -> None:
        if self.spare:
            for fd in self.spare[1:]:
                os.close(fd)  # the spare reads an empty job and exits
            os.waitpid(self.spare[0], 0)
            self.spare = None
        _kill_leftovers(None)
        if not self.namespaces:
            if self.uid is not None:
                kill_uid(self.uid)
            _remove_tree(self.root)


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


def _start(settings: dict) -> tuple[dict, int | None]:
    """Namespaces, root, uid: everything done once. Returns the isolation facts and the program uid."""
    parent = os.getppid()
    _die_with_parent()
    if os.getppid() != parent:  # the harness died before the line above
        os._exit(1)
    root = os.geteuid() == 0
    settings["user_namespace"] = False
    uid = UID_BASE + os.getpid() if root and settings["drop_privileges"] else None
    facts = _enter_namespaces(settings)
    if settings["private_root"]:
        _split_into_pid_namespace()
        try:
            _build_root(uid if uid is not None else INNER_UID)
        except OSError as e:  # e.g. a container that forbids pivot_root: the host's files, then
            settings["private_root"] = False
            facts["filesystem"] = f"host filesystem, folder under {settings['temp_dir']} (no minimal root: {e})"
            facts["ipc"] = "shared by the launcher's programs"
    if uid is not None:
        facts["user"] = f"uid {uid} (unprivileged, one per launcher)"
    elif root and settings["private_root"]:
        facts["user"] = "root"
    settings["sockets_ok"] = facts["network"].startswith("network namespace")
    _libc().prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)  # orphans come to us (as pid 1 they do anyway)
    return facts, uid


def main() -> None:
    # As pid 1 of its namespace, the launcher gets only the signals it handles from inside it: none.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    settings = json.loads(sys.argv[1])
    sys.path[:] = [p for p in sys.path if p != os.path.dirname(os.path.abspath(__file__))]
    builtins.exit = builtins.quit = _quit  # what site.py would add; -S skips it
    _BUILTINS.update(builtins.__dict__)
    proto_in, proto_out = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.close(null)
    _libc()
    facts, uid = _start(settings)
    launcher = ProgramRunner(settings, uid)
    if uid is not None and not settings["private_root"]:
        kill_uid(uid)  # a previous launcher with this pid may have left processes
    for name in PRELOAD:
        __import__(name)
    facts["preloaded"] = ", ".join(PRELOAD)
    gc.freeze()  # children must not copy the launcher's pages just to collect its objects
    os.write(proto_out, (json.dumps({"ready": True, "isolation": facts, "uid": uid}) + "\n").encode())
    try:
        for line in _Lines(proto_in):
            request = json.loads(line)
            reply = launcher.run(request["program"], request.get("tests", ""), float(request["timeout"]))
            os.write(proto_out, (json.dumps({"id": request["id"], **reply}) + "\n").encode())
    finally:
        launcher.close()


if __name__ == "__main__":
    main()
