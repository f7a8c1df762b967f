"""The trusted harness sources that workflow/tasks/code.py hands to the sandbox, as text.

Consumes: nothing. Produces: ``FUNCTIONAL_HARNESS`` and ``FUNCTIONAL_SERVER`` (HumanEval's ``check``: the
tests in the harness's process, the program in its companion process, plain data between them through the
embedded source of workflow/tasks/wire.py) and ``CALL_HARNESS`` (LiveCodeBench's call format: the program's
return value, reported as JSON). Each runs as the sandbox's ``__main__`` (``sandbox.run``), where the project
cannot be imported; code.py appends the line that calls its entry function.
"""

from __future__ import annotations

from pathlib import Path

from workflow.tasks import wire

# Harnesses run as the sandbox's __main__; the call format's candidate lives in its own module, and the report
# function is taken out of the harness's globals before the candidate runs.
HARNESS_HEAD = """
import json, sys, types


def _load(names):
    mod = types.ModuleType("__candidate__")
    sys.modules["__candidate__"] = mod
    for name in names:
        with open(name, encoding="utf-8") as f:
            exec(compile(f.read(), name, "exec"), mod.__dict__)
    return mod


def _fail(report, e):
    if isinstance(e, MemoryError):
        report({"verdict": "memory", "detail": "MemoryError"})
    elif isinstance(e, SyntaxError):
        report({"verdict": "syntax_error", "detail": repr(e)[:300]})
    else:
        report({"verdict": "runtime_error", "detail": type(e).__name__})
"""

# The functional format runs in two processes (sandbox.run's companion). The companion loads the program and
# serves calls of its entry point; the harness process (non-dumpable, holding the tests and the report
# function) runs the prompt and the test source with a stand-in for the entry point that forwards each call.
# Only plain data crosses (workflow/tasks/wire.py), so the program's objects, patches and frame walks stay in
# its own process.
WIRE = Path(wire.__file__).read_text(encoding="utf-8")

FUNCTIONAL_SERVER = (
    WIRE
    + """

import sys, types


def _serve(fd, entry):
    try:
        mod = types.ModuleType("__candidate__")
        sys.modules["__candidate__"] = mod
        with open("prog.py", encoding="utf-8") as f:
            exec(compile(f.read(), "prog.py", "exec"), mod.__dict__)
        fn = getattr(mod, entry)
    except BaseException as e:
        send(fd, ["load", type(e).__name__])
        return
    send(fd, ["ready"])
    while True:
        msg = recv(fd)
        if msg is None:
            return
        try:
            result = fn(*decode(msg[1]), **decode(msg[2]))
        except BaseException as e:
            send(fd, ["raise", type(e).__name__, str(e)[:1000]])
            continue
        try:
            value = encode(result)
        except Exception:
            value = ["o", type(result).__name__]
        send(fd, ["ret", value])
"""
)

FUNCTIONAL_HARNESS = (
    WIRE
    + """

import _thread, os, signal, time


class _Gone(BaseException):
    \"\"\"The program's process left or broke the protocol: no test may catch this as an ordinary failure.\"\"\"


def _gone_verdict(companion, garbage):
    # the program closed the channel (it is exiting: its exit status tells a CPU-limit kill, a timeout, from
    # a crash) or wrote garbage to it (it is killed now, so nothing waits for the clock)
    pid = companion["pid"]
    for _ in range(0 if garbage else 100):
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except OSError:
            return "runtime_error"
        if done:
            sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0
            return "timeout" if sig in (signal.SIGXCPU, signal.SIGKILL) else "runtime_error"
        time.sleep(0.01)
    companion["kill"]()
    return "runtime_error"


def _run(report, companion, test, prompt, entry):
    fd = companion["fd"]
    try:
        first = recv(fd)
    except ValueError:
        first = ["garbage"]
    if not (isinstance(first, list) and first and first[0] == "ready"):
        if isinstance(first, list) and len(first) == 2 and first[0] == "load":
            kinds = {"MemoryError": "memory", "SyntaxError": "syntax_error"}
            name = str(first[1])[:300]
            report({"verdict": kinds.get(name, "runtime_error"), "detail": name})
        else:
            detail = "the program's process left or broke the protocol while loading"
            report({"verdict": _gone_verdict(companion, first is not None), "detail": detail})
        return
    gone = []
    lock = _thread.allocate_lock()  # a test calling from several threads gets one call on the wire at a time

    def candidate(*args, **kwargs):
        if gone:
            raise _Gone()
        message = ["call", encode(list(args)), encode(kwargs)]  # Unencodable (a TypeError) for odd arguments
        with lock:
            try:
                send(fd, message)
                reply = recv(fd)
            except OSError:
                reply = None
            except ValueError:
                reply = ["garbage"]
        if isinstance(reply, list) and len(reply) == 2 and reply[0] == "ret":
            try:
                return decode(reply[1])
            except ValueError:
                pass
        elif isinstance(reply, list) and len(reply) == 3 and reply[0] == "raise":
            raise exception(reply[1], reply[2])
        gone.append(reply is not None)
        raise _Gone()

    verdict = {"verdict": "ok"}
    try:
        # the tests run in their own namespace: the prompt's imports and helpers, and the stand-in
        ns = {"__name__": "__test__"}
        try:
            exec(compile(prompt, "prompt.py", "exec"), ns)
        except Exception:
            ns = {"__name__": "__test__"}
        ns[entry] = candidate
        exec(compile(test, "test.py", "exec"), ns)
        if not callable(ns.get("check")):
            verdict = {"verdict": "error", "detail": "the test source defines no check()"}
        else:
            ns["check"](candidate)
    except AssertionError:
        verdict = {"verdict": "wrong_answer", "detail": "AssertionError"}
    except MemoryError:
        verdict = {"verdict": "memory", "detail": "MemoryError"}
    except BaseException as e:
        verdict = {"verdict": "runtime_error", "detail": type(e).__name__}
    if gone:  # whatever the tests made of it (a test may catch every exception)
        detail = "the program's process left or broke the protocol"
        verdict = {"verdict": _gone_verdict(companion, gone[0]), "detail": detail}
    report(verdict)
"""
)

CALL_HARNESS = (
    HARNESS_HEAD
    + """

def _run(report, fn_name):
    try:
        mod = _load(["prog.py"])
        with open("args.json", encoding="utf-8") as f:
            args = json.load(f)
        sol = getattr(mod, "Solution", None)
        fn = getattr(sol(), fn_name) if isinstance(sol, type) and hasattr(sol, fn_name) else getattr(mod, fn_name)
        result = fn(*args)
    except BaseException as e:
        _fail(report, e)
        return
    if isinstance(result, tuple):
        result = list(result)
    try:
        value = json.dumps(result)
    except Exception:
        report({"verdict": "wrong_answer", "detail": "return value is not JSON: " + type(result).__name__})
    else:
        report({"verdict": "ok", "value": value})
"""
)
