"""The shared argument checks and spec builder: accepted values, refused ones and the wording of the refusals."""

import ast
import math
import sys
from pathlib import Path

import numpy as np
import pytest

import syre_rl.validation
from syre_rl.validation import (
    accepted_arguments,
    build_from_spec,
    check_choice,
    check_fraction,
    check_int,
    check_real,
    register_type,
)


def test_check_real_accepts_finite_numbers_in_range_and_returns_floats():
    assert check_real("x", 3) == 3.0 and isinstance(check_real("x", 3), float)
    assert check_real("x", np.float32(0.5), 0, 1) == 0.5
    assert check_real("x", 0.0, low=0.0) == 0.0
    assert check_real("x", 1.0, 0.0, 1.0) == 1.0


@pytest.mark.parametrize(
    ("kwargs", "value", "message"),
    [
        ({}, math.nan, "x must be a finite number, got nan"),
        ({}, True, "x must be a finite number, got True"),
        ({}, "1", "x must be a finite number, got '1'"),
        ({"low": 0.0}, -1, "x must be a finite number >= 0, got -1"),
        ({"low": 0.0, "low_open": True}, 0.0, "x must be a finite number > 0, got 0.0"),
        ({"high": 2.0, "high_open": True}, 2, "x must be a finite number < 2, got 2"),
        ({"low": 0.0, "high": 1.0, "high_open": True}, 1.0, r"x must be a number in \[0, 1\), got 1.0"),
        ({"low": 0.0, "high": 1.0, "low_open": True}, math.inf, r"x must be a number in \(0, 1\], got inf"),
    ],
)
def test_check_real_names_the_value_and_the_accepted_range(kwargs, value, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        check_real("x", value, **kwargs)


def test_check_fraction_and_its_open_ends():
    assert check_fraction("p", 0) == 0.0 and check_fraction("p", 1) == 1.0
    with pytest.raises(ValueError, match=r"p must be a number in \(0, 1\], got 0"):
        check_fraction("p", 0, low_open=True)
    with pytest.raises(ValueError, match=r"p must be a number in \[0, 1\), got 1"):
        check_fraction("p", 1, high_open=True)


def test_check_int():
    assert check_int("n", np.int64(3), low=1) == 3 and type(check_int("n", np.int64(3))) is int
    with pytest.raises(ValueError, match=r"^n must be a positive int, got 0$"):
        check_int("n", 0, low=1)
    with pytest.raises(ValueError, match=r"^n must be a non-negative int, got -1$"):
        check_int("n", -1)
    with pytest.raises(ValueError, match=r"^n must be an int >= 2, got 1\.0$"):
        check_int("n", 1.0, low=2)
    with pytest.raises(ValueError, match="positive int, got True"):
        check_int("n", True, low=1)


def test_check_choice():
    assert check_choice("order", "cycle", ("cycle", "random")) == "cycle"
    with pytest.raises(ValueError, match=r"^order must be one of \['cycle', 'random'\], got 'shuffle'$"):
        check_choice("order", "shuffle", ("cycle", "random"))


class Base:
    def __init__(self, a: int, b: float = 1.0) -> None:
        self.a, self.b = a, b


class Other(Base):
    def __init__(self, c: str = "x", *, d: int = 0) -> None:
        super().__init__(0)
        self.c, self.d = c, d


class Unrelated:
    pass


REGISTRY = {"base": Base, "other": Other}


def test_build_from_spec_instantiates_the_named_class_with_the_other_keys():
    built = build_from_spec(REGISTRY, {"type": "base", "a": 2}, "thing")
    assert type(built) is Base and (built.a, built.b) == (2, 1.0)
    other = build_from_spec(REGISTRY, {"type": "other", "d": 4}, "thing")
    assert type(other) is Other and other.d == 4
    assert accepted_arguments(Other) == ["c", "d"]


def test_build_from_spec_passes_objects_of_the_common_base_class_through():
    class Subclass(Base):  # not registered
        pass

    obj = Subclass(1)
    assert build_from_spec(REGISTRY, obj, "thing") is obj
    with pytest.raises(ValueError, match="Thing spec must be a dict with a 'type' key or a thing object"):
        build_from_spec(REGISTRY, Unrelated(), "thing")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"a": 1}, r"Thing spec needs a 'type' key, one of \['base', 'other'\]"),
        ({"type": "nope"}, r"Unknown thing type 'nope'; valid types: \['base', 'other'\]"),
        (
            {"type": "base", "a": 1, "z": 2},
            r"Unknown argument\(s\) \['z'\] for thing 'base'; valid arguments: \['a', 'b'\]",
        ),
        ({"type": "base"}, r"Missing argument\(s\) \['a'\] for thing 'base'; valid arguments: \['a', 'b'\]"),
    ],
)
def test_build_from_spec_errors_list_what_is_valid(spec, message):
    with pytest.raises(ValueError, match=f"^{message}"):
        build_from_spec(REGISTRY, spec, "thing")


def test_build_from_spec_puts_where_in_front_of_its_errors():
    with pytest.raises(ValueError, match=r"^things\[1\]: unknown thing type 'nope'"):
        build_from_spec(REGISTRY, {"type": "nope"}, "thing", where="things[1]")


def test_register_type_refuses_clashes_and_classes_of_the_wrong_base():
    registry = dict(REGISTRY)

    class Mine(Base):
        pass

    assert register_type(registry, "mine", Mine, Base, "thing") is Mine
    assert register_type(registry, "mine", Mine, Base, "thing") is Mine  # the same again is fine
    assert type(build_from_spec(registry, {"type": "mine", "a": 0}, "thing")) is Mine
    with pytest.raises(ValueError, match=r"thing type 'base' is already registered for .*\.Base"):
        register_type(registry, "base", Mine, Base, "thing")
    with pytest.raises(ValueError, match="a thing class must be a subclass of Base, got"):
        register_type(registry, "unrelated", Unrelated, Base, "thing")
    with pytest.raises(ValueError, match="a thing type name must be a non-empty string"):
        register_type(registry, "", Mine, Base, "thing")
    assert set(registry) == {"base", "other", "mine"}


def test_the_module_imports_only_the_standard_library():
    source = Path(syre_rl.validation.__file__).read_text()
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}, imported
