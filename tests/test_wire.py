"""The functional harness's wire format (workflow/tasks/wire.py): exact round trips of plain data, base types
for subclasses, and nothing but ValueError (or None at the end of stream) from hostile bytes."""

from __future__ import annotations

import collections
import json
import math
import os
import random
import socket
import struct

import numpy as np
import pytest

from workflow.tasks import wire


def roundtrip(x: object) -> object:
    return wire.decode(json.loads(json.dumps(wire.encode(x))))


def same(a: object, b: object) -> bool:
    """Equal with the same types all the way down (floats by bits, so -0.0 and nan count)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return struct.pack(">d", a) == struct.pack(">d", b)
    if isinstance(a, complex):
        return same(a.real, b.real) and same(a.imag, b.imag)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return a == b


VALUES = [
    None, True, False, 0, -1, 2**200, -(3**500), 7**5000, 0.1, -0.0, math.inf, -math.inf, math.nan, 5e-324,
    1 + 2j, complex(-0.0, math.inf), "", "héllo ✓ 🙂\x00\n", b"", b"\x00\xff", [], (), [1, (2, [3])],
    {1: "a", "1": "b", (2, 3): None, frozenset({4}): 1.5, False: 0}, {1, 2, "x"}, frozenset(), set(),
    [[[[[[[[[[1]]]]]]]]]],
]  # fmt: skip


@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_plain_values_round_trip_exactly(value):
    assert same(roundtrip(value), value)


def hashable(x: object) -> bool:
    try:
        hash(x)
    except TypeError:
        return False
    return True


def test_random_nested_values_round_trip():
    rng = random.Random(0)

    def leaf():
        return rng.choice([None, rng.random() > 0.5, rng.randint(-(2**70), 2**70), rng.uniform(-1e9, 1e9),
                           "".join(chr(rng.randint(0, 0x10FFFF)) for _ in range(rng.randint(0, 5))).encode(
                               "utf-8", "surrogatepass").decode("utf-8", "replace"),
                           bytes(rng.randint(0, 255) for _ in range(3))])  # fmt: skip

    def value(depth):
        if depth > 4 or rng.random() < 0.3:
            return leaf()
        kind = rng.choice([list, tuple, dict, frozenset])
        items = [value(depth + 1) for _ in range(rng.randint(0, 4))]
        if kind is dict:
            return {(i, str(v)): v for i, v in enumerate(items)}
        if kind is frozenset:
            return frozenset(x for x in items if hashable(x))
        return kind(items)

    for _ in range(500):
        v = value(0)
        assert same(roundtrip(v), v)


def test_subclasses_cross_as_their_base_type():
    Point = collections.namedtuple("Point", "x y")

    class Loud(float):
        def __eq__(self, other):
            return True

        __hash__ = float.__hash__

    for value, expected in [
        (Point(1, 2), (1, 2)),
        (collections.OrderedDict(a=1), {"a": 1}),
        (collections.Counter("aab"), {"a": 2, "b": 1}),
        (Loud(2.5), 2.5),
        (np.float64(0.5), 0.5),
        (np.int64(-7), -7),
        (np.bool_(True), True),
        (bytearray(b"xy"), b"xy"),
    ]:
        got = roundtrip(value)
        assert same(got, expected), (value, got)
    assert roundtrip(Loud(2.5)) != 3.0  # the program's __eq__ stays behind


@pytest.mark.parametrize(
    "value",
    [object(), iter([1]), (i for i in range(2)), np.zeros(2), len, type, [1, object()], {1: object()}],
)
def test_what_cannot_cross_is_refused(value):
    with pytest.raises(wire.Unencodable):
        wire.encode(value)


def test_nesting_is_capped():
    deep: list = []
    for _ in range(wire.MAX_DEPTH + 5):
        deep = [deep]
    with pytest.raises(wire.Unencodable):
        wire.encode(deep)
    tagged: object = None
    for _ in range(wire.MAX_DEPTH + 5):
        tagged = ["l", [tagged]]
    with pytest.raises(ValueError):
        wire.decode(tagged)


def test_opaque_equals_nothing_but_itself():
    o = wire.decode(["o", "generator"])
    assert (
        o == o
        and o != wire.decode(["o", "generator"])
        and not (o == 1)
        and o != []
        and repr(o) == "<unencodable generator>"
    )


@pytest.mark.parametrize(
    "bad",
    [
        1, "x", [], [1], ["i"], ["i", 5], ["i", "zz"], ["f", "one"], ["b", 1], ["s", None], ["y", "0"], ["c", "1"],
        ["l", 1], ["l", [["i"]]], ["d", [[["s", "a"]]]], ["d", [[["l", []], None]]], ["set", [["l", []]]],
        ["q", []], ["o", 3], {"a": 1}, ["l", [["i", "1"]], 2],
    ],
)  # fmt: skip
def test_malformed_values_raise_value_error(bad):
    with pytest.raises(ValueError):
        wire.decode(bad)


def test_random_bytes_never_raise_anything_else():
    """Fuzz: random JSON-ish trees and random byte strings give a value or ValueError, nothing else."""
    rng = random.Random(1)
    atoms = [
        None,
        True,
        1,
        -2,
        0.5,
        "i",
        "f",
        "s",
        "b",
        "l",
        "t",
        "d",
        "set",
        "fs",
        "c",
        "y",
        "o",
        "0x1",
        "nan",
        "",
    ]

    def tree(depth):
        if depth > 5 or rng.random() < 0.35:
            return rng.choice(atoms)
        return [tree(depth + 1) for _ in range(rng.randint(0, 3))]

    for _ in range(5000):
        try:
            wire.decode(tree(0))
        except ValueError:
            pass
    a, b = socket.socketpair()
    try:
        for _ in range(300):
            payload = bytes(rng.randint(0, 255) for _ in range(rng.randint(0, 40)))
            a.sendall(struct.pack(">Q", len(payload)) + payload)
            try:
                wire.decode(wire.recv(b.fileno()))
            except ValueError:
                pass
    finally:
        a.close()
        b.close()


def test_framing_caps_and_end_of_stream():
    a, b = socket.socketpair()
    try:
        wire.send(a.fileno(), ["ret", wire.encode([1, 2])])
        assert wire.decode(wire.recv(b.fileno())[1]) == [1, 2]
        a.sendall(struct.pack(">Q", wire.MAX_MESSAGE + 1))
        with pytest.raises(ValueError, match="cap"):
            wire.recv(b.fileno())
        a.sendall(struct.pack(">Q", 10) + b"abc")
        a.shutdown(socket.SHUT_WR)
        assert wire.recv(b.fileno()) is None  # cut short: the peer is gone
    finally:
        a.close()
        b.close()
    r, w = os.pipe()
    os.close(w)
    assert wire.recv(r) is None
    os.close(r)


def test_exceptions_map_to_builtin_classes_only():
    assert type(wire.exception("ValueError", "bad")) is ValueError
    assert str(wire.exception("ValueError", "bad")) == "bad"
    assert type(wire.exception("MemoryError", "")) is MemoryError
    assert type(wire.exception("SystemExit", "0")) is SystemExit
    assert type(wire.exception("UnicodeDecodeError", "x")) is Exception  # needs five arguments
    for name in ("MyError", "print", "object", "__import__", 3, None):
        assert type(wire.exception(name, "m")) is Exception
