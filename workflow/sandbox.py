"""Process sandbox for untrusted Python programs (model-written code).

Consumes: a main script, extra files for its working directory, optional stdin text and :class:`Limits`.
Produces: a :class:`RunResult` (status, capped stdout/stderr, the harness's JSON reports). Nothing here
raises on a misbehaving program; a broken sandbox (say a mount failing) is the status ``error``.

Every run is one fresh process tree::

    unshare --net --pid --ipc --mount --mount-proc --fork --kill-child [--user --map-root-user] \
        python -S -s -P workflow/sandbox_runner.py CONFIG   (+ a payload descriptor, closed before the program)

(``-S``: the runner takes ``sys.path`` and the prefixes from a probe of this interpreter with ``site``,
:func:`_site`, and skips the .pth hooks)

started in its own process group with a scrubbed environment (PATH, LANG/LC_ALL, PYTHONHASHSEED=0,
HOME=TMPDIR=workdir, one BLAS thread; nothing of the parent's, so no WANDB_API_KEY or HF_TOKEN) and stdin
from a sealed memory file (:func:`_sealed`). The runner (``workflow/sandbox_runner.py``, whose docstring details each step) builds
the program's file system view as root of the namespaces, forks, and stays the namespace's init; the
program's half drops to an unprivileged uid without capabilities and runs the program. Layers:

- **files**: every top-level directory outside the system ones is hidden behind an empty tmpfs (the
  project, its data and tests, home directories, host sockets under ``/run``), the interpreter's own
  directories are bind-mounted back at the same paths, everything is read-only except one tmpfs of
  ``Limits.disk_mb`` (size and inodes) behind the working directory, ``/tmp``, ``/var/tmp`` and
  ``/dev/shm``, private to the run and gone with it.
- **uid**: as root, each run gets its own unprivileged uid (random in ``UID_RANGE``, so RLIMIT_NPROC counts
  this run's processes and threads only); the interpreter stays reachable for it through the bind mounts
  above (chosen over a copy, which costs a full interpreter tree per machine, and over a user-namespace
  mapping, whose outside uid would still be root's). A non-root pipeline runs the program as root of a user
  namespace mapped to its own uid, with every capability dropped.
- **network**: a new network namespace (a down loopback, so even 127.0.0.1 and abstract UNIX sockets are
  unreachable; path-based UNIX sockets are hidden with their directories).
- **processes**: a new pid namespace (the init's exit kills whatever the program left) and RLIMIT_NPROC;
  the Python-level guard also replaces os.fork/system/exec*/spawn*/kill and ``_posixsubprocess.fork_exec``
  with a PermissionError.
- **IPC**: a new IPC namespace, so SysV shared memory, semaphores, message queues and POSIX message queues
  (not files, so no mount hides them) die with the run instead of outliving it past every cap.
- **system calls**: a seccomp filter refuses kernel keyrings (not namespaced: a key would outlive the run),
  io_uring, bpf, perf_event_open, userfaultfd and any foreign ABI (``sandbox_runner.SECCOMP``).
- **limits**: RLIMIT_CPU (SIGXCPU at ``timeout``, SIGKILL a second later), RLIMIT_AS, RLIMIT_FSIZE (SIGXFSZ
  ignored: EFBIG), RLIMIT_CORE=0, RLIMIT_NOFILE=256, and fixed RLIMIT_STACK and thread stack sizes, so deep recursion and
  threads behave the same on every machine; the parent kills the process group at ``timeout`` wall clock
  and a program over the stdout cap (``output_limit``).

:func:`isolation` probes once per process which layers this machine allows. :func:`require` fails closed:
a sandbox missing any layer raises :class:`SandboxUnavailable` naming what is missing, unless the caller
explicitly allows the weaker mode (``verification.allow_weak_sandbox``), which then runs with what there
is (the Python-level socket block, the process group, the rlimits) and is recorded in the verification log
and the verdict table.

The harness (trusted code, see workflow/tasks/code.py) gets its secrets (test sources) and the report nonce
through the payload descriptor; they live only in its memory. It reports through ``sandbox_report(dict)``,
whose lines carry the nonce, so a program cannot forge a report by printing it. A harness that must call the
program (HumanEval's ``check(candidate)``) runs it in a ``companion`` process: a fresh interpreter that
holds none of the harness's memory, talks to it through a socket, and cannot trace it (the harness's
process is non-dumpable). So a program that walks its interpreter's memory or frames (``gc``,
``sys._getframe``), patches builtins or shared modules, or returns an object whose ``==`` always holds,
reaches only its own process; the harness sees plain data (workflow/tasks/wire.py). The call format's
harness loads the program in its own process but holds nothing secret (expected outputs stay in the parent,
which compares after a JSON round trip).
"""

from __future__ import annotations

import fcntl
import functools
import json
import os
import re
import secrets
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

from workflow.config import VerificationConfig

UID_RANGE = (1 << 30, 1 << 24)
"""(first, count): the per-run uids a root pipeline gives its programs; none of them owns a host file."""
RUNNER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sandbox_runner.py")
_STDERR_CAP = 64 * 1024
_REPORT_CAP = 64 * 1024 * 1024
_STACK = 64 * 1024 * 1024  # RLIMIT_STACK of the program: deep recursion through C (lru_cache) has room
_THREAD_STACK = 8 * 1024 * 1024  # glibc's usual default, fixed
_NOFILE = 256  # descriptors per process: bounds the socket buffers one process can pin
_PYTHON_FLAGS = ["-s", "-P"] if sys.version_info >= (3, 11) else ["-s"]  # -I minus -E: keep PYTHONHASHSEED
# --ipc: SysV IPC objects and POSIX message queues are not files, and in the host's IPC namespace they would
# outlive the run (memory past every cap, state for the next run)
_NS_FLAGS = ("--net", "--pid", "--ipc", "--mount", "--mount-proc", "--fork", "--kill-child")
LAYERS = (
    "mount namespace (private tmpfs, read-only rest)",
    "pid and IPC namespaces",
    "network namespace",
    "non-root uid",
)

_PROCESS_CALLS = (
    "fork forkpty system popen kill killpg execv execve execvp execvpe execl execle execlp execlpe fexecve "
    "spawnv spawnve spawnvp spawnvpe spawnl spawnle spawnlp spawnlpe posix_spawn posix_spawnp"
).split()


class SandboxUnavailable(RuntimeError):
    """The machine cannot give the sandbox a layer it requires, and the weaker mode was not allowed."""


@dataclass(frozen=True)
class Limits:
    """Per-process limits. ``timeout`` is wall-clock seconds for one process (one test case)."""

    timeout: float = VerificationConfig.code_timeout  # defaults: the config's (the one home of defaults)
    memory_mb: int = VerificationConfig.code_memory_mb
    """RLIMIT_AS: address space, so it counts reserved as well as touched memory."""
    file_size_mb: int = 64
    """RLIMIT_FSIZE: the largest file the program may write."""
    max_processes: int = 32
    """RLIMIT_NPROC: processes and threads of the run's uid (its own, with a per-run uid)."""
    max_output_mb: float = 16.0
    """stdout cap; a program printing more is killed with status ``output_limit``."""
    disk_mb: int = VerificationConfig.code_disk_mb
    """Size of the private tmpfs behind the working directory, /tmp, /var/tmp and /dev/shm together (with
    one inode per 4 KiB); only where there is a mount namespace."""

    def __post_init__(self) -> None:
        for name in ("timeout", "memory_mb", "file_size_mb", "max_processes", "max_output_mb", "disk_mb"):
            if not getattr(self, name) > 0:
                raise ValueError(f"Limits.{name} must be positive, got {getattr(self, name)!r}")


@dataclass(frozen=True)
class Isolation:
    """The OS mechanisms this machine allows, probed once by :func:`isolation`."""

    prefix: tuple[str, ...] = ()
    """argv before the interpreter: unshare and its flags."""
    mountns: bool = False
    """The private file system view (tmpfs space, hidden directories, read-only rest)."""
    pidns: bool = False
    """The pid namespace, and with it an IPC namespace (one ``unshare`` call gives both)."""
    netns: bool = False
    userns: bool = False
    """The namespaces belong to a user namespace (a non-root pipeline): the program is its uid 0."""
    per_run_uid: bool = False
    """Root pipeline: each run drops to its own uid from ``UID_RANGE``."""
    expose: tuple[str, ...] = ()
    """The interpreter's directories, bind-mounted back into the hidden view."""
    probe_error: str = ""
    """Why the namespaces could not be had, when they could not."""

    @property
    def program_uid_is_root(self) -> bool:
        """Whether the program would run with uid 0 as the host sees it."""
        return os.geteuid() == 0 and not self.per_run_uid

    def missing(self) -> list[str]:
        """The layers of ``LAYERS`` this machine does not give."""
        have = (self.mountns, self.pidns, self.netns, not self.program_uid_is_root)
        return [name for name, ok in zip(LAYERS, have, strict=True) if not ok]

    @property
    def mode(self) -> str:
        """``full``, or ``weak (missing ...)``: what the verdict table records."""
        missing = self.missing()
        return f"weak (missing {'; '.join(missing)})" if missing else "full"

    def describe(self) -> str:
        uid = (
            "per-run uid"
            if self.per_run_uid
            else f"userns uid 0 = host uid {os.geteuid()}"
            if self.userns
            else f"uid {os.geteuid()} kept"
        )
        parts = [
            "private tmpfs + read-only view" if self.mountns else "host file system",
            "pidns + ipcns" if self.pidns else "process-group-only",
            "netns" if self.netns else "python-socket-block",
            uid,
        ]
        missing = self.missing()
        return ", ".join(parts) + (f" [WEAK: missing {'; '.join(missing)}]" if missing else "")


@dataclass
class RunResult:
    """What one sandboxed process did."""

    status: str
    """ok | timeout | memory | runtime_error | syntax_error | output_limit | error (from the runner, the
    exit signal, the wall clock or the caps); a harness's own verdict is in ``reports``."""
    stdout: str = ""
    stderr: str = ""
    reports: list[dict] = field(default_factory=list)
    """The harness's ``sandbox_report`` objects, in order (the runner's final status excluded)."""
    detail: str = ""
    exit_code: int | None = None
    """The program's exit code, negative for a signal (as in subprocess)."""
    elapsed: float = 0.0
    workdir: str = ""
    """The working directory's path (a private tmpfs inside the run; removed on the host afterwards)."""


def _interpreter_dirs() -> tuple[str, ...]:
    """The directories the program's interpreter reads: prefixes (stdlib, site-packages) and its binary's."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    paths |= {
        os.path.dirname(os.path.realpath(sys.executable)),
        os.path.dirname(os.path.abspath(sys.executable)),
    }
    real = sorted({os.path.realpath(p) for p in paths if p})
    # drop directories inside another one of the list: the outer bind mount carries them
    return tuple(p for p in real if not any(p != q and p.startswith(q.rstrip("/") + "/") for q in real))


@functools.cache
def isolation() -> Isolation:
    """Find which isolation layers work here: a real trivial program through each candidate (~0.1 s each)."""
    root = os.geteuid() == 0
    unshare = shutil.which("unshare")
    expose = _interpreter_dirs()
    errors = []
    if unshare:
        candidates = ([(False, [unshare, *_NS_FLAGS])] if root else []) + [
            (True, [unshare, "--user", "--map-root-user", *_NS_FLAGS])
        ]
        for userns, prefix in candidates:
            iso = Isolation(tuple(prefix), True, True, True, userns, root and not userns, expose)
            check = "import sys, os; print(sys.version, sys.prefix, os.getuid() != 0)"
            res = run(check, limits=Limits(timeout=20), iso=iso)
            want = f"{sys.version} {sys.prefix} {iso.per_run_uid}"
            if res.status == "ok" and res.stdout.strip() == want:
                return iso
            errors.append(f"{' '.join(prefix[1:])}: {res.status} {res.detail or res.stdout}".strip()[:300])
    else:
        errors.append("no unshare binary (util-linux) on PATH")
    # the weaker mode: a root pipeline still drops to a per-run uid when that uid can reach the interpreter
    return Isolation(per_run_uid=root and _traversable(expose), expose=expose, probe_error="; ".join(errors))


def _traversable(paths: tuple[str, ...]) -> bool:
    """Whether any user can reach every one of ``paths`` (each directory on the way is o+x)."""
    for path in paths:
        parts = path.strip("/").split("/")
        for i in range(len(parts) + 1):
            try:
                if not os.stat("/" + "/".join(parts[:i])).st_mode & 0o001:
                    return False
            except OSError:
                return False
    return True


def require(iso: Isolation, allow_weak: bool = False) -> Isolation:
    """``iso`` when it has every layer (or the weaker mode is allowed); else :class:`SandboxUnavailable`."""
    missing = iso.missing()
    if missing and not allow_weak:
        raise SandboxUnavailable(
            f"the code sandbox cannot isolate model-written programs on this machine: missing {'; '.join(missing)}"
            + (f" ({iso.probe_error})" if iso.probe_error else "")
            + ". It needs util-linux's unshare and either root or unprivileged user namespaces "
            "(sysctl user.max_user_namespaces > 0). To run with only the Python-level guards and rlimits, set "
            "verification.allow_weak_sandbox: true (recorded in the log and the verdict table)."
        )
    return iso


@functools.cache
def _site() -> dict | None:
    """What ``site`` gives this interpreter started as the runner would be: ``sys.path`` (stdlib,
    site-packages, the path lines of their .pth files) and a virtual environment's ``sys.prefix`` and
    ``sys.exec_prefix``; probed once per process, None if the probe fails. The runner starts without ``site``
    (``-S``) and takes these: ``site``'s .pth hooks (an editable install's finder among them) cost 15-20 ms a
    run here and are of no use in the sandbox."""
    home = tempfile.gettempdir()
    probe = "import json, sys; print(json.dumps([sys.path, sys.prefix, sys.exec_prefix]))"
    try:
        out = subprocess.run(
            [sys.executable, *_PYTHON_FLAGS, "-c", probe],
            capture_output=True,
            text=True,
            env=_env(home),
            cwd=home,
            timeout=60,
        )
        path, prefix, exec_prefix = json.loads(out.stdout)
    except (OSError, ValueError, TypeError, subprocess.TimeoutExpired):
        return None
    if out.returncode or not all(isinstance(p, str) for p in [*path, prefix, exec_prefix]):
        return None
    # '' (the working directory) only before Python 3.11's -P
    return {"path": [p for p in path if p], "prefix": prefix, "exec_prefix": exec_prefix}


def _sealed(data: bytes) -> int:
    """A memory file holding ``data``, sealed against writing, growing and shrinking, at offset 0: the
    program's stdin. (A file on the host's disk, even opened read-only, could be reopened for writing by its
    owner, a non-root pipeline's own uid, or grown with fallocate past every cap.)"""
    fd = os.memfd_create("rlvr-sbx-stdin", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    os.lseek(fd, 0, os.SEEK_SET)
    seals = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE
    fcntl.fcntl(fd, fcntl.F_ADD_SEALS, seals)
    return fd


def _env(workdir: str) -> dict[str, str]:
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": workdir,
        "TMPDIR": workdir,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "PYTHONIOENCODING": "utf-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }


def _killpg(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _signal_status(code: int, cpu: float, limits: Limits, stderr: str) -> tuple[str, str]:
    sig = -code
    try:
        name = signal.Signals(sig).name
    except ValueError:
        name = str(sig)
    if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu >= int(limits.timeout) + 1):
        return "timeout", name
    memory_words = ("MemoryError", "Cannot allocate memory", "bad_alloc", "out of memory")
    if sig == signal.SIGKILL or any(w in stderr for w in memory_words):
        return "memory", name  # SIGKILL that is not the CPU limit nor ours: the OOM killer
    return "runtime_error", name


def run(
    main: str,
    files: dict[str, str] | None = None,
    stdin: str | None = None,
    limits: Limits | None = None,
    harness: bool = False,
    capture_stdout: bool = True,
    iso: Isolation | None = None,
    private: dict[str, str] | None = None,
    companion: str | None = None,
) -> RunResult:
    """Run ``main`` (Python source) as ``__main__`` in a fresh sandboxed process; never raises on its
    behaviour.

    ``files`` are written into the working directory (``main.py`` is the script itself); ``stdin`` becomes
    its standard input (else empty); ``harness`` exposes ``sandbox_report`` to the script (trusted harness
    code only); ``capture_stdout=False`` sends stdout to /dev/null. ``private`` texts (with ``harness``) reach
    the script as the dict ``sandbox_secrets``, through the payload descriptor the runner reads and closes
    before the script runs: they are in no file, argument, environment variable or descriptor (only in the
    harness's memory, which a program loaded into the same process can still search: a companion keeps it
    out). ``iso`` defaults to
    :func:`isolation`; whether its layers are enough is the caller's decision (:func:`require`).

    ``companion`` (with ``harness``) is the source of a second process, the one that runs the untrusted
    program: the runner starts it just before ``main`` as a fresh interpreter (``companion.py`` in the working
    directory, with ``sandbox_channel``, a socket to the harness, in its globals), and the harness gets
    ``sandbox_companion = {"fd", "pid", "kill"}``. The harness's memory (nonce, secrets, report function) is then out
    of the program's reach: the companion holds none of it and cannot trace the harness's process.
    """
    if companion is not None and not harness:
        raise ValueError("a companion needs a harness to talk to")
    limits = limits or Limits()
    iso = iso or isolation()
    t0 = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="rlvr-sbx-")
    uid = UID_RANGE[0] + secrets.randbelow(UID_RANGE[1]) if iso.per_run_uid else None
    r_fd = w_fd = init_r = init_w = payload = -1
    try:
        nonce = secrets.token_hex(16)
        data = json.dumps(
            {
                "nonce": nonce,
                "files": {
                    **(files or {}),
                    **({"companion.py": companion} if companion else {}),
                    "main.py": main,
                },
                "secrets": dict(private or {}),
            }
        ).encode()
        payload = os.memfd_create("rlvr-sbx-payload")  # no path; the runner reads and closes it
        view = memoryview(data)
        while view:
            view = view[os.write(payload, view) :]
        os.lseek(payload, 0, os.SEEK_SET)
        cpu = max(1, int(limits.timeout + 0.999))
        memory = int(limits.memory_mb) * 1024 * 1024
        fsize = int(limits.file_size_mb) * 1024 * 1024
        disk = int(limits.disk_mb) * 1024 * 1024
        # a socket, not a pipe: a program cannot open a second reader on it through /proc/self/fd (it could
        # on a pipe it owns, as root of a user namespace, and read its harness's nonce)
        ends = socket.socketpair()
        r_fd, w_fd = (end.detach() for end in ends)
        init_r, init_w = (end.detach() for end in socket.socketpair())  # the init's alone
        cfg = {
            "fd": w_fd,
            "init_fd": init_w,
            "payload": payload,
            "main": "main.py",
            "workdir": workdir,
            "uid": uid,
            "harness": harness,
            "companion": companion is not None,
            "python": [sys.executable, *_PYTHON_FLAGS],
            "site": _site(),
            "fs": {"owner": uid or 0, "disk_bytes": disk, "inodes": disk // 4096, "expose": list(iso.expose)}
            if iso.mountns
            else None,
            "rlimits": [
                ["RLIMIT_CPU", cpu, cpu + 1],
                ["RLIMIT_AS", memory, memory],
                ["RLIMIT_FSIZE", fsize, fsize],
                ["RLIMIT_NPROC", limits.max_processes, limits.max_processes],
                ["RLIMIT_CORE", 0, 0],
                ["RLIMIT_NOFILE", _NOFILE, _NOFILE],
                ["RLIMIT_STACK", _STACK, _STACK],
            ],
            "thread_stack": _THREAD_STACK,
            "blocked": _PROCESS_CALLS,
            "block_net": not iso.netns,
        }
        no_site = ["-S"] if cfg["site"] is not None else []
        argv = [*iso.prefix, sys.executable, *no_site, *_PYTHON_FLAGS, RUNNER, json.dumps(cfg)]
        with os.fdopen(_sealed((stdin or "").encode("utf-8", "replace")), "rb") as stdin_f:
            try:
                proc = subprocess.Popen(
                    argv,
                    stdin=stdin_f,
                    stdout=subprocess.PIPE if capture_stdout else subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    pass_fds=(w_fd, init_w, payload),
                    cwd=workdir,
                    env=_env(workdir),
                    start_new_session=True,
                )
            except OSError as e:
                return RunResult("error", detail=f"could not start the sandbox: {e}", workdir=workdir)
        for fd in (w_fd, init_w, payload):
            os.close(fd)
        w_fd = init_w = payload = -1
        out = _collect(proc, r_fd, init_r, limits, t0, nonce)
        out.workdir = workdir
        return out
    finally:
        for fd in (r_fd, w_fd, init_r, init_w, payload):
            if fd >= 0:
                os.close(fd)
        shutil.rmtree(workdir, ignore_errors=True)


_FINAL = ("ok", "memory", "runtime_error", "syntax_error")
"""Statuses the runner's final line may give; timeout, output_limit and error are the parent's to say (a
program can write that line itself)."""


_JSON_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"')


def _line(line: bytes, nonce: bytes) -> dict | None:
    """A report line carrying the nonce, as a dict without it; None for anything else. A program can write
    to the report channel, so a line is parsed only if it has the nonce and is flat, as ``report`` writes
    them (no brackets outside strings: 16 MB of nested lists would cost the parent about 500 MB)."""
    if nonce not in line:
        return None
    bare = _JSON_STRING.sub(b"", line)
    if b"[" in bare or bare.count(b"{") != 1:
        return None
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(obj, dict) or obj.pop("n", None) != nonce.decode():
        return None
    return obj


def _collect(
    proc: subprocess.Popen, r_fd: int, init_fd: int, limits: Limits, t0: float, nonce: str
) -> RunResult:
    """Read stdout, stderr, the report channel and the init's channel with caps until the init reports or
    the clock runs out; then what is already in the pipes, for at most a second."""
    deadline = t0 + limits.timeout
    key = nonce.encode()
    cap = {"stdout": int(limits.max_output_mb * 1024 * 1024), "stderr": _STDERR_CAP, "report": _REPORT_CAP}
    cap["init"] = 4096
    bufs: dict[str, bytearray] = {k: bytearray() for k in cap}
    sel = selectors.DefaultSelector()
    for name, f in (("stdout", proc.stdout), ("stderr", proc.stderr)):
        if f is not None:
            sel.register(f.fileno(), selectors.EVENT_READ, name)
    sel.register(r_fd, selectors.EVENT_READ, "report")
    sel.register(init_fd, selectors.EVENT_READ, "init")
    reports: list[dict] = []
    init: dict | None = None
    final: dict | None = None
    parsed = 0  # bytes of the report channel already split into lines
    timed_out = over = False

    def read_ready(timeout: float) -> int:
        nonlocal over, parsed, init, final
        got = 0
        for sk, _ in sel.select(timeout):
            chunk = os.read(sk.fd, 1 << 16)
            if not chunk:
                sel.unregister(sk.fd)
                continue
            got += len(chunk)
            buf = bufs[sk.data]
            if sk.data == "stderr":
                buf += chunk[: max(0, cap["stderr"] - len(buf))]  # keep the head, drain the rest
                continue
            buf += chunk
            if len(buf) > cap[sk.data]:
                over = sk.data != "init"
            elif sk.data == "init":  # only the init holds this channel
                obj = _line(bytes(buf).split(b"\n")[0], key) if b"\n" in buf else None
                if obj and obj.get("init") == 1 and type(obj.get("exit")) is int:
                    init = obj
            elif sk.data == "report":
                end = buf.rfind(b"\n") + 1
                fresh = bytes(buf[parsed:end])
                for line in fresh.splitlines() if key in fresh else ():  # a flood without the nonce: skipped
                    obj = _line(line, key)
                    if obj is None:
                        continue
                    if obj.get("final") == 1:
                        if obj.get("status") in _FINAL and isinstance(obj.get("detail", ""), str):
                            final = obj
                    else:
                        reports.append(obj)
                parsed = max(parsed, end)
        return got

    try:
        while sel.get_map() and not over and init is None:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            read_ready(left)
        # what the program wrote before it exited is already in the pipes; a second bounds the draining
        drain = time.monotonic() + 1.0
        while init is not None and sel.get_map() and not over and time.monotonic() < drain and read_ready(0):
            pass
    finally:
        sel.close()
        _killpg(proc.pid)  # before reaping, so the group id cannot have been reused
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        for f in (proc.stdout, proc.stderr):
            if f is not None:
                f.close()

    stdout = bufs["stdout"][: cap["stdout"]].decode("utf-8", "replace")
    stderr = bufs["stderr"].decode("utf-8", "replace")
    res = RunResult("error", stdout=stdout, stderr=stderr, reports=reports, elapsed=time.monotonic() - t0)
    if timed_out:
        res.status, res.detail = "timeout", f"wall clock {limits.timeout}s"
    elif over:
        res.status, res.detail = "output_limit", "output cap exceeded"
    elif init is None:
        res.detail = f"sandbox failed (exit {proc.returncode}): {stderr[-500:]}"
    else:
        res.exit_code = init["exit"]
        if res.exit_code < 0:
            res.status, res.detail = _signal_status(res.exit_code, init.get("cpu", 0.0), limits, stderr)
        elif final is not None:
            res.status, res.detail = final["status"], final.get("detail", "")
        else:  # the program left through os._exit before the runner could report
            res.status = "ok" if res.exit_code == 0 else "runtime_error"
            res.detail = f"exited with {res.exit_code} before the runner finished"
    return res
