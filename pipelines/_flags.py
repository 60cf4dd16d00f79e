"""Command-line flags from config dataclasses: one ``--flag`` per field, help from the docstring."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import re
from typing import Any, Callable, Sequence, TypeVar

T = TypeVar("T")


def _boolean(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _sequence(element: type) -> Callable[[str], tuple]:
    def parse(text: str) -> tuple:
        return tuple(element(part.strip()) for part in text.split(",") if part.strip())
    return parse


def field_docs(config_cls: type) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Help text and allowed values of each field, read from the ``Attributes`` section of the
    config class's numpy-style docstring (``name1, name2 : {"a", "b"}`` then indented text)."""
    lines = (inspect.getdoc(config_cls) or "").splitlines()
    try:
        start = next(i for i, line in enumerate(lines[:-1])
                     if line.strip() == "Attributes" and set(lines[i + 1].strip()) == {"-"}) + 2
    except StopIteration:
        return {}
    docs: dict[str, tuple[str, tuple[str, ...]]] = {}
    names: list[str] = []
    for line in lines[start:]:
        if line and not line[0].isspace():
            if " : " not in line:
                break
            head, spec = line.split(" : ", 1)
            names = [n.strip() for n in head.split(",")]
            choices = tuple(re.findall(r'"([^"]*)"', spec)) if spec.startswith("{") else ()
            for name in names:
                docs[name] = ("", choices)
        elif line.strip() and names:
            for name in names:
                text, choices = docs[name]
                docs[name] = (f"{text} {line.strip()}".strip().replace("%", "%%"), choices)
    return docs


def add_config_arguments(parser: argparse.ArgumentParser, config_cls: type,
                         skip: Sequence[str] = ()) -> None:
    """Add one ``--flag`` per field of a frozen config dataclass (``snake_case`` -> ``--kebab-case``).

    Help text and choices come from the class docstring (:func:`field_docs`). Booleans are
    switches (``--flag``, ``--no-flag``; ``--flag true|false`` also works); tuples take
    comma-separated values.
    """
    defaults = config_cls()
    docs = field_docs(config_cls)
    for f in dataclasses.fields(config_cls):
        if f.name in skip:
            continue
        default = getattr(defaults, f.name)
        text, choices = docs.get(f.name, ("", ()))
        flag = "--" + f.name.replace("_", "-")
        if isinstance(default, bool):
            parser.add_argument(flag, dest=f.name, type=_boolean, nargs="?", const=True,
                                default=default, metavar="true|false",
                                help=f"{text} (default: {str(default).lower()})".strip())
            parser.add_argument("--no-" + f.name.replace("_", "-"), dest=f.name,
                                action="store_false", help=argparse.SUPPRESS)
            continue
        extra: dict[str, Any] = {}
        if isinstance(default, tuple):
            parse = _sequence(type(default[0]) if default else str)
            shown = ",".join(str(v) for v in default) or "none"
        else:
            parse, shown = type(default), default
            if choices and isinstance(default, str) and default in choices:
                extra["choices"] = choices
        parser.add_argument(flag, dest=f.name, type=parse, default=default,
                            help=f"{text} (default: {shown})".strip(), **extra)


def config_from_args(config_cls: type[T], args: argparse.Namespace, **overrides: Any) -> T:
    """Build the config dataclass from parsed flags (fields not given as flags keep defaults)."""
    names = {f.name for f in dataclasses.fields(config_cls)}
    values = {k: v for k, v in vars(args).items() if k in names}
    values.update(overrides)
    return config_cls(**values)
