# A standalone module for the sandbox (standard library only), loaded by ``_harness.py``
# from its own directory; it talks over a socket with os-level calls on purpose.
"""Calls from the test process into the process that holds the code under test.

``run_tests`` keeps the code under test out of the process that runs pytest and reports
results (see ``_harness.py``). The test process imports a proxy module ``solution`` built
by ``load_proxy_module``; every call on it travels over a socket pair to the code process,
which runs ``serve`` with the real module.

Values cross by copy when they are plain data (None, bool, int, float, complex, str,
bytes, bytearray, list, tuple, dict, set, frozenset, range, and numpy arrays and scalars
of non-object dtypes); anything else crosses as a reference that the other side drives
through calls, attribute access and operators. Lists, dicts, sets and bytearrays passed
as arguments are copied back after the call, so in-place changes made by the code are
seen by the tests. Exceptions raised by the code are raised again in the tests: builtin
types as themselves, the code's own exception classes as local classes of the same name
with the same builtin base, anything else as ``RemoteError``.

Trust runs one way. The test process decodes what the code sends with the tagged JSON
codec below, which builds plain data only and never imports or runs anything named by
the message. References to test-side objects (functions the tests pass to the code,
e.g. a sort key) allow only calls and a fixed set of operators from the code's side,
never attribute access, so the code cannot walk from them to the harness.
"""

from __future__ import annotations

import base64
import builtins
import contextlib
import io
import json
import math
import operator
import socket
import struct
import sys
import traceback
import types
from typing import Any

MAX_MESSAGE = 64 * 2**20
MAX_DEPTH = 60
_HEADER = struct.Struct(">I")

_SIMPLE = (type(None), bool, int, float, str)
_COPIED_BACK = (list, dict, set, bytearray)
# Operators the code process may apply to a test-side object it was handed.
_TEST_SIDE_OPS = frozenset(
    {
        "__call__", "__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__hash__",
        "__len__", "__iter__", "__next__", "__getitem__", "__contains__", "__bool__",
        "__repr__", "__str__",
    }
)  # fmt: skip
# Attributes pytest and inspect probe on every module member; remote objects have none of them.
_LOCAL_MISSES = ("_pytest", "__pytest", "pytestmark", "_fixture")
_LOCAL_MISS_NAMES = frozenset(
    {
        "__wrapped__",
        "__signature__",
        "__code__",
        "__func__",
        "__test__",
        "__self__",
        "__bases__",  # a class of the code is a local stand-in: only non-classes get here
        "_is_coroutine",
        "_mock_name",
    }
)


class RemoteError(Exception):
    """The code raised something that has no local equivalent (or a BaseException)."""


class ChannelClosedError(RemoteError):
    """The other process is gone: it exited, crashed, or closed the channel."""


class ProtocolError(RemoteError):
    """A message that does not follow the protocol."""


_GONE = {
    "tests": "the code's process is gone: it exited, crashed or was killed (os._exit, a signal, "
    "a limit), so this call has no result",
    "code": "the tests' process is gone",
}
_OWN_ERRORS: dict[str, type[RemoteError]] = {
    cls.__name__: cls for cls in (RemoteError, ChannelClosedError, ProtocolError)
}


# --------------------------------------------------------------------------- channel


class Channel:
    """Length-prefixed JSON messages over a stream socket, with nested calls both ways.

    While waiting for the reply to a request, requests from the other side (callbacks)
    are served, so calls may nest as deeply as the code and the tests make them.
    """

    def __init__(self, sock: socket.socket, side: str) -> None:
        self.sock = sock
        self.side = side  # "tests" or "code": whose objects ``self.objects`` holds
        self.objects: dict[int, Any] = {}
        self._ids: dict[int, int] = {}  # id(obj) -> ref number, so one object is one reference
        self._next_ref = 1
        self._next_call = 1
        self.handler: Any = None  # set by the side: handler(channel, message) -> reply value
        self.proxies: dict[int, Any] = {}  # remote ref number -> local proxy (one per object)
        self.classes: dict[int, type] = {}  # remote class ref -> local class

    # -- framing
    def send(self, message: dict[str, Any]) -> None:
        data = json.dumps(message, separators=(",", ":")).encode()
        if len(data) > MAX_MESSAGE:
            raise RemoteError(
                f"a value of {len(data)} bytes is too large to pass between the code and its tests "
                f"(at most {MAX_MESSAGE})"
            )
        try:
            self.sock.sendall(_HEADER.pack(len(data)) + data)
        except OSError as exc:
            raise ChannelClosedError(f"{_GONE[self.side]} ({exc})") from None

    def receive(self) -> dict[str, Any]:
        size = _HEADER.unpack(self._exactly(_HEADER.size))[0]
        if size > MAX_MESSAGE:
            raise ProtocolError(f"a message of {size} bytes is larger than allowed")
        message = json.loads(self._exactly(size))
        if not isinstance(message, dict):
            raise ProtocolError("a message is not an object")
        return message

    def _exactly(self, size: int) -> bytes:
        chunks, left = [], size
        while left:
            try:
                chunk = self.sock.recv(min(left, 1 << 20))
            except OSError as exc:
                raise ChannelClosedError(f"{_GONE[self.side]} ({exc})") from None
            if not chunk:
                raise ChannelClosedError(_GONE[self.side])
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    # -- requests
    def request(self, op: str, **fields: Any) -> Any:
        """Send a request and wait for its reply, serving the other side's requests meanwhile."""
        number = self._next_call
        self._next_call += 1
        self.send({"op": op, "n": number, **fields})
        while True:
            message = self.receive()
            if "re" in message:
                if message["re"] != number:
                    raise ProtocolError("a reply to a request that was not made")
                if self.side == "tests":
                    _write_output(message.get("out"), message.get("err_out"))
                if "err" in message:
                    raise self.decode_error(message["err"])
                return self.decode(message.get("ok"))
            self.serve_one(message)

    def serve_one(self, message: dict[str, Any]) -> None:
        number = message.get("n")
        if self.side == "tests":
            self.send(self._answer(number, message))
            return
        # What the code prints while serving goes to the tests' captured output.
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            reply = self._answer(number, message)
        reply.update(out=out.getvalue(), err_out=err.getvalue())
        self.send(reply)

    def _answer(self, number: Any, message: dict[str, Any]) -> dict[str, Any]:
        try:
            value = self.handler(self, message)
            return {"re": number, "ok": self.encode(value)}
        except BaseException as exc:
            return {"re": number, "err": self.encode_error(exc)}

    # -- references
    def export(self, obj: Any) -> int:
        key = id(obj)
        ref = self._ids.get(key)
        if ref is None or self.objects.get(ref) is not obj:
            ref = self._next_ref
            self._next_ref += 1
            self.objects[ref] = obj
            self._ids[key] = ref
        return ref

    def local(self, ref: Any) -> Any:
        if not isinstance(ref, int) or ref not in self.objects:
            raise ProtocolError(f"no such object: {ref!r}")
        return self.objects[ref]

    # -- values
    def encode(self, value: Any, depth: int = 0) -> Any:
        kind = type(value)
        if kind in _SIMPLE:
            if kind is int and abs(value) >= 2**53:
                return {"$": "int", "v": str(value)}
            if kind is float and not math.isfinite(value):
                return {"$": "float", "v": repr(value)}
            return value
        if value is NotImplemented:
            return {"$": "NotImplemented"}
        if kind is _ErrorValue:
            return {"$": "error", "v": self.encode_error(value.exc)}
        if value is Ellipsis:
            return {"$": "Ellipsis"}
        if depth < MAX_DEPTH:
            inner = depth + 1
            if kind is list:
                return {"$": "list", "v": [self.encode(x, inner) for x in value]}
            if kind is tuple:
                return {"$": "tuple", "v": [self.encode(x, inner) for x in value]}
            if kind is dict:
                return {
                    "$": "dict",
                    "v": [[self.encode(k, inner), self.encode(v, inner)] for k, v in value.items()],
                }
            if kind in (set, frozenset):
                return {"$": kind.__name__, "v": [self.encode(x, inner) for x in value]}
        if kind is complex:
            return {"$": "complex", "v": [self.encode(value.real), self.encode(value.imag)]}
        if kind in (bytes, bytearray):
            return {"$": kind.__name__, "v": base64.b64encode(value).decode()}
        if kind is range:
            return {"$": "range", "v": [value.start, value.stop, value.step]}
        numpy = _numpy_value(value)
        if numpy is not None:
            return numpy
        if (
            isinstance(value, type)
            and value.__module__ == "builtins"
            and getattr(builtins, str(getattr(value, "__name__", "")), None) is value
        ):
            return {"$": "builtin", "v": str(getattr(value, "__name__", ""))}
        owner = getattr(value, "_pc_owner", None) if isinstance(value, RemoteObject) else None
        if owner is not None:
            return {"$": "ref", "side": owner, "id": object.__getattribute__(value, "_pc_id")}
        remote_class = _remote_class_ref(value)
        if remote_class is not None:
            return {"$": "ref", "side": remote_class[0], "id": remote_class[1]}
        if isinstance(value, types.ModuleType) and self.side == "tests":
            raise RemoteError("a module cannot be passed to the code under test")
        return {
            "$": "ref",
            "side": self.side,
            "id": self.export(value),
            "kind": _kind(value),
            "name": _name(value),
            "exception": _exception_bases(value),
            "bases": [self.encode(b) for b in value.__bases__ if b is not object]
            if isinstance(value, type) and issubclass(value, BaseException)
            else [],
        }

    def decode(self, data: Any) -> Any:
        if data is None or type(data) in (bool, int, float, str):
            return data
        if isinstance(data, list):
            raise ProtocolError("an untagged list")
        if not isinstance(data, dict):
            raise ProtocolError(f"cannot decode {type(data).__name__}")
        tag, value = data.get("$"), data.get("v")
        if tag == "list":
            return [self.decode(x) for x in _list(value)]
        if tag == "tuple":
            return tuple(self.decode(x) for x in _list(value))
        if tag == "dict":
            return {self.decode(k): self.decode(v) for k, v in (_pair(p) for p in _list(value))}
        if tag == "set":
            return {self.decode(x) for x in _list(value)}
        if tag == "frozenset":
            return frozenset(self.decode(x) for x in _list(value))
        if tag == "int":
            return int(_str(value))
        if tag == "float":
            return float(_str(value))
        if tag == "complex":
            real, imag = _pair(value)
            return complex(self.decode(real), self.decode(imag))
        if tag == "bytes":
            return base64.b64decode(_str(value))
        if tag == "bytearray":
            return bytearray(base64.b64decode(_str(value)))
        if tag == "range":
            start, stop, step = _list(value)
            return range(_int(start), _int(stop), _int(step))
        if tag == "NotImplemented":
            return NotImplemented
        if tag == "Ellipsis":
            return Ellipsis
        if tag in ("ndarray", "npscalar"):
            return _decode_numpy(data)
        if tag == "ref":
            return self._decode_ref(data)
        if tag == "builtin":
            found = getattr(builtins, _str(value), None)
            if not isinstance(found, type):
                raise ProtocolError(f"no builtin class {value!r}")
            return found
        if tag == "error":
            return self.decode_error(value)
        raise ProtocolError(f"unknown tag {tag!r}")

    def _decode_ref(self, data: dict[str, Any]) -> Any:
        number = _int(data.get("id"))
        if data.get("side") == self.side:
            return self.local(number)
        if number in self.classes:
            return self.classes[number]
        if number in self.proxies:
            return self.proxies[number]
        bases = data.get("exception")
        if data.get("kind") == "class" and self.side == "tests":
            parents = []
            if isinstance(bases, str) and isinstance(data.get("bases"), list):
                parents = [self.decode(b) for b in data["bases"]]
            made: Any = _remote_class(self, number, str(data.get("name", "Remote")), bases, parents)
            self.classes[number] = made
            return made
        proxy = _new_proxy(self, number, str(data.get("name", "")), str(data.get("kind", "")))
        self.proxies[number] = proxy
        return proxy

    # -- errors
    def encode_error(self, exc: BaseException) -> dict[str, Any]:
        kind = type(exc)
        if self.side == "tests":
            if _remote_class_ref(kind) is not None:  # the code's own exception, given back
                return {
                    "type": kind.__name__,
                    "module": "solution",
                    "class": self.encode(kind),
                    "args": self.encode(list(exc.args)),
                }
            # A test-side callback failed: the code learns the type, not the tests' values
            # or source (an assertion's explanation would show what the tests expect).
            known = kind.__module__ == "builtins" and not isinstance(exc, AssertionError)
            return {
                "type": kind.__name__ if known else "Exception",
                "module": "builtins",
                "args": self.encode([f"a function of the tests raised {kind.__name__}"]),
            }
        args: Any
        try:
            args = self.encode(list(exc.args))
        except Exception:
            args = self.encode([_safe_str(exc)])
        error = {
            "type": kind.__qualname__,
            "module": kind.__module__,
            "args": args,
            "text": _safe_str(exc),
            "traceback": _user_traceback(exc)[-8000:],
        }
        if kind.__module__ != "builtins":
            error["class"] = self.encode(kind)
            with contextlib.suppress(Exception):
                error["attrs"] = self.encode(
                    {str(k): v for k, v in vars(exc).items() if not str(k).startswith("__")}
                )
        return error

    def decode_error(self, error: Any) -> BaseException:
        if not isinstance(error, dict):
            return ProtocolError("a malformed error")
        name = str(error.get("type", "Exception"))
        try:
            args = self.decode(error.get("args"))
        except Exception:
            args = [str(error.get("text", ""))]
        if not isinstance(args, list):
            args = [args]
        cls: Any = None
        if error.get("module") == "builtins":
            found = getattr(builtins, name, None)
            if isinstance(found, type) and issubclass(found, Exception):
                cls = found
        elif error.get("module") == __name__ and name in _OWN_ERRORS:
            cls = _OWN_ERRORS[name]
        elif isinstance(error.get("class"), dict):
            with contextlib.suppress(Exception):
                made = self.decode(error["class"])
                if isinstance(made, type) and issubclass(made, Exception):
                    cls = made
        exc: BaseException
        try:
            exc = cls(*args) if cls is not None else RemoteError(f"{name}: {error.get('text', '')}")
        except Exception:
            exc = RemoteError(f"{name}: {error.get('text', '')}")
        if cls is not None and error.get("module") != "builtins":
            with contextlib.suppress(Exception):
                attrs = self.decode(error.get("attrs")) if "attrs" in error else {}
                for key, value in (attrs or {}).items():
                    setattr(exc, str(key), value)
                exc.__dict__["_pc_text"] = str(error.get("text", ""))
        remote = str(error.get("traceback", ""))
        if remote and self.side == "tests":
            exc.add_note(f"raised in the code under test:\n{remote.rstrip()}")
        return exc


def _user_traceback(exc: BaseException) -> str:
    """The traceback without the frames of the sandbox's own machinery (this file, the harness)."""
    # Source lines are read only for the frames kept (when formatted), not the machinery's.
    summary = traceback.StackSummary.extract(
        traceback.walk_tb(exc.__traceback__), lookup_lines=False
    )
    frames = [
        frame
        for frame in summary
        if not frame.filename.startswith(_MACHINERY)
        and not frame.filename.endswith(("harness.py", "_sandbox_rpc.py"))
    ]
    lines = (
        ["Traceback (most recent call last):\n", *traceback.format_list(frames)] if frames else []
    )
    return "".join([*lines, *traceback.format_exception_only(type(exc), exc)])


_MACHINERY = ("<frozen importlib", sys.prefix + "/lib/python3")


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise ProtocolError("expected a list")
    return value


def _pair(value: Any) -> tuple[Any, Any]:
    if not isinstance(value, list) or len(value) != 2:
        raise ProtocolError("expected a pair")
    return value[0], value[1]


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise ProtocolError("expected a string")
    return value


def _int(value: Any) -> int:
    if type(value) is not int:
        raise ProtocolError("expected an integer")
    return value


def _safe_str(exc: BaseException) -> str:
    try:
        return str(exc)[:4000]
    except Exception:
        return f"<{type(exc).__name__}>"


def _kind(value: Any) -> str:
    if isinstance(value, types.ModuleType):
        return "module"
    if isinstance(value, type):
        return "class"
    if callable(value):
        return "callable"
    return "object"


def _name(value: Any) -> str:
    try:
        name = getattr(value, "__qualname__", None) or type(value).__qualname__
        return str(name)[:200]
    except Exception:
        return "object"


def _exception_bases(value: Any) -> str | None:
    """For an exception class: the nearest builtin exception class among its bases."""
    if not isinstance(value, type) or not issubclass(value, BaseException):
        return None
    for base in value.__mro__:
        if base.__module__ == "builtins" and issubclass(base, Exception):
            return base.__name__
    return "Exception"


# --------------------------------------------------------------------------- numpy


def _numpy_value(value: Any) -> dict[str, Any] | None:
    numpy = sys.modules.get("numpy")
    if numpy is None:
        return None
    if type(value) is numpy.ndarray and not value.dtype.hasobject:
        return {
            "$": "ndarray",
            "dtype": value.dtype.str,
            "shape": list(value.shape),
            "v": base64.b64encode(numpy.ascontiguousarray(value).tobytes()).decode(),
        }
    if isinstance(value, numpy.generic) and not value.dtype.hasobject:
        return {
            "$": "npscalar",
            "dtype": value.dtype.str,
            "v": base64.b64encode(value.tobytes()).decode(),
        }
    return None


def _decode_numpy(data: dict[str, Any]) -> Any:
    import numpy  # the sandbox's own, read-only; imported only when an array arrives

    dtype = numpy.dtype(_str(data.get("dtype")))
    if dtype.hasobject:
        raise ProtocolError("object arrays are not copied")
    raw = base64.b64decode(_str(data.get("v")))
    if data.get("$") == "npscalar":
        return numpy.frombuffer(raw, dtype=dtype)[0]
    shape = tuple(_int(n) for n in _list(data.get("shape")))
    return numpy.frombuffer(raw, dtype=dtype).reshape(shape).copy()


# --------------------------------------------------------------------------- proxies


def _remote_class_ref(value: Any) -> tuple[str, int] | None:
    if isinstance(value, type):
        ref = value.__dict__.get("_pc_ref")
        if isinstance(ref, tuple):
            return ref
    return None


def _request(
    proxy: Any,
    op: str,
    args: tuple[Any, ...] = (),
    kwargs: dict[str, Any] | None = None,
    **fields: Any,
) -> Any:
    channel: Channel = object.__getattribute__(proxy, "_pc_channel")
    return channel.request(
        op,
        ref=object.__getattribute__(proxy, "_pc_id"),
        args=[channel.encode(a) for a in args],
        kwargs={k: channel.encode(v) for k, v in (kwargs or {}).items()},
        **fields,
    )


def _operator(name: str) -> Any:
    def method(self: Any, *args: Any) -> Any:
        return _request(self, "op", args, name=name)

    method.__name__ = name
    return method


class RemoteObject:
    """An object that lives in the other process; every use is a request."""

    __slots__ = ("__weakref__", "_pc_channel", "_pc_id", "_pc_kind", "_pc_name", "_pc_owner")

    def __getattr__(self, name: str) -> Any:
        if name.startswith(_LOCAL_MISSES) or name in _LOCAL_MISS_NAMES:
            raise AttributeError(name)
        channel: Channel = object.__getattribute__(self, "_pc_channel")
        if channel.side != "tests":  # the code may only call test-side objects
            raise AttributeError(f"{name}: test-side objects allow only calls and operators")
        return channel.request("getattr", ref=object.__getattribute__(self, "_pc_id"), name=name)

    def __setattr__(self, name: str, value: Any) -> None:
        channel: Channel = object.__getattribute__(self, "_pc_channel")
        if channel.side != "tests":
            raise AttributeError(f"{name}: test-side objects allow only calls and operators")
        channel.request(
            "setattr",
            ref=object.__getattribute__(self, "_pc_id"),
            name=name,
            value=channel.encode(value),
        )

    def __delattr__(self, name: str) -> None:
        _request(self, "op", (name,), name="__delattr__")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return _call_with_copy_back(self, args, kwargs)

    def __iter__(self) -> Any:
        return _request(self, "op", name="__iter__")

    def __next__(self) -> Any:
        return _request(self, "op", name="__next__")

    def __hash__(self) -> int:
        value = _request(self, "op", name="__hash__")
        if type(value) is not int:
            raise TypeError("__hash__ did not return an int")
        return value

    def __bool__(self) -> bool:
        value = _request(self, "op", name="__bool__")
        if type(value) is not bool:
            raise TypeError("__bool__ did not return a bool")
        return value

    def __len__(self) -> int:
        value = _request(self, "op", name="__len__")
        if type(value) is not int:
            raise TypeError("__len__ did not return an int")
        return value

    def __repr__(self) -> str:
        try:
            return str(_request(self, "op", name="__repr__"))
        except RemoteError as exc:
            return f"<remote {object.__getattribute__(self, '_pc_name')}: {exc}>"

    def __str__(self) -> str:
        return str(_request(self, "op", name="__str__"))

    def __index__(self) -> int:
        value = _request(self, "op", name="__index__")
        if type(value) is not int:
            raise TypeError("__index__ did not return an int")
        return value

    def __int__(self) -> int:
        return int(_request(self, "op", name="__int__"))

    def __float__(self) -> float:
        return float(_request(self, "op", name="__float__"))

    def __enter__(self) -> Any:
        return _request(self, "op", name="__enter__")

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> Any:
        sent = (_ErrorValue(exc),) if isinstance(exc, BaseException) else ()
        return _request(self, "op", sent, name="__exit__")


for _name_ in [
    "__eq__",
    "__ne__",
    "__lt__",
    "__le__",
    "__gt__",
    "__ge__",
    "__getitem__",
    "__setitem__",
    "__delitem__",
    "__contains__",
    "__add__",
    "__sub__",
    "__mul__",
    "__truediv__",
    "__floordiv__",
    "__mod__",
    "__pow__",
    "__matmul__",
    "__and__",
    "__or__",
    "__xor__",
    "__lshift__",
    "__rshift__",
    "__radd__",
    "__rsub__",
    "__rmul__",
    "__rtruediv__",
    "__rfloordiv__",
    "__rmod__",
    "__rpow__",
    "__rand__",
    "__ror__",
    "__rxor__",
    "__neg__",
    "__pos__",
    "__abs__",
    "__invert__",
    "__reversed__",
    "__round__",
    "__format__",
    "__iadd__",
    "__isub__",
    "__imul__",
]:
    setattr(RemoteObject, _name_, _operator(_name_))


def _new_proxy(channel: Channel, number: int, name: str, kind: str) -> RemoteObject:
    proxy = object.__new__(RemoteObject)
    object.__setattr__(proxy, "_pc_channel", channel)
    object.__setattr__(proxy, "_pc_id", number)
    object.__setattr__(proxy, "_pc_owner", "code" if channel.side == "tests" else "tests")
    object.__setattr__(proxy, "_pc_name", name)
    object.__setattr__(proxy, "_pc_kind", kind)
    return proxy


def is_remote_module(value: Any) -> bool:
    """A module of the code's process (the tests import their own instead)."""
    return (
        isinstance(value, RemoteObject) and object.__getattribute__(value, "_pc_kind") == "module"
    )


def _call_with_copy_back(target: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Call, then bring in-place changes of copied lists, dicts, sets and bytearrays back."""
    channel: Channel = object.__getattribute__(target, "_pc_channel")
    if channel.side != "tests":
        return _request(target, "op", args, kwargs, name="__call__")
    mutable = [i for i, a in enumerate(args) if type(a) in _COPIED_BACK]
    mutable_kw = [k for k, v in kwargs.items() if type(v) in _COPIED_BACK]
    reply = channel.request(
        "call",
        ref=object.__getattribute__(target, "_pc_id"),
        args=[channel.encode(a) for a in args],
        kwargs={k: channel.encode(v) for k, v in kwargs.items()},
        back=mutable,
        back_kw=mutable_kw,
    )
    if not isinstance(reply, dict) or "value" not in reply:
        raise ProtocolError("a malformed call reply")
    for index, value in zip(mutable, reply.get("args") or [], strict=False):
        _update_in_place(args[index], value)
    for key, value in zip(mutable_kw, reply.get("kw") or [], strict=False):
        _update_in_place(kwargs[key], value)
    if "raised" in reply:
        raise reply["raised"]
    return reply["value"]


def _update_in_place(original: Any, changed: Any) -> None:
    if type(original) is not type(changed):
        return
    if isinstance(original, list | bytearray):
        original[:] = changed
    elif isinstance(original, dict | set):
        original.clear()
        original.update(changed)


def _write_output(out: Any, err: Any) -> None:
    """What the code printed during a call, into the tests' streams (pytest captures them)."""
    if isinstance(out, str) and out:
        sys.stdout.write(out)
    if isinstance(err, str) and err:
        sys.stderr.write(err)


class _RemoteClassMeta(type):
    """Local stand-in for a class of the code: construction, class attributes, isinstance."""

    def __new__(mcs, name: str, bases: tuple[type, ...], namespace: dict[str, Any]) -> Any:
        if "_pc_proxy" not in namespace:
            raise TypeError(
                f"class {name} cannot subclass {bases[0].__qualname__ if bases else 'it'}: the "
                "classes of the code under test live in another process, so the tests can use "
                "them (create, call, compare, isinstance) but not inherit from them; define the "
                "base class in the tests instead"
            )
        return super().__new__(mcs, name, bases, namespace)

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        return _call_with_copy_back(cls.__dict__["_pc_proxy"], args, kwargs)

    def __getattr__(cls, name: str) -> Any:
        if name.startswith(_LOCAL_MISSES) or name in _LOCAL_MISS_NAMES or name.startswith("_pc_"):
            raise AttributeError(name)
        return getattr(cls.__dict__["_pc_proxy"], name)

    def __instancecheck__(cls, instance: Any) -> bool:
        if not isinstance(instance, RemoteObject):
            return False
        channel: Channel = cls.__dict__["_pc_proxy"]._pc_channel
        return bool(
            channel.request("isinstance", ref=instance._pc_id, cls=cls.__dict__["_pc_ref"][1])
        )

    def __subclasscheck__(cls, subclass: Any) -> bool:
        ref = subclass.__dict__.get("_pc_ref") if isinstance(subclass, type) else None
        if not isinstance(ref, tuple):
            return False
        channel: Channel = cls.__dict__["_pc_proxy"]._pc_channel
        return bool(channel.request("issubclass", ref=ref[1], cls=cls.__dict__["_pc_ref"][1]))

    def __repr__(cls) -> str:
        return f"<remote class {cls.__qualname__}>"


def _remote_class(
    channel: Channel, number: int, name: str, exception_base: Any, parents: list[Any]
) -> type:
    proxy = _new_proxy(channel, number, name, "class")
    namespace: dict[str, Any] = {
        "_pc_ref": ("code", number),
        "_pc_proxy": proxy,
        "__module__": "solution",
    }
    short = name.rsplit(".", 1)[-1] or "Remote"
    made: type
    if isinstance(exception_base, str):
        # Raised by the code, caught by the tests (pytest.raises): a real exception class,
        # under the same bases as far as they are exceptions the tests can have.
        base = getattr(builtins, exception_base, Exception)
        if not (isinstance(base, type) and issubclass(base, Exception)):
            base = Exception
        bases = tuple(p for p in parents if isinstance(p, type) and issubclass(p, Exception))
        namespace["__str__"] = _surrogate_str
        try:
            made = type(short, bases or (base,), namespace)
        except TypeError:  # bases that cannot be combined here
            made = type(short, (base,), namespace)
    else:
        made = _RemoteClassMeta(short, (), namespace)
    made.__qualname__ = name
    return made


def _surrogate_str(self: BaseException) -> str:
    """The code's own text for its exception (its ``__str__`` ran there)."""
    text = self.__dict__.get("_pc_text")
    if isinstance(text, str):
        return text
    for base in type(self).__mro__:
        if base.__module__ == "builtins":
            builtin_str: Any = base.__str__
            return str(builtin_str(self))
    return repr(self.args)


# --------------------------------------------------------------------------- code side


def _code_handler(channel: Channel, message: dict[str, Any]) -> Any:
    """Serve the tests' requests on the code's objects: anything the code itself could do."""
    op = message.get("op")
    target = channel.local(message.get("ref"))
    if op == "getattr":
        return getattr(target, _str(message.get("name")))
    if op == "setattr":
        setattr(target, _str(message.get("name")), channel.decode(message.get("value")))
        return None
    if op == "isinstance":
        return isinstance(target, channel.local(message.get("cls")))
    if op == "issubclass":
        return issubclass(target, channel.local(message.get("cls")))
    args = [channel.decode(a) for a in _list(message.get("args", []))]
    kwargs = {str(k): channel.decode(v) for k, v in (message.get("kwargs") or {}).items()}
    if op == "call":
        return _captured_call(channel, target, args, kwargs, message)
    if op == "op":
        name = _str(message.get("name"))
        if name == "__delattr__":
            return delattr(target, args[0])
        return _apply_operator(target, name, args, kwargs)
    raise ProtocolError(f"unknown request {op!r}")


# Operators whose protocol has fallbacks or raises TypeError when missing: applied as Python
# applies them. Binary operators call the method itself and may return NotImplemented, so
# that the tests' side tries the reflected one, as Python does.
_BUILTIN_OPERATORS: dict[str, Any] = {
    "__repr__": repr,
    "__str__": str,
    "__len__": len,
    "__hash__": hash,
    "__bool__": bool,
    "__contains__": lambda target, item: item in target,
    "__getitem__": operator.getitem,
    "__setitem__": operator.setitem,
    "__delitem__": operator.delitem,
    "__neg__": operator.neg,
    "__pos__": operator.pos,
    "__abs__": operator.abs,
    "__invert__": operator.invert,
    "__reversed__": reversed,
    "__round__": round,
    "__format__": format,
    "__index__": operator.index,
    "__int__": int,
    "__float__": float,
    "__enter__": lambda target: type(target).__enter__(target),
}


def _apply_operator(target: Any, name: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
    if name == "__iter__":
        return iter(target)
    if name == "__next__":
        try:
            return next(target)
        except StopIteration as stop:
            raise StopIteration(*stop.args) from None
    builtin = _BUILTIN_OPERATORS.get(name)
    if builtin is not None:
        return builtin(target, *args)
    if name == "__exit__":
        exc = args[0] if len(args) == 1 and isinstance(args[0], BaseException) else None
        exit_method = type(target).__exit__
        return (
            exit_method(target, type(exc), exc, None)
            if exc
            else exit_method(target, None, None, None)
        )
    method = getattr(type(target), name, None)
    if method is None:
        return NotImplemented
    return method(target, *args, **kwargs)


def _captured_call(
    channel: Channel, target: Any, args: list[Any], kwargs: dict[str, Any], message: dict[str, Any]
) -> dict[str, Any]:
    """Call, keeping an exception as the reply's value so the copied-back arguments still travel."""
    reply: dict[str, Any] = {"value": None}
    try:
        reply["value"] = target(*args, **kwargs)
    except BaseException as exc:
        if isinstance(exc, (SystemExit, KeyboardInterrupt, GeneratorExit)):
            shown = ", ".join(map(repr, exc.args))
            exc = RemoteError(f"the code raised {type(exc).__name__}({shown})")
        reply["raised"] = _ErrorValue(exc)
    back = [i for i in _list(message.get("back", [])) if type(i) is int and 0 <= i < len(args)]
    reply["args"] = [args[i] for i in back]
    reply["kw"] = [kwargs[k] for k in _list(message.get("back_kw", [])) if k in kwargs]
    return reply


class _ErrorValue:
    """An exception to send inside a reply (decoded back into an exception by the tests)."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def describe_module(channel: Channel, module: types.ModuleType) -> dict[str, Any]:
    """The module's names for the tests' proxy: every global but the dunders."""
    names = {}
    for name, value in list(vars(module).items()):
        if name.startswith("__") and name.endswith("__"):
            continue
        try:
            names[name] = channel.encode(value)
        except Exception:
            names[name] = channel.encode(_Opaque())
    exported = getattr(module, "__all__", None)
    public = (
        [str(n) for n in exported]
        if isinstance(exported, list | tuple)
        else [n for n in names if not n.startswith("_")]
    )
    return {"names": names, "public": public, "module": channel.export(module)}


class _Opaque:
    pass


def serve(channel: Channel) -> None:
    """The code process's loop: answer the tests' requests until they close the channel."""
    channel.handler = _code_handler
    while True:
        try:
            message = channel.receive()
        except ChannelClosedError:
            return
        if message.get("op") == "bye":
            return
        channel.serve_one(message)


# --------------------------------------------------------------------------- tests side


def _tests_handler(channel: Channel, message: dict[str, Any]) -> Any:
    """Serve the code's requests on objects the tests handed it: calls and operators only."""
    op = message.get("op")
    target = channel.local(message.get("ref"))
    args = [channel.decode(a) for a in _list(message.get("args", []))]
    kwargs = {str(k): channel.decode(v) for k, v in (message.get("kwargs") or {}).items()}
    if op == "call":
        return target(*args, **kwargs)
    if op == "op":
        name = _str(message.get("name"))
        if name not in _TEST_SIDE_OPS:
            raise PermissionError(f"the code may not use {name} on a test-side object")
        if name == "__call__":
            return target(*args, **kwargs)
        return _apply_operator(target, name, args, kwargs)
    raise PermissionError(f"the code may not {op} a test-side object")


def load_proxy_module(channel: Channel, description: dict[str, Any]) -> types.ModuleType:
    """The ``solution`` module the tests import: the code's globals, by copy or by reference."""
    channel.handler = _tests_handler
    module = types.ModuleType("solution", "The code under test, in another process.")
    names = description.get("names")
    if not isinstance(names, dict):
        raise ProtocolError("a malformed module description")
    for name, encoded in names.items():
        if not _plain_name(name):  # the code may not set the module's own dunders
            raise ProtocolError(
                f"the code's module described a name it may not: {str(name)[:80]!r}"
            )
        setattr(module, name, channel.decode(encoded))
    public = description.get("public")
    module.__all__ = [  # type: ignore[attr-defined]
        n for n in _list(public) if isinstance(n, str) and _plain_name(n) and n in names
    ]
    module.__file__ = "solution.py"
    remote_module = _new_proxy(channel, _int(description.get("module")), "solution", "object")
    module.__class__ = _module_type(remote_module)
    return module


def _plain_name(name: Any) -> bool:
    return isinstance(name, str) and name.isidentifier() and not name.startswith("__")


def _module_type(remote_module: RemoteObject) -> type[types.ModuleType]:
    """Setting an attribute of the proxy module (monkeypatch) sets it in the code's module too."""

    class SolutionModule(types.ModuleType):
        def __setattr__(self, name: str, value: Any) -> None:
            super().__setattr__(name, value)
            if not (name.startswith("__") and name.endswith("__")):
                setattr(remote_module, name, value)

        def __delattr__(self, name: str) -> None:
            super().__delattr__(name)
            with contextlib.suppress(Exception):
                delattr(remote_module, name)

    return SolutionModule
