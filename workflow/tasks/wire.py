"""Values across the sandbox's process boundary: a tagged JSON encoding of plain data, in framed messages.

Consumes and produces: Python values <-> bytes on a socket. Used by the functional harness of
workflow/tasks/code.py: its stand-in for the candidate function sends each call's arguments to the program's
own process and reads back the return value or the exception's class name. So only these plain types reach
the process that runs the tests and holds the report channel, never an object of the program's making (an
``==`` that always holds, a patched builtin, a frame to walk).

Encoded: None, bool, int (any size, in hex), float (its repr: nan, inf and -0.0 survive), complex, str,
bytes, list, tuple, set, frozenset and dict (keys any encodable hashable), nested at most ``MAX_DEPTH`` deep.
A subclass is sent as its base type (a numpy float64 as float, an OrderedDict as dict, a namedtuple as tuple)
and a numpy scalar as its ``item()``; what remains cannot cross (:class:`Unencodable`). :func:`decode` builds
exact builtin objects and raises ValueError on anything else, so it is safe on hostile bytes.

This file's source is shipped into the sandbox as text (the project is hidden there): standard library only.
"""

import json
import os
import struct

MAX_DEPTH = 100
MAX_MESSAGE = 64 * 1024 * 1024
_HEADER = struct.Struct(">Q")
_SEQUENCES = (("l", list), ("t", tuple), ("fs", frozenset), ("set", set))


class Unencodable(TypeError):
    """A value of a type that cannot cross the boundary."""


class Opaque:
    """Stands in for a return value that could not cross (a generator, an instance of the program's class):
    equal to nothing but itself, so a comparison with an expected value fails."""

    __slots__ = ("type_name",)

    def __init__(self, type_name: str) -> None:
        self.type_name = type_name

    def __eq__(self, other: object) -> bool:
        return self is other

    def __ne__(self, other: object) -> bool:
        return self is not other

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return f"<unencodable {self.type_name}>"


def encode(x: object, depth: int = 0) -> object:
    """A JSON-able tagged form of ``x``; raises :class:`Unencodable`."""
    if depth > MAX_DEPTH:
        raise Unencodable("nested too deep")
    if x is None:
        return None
    if isinstance(x, bool):
        return ["b", bool(x)]
    if isinstance(x, int):
        return ["i", hex(int(x))]
    if isinstance(x, float):
        return ["f", float.__repr__(float(x))]
    if isinstance(x, complex):
        return ["c", float.__repr__(x.real), float.__repr__(x.imag)]
    if isinstance(x, str):
        return ["s", str.__str__(x)]
    if isinstance(x, (bytes, bytearray)):
        return ["y", bytes(x).hex()]
    if isinstance(x, dict):
        return ["d", [[encode(k, depth + 1), encode(v, depth + 1)] for k, v in dict.items(x)]]
    for tag, kind in _SEQUENCES:
        if isinstance(x, kind):
            return [tag, [encode(v, depth + 1) for v in x]]
    if type(x).__module__ == "numpy" and getattr(x, "shape", None) == ():
        return encode(x.item(), depth + 1)  # a numpy scalar (np.int64 is no int subclass)
    raise Unencodable(type(x).__name__)


def decode(obj: object, depth: int = 0) -> object:
    """The value of a tagged form: exact builtin types only; raises ValueError on anything malformed."""
    if depth > MAX_DEPTH:
        raise ValueError("nested too deep")
    if obj is None:
        return None
    if type(obj) is not list or not obj or type(obj[0]) is not str:
        raise ValueError("not a tagged value")
    tag, args = obj[0], obj[1:]
    try:
        if tag == "b" and len(args) == 1 and type(args[0]) is bool:
            return args[0]
        if tag in ("i", "f", "s", "y") and len(args) == 1 and type(args[0]) is str:
            text = args[0]
            return {"i": lambda: int(text, 16), "f": lambda: float(text), "s": lambda: text,
                    "y": lambda: bytes.fromhex(text)}[tag]()  # fmt: skip
        if tag == "c" and len(args) == 2 and all(type(a) is str for a in args):
            return complex(float(args[0]), float(args[1]))
        if tag == "o" and len(args) == 1 and type(args[0]) is str:
            return Opaque(args[0][:200])
        if len(args) == 1 and type(args[0]) is list:
            if tag == "d":
                pairs = [p for p in args[0] if type(p) is list and len(p) == 2]
                if len(pairs) != len(args[0]):
                    raise ValueError("a dict item is not a pair")
                return {decode(k, depth + 1): decode(v, depth + 1) for k, v in pairs}
            for name, kind in _SEQUENCES:
                if tag == name:
                    return kind(decode(v, depth + 1) for v in args[0])
    except (TypeError, OverflowError, RecursionError) as e:  # unhashable keys, float("x"), hostile nesting
        raise ValueError(f"malformed {tag!r} value: {type(e).__name__}") from None
    raise ValueError(f"malformed {tag!r} value")


def send(fd: int, message: object) -> None:
    """Write one framed message (a JSON-able object)."""
    data = json.dumps(message, separators=(",", ":")).encode()
    view = memoryview(_HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view) :]


def _read_exact(fd: int, n: int) -> bytes | None:
    chunks, got = [], 0
    while got < n:
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def recv(fd: int) -> object:
    """Read one framed message; None at end of stream; ValueError when it is malformed or too large."""
    header = _read_exact(fd, _HEADER.size)
    if header is None:
        return None
    (size,) = _HEADER.unpack(header)
    if size > MAX_MESSAGE:
        raise ValueError(f"a message of {size} bytes (cap {MAX_MESSAGE})")
    data = _read_exact(fd, size)
    if data is None:
        return None
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        raise ValueError("a message is not JSON") from None


def exception(name: object, message: object) -> BaseException:
    """The exception to raise for a call that raised ``name`` in the program's process: the builtin class of
    that name (so a test may catch ValueError), else Exception."""
    import builtins

    cls = getattr(builtins, name, None) if isinstance(name, str) else None
    text = str(message)[:1000]
    if isinstance(cls, type) and issubclass(cls, BaseException):
        try:
            return cls(text)
        except Exception:  # a class with required arguments (UnicodeDecodeError)
            pass
    return Exception(f"{name}: {text}")
