"""Config field types: what each field of a config dataclass accepts, and the one check of a value.

A config dataclass declares every field with one of the functions below, which put an
`Accepts` into the field's metadata:

    @dataclass(frozen=True)
    class VAEConfig:
        z_dim: int = positive_int(10)
        net: str = choice("v1", "conv")
        beta: float = nonnegative(1.0)

`check(key, value, f)` returns the value as the field stores it (an int given for a float
becomes a float, a list a tuple) or raises a `ConfigError` naming the key, the value and
what is accepted:

    train.batch_size = 0 is not accepted: a positive integer (>= 1)

Rules between fields are a method `broken_rules(self)` on the dataclass, yielding
(field name, what is accepted) for each rule the values break; `check_rules` turns the first
into the same one-line error. This module imports nothing from latentlab but its errors, so
every module may import it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from latentlab.errors import UserError

SEED_MAX = 2**32 - 1  # NumPy's legacy seeding takes [0, 2^32); torch takes more


class ConfigError(UserError):
    """A config key, type or value that is not accepted."""


class _Rejected(Exception):
    """Internal: a value that an `Accepts` does not take."""


@dataclass(frozen=True)
class Accepts:
    """What a field accepts: `text` for the error message, `parse` to convert an accepted value
    (raising _Rejected otherwise), and `kind`: "int", "float", "bool", "str", "choice" or "list"."""

    text: str
    parse: Callable[[Any], Any]
    kind: str
    choices: tuple[str, ...] = ()
    item: Accepts | None = None  # lists: what each item accepts
    lengths: tuple[int, ...] | None = None  # lists: the lengths accepted (None: any)

    def refuses(self, value: Any) -> bool:
        try:
            self.parse(value)
        except _Rejected:
            return True
        return False


# ----------------------------------------------------------------------------- the one check


def show(value: Any) -> str:
    """A value as it would be written in TOML: 0, 2.5, nan, inf, true, "text", [1, 2]."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ("nan" if value != value else ("inf" if value > 0 else "-inf"))
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(show(x) for x in value) + "]"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {show(v)}" for k, v in value.items()) + "}"
    return str(value)


def accepts(f: dataclasses.Field) -> Accepts:
    """The `Accepts` a dataclass field declares (every config field must declare one)."""
    spec = f.metadata.get("accepts")
    if spec is None:
        raise TypeError(f"config field '{f.name}' declares nothing it accepts: use latentlab.fields")
    return spec


def check(key: str, value: Any, f: dataclasses.Field) -> Any:
    """`value` as field `f` stores it, or a ConfigError: "key = value is not accepted: what is"."""
    spec = accepts(f)
    try:
        return spec.parse(value)
    except _Rejected:
        raise ConfigError(f"{key} = {show(value)} is not accepted: {spec.text}") from None


def check_rules(obj: Any, section: str = "") -> None:
    """The first rule between fields of `obj` that its values break, as a ConfigError. A rule names
    its field relative to `obj` ("sigma_min", or "eval.protocol" for a rule of the whole config)."""
    for name, text in getattr(obj, "broken_rules", lambda: ())():
        value = operator.attrgetter(name)(obj)
        raise ConfigError(f"{section + '.' if section else ''}{name} = {show(value)} is not accepted: {text}")


# ----------------------------------------------------------------------------- what a value may be


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def integers(lo: int | None = None, hi: int | None = None, text: str | None = None) -> Accepts:
    """Integers in [lo, hi] (None: no bound on that side); bools and floats are refused."""
    if text is None:
        text = ("an integer" if lo is None and hi is None else f"an integer >= {lo}" if hi is None else
                f"an integer <= {hi}" if lo is None else f"an integer in [{lo}, {hi}]")

    def parse(v: Any) -> int:
        if not _is_int(v) or (lo is not None and v < lo) or (hi is not None and v > hi):
            raise _Rejected
        return v

    return Accepts(text, parse, "int")


def numbers(lo: float | None = None, hi: float | None = None, *, lo_open: bool = False, hi_open: bool = False,
            text: str = "a finite number") -> Accepts:
    """Finite numbers between lo and hi (open or closed ends); an integer is taken as a float."""

    def parse(v: Any) -> float:
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
            raise _Rejected
        if lo is not None and (v <= lo if lo_open else v < lo):
            raise _Rejected
        if hi is not None and (v >= hi if hi_open else v > hi):
            raise _Rejected
        return float(v)

    return Accepts(text, parse, "float")


def strings(pattern: Callable[[str], bool] | None = None, text: str = "a string") -> Accepts:
    """Strings; `pattern`, if given, says which (and `text` says it in words)."""

    def parse(v: Any) -> str:
        if not isinstance(v, str) or (pattern is not None and not pattern(v)):
            raise _Rejected
        return v

    return Accepts(text, parse, "str")


def one_of(*names: str) -> Accepts:
    """One of the strings `names`: a choice, or the items of a list of choices."""

    def parse(v: Any) -> str:
        if not isinstance(v, str) or v not in names:
            raise _Rejected
        return v

    return Accepts("one of " + ", ".join(json.dumps(c) for c in names), parse, "choice", choices=names)


def _reject() -> Any:
    raise _Rejected


def _bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise _Rejected
    return v


POSITIVE_INT = integers(1, text="a positive integer (>= 1)")
EVEN_POSITIVE_INT = Accepts("an even integer >= 2", lambda v: v if _is_int(v) and v >= 2 and v % 2 == 0 else _reject(),
                            "int")
NONNEGATIVE_INT = integers(0, text="a non-negative integer (>= 0)")
SEED = integers(0, SEED_MAX, text=f"an integer seed in [0, {SEED_MAX}]")
FINITE = numbers()
POSITIVE = numbers(0.0, lo_open=True, text="a finite number > 0")
NONNEGATIVE = numbers(0.0, text="a finite number >= 0")
PROBABILITY = numbers(0.0, 1.0, text="a number in [0, 1]")
DECAY = numbers(0.0, 1.0, hi_open=True, text="a number in [0, 1)")
FLAG = Accepts("true or false", _bool, "bool")
TEXT = strings()


# ----------------------------------------------------------------------------- field types


def declare(default: Any, spec: Accepts) -> Any:
    """A dataclass field with `default` that accepts what `spec` accepts."""
    spec.parse(default)  # a default must itself be accepted
    return dataclasses.field(default=default, metadata={"accepts": spec})


def positive_int(default: int) -> Any:
    """An integer >= 1: a size, a count, a number of steps."""
    return declare(default, POSITIVE_INT)


def nonnegative_int(default: int) -> Any:
    """An integer >= 0, where 0 has a stated meaning (off, none, the protocol's default)."""
    return declare(default, NONNEGATIVE_INT)


def integer(default: int, lo: int | None = None, hi: int | None = None) -> Any:
    """An integer in [lo, hi]."""
    return declare(default, integers(lo, hi))


def random_seed(default: int = 0) -> Any:
    """A random seed: an integer in [0, 2^32 - 1]."""
    return declare(default, SEED)


def number(default: float) -> Any:
    """Any finite number."""
    return declare(default, FINITE)


def positive(default: float) -> Any:
    """A finite number > 0: a rate, a variance, a scale."""
    return declare(default, POSITIVE)


def nonnegative(default: float) -> Any:
    """A finite number >= 0, where 0 has a stated meaning (off)."""
    return declare(default, NONNEGATIVE)


def probability(default: float) -> Any:
    """A number in [0, 1]: a probability or a fraction."""
    return declare(default, PROBABILITY)


def decay(default: float) -> Any:
    """A number in [0, 1): a decay rate (Adam's β, an EMA's decay) that must leave something behind."""
    return declare(default, DECAY)


def flag(default: bool) -> Any:
    """true or false."""
    return declare(default, FLAG)


def text(default: str = "", *, pattern: Callable[[str], bool] | None = None, describe: str = "a string") -> Any:
    """A string; `pattern`, if given, says which (described by `describe`)."""
    return declare(default, strings(pattern, describe))


def choice(default: str, *others: str) -> Any:
    """A string that must be one of `default, *others` (the default first)."""
    return declare(default, one_of(default, *others))


def list_of(default: tuple, item: Accepts, *, lengths: tuple[int, ...] | None = None, nonempty: bool = False,
            describe: str | None = None) -> Any:
    """A list (stored as a tuple) whose items each satisfy `item` (like POSITIVE_INT), with one of
    `lengths` items (None: any number; nonempty: at least one); `describe` replaces the generated
    text of what is accepted."""
    if describe is None:
        size = (f"a list of {lengths[0]} values" if lengths is not None and len(lengths) == 1 else
                "a non-empty list" if nonempty else "a list")
        describe = f"{size}, each {item.text}"

    def parse(v: Any) -> tuple:
        if not isinstance(v, (list, tuple)) or (lengths is not None and len(v) not in lengths) or (nonempty and not v):
            raise _Rejected
        return tuple(item.parse(x) for x in v)

    return declare(default, Accepts(describe, parse, "list", item=item, lengths=lengths))
