"""The sandbox's in-namespace runner: executed as a script by :mod:`workflow.sandbox` (tests import it for its
tables and the seccomp program only).

Consumes: ``argv[1]``, a JSON config (no secrets in it: arguments are readable through /proc), and a
payload descriptor holding the nonce, the program's files and the harness's secrets, read and closed before
any program code runs. Produces: the program's run, and on the report descriptor one ``init`` line (exit
status, CPU time) plus the program's ``final`` status line, each carrying the nonce.

It starts as root of fresh mount, pid and network namespaces (real root, or root of a user namespace for a
non-root pipeline) and, before forking the program:

1. makes every mount private;
2. hides every top-level directory outside the system ones (``/usr``, ``/etc``, ``/lib``...) behind an
   empty read-only tmpfs: the project, its data and tests, home directories, ``/run``'s sockets, ``/var``,
   ``/mnt``... (files at the top level read as ``/dev/null``). Only the interpreter's own directories are bind-mounted back (read-only, same paths), which
   also makes an interpreter under a private directory (a pyenv under ``/root``, mode 700) reachable for an
   unprivileged uid;
3. mounts one tmpfs capped at ``disk_bytes`` (size and inodes) that backs the working directory, ``/tmp``,
   ``/var/tmp`` and ``/dev/shm``: the only writable places, private to this run, gone when it ends;
4. remounts every other mount read-only (a bind remount of each, keeping the flags a user namespace
   locks).

The init half then stays pid 1 (reaps, relays the exit status) and the program half drops every
capability (bounding set, effective/permitted/inheritable/ambient, ``no_new_privs``), drops to the run's
unprivileged uid when there is one, installs the seccomp filter, writes its files, sets the rlimits and the
Python-level guards, and executes the program as ``__main__``. With a companion (``companion.py``), the program half first starts it
(:func:`start_companion`: a fresh interpreter on this file's source, ``argv[1] == "companion"``) and then
runs ``main.py`` as the harness, staying non-dumpable.
"""

import json
import os
import resource
import signal
import sys
import types
from _json import encode_basestring_ascii

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_NOATIME, MS_NODIRATIME, MS_BIND, MS_REC = 32, 1024, 2048, 4096, 16384
MS_PRIVATE, MS_RELATIME, MS_STRICTATIME = 1 << 18, 1 << 21, 1 << 24
_FLAG_OPTS = {
    "nosuid": MS_NOSUID,
    "nodev": MS_NODEV,
    "noexec": MS_NOEXEC,
    "noatime": MS_NOATIME,
    "nodiratime": MS_NODIRATIME,
    "relatime": MS_RELATIME,
    "strictatime": MS_STRICTATIME,
}
PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT = 4, 24, 38, 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
SYS_CAPSET = {"x86_64": 126, "aarch64": 91, "ppc64le": 184, "s390x": 185}
# The seccomp filter (after Docker's default profile), per machine: (audit arch, numbers). Refused with EPERM:
# kernel keyrings (not namespaced: a key would outlive the run), io_uring, bpf, perf_event_open, userfaultfd
# (attack surface no program here needs), memfd_create (memory no rlimit counts), setns and the mount calls,
# and clone/unshare with any CLONE_NEW* flag (a user namespace of its own would give the program every
# capability in it: a tmpfs past the disk cap); clone3, whose flags a filter cannot read, is ENOSYS (glibc
# then falls back to clone); socket() only for AF_UNIX, AF_INET, AF_INET6 and AF_NETLINK (AF_VSOCK and the
# like are not network-namespaced), socketpair() only for AF_UNIX; any other ABI (i386, x32) is refused
# whole. Elsewhere no filter is installed.
_REFUSED = ("add_key request_key keyctl io_uring_setup io_uring_enter io_uring_register bpf perf_event_open "
            "userfaultfd memfd_create memfd_secret setns mount umount2 pivot_root open_tree move_mount fsopen "
            "fsconfig fsmount fspick mount_setattr").split()  # fmt: skip
_NEW_ASM = {"io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "open_tree": 428,
            "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433, "clone3": 435,
            "mount_setattr": 442, "memfd_secret": 447}  # fmt: skip
SECCOMP = {
    "x86_64": (0xC000003E, {**_NEW_ASM, "add_key": 248, "request_key": 249, "keyctl": 250, "bpf": 321,
                            "perf_event_open": 298, "userfaultfd": 323, "memfd_create": 319, "setns": 308,
                            "mount": 165, "umount2": 166, "pivot_root": 155, "clone": 56, "unshare": 272,
                            "socket": 41, "socketpair": 53}),
    "aarch64": (0xC00000B7, {**_NEW_ASM, "add_key": 217, "request_key": 218, "keyctl": 219, "bpf": 280,
                             "perf_event_open": 241, "userfaultfd": 282, "memfd_create": 279, "setns": 268,
                             "mount": 40, "umount2": 39, "pivot_root": 41, "clone": 220, "unshare": 97,
                             "socket": 198, "socketpair": 199}),
}  # fmt: skip
CLONE_NEW = 0x7E020080  # CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET, NEWTIME
SOCKET_FAMILIES = (1, 2, 10, 16)  # AF_UNIX, AF_INET, AF_INET6, AF_NETLINK
PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2
SYSTEM_DIRS = {"usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc", "dev", "proc", "sys", "tmp"}
"""Top-level directories the program keeps seeing (read-only); every other one is hidden."""
PRIVATE_DIRS = ("/tmp", "/var/tmp", "/dev/shm")
"""Replaced by the run's private space."""

_LIBC = None


def libc():
    """libc through ctypes, loaded on first use (the companion never needs it, and starts faster without)."""
    global _LIBC
    if _LIBC is None:
        import ctypes

        _LIBC = ctypes.CDLL(None, use_errno=True)
    return _LIBC


class SetupError(Exception):
    pass


def _check(ret: int, what: str) -> None:
    if ret != 0:
        import ctypes

        err = ctypes.get_errno()
        raise SetupError(f"{what}: {os.strerror(err)}")


def mount(src, target, fstype, flags, data=None) -> None:
    enc = [None if x is None else os.fsencode(x) for x in (src, target, fstype, data)]
    import ctypes

    _check(libc().mount(enc[0], enc[1], enc[2], ctypes.c_ulong(flags), enc[3]), f"mount {target}")


def _mountinfo() -> list[tuple[str, int]]:
    """(mount point, the flags to keep) of every mount, in mount order."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            point = fields[4].encode().decode("unicode_escape").encode("latin-1").decode()
            flags = 0
            for opt in fields[5].split(","):
                flags |= _FLAG_OPTS.get(opt, 0)
            out.append((point, flags))
    return out


def _remount_ro(point: str, keep: int) -> None:
    try:
        mount(None, point, None, MS_REMOUNT | MS_BIND | MS_RDONLY | keep)
    except SetupError:
        # an over-mounted point no longer resolves to a mount root (its path now shows the mount above
        # it): nothing can reach it, so nothing needs to be read-only there
        import ctypes

        if ctypes.get_errno() not in (2, 22):  # ENOENT, EINVAL
            raise


def build_view(fs: dict, workdir: str) -> None:
    """Steps 1-3 of the module docstring, as root of the namespaces."""
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    # the private space first (its mount point may lie in a directory about to be hidden)
    owner = fs["owner"]
    opts = f"size={fs['disk_bytes']},nr_inodes={fs['inodes']},mode=700,uid={owner},gid={owner}"
    mount("rlvr-sbx", workdir, "tmpfs", MS_NOSUID | MS_NODEV, opts)
    space = {}
    for sub, target in (("tmp", "/tmp"), ("var_tmp", "/var/tmp"), ("shm", "/dev/shm"), ("work", workdir)):
        os.mkdir(os.path.join(workdir, sub), 0o700)
        os.chown(os.path.join(workdir, sub), owner, owner)
        space[target] = os.open(os.path.join(workdir, sub), os.O_PATH | os.O_DIRECTORY)

    # hide, then bind back the interpreter's directories (opened first: their paths are about to vanish);
    # one under /tmp, /var/tmp or /dev/shm (a checkout in /tmp) goes back into the private space afterwards
    def private(path: str) -> bool:
        return any(path == d or path.startswith(d + "/") for d in PRIVATE_DIRS)

    expose = [p for p in fs["expose"] if p.split("/")[1] not in SYSTEM_DIRS or private(p)]
    kept = {p: os.open(p, os.O_PATH | os.O_DIRECTORY) for p in expose}
    hidden = []
    for name in sorted(os.listdir("/")):
        path = "/" + name
        if name in SYSTEM_DIRS or os.path.islink(path):
            continue
        if not os.path.isdir(path):  # a file at the top (a container's info file): an empty device instead
            mount("/dev/null", path, None, MS_BIND)
            continue
        mount("rlvr-sbx-hidden", path, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,nr_inodes=256,mode=755")
        hidden.append(path)
    for p, fd in kept.items():
        if not private(p):
            os.makedirs(p, exist_ok=True)
            mount(f"/proc/self/fd/{fd}", p, None, MS_BIND | MS_REC)
            os.close(fd)
    for target, fd in space.items():  # the working directory last: it may lie in the new /tmp
        if target == workdir or os.path.isdir(target) or target == "/var/tmp" and "/var" in hidden:
            os.makedirs(target, exist_ok=True)
            mount(f"/proc/self/fd/{fd}", target, None, MS_BIND)
        os.close(fd)
    for p, fd in kept.items():  # read-only by the pass below (their paths are not the private space's)
        if private(p):
            os.makedirs(p, exist_ok=True)
            mount(f"/proc/self/fd/{fd}", p, None, MS_BIND | MS_REC)
            os.close(fd)
    writable = set(space)
    for point, keep in _mountinfo():  # everything else read-only, the hiding tmpfs (empty) included
        if point not in writable:
            _remount_ro(point, keep)


def drop_privileges(uid: int | None) -> None:
    """Empty every capability set and, with a uid, become it (the kernel then clears the capabilities too)."""
    if libc().prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise SetupError("no_new_privs")
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            last = int(f.read())
    except OSError:
        last = 63
    for cap in range(last + 1):
        libc().prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)  # EINVAL past the kernel's last capability
    libc().prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    if uid is not None:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    import ctypes

    number = SYS_CAPSET.get(os.uname().machine)
    if number is not None:  # uid 0 of a user namespace keeps its sets until they are emptied by hand
        header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
        data = (ctypes.c_uint32 * 6)()
        _check(libc().syscall(number, header, data), "capset")


def seccomp_program(machine: str) -> list[tuple[int, int, int, int]]:
    """The BPF program of ``SECCOMP`` for ``machine``: (code, jt, jf, k) per instruction."""
    arch, nr = SECCOMP[machine]
    ld, alu_and, jeq, jge, ret = 0x20, 0x54, 0x15, 0x35, 0x06  # BPF_LD|W|ABS, ALU|AND|K, JMP|JEQ|K, JGE, RET
    allow, errno = 0x7FFF0000, 0x00050000  # SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO | errno
    eperm, enosys, eafnosupport = errno | 1, errno | 38, errno | 97
    arg0 = (ld, 0, 0, 16)  # the low word of the first argument (little-endian)
    prog = [(ld, 0, 0, 4), (jeq, 1, 0, arch), (ret, 0, 0, eperm), (ld, 0, 0, 0)]  # arch, then the number
    if machine == "x86_64":
        prog += [(jge, 0, 1, 0x40000000), (ret, 0, 0, eperm)]  # the x32 ABI
    for name in _REFUSED:
        prog += [(jeq, 0, 1, nr[name]), (ret, 0, 0, eperm)]
    prog += [(jeq, 0, 1, nr["clone3"]), (ret, 0, 0, enosys)]
    for name in ("clone", "unshare"):  # each block returns, so the number need not be loaded again
        prog += [(jeq, 0, 5, nr[name]), arg0, (alu_and, 0, 0, CLONE_NEW), (jeq, 1, 0, 0), (ret, 0, 0, eperm)]
        prog += [(ret, 0, 0, allow)]
    n = len(SOCKET_FAMILIES)
    prog += [(jeq, 0, n + 3, nr["socket"]), arg0]
    prog += [(jeq, n - i, 0, family) for i, family in enumerate(SOCKET_FAMILIES)]
    prog += [(ret, 0, 0, eafnosupport), (ret, 0, 0, allow)]
    prog += [
        (jeq, 0, 4, nr["socketpair"]),
        arg0,
        (jeq, 1, 0, 1),
        (ret, 0, 0, eafnosupport),
        (ret, 0, 0, allow),
    ]
    prog.append((ret, 0, 0, allow))
    return prog


def install_seccomp() -> None:
    """The filter of ``SECCOMP`` (needs ``no_new_privs``; inherited by every child and kept across exec)."""
    import ctypes

    machine = os.uname().machine
    if machine not in SECCOMP:
        return
    prog = seccomp_program(machine)

    class Filter(ctypes.Structure):
        _fields_ = [
            ("code", ctypes.c_uint16),
            ("jt", ctypes.c_uint8),
            ("jf", ctypes.c_uint8),
            ("k", ctypes.c_uint32),
        ]

    class Program(ctypes.Structure):
        _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(Filter))]

    table = (Filter * len(prog))(*(Filter(*ins) for ins in prog))
    fprog = Program(len(prog), ctypes.cast(table, ctypes.POINTER(Filter)))
    _check(libc().prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0), "seccomp")


def _blocked(*args, **kwargs):
    raise PermissionError("blocked by the sandbox")


def install_guards(cfg: dict) -> None:
    """The fixed thread stack size and the Python-level guards (process calls, and sockets when there is no
    network namespace)."""
    import _thread

    _thread.stack_size(
        cfg["thread_stack"]
    )  # the same thread stacks on every machine (glibc's follow RLIMIT_STACK)
    # posix holds the same functions as os; _posixsubprocess.fork_exec is what subprocess uses
    import _posixsubprocess
    import posix

    for mod in (os, posix):
        for name in cfg["blocked"]:
            if hasattr(mod, name):
                setattr(mod, name, _blocked)
    _posixsubprocess.fork_exec = _blocked
    if cfg["block_net"]:
        import socket

        for name in ("connect", "connect_ex", "bind", "sendto", "sendmsg"):
            setattr(socket.socket, name, _blocked)


def use_site(site_info: dict) -> None:
    """Started without ``site`` (``-S``): take the ``sys.path`` and prefixes the parent probed, and the
    builtins ``site`` adds (``exit``, ``quit``, ``help``...), so programs see what they would with ``site``."""
    sys.path[:] = site_info["path"]
    sys.prefix, sys.exec_prefix = site_info["prefix"], site_info["exec_prefix"]
    import site

    site.setquit()
    site.setcopyright()
    site.sethelper()


def start_companion(cfg: dict, source: str) -> dict:
    """Fork the companion (the untrusted program's own process); returns ``{"fd", "pid", "kill"}`` for the
    harness (``kill()`` sends it SIGKILL, past the guards).

    The child closes every descriptor but its end of a fresh socket pair and the standard three (so neither
    the report channel nor the payload reaches it), then executes a fresh interpreter on this runner's source
    in companion mode: nothing of this process's memory (the nonce, the test sources) survives the exec. The
    harness's process stays non-dumpable, so the companion (same uid, no capabilities) can neither trace it
    nor open its /proc files; it can only signal it, and the harness reads a dead companion as a failure.
    """
    import socket

    ours, theirs = (end.detach() for end in socket.socketpair())
    pid = os.fork()
    if pid == 0:
        try:
            os.closerange(3, theirs)
            os.closerange(theirs + 1, 1 << 16)
            os.set_inheritable(theirs, True)
            # -S: no site (its .pth files cost 15-20 ms here); this interpreter's path and prefixes instead
            here = {"path": sys.path, "prefix": sys.prefix, "exec_prefix": sys.exec_prefix}
            args = ["-S", "-c", source, "companion", json.dumps(dict(cfg, fd=theirs, site=here))]
            os.execv(cfg["python"][0], [*cfg["python"], *args])
        finally:
            os._exit(70)
    os.close(theirs)
    return {
        "fd": ours,
        "pid": pid,
        "kill": lambda _kill=os.kill: _kill(pid, signal.SIGKILL),
    }  # bound before the guards


def companion(cfg: dict) -> None:
    """Companion mode: run ``companion.py`` of the working directory as ``__main__`` with the guards in place
    and ``sandbox_channel`` (the descriptor to the harness) in its globals. Started without ``site``, it takes
    the runner's ``sys.path`` and the builtins ``site`` adds (``exit``, ``quit``, ``help``...)."""
    use_site(cfg["site"])
    install_guards(cfg)
    main_mod = types.ModuleType("__main__")
    main_mod.__file__ = "companion.py"
    main_mod.sandbox_channel = cfg["fd"]
    sys.modules["__main__"] = main_mod
    sys.argv = ["companion.py"]
    try:
        with open("companion.py", encoding="utf-8") as f:
            exec(compile(f.read(), "companion.py", "exec"), main_mod.__dict__)
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except BaseException:
                pass
        os._exit(0)


def main() -> None:
    if sys.argv[1] == "companion":
        companion(json.loads(sys.argv[2]))
    cfg = json.loads(sys.argv[1])
    if cfg["site"] is not None:
        use_site(cfg["site"])
    source = ""
    if cfg["companion"]:  # read now: the view built below hides the project and this file with it
        with open(os.path.abspath(__file__), encoding="utf-8") as f:
            source = f.read()
    fd = cfg["fd"]  # the report channel to the parent
    with os.fdopen(cfg["payload"], "rb") as f:
        payload = json.loads(f.read())
    nonce, files, secrets = payload["nonce"], payload["files"], payload["secrets"]
    del payload
    workdir = cfg["workdir"]
    try:
        if cfg["fs"]:
            build_view(cfg["fs"], workdir)
    except (SetupError, OSError) as e:
        sys.stderr.write(f"rlvr-sandbox: could not build the file system view: {e}\n")
        os._exit(70)
    libc().prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)  # no /proc/1/mem or /proc/1/fd for the program

    def report(
        obj,
        _fd=fd,
        _quote=encode_basestring_ascii,
        _write=os.write,
        _str=str,
        _type=type,
        _int=int,
        _float=float,
    ):
        # JSON by hand, with functions bound now: a program that patches json, os or builtins later cannot
        # change what its harness reports (a report is a flat dict of str, int, float, bool or None)
        fields = []
        for key, value in [*obj.items(), ("n", nonce)]:
            kind = _type(value)
            if value is None or kind is bool:
                text = {None: "null", True: "true", False: "false"}[value]
            elif kind is _int or kind is _float:
                text = _str(value) if kind is _int else _float.__repr__(value).replace("inf", "1e999")
            else:
                text = _quote(_str(value))
            fields.append(_quote(_str(key)) + ":" + text)
        data = ("{" + ",".join(fields) + "}\n").encode()
        while data:
            data = data[_write(_fd, data) :]

    pid = os.fork()
    if pid:
        # init (pid 1 of the namespace, when there is one): reap orphans until the program exits, then report
        # its status on its own channel, which no process of the program holds (the nonce alone would not do:
        # a program loaded into the runner's interpreter finds it in the frames); exiting makes the kernel
        # kill whatever the program left running
        while True:
            p, st, ru = os.wait4(-1, 0)
            if p == pid:
                break
        status = {"init": 1, "exit": os.waitstatus_to_exitcode(st), "cpu": ru.ru_utime + ru.ru_stime}
        report(status, _fd=cfg["init_fd"])
        os._exit(0)
    os.close(cfg["init_fd"])

    # the program's half: limits (while it may still raise hard limits), privileges, files, guards
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an oversized write then fails with EFBIG, catchable
    try:
        for name, soft, hard in cfg["rlimits"]:
            resource.setrlimit(getattr(resource, name), (soft, hard))
        if cfg["uid"] is not None and not cfg["fs"]:
            os.chown(workdir, cfg["uid"], cfg["uid"])
        drop_privileges(cfg["uid"])
        install_seccomp()
        os.chdir(workdir)
        for name, text in files.items():
            with open(name, "w", encoding="utf-8", errors="replace") as f:
                f.write(text)
    except (SetupError, OSError, ValueError) as e:
        sys.stderr.write(f"rlvr-sandbox: could not set limits, drop privileges or write the files: {e}\n")
        os._exit(70)
    # from memory (as written: lone surrogates replaced), since the companion, once started, can rewrite the file
    main_source = files[cfg["main"]].encode("utf-8", "replace").decode("utf-8")
    del files
    extra = {}
    if cfg["companion"]:
        # the untrusted program runs in the companion; this process (the harness) stays non-dumpable (said
        # again: the uid change set it to fs.suid_dumpable, which a host may have at 1)
        libc().prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
        extra["sandbox_companion"] = start_companion(cfg, source)
    else:
        libc().prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)  # its own /proc/self files belong to it again
    install_guards(cfg)

    # a fresh __main__ module: the program sees __name__ == "__main__" and none of the runner's globals
    main_mod = types.ModuleType("__main__")
    main_mod.__file__ = cfg["main"]
    if cfg["harness"]:
        main_mod.sandbox_report = report
        main_mod.sandbox_secrets = secrets
        main_mod.__dict__.update(extra)
    del secrets  # the harness pops it from the program's globals before the program runs
    sys.modules["__main__"] = main_mod
    sys.argv = [cfg["main"]]
    status = {"status": "ok"}
    try:
        code = compile(main_source, cfg["main"], "exec")
    except (SyntaxError, ValueError) as e:
        status = {"status": "syntax_error", "detail": repr(e)[:500]}
    else:
        try:
            exec(code, main_mod.__dict__)
        except SystemExit as e:
            if e.code not in (None, 0):
                status = {"status": "runtime_error", "detail": f"SystemExit({e.code!r})"}
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


if __name__ == "__main__":
    main()
