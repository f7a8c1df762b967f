"""The code sandbox: the adversarial suite (tests/sandbox_attacks.py), correct programs on every isolation
mode, failing closed, and what the verdict table records. Real programs in real sandboxed processes.

The attack cases run only where the machine gives every isolation layer (they include ``kill(-1)`` and
writes to every visible directory, harmless only inside the sandbox); elsewhere they skip naming what is
missing. The non-root run needs root here (to become ``nobody``) and a system interpreter that user can
reach.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile

import pytest
import sandbox_attacks as attacks

from workflow import sandbox
from workflow import sandbox_runner as runner
from workflow.tasks.code import CodeChecker

ISO = sandbox.isolation()
FULL = pytest.mark.skipif(bool(ISO.missing()), reason=f"this machine's sandbox lacks {ISO.missing()}")
ATTACKS = [c for c in attacks.all_cases() if c.kind != "correct"]


def test_isolation_is_probed_and_described():
    text = ISO.describe()
    assert ("netns" in text) != ("python-socket-block" in text)
    assert ISO.mode == "full" or ISO.mode.startswith("weak (missing ")
    if os.geteuid() == 0 and not ISO.missing():
        assert ISO.per_run_uid and not ISO.userns  # root gets real namespaces and a per-run uid


@FULL
@pytest.mark.parametrize("case", ATTACKS, ids=[c.id for c in ATTACKS])
def test_attack_is_contained(case):
    verdict, problems = attacks.run_case(case, ISO)
    assert problems == [], f"{case.id} ({case.what}): verdict {verdict}"


@pytest.mark.parametrize("mode", ["probed", "no-namespaces"])
@pytest.mark.parametrize("case", attacks.CORRECT, ids=[c.id for c in attacks.CORRECT])
def test_correct_programs_pass_on_every_mode(case, mode):
    """Temporary files, threads, stdin to EOF and deep recursion pass with this machine's isolation and with
    none at all (uid kept, host file system): the verdict does not depend on the machine."""
    iso = ISO if mode == "probed" else sandbox.Isolation()
    verdict, problems = attacks.run_case(case, iso)
    assert (verdict, problems) == ("ok", [])


@FULL
def test_working_directory_is_a_private_tmpfs():
    prog = (
        "import os\nprint(os.getcwd())\nprint(sorted(os.listdir('.')))\nopen('marker', 'w').write('x')\n"
        "print(os.statvfs('.').f_blocks * os.statvfs('.').f_frsize)\n"
        "print(os.stat('.').st_dev == os.stat('/tmp').st_dev == os.stat('/dev/shm').st_dev)"
    )
    first, second = (sandbox.run(prog, limits=attacks.LIMITS) for _ in range(2))
    for res in (first, second):
        assert res.status == "ok", res
        cwd, listing, size, shared = res.stdout.splitlines()
        assert cwd == res.workdir and listing == "['main.py']"
        assert int(size) == attacks.LIMITS.disk_mb * 2**20 and shared == "True"
        assert not os.path.exists(res.workdir)
    assert first.workdir != second.workdir


@FULL
def test_the_test_thief_wins_only_when_the_tests_are_visible():
    """Control for the ``read_tests`` attack: with no mount namespace the canary file in the host's /tmp is
    visible, and the same thief passes; so its failure in the sandbox is the sandbox's doing."""
    case = next(c for c in attacks.ATTACKS if c.id == "read_tests")
    assert attacks.run_case(case, ISO) == ("wrong_answer", [])
    exposed = sandbox.Isolation(prefix=ISO.prefix, pidns=True, netns=True, per_run_uid=False)
    verdict, _ = attacks.run_case(case, exposed)
    assert verdict == "ok"


@pytest.mark.skipif(os.geteuid() != 0, reason="the control reads its parent's memory, which needs root")
def test_the_harness_thief_wins_against_a_traceable_parent():
    """Control for the ``read_harness_memory`` attack: outside the sandbox, as the child of a dumpable process
    that holds the test source, the same program finds the expected values (through /proc/<ppid>/mem); so its
    failure in the sandbox is the non-dumpable harness's doing, not a broken thief."""
    case = next(c for c in attacks.ATTACKS if c.id == "read_harness_memory")
    holder = (
        f"import subprocess, sys\nTESTS = {attacks.SQRT['test']!r}\nprog = sys.stdin.read()\n"
        "r = subprocess.run([sys.executable, '-c', prog + '\\nprint(root2(9.0), sorted(set(_how)))'],"
        " capture_output=True, text=True, timeout=60)\nprint(r.stdout, r.stderr)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", holder], input=case.program, capture_output=True, text=True, timeout=120
    )
    assert out.stdout.startswith("3.0 ") and "mem" in out.stdout, out.stdout + out.stderr


@FULL
def test_the_ipc_namespace_is_what_keeps_ipc_objects_in_the_run():
    """Control for the ``ipc_across_runs`` attack: without ``--ipc`` the same program finds its previous run's
    shared memory and message queue, and leaves segments on the host (removed here afterwards)."""
    import ctypes
    import dataclasses

    case = next(c for c in attacks.ATTACKS if c.id == "ipc_across_runs")
    before = attacks.HostWatch._ipc()
    try:
        verdict, problems = attacks.run_case(
            case, dataclasses.replace(ISO, prefix=tuple(f for f in ISO.prefix if f != "--ipc"))
        )
        assert verdict == "ok" and any("previous run's shared memory" in p for p in problems), problems
        assert any(p.startswith("IPC objects or kernel keys left on the host") for p in problems), problems
    finally:
        libc = ctypes.CDLL(None, use_errno=True)
        for obj in attacks.HostWatch._ipc() - before:
            kind, _key, ident = obj.split(maxsplit=2)
            if kind == "shm":
                libc.shmctl(int(ident), 0, None)  # IPC_RMID
        libc.mq_unlink(b"/rlvr-sbx-mq")
    assert attacks.HostWatch._ipc() <= before


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="the attack's syscall numbers are x86_64's")
def test_the_kernel_surface_attack_reaches_the_kernel_outside_the_sandbox():
    """Control for the ``kernel_surface`` attack: run as a plain process, the same program adds its key (so the
    refusals in the sandbox are the seccomp filter's); the key is invalidated afterwards."""
    case = next(c for c in attacks.ATTACKS if c.id == "kernel_surface")
    cleanup = (
        "\n_key = libc.syscall(250, 10, -4, b'user', b'rlvr-sbx', 0)  # KEYCTL_SEARCH the user keyring\n"
        "libc.syscall(250, 21, _key) if _key > 0 else None  # KEYCTL_INVALIDATE\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", case.program + cleanup], capture_output=True, text=True, timeout=60
    )
    assert out.stdout.startswith("LEAK reached") and "add_key" in out.stdout, out.stdout + out.stderr


@FULL
def test_nested_report_lines_cost_the_parent_nothing():
    """A plain program finds the runner's nonce and report descriptor in its frames and writes one 12 MB report
    line of nested lists; the parent parses only flat lines, so its memory stays small (it used to be about
    30 bytes per byte of the line)."""
    import tracemalloc

    prog = attacks.FORGE_INIT.replace(
        "while True:\n    pass\n",
        "os.write(_fd, ('{\"a\":' + '[],' * (4 << 20) + '[],\"n\":\"%s\"}\\n' % f.f_locals['nonce']).encode())\n",
    )
    tracemalloc.start()
    try:
        res = sandbox.run(prog, limits=attacks.LIMITS)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert res.status == "ok" and not any("a" in r for r in res.reports), res  # the nested line: dropped
    assert peak < 80 << 20, peak


def test_fails_closed_without_isolation(tmp_path):
    weak = sandbox.Isolation(probe_error="no unshare binary (util-linux) on PATH")
    with pytest.raises(sandbox.SandboxUnavailable, match="missing mount namespace.*allow_weak_sandbox"):
        CodeChecker(iso=weak)
    checker = CodeChecker(iso=weak, allow_weak_sandbox=True, timeout=2)
    verdict = checker.check(
        attacks.SQRT, "```python\nimport math\ndef root2(x):\n    return math.sqrt(x)\n```"
    )
    assert verdict.correct and verdict.sandbox is not None and verdict.sandbox.startswith("weak (missing")
    if not ISO.missing():
        assert (
            CodeChecker(iso=ISO).check(attacks.SQRT, "```python\ndef root2(x):\n    return 1\n```").sandbox
            == "full"
        )


def test_verdict_table_records_the_sandbox(tmp_path):
    from workflow.config import from_dict
    from workflow.verify import verify_rows

    problems = {"p": {"id": "p", "kind": "code", "tests": attacks.SQRT}}
    rows = [
        {
            "problem_id": "p",
            "sample_idx": 0,
            "completion": "```python\ndef root2(x):\n    return x ** 0.5\n```",
        }
    ]
    cfg = from_dict({"verification": {"allow_weak_sandbox": True, "code_timeout": 5}})
    (verdict,) = verify_rows(rows, problems, cfg)
    assert verdict.correct and verdict.sandbox == ISO.mode


@FULL
@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root to become nobody")
def test_attack_suite_as_a_non_root_user():
    """The whole suite again as uid 65534 with the system interpreter (the project's may sit under /root):
    the sandbox then runs in a user namespace, and must hold the same."""
    python = "/usr/bin/python3"
    probe = subprocess.run(
        [python, "-c", "import sys; print(sys.version_info >= (3, 10))"], capture_output=True
    )
    if probe.returncode or probe.stdout.strip() != b"True":
        pytest.skip("no system Python >= 3.10 that another user can run")
    root = tempfile.mkdtemp(prefix="rlvr-sbx-nonroot-")
    try:
        repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        shutil.copytree(os.path.join(repo, "workflow"), os.path.join(root, "workflow"))
        os.makedirs(os.path.join(root, "tests"))
        shutil.copy(attacks.__file__, os.path.join(root, "tests", "sandbox_attacks.py"))
        for d, _, files in os.walk(root):
            os.chmod(d, 0o755)
            for f in files:
                os.chmod(os.path.join(d, f), 0o644)
        env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8"}
        cmd = [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            python,
            "tests/sandbox_attacks.py",
        ]
        out = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=600)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    lines = [json.loads(ln) for ln in out.stdout.splitlines() if ln.startswith("{")]
    assert lines, out.stderr[-2000:]
    summary = lines[-1]
    failed = [ln for ln in lines[:-1] if not ln["held"]]
    assert failed == [] and summary["failed"] == 0, (failed, out.stderr[-2000:])
    assert summary["uid"] == 65534 and "userns" in summary["isolation"] and "WEAK" not in summary["isolation"]
    assert summary["contained"] == summary["cases"] == len(attacks.all_cases())
    assert summary["right"] == summary["cases"]
    print(summary, file=sys.stderr)


@FULL
def test_an_interpreter_under_tmp_stays_reachable_and_read_only():
    """A checkout (and its venv) under /tmp, which the private space replaces: its exposed directories are
    bound back inside the private /tmp, read-only. Found by CI in a clone under /tmp, where numpy vanished."""
    import dataclasses

    lib = tempfile.mkdtemp(prefix="rlvr-sbx-lib-")
    os.chmod(lib, 0o755)
    try:
        with open(os.path.join(lib, "rlvr_probe_mod.py"), "w") as f:
            f.write("VALUE = 42\n")
        os.chmod(os.path.join(lib, "rlvr_probe_mod.py"), 0o644)
        iso = dataclasses.replace(ISO, expose=(*ISO.expose, lib))
        prog = (
            f"import sys\nsys.path.insert(0, {lib!r})\nimport rlvr_probe_mod\nprint(rlvr_probe_mod.VALUE)\n"
            f"try:\n    open({lib!r} + '/x', 'w')\n    print('LEAK wrote')\nexcept OSError:\n    print('read-only')\n"
        )
        res = sandbox.run(prog, limits=attacks.LIMITS, iso=iso)
        assert (res.status, res.stdout.split()) == ("ok", ["42", "read-only"]), res
        assert os.listdir(lib) == ["rlvr_probe_mod.py"]
    finally:
        shutil.rmtree(lib, ignore_errors=True)


def _run_bpf(prog: list[tuple[int, int, int, int]], arch: int, nr: int, arg0: int = 0) -> int:
    """A tiny classic-BPF interpreter for the instructions the filter uses, over one seccomp_data."""
    data = {0: nr & 0xFFFFFFFF, 4: arch, 16: arg0 & 0xFFFFFFFF}
    acc, pc = 0, 0
    while True:
        code, jt, jf, k = prog[pc]
        if code == 0x20:  # ld [k]
            acc = data[k]
        elif code == 0x54:  # and #k
            acc &= k
        elif code in (0x15, 0x35):  # jeq / jge #k
            hit = acc == k if code == 0x15 else acc >= k
            pc += jt if hit else jf
        elif code == 0x06:  # ret #k
            return k
        else:
            raise AssertionError(f"unexpected BPF code {code:#x}")
        pc += 1


@pytest.mark.parametrize("machine", sorted(runner.SECCOMP))
def test_seccomp_program_decides_as_documented(machine):
    """The filter run through a BPF interpreter for each machine's numbers (only x86_64 runs it for real
    here): refused calls, clone/unshare flags, socket families, clone3, foreign ABIs; every jump in bounds."""
    prog = runner.seccomp_program(machine)
    arch, nr = runner.SECCOMP[machine]
    for i, (code, jt, jf, _k) in enumerate(prog):
        if code in (0x15, 0x35):
            assert i + 1 + max(jt, jf) < len(prog)
    allow, eperm, enosys, eaf = 0x7FFF0000, 0x50001, 0x50026, 0x50061
    for name in runner._REFUSED:
        assert _run_bpf(prog, arch, nr[name]) == eperm, name
    assert _run_bpf(prog, arch, nr["clone3"]) == enosys
    assert _run_bpf(prog, arch, 63 if machine == "aarch64" else 0) == allow  # read
    assert _run_bpf(prog, arch ^ 1, 0) == eperm  # another ABI
    for name in ("clone", "unshare"):
        assert _run_bpf(prog, arch, nr[name], 0x00010000 | 0x00000100 | 0x11) == allow  # thread-like flags
        for flag in (
            0x00020000,
            0x02000000,
            0x04000000,
            0x08000000,
            0x10000000,
            0x20000000,
            0x40000000,
            0x80,
        ):
            assert _run_bpf(prog, arch, nr[name], flag | 0x11) == eperm, (name, hex(flag))
    for family in (1, 2, 10, 16):
        assert _run_bpf(prog, arch, nr["socket"], family) == allow
    for family in (17, 38, 40, 0, 44):
        assert _run_bpf(prog, arch, nr["socket"], family) == eaf
    assert _run_bpf(prog, arch, nr["socketpair"], 1) == allow
    assert _run_bpf(prog, arch, nr["socketpair"], 2) == eaf
    if machine == "x86_64":
        assert _run_bpf(prog, arch, 0x40000000 | 39) == eperm  # x32 getpid
