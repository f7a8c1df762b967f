"""Process sandbox for untrusted Python programs (model-written code).

Consumes: a main script, extra files for its working directory, optional stdin text and :class:`Limits`.
Produces: a :class:`RunResult` (status, capped stdout/stderr, the harness's JSON reports). Nothing here
raises on a misbehaving program; a broken sandbox (say ``unshare`` failing) is the status ``error``.

Every run is one fresh process tree::

    [unshare --net --pid --mount-proc --fork --kill-child] [setpriv ...drop caps...] python -s -P -c RUNNER

started in its own process group, in a fresh ``mkdtemp`` working directory that is removed afterwards, with
a scrubbed environment (PATH, LANG/LC_ALL, PYTHONHASHSEED=0, HOME=TMPDIR=workdir, one BLAS thread; nothing
of the parent's, so no WANDB_API_KEY or HF_TOKEN). RUNNER forks: its parent half is the init of the pid
namespace and only reaps and relays the exit status (an init ignores default-action signals such as
SIGXCPU, so the program must not be pid 1); its child sets the rlimits, installs the Python-level guards and
executes the main script. Layers, each probed once per process by :func:`isolation` (``describe()`` says
which applied):

- rlimits, with hard limits the program cannot raise: RLIMIT_CPU (SIGXCPU at ``timeout``, SIGKILL a
  second later; it bounds a program whose parent died), RLIMIT_AS (MemoryError), RLIMIT_FSIZE (SIGXFSZ ignored, so a large write fails with EFBIG),
  RLIMIT_NPROC, RLIMIT_CORE=0.
- wall clock: the parent kills the whole process group at ``timeout``; output pipes are read with caps,
  a program over the stdout cap is killed (``output_limit``).
- network: a new network namespace (only a down loopback, so even 127.0.0.1 is unreachable) when
  ``unshare --net`` works, i.e. as root or with unprivileged user namespaces; otherwise a Python-level block
  of ``socket.socket`` connect/bind/sendto (bypassable through ``_socket``; best effort).
- processes: a new pid namespace (init exits when the program does, and the kernel kills whatever it left,
  even processes that left the process group); the Python-level guard replaces os.fork/forkpty/system/
  exec*/spawn*/posix_spawn*/kill/killpg and ``_posixsubprocess.fork_exec`` (so subprocess and
  multiprocessing) with a PermissionError. RLIMIT_NPROC does not bind uid 0 (the kernel exempts the root
  user whatever its capabilities), so as root the runner drops to uid 65534 when the interpreter works
  for that uid, and otherwise joins a fresh pids cgroup (``pids.max``) where one can be created.
- privileges: ``setpriv`` empties the capability bounding set, so even uid 0 cannot raise rlimits, mount,
  or leave the namespaces. A program still running as uid 0 (no uid drop possible) can write files uid 0
  owns, so the Python guard then also blocks remove/unlink/rename/chmod/... as human-eval's
  ``reliability_guard`` does (openai/human-eval, human_eval/execution.py); this is bypassable via ctypes.

The harness (trusted code, see workflow/tasks/code.py) runs in the same process as the candidate, as in
human-eval and LiveCodeBench; it reports through ``sandbox_report(dict)``, whose lines carry a nonce read
from a file that is deleted before the candidate runs, so a program cannot forge a report by printing it.
A program that deliberately walks the interpreter's memory could still find it: this sandbox stops
accidents and reward-hacking shortcuts (``exit(0)`` before the tests, fork bombs, sockets), not a
determined attacker; it has no seccomp and the file system stays readable.
"""

from __future__ import annotations

import functools
import json
import os
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

from workflow.config import VerificationConfig

SANDBOX_UID = 65534  # nobody
_STDERR_CAP = 64 * 1024
_REPORT_CAP = 64 * 1024 * 1024
_PYTHON_FLAGS = ["-s", "-P"] if sys.version_info >= (3, 11) else ["-s"]  # -I minus -E: keep PYTHONHASHSEED

_RUNNER = r"""
import json, os, resource, signal, sys, types
cfg = json.loads(sys.argv[1])
fd = cfg["fd"]  # the report channel to the parent
# the nonce lives only in this process's memory once the file is gone
with open(".nonce") as f:
    nonce = f.read()
os.unlink(".nonce")
# the harness's secrets (tests, expected values): read into memory and deleted before any program code runs
secrets = {}
for name in cfg["secrets"]:
    with open(".secret." + name, encoding="utf-8") as f:
        secrets[name] = f.read()
    os.unlink(".secret." + name)
cg_ok = None
if cfg["cgroup"]:  # join before forking, so that every descendant counts against pids.max
    try:
        with open(cfg["cgroup"] + "/cgroup.procs", "w") as f:
            f.write("0")
        cg_ok = True
    except OSError:
        cg_ok = False


def report(obj):
    data = (json.dumps(dict(obj, n=nonce)) + "\n").encode()
    while data:
        data = data[os.write(fd, data):]


pid = os.fork()
if pid:
    # init (pid 1 of the namespace, when there is one): reap orphans until the program exits, then report
    # its status; exiting makes the kernel kill whatever the program left running
    while True:
        p, st, ru = os.wait4(-1, 0)
        if p == pid:
            break
    report({"init": 1, "exit": os.waitstatus_to_exitcode(st), "cpu": ru.ru_utime + ru.ru_stime, "cg": cg_ok})
    os._exit(0)

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an oversized write then fails with EFBIG, catchable
for name, soft, hard in cfg["rlimits"]:
    resource.setrlimit(getattr(resource, name), (soft, hard))


def _blocked(*args, **kwargs):
    raise PermissionError("blocked by the sandbox")


# posix holds the same functions as os; _posixsubprocess.fork_exec is what subprocess uses
import posix, _posixsubprocess
names = cfg["blocked"]
for mod in (os, posix):
    for name in names:
        if hasattr(mod, name):
            setattr(mod, name, _blocked)
_posixsubprocess.fork_exec = _blocked
if cfg["block_net"]:
    import socket
    for name in ("connect", "connect_ex", "bind", "sendto", "sendmsg"):
        setattr(socket.socket, name, _blocked)
if cfg["block_resource"]:
    sys.modules["resource"] = None

# a fresh __main__ module: the program sees __name__ == "__main__" and none of the runner's globals
main = types.ModuleType("__main__")
main.__file__ = cfg["main"]
if cfg["harness"]:
    main.sandbox_report = report
    main.sandbox_secrets = secrets
del secrets  # the harness pops it from the program's globals before the program runs
sys.modules["__main__"] = main
sys.argv = [cfg["main"]]
status = {"status": "ok"}
try:
    with open(cfg["main"], encoding="utf-8") as f:
        code = compile(f.read(), cfg["main"], "exec")
except (SyntaxError, ValueError) as e:
    status = {"status": "syntax_error", "detail": repr(e)[:500]}
else:
    try:
        exec(code, main.__dict__)
    except SystemExit as e:
        if e.code not in (None, 0):
            status = {"status": "runtime_error", "detail": "SystemExit(%r)" % (e.code,)}
    except MemoryError:
        status = {"status": "memory", "detail": "MemoryError"}
    except BaseException as e:
        import traceback
        traceback.print_exc()
        status = {"status": "runtime_error", "detail": type(e).__name__}
for stream in (sys.stdout, sys.stderr):
    try:
        stream.flush()
    except BaseException:
        pass
report(dict(status, final=1))
os._exit(0)  # skip interpreter teardown: non-daemon threads and atexit hooks of the program do not run
"""

_PROCESS_CALLS = (
    "fork forkpty system popen kill killpg execv execve execvp execvpe execl execle execlp execlpe fexecve "
    "spawnv spawnve spawnvp spawnvpe spawnl spawnle spawnlp spawnlpe posix_spawn posix_spawnp"
).split()
# human-eval's reliability_guard list, for a program that still runs as uid 0
_FILE_CALLS = (
    "remove unlink rmdir removedirs rename renames replace truncate chmod fchmod lchmod chown fchown lchown "
    "chroot link symlink"
).split()


@dataclass(frozen=True)
class Limits:
    """Per-process limits. ``timeout`` is wall-clock seconds for one process (one test case)."""

    timeout: float = VerificationConfig.code_timeout  # defaults: the config's (the one home of defaults)
    memory_mb: int = VerificationConfig.code_memory_mb
    """RLIMIT_AS: address space, so it counts reserved as well as touched memory."""
    file_size_mb: int = 64
    """RLIMIT_FSIZE: the largest file the program may write."""
    max_processes: int = 32
    """RLIMIT_NPROC (per uid, so shared by parallel sandboxes of one uid) or the pids cgroup's pids.max."""
    max_output_mb: float = 16.0
    """stdout cap; a program printing more is killed with status ``output_limit``."""

    def __post_init__(self) -> None:
        for name in ("timeout", "memory_mb", "file_size_mb", "max_processes", "max_output_mb"):
            if not getattr(self, name) > 0:
                raise ValueError(f"Limits.{name} must be positive, got {getattr(self, name)!r}")


@dataclass(frozen=True)
class Isolation:
    """The OS mechanisms this machine allows, probed once by :func:`isolation`."""

    prefix: tuple[str, ...] = ()
    """argv before the interpreter: unshare and setpriv with their flags."""
    netns: bool = False
    pidns: bool = False
    caps_dropped: bool = False
    uid: int | None = None
    """The unprivileged uid the program runs as, or None to keep the parent's."""
    pids_cgroup: str | None = None
    """Directory under which a per-run pids cgroup is created (root without a uid drop)."""
    nproc_enforced: bool = False
    """Whether RLIMIT_NPROC binds the program (it never binds uid 0)."""

    def describe(self) -> str:
        parts = [
            "netns" if self.netns else "python-socket-block",
            "pidns" if self.pidns else "process-group-only",
            "caps-dropped" if self.caps_dropped else "caps-kept",
            f"uid={self.uid}" if self.uid is not None else f"uid={os.geteuid()}(kept)",
            f"pids-cgroup={self.pids_cgroup}" if self.pids_cgroup else "no-pids-cgroup",
            "nproc-enforced" if self.nproc_enforced else "nproc-not-enforced",
        ]
        return ", ".join(parts)


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
    """The (already removed) working directory."""
    cgroup_joined: bool | None = None


def _probe(argv: list[str], cwd: str, timeout: float = 10.0) -> str | None:
    try:
        r = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=_env(cwd))
    except (OSError, subprocess.SubprocessError):
        return None
    return r.stdout if r.returncode == 0 else None


@functools.cache
def isolation() -> Isolation:
    """Find which isolation layers work here; each probe is a real, trivial process (~0.2 s once)."""
    root = os.geteuid() == 0
    unshare, setpriv = shutil.which("unshare"), shutil.which("setpriv")
    tmp = tempfile.mkdtemp(prefix="rlvr-sbx-probe-")
    os.chmod(tmp, 0o755)
    try:
        ns: list[str] = []
        if unshare:
            full = ["--net", "--pid", "--mount-proc", "--fork", "--kill-child"]
            # unprivileged user namespaces give a non-root user the same namespaces (uid 0 inside only)
            for flags in ([full, ["--net"]] if root else []) + [["--user", "--map-root-user", *full]]:
                if _probe([unshare, *flags, "true"], tmp) is not None:
                    ns = [unshare, *flags]
                    break
        privileged = root or "--user" in ns  # there are capabilities to drop
        drop = [setpriv or "setpriv", "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs"]
        caps = bool(setpriv) and privileged and _probe([*ns, *drop, "true"], tmp) is not None
        uid = None
        if caps and root and "--user" not in ns:
            nobody = [*drop, f"--reuid={SANDBOX_UID}", f"--regid={SANDBOX_UID}", "--clear-groups"]
            # the interpreter must stay the same one for that uid: it can silently load another build's
            # libpython and stdlib when its own directory is unreadable (a pyenv under /root), so compare
            check = "import sys; print(sys.version, sys.prefix)"
            got = _probe([*ns, *nobody, sys.executable, *_PYTHON_FLAGS, "-c", check], tmp)
            if got is not None and got.strip() == f"{sys.version} {sys.prefix}":
                uid = SANDBOX_UID
        prefix = ns + (nobody if uid is not None else drop if caps else [])
        return Isolation(
            prefix=tuple(prefix),
            netns=bool(ns),
            pidns="--pid" in ns,
            caps_dropped=caps,
            uid=uid,
            pids_cgroup=_find_pids_cgroup() if root and uid is None else None,
            nproc_enforced=uid is not None or not root,  # the kernel exempts only the real root user
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _find_pids_cgroup() -> str | None:
    for base in ("/sys/fs/cgroup/pids", "/sys/fs/cgroup"):
        probe = os.path.join(base, f"rlvr-sbx-probe-{os.getpid()}")
        try:
            os.mkdir(probe)
        except OSError:
            continue
        ok = os.path.exists(os.path.join(probe, "pids.max"))
        try:
            os.rmdir(probe)
        except OSError:
            pass
        if ok:
            return base
    return None


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
) -> RunResult:
    """Run ``main`` (Python source) as ``__main__`` in a fresh sandboxed process; never raises on its
    behaviour.

    ``files`` are written into the working directory (``main.py`` is the script itself); ``stdin`` becomes
    its standard input (else /dev/null); ``harness`` exposes ``sandbox_report`` to the script (trusted
    harness code only); ``capture_stdout=False`` sends stdout to /dev/null. ``private`` files (with ``harness``) reach the
    script as the dict ``sandbox_secrets``: the runner reads them from files it deletes before the script runs, so the
    program finds them in no file, argument, environment variable or descriptor (only in the harness's memory,
    which a program running in the same process can still search).
    """
    limits = limits or Limits()
    iso = iso or isolation()
    t0 = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="rlvr-sbx-")
    cgroup = None
    r_fd = w_fd = -1
    try:
        nonce = secrets.token_hex(16)
        hidden = {f".secret.{name}": text for name, text in (private or {}).items()}
        for name, text in {**(files or {}), **hidden, "main.py": main, ".nonce": nonce}.items():
            with open(os.path.join(workdir, name), "w", encoding="utf-8", errors="replace") as f:
                f.write(text)
        stdin_path = os.path.join(workdir, ".stdin")
        with open(stdin_path, "w", encoding="utf-8", errors="replace") as f:
            f.write(stdin or "")
        if iso.uid is not None:
            for path in [workdir, *(os.path.join(workdir, n) for n in os.listdir(workdir))]:
                os.chown(path, iso.uid, iso.uid)
        if iso.pids_cgroup:
            cgroup = os.path.join(iso.pids_cgroup, os.path.basename(workdir))
            try:
                os.mkdir(cgroup)
                with open(os.path.join(cgroup, "pids.max"), "w") as f:
                    f.write(str(limits.max_processes))
            except OSError:
                cgroup = None
        cpu = max(1, int(limits.timeout + 0.999))
        memory = int(limits.memory_mb) * 1024 * 1024
        fsize = int(limits.file_size_mb) * 1024 * 1024
        r_fd, w_fd = os.pipe()
        cfg = {
            "fd": w_fd,
            "main": "main.py",
            "cgroup": cgroup,
            "harness": harness,
            "secrets": sorted(private or {}),
            "rlimits": [
                ["RLIMIT_CPU", cpu, cpu + 1],
                ["RLIMIT_AS", memory, memory],
                ["RLIMIT_FSIZE", fsize, fsize],
                ["RLIMIT_NPROC", limits.max_processes, limits.max_processes],
                ["RLIMIT_CORE", 0, 0],
            ],
            "blocked": _PROCESS_CALLS + ([] if iso.uid is not None else _FILE_CALLS),
            "block_net": not iso.netns,
            "block_resource": not iso.caps_dropped,
        }
        argv = [*iso.prefix, sys.executable, *_PYTHON_FLAGS, "-c", _RUNNER, json.dumps(cfg)]
        with open(stdin_path, "rb") as stdin_f:
            try:
                proc = subprocess.Popen(
                    argv,
                    stdin=stdin_f,
                    stdout=subprocess.PIPE if capture_stdout else subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    pass_fds=(w_fd,),
                    cwd=workdir,
                    env=_env(workdir),
                    start_new_session=True,
                )
            except OSError as e:
                return RunResult("error", detail=f"could not start the sandbox: {e}", workdir=workdir)
        os.close(w_fd)
        w_fd = -1
        out = _collect(proc, r_fd, limits, t0, nonce)
        out.workdir = workdir
        return out
    finally:
        for fd in (r_fd, w_fd):
            if fd >= 0:
                os.close(fd)
        if cgroup:
            for _ in range(50):
                try:
                    os.rmdir(cgroup)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.01)  # the namespace's last processes are still being reaped
        shutil.rmtree(workdir, ignore_errors=True)


def _collect(proc: subprocess.Popen, r_fd: int, limits: Limits, t0: float, nonce: str) -> RunResult:
    """Read stdout, stderr and the report channel with caps until the init reports or the clock runs out."""
    deadline = t0 + limits.timeout
    cap = {"stdout": int(limits.max_output_mb * 1024 * 1024), "stderr": _STDERR_CAP, "report": _REPORT_CAP}
    bufs: dict[str, bytearray] = {k: bytearray() for k in cap}
    sel = selectors.DefaultSelector()
    for name, f in (("stdout", proc.stdout), ("stderr", proc.stderr)):
        if f is not None:
            sel.register(f.fileno(), selectors.EVENT_READ, name)
    sel.register(r_fd, selectors.EVENT_READ, "report")
    # report lines without the nonce are the program's forgeries (it can write to the inherited fd)
    reports: list[dict] = []
    init: dict | None = None
    final: dict | None = None
    parsed = 0  # bytes of the report channel already split into lines
    timed_out = over = False

    def read_ready(timeout: float) -> int:
        nonlocal over, parsed, init, final
        got = 0
        for key, _ in sel.select(timeout):
            chunk = os.read(key.fd, 1 << 16)
            if not chunk:
                sel.unregister(key.fd)
                continue
            got += len(chunk)
            buf = bufs[key.data]
            if key.data == "stderr":
                buf += chunk[: max(0, cap["stderr"] - len(buf))]  # keep the head, drain the rest
                continue
            buf += chunk
            if len(buf) > cap[key.data]:
                over = True
            elif key.data == "report":
                end = buf.rfind(b"\n") + 1
                for line in bytes(buf[parsed:end]).splitlines():
                    try:
                        obj = json.loads(line)
                    except ValueError:
                        continue
                    if not isinstance(obj, dict) or obj.pop("n", None) != nonce:
                        continue
                    if obj.get("init") == 1:
                        init = obj
                    elif obj.get("final") == 1:
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
        # what the program wrote before it exited is already in the pipes
        while init is not None and sel.get_map() and not over and read_ready(0):
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
        res.exit_code, res.cgroup_joined = init["exit"], init.get("cg")
        if res.exit_code < 0:
            res.status, res.detail = _signal_status(res.exit_code, init.get("cpu", 0.0), limits, stderr)
        elif final is not None:
            res.status, res.detail = final["status"], final.get("detail", "")
        else:  # the program left through os._exit before the runner could report
            res.status = "ok" if res.exit_code == 0 else "runtime_error"
            res.detail = f"exited with {res.exit_code} before the runner finished"
    return res
