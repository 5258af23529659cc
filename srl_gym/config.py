"""Command-line flags from a config dataclass, CleanRL style: one flag per field, its help in the field.

Each field's help string lives in ``field(metadata={"help": ...})``. `parse_config` turns
``--learning-rate 1e-5`` into ``Args(learning_rate=1e-5)`` and runs the dataclass's
``validate()`` if it has one, so a bad value gets an error that names the flag.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Sequence
from typing import Any, TypeVar

T = TypeVar("T")


def _flag_type(annotation: Any) -> tuple[Any, bool]:
    """The argparse type of a field annotation and whether None is allowed."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _flag_type(args[0])[0], True
    return annotation, False


def _parse_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def build_config_parser(cls: type, prog: str | None = None, description: str | None = None) -> argparse.ArgumentParser:
    """An argparse parser with one ``--flag`` per field of the dataclass ``cls``."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description=description or (cls.__doc__ or "").strip().split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        kind, optional = _flag_type(hints[f.name])
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        help_text = f.metadata.get("help", "")
        flag = "--" + f.name.replace("_", "-")
        if kind is bool:
            parser.add_argument(
                flag, type=_parse_bool, nargs="?", const=True, default=default, metavar="BOOL", help=help_text
            )
        elif typing.get_origin(kind) in (list, tuple):
            item = typing.get_args(kind)[0] if typing.get_args(kind) else str
            parser.add_argument(flag, type=item, nargs="+", default=default, help=help_text)
        elif typing.get_origin(kind) is typing.Literal:
            parser.add_argument(flag, choices=typing.get_args(kind), default=default, help=help_text)
        else:
            convert = kind if kind in (int, float, str) else str
            if optional:
                base = convert

                def convert(text: str, base=base) -> Any:
                    return None if text.lower() == "none" else base(text)

            parser.add_argument(flag, type=convert, default=default, help=help_text)
    return parser


def parse_config(cls: type[T], argv: Sequence[str] | None = None, prog: str | None = None) -> T:
    """Parse ``argv`` into an instance of the dataclass ``cls`` (exits with a clear message on error)."""
    parser = build_config_parser(cls, prog)
    namespace = parser.parse_args(argv)
    values = {k: tuple(v) if isinstance(v, list) and _is_tuple_field(cls, k) else v for k, v in vars(namespace).items()}
    try:
        config = cls(**values)
        if hasattr(config, "validate"):
            config.validate()
    except (TypeError, ValueError) as exc:
        parser.error(str(exc))
    return config


def _is_tuple_field(cls: type, name: str) -> bool:
    kind, _ = _flag_type(typing.get_type_hints(cls)[name])
    return typing.get_origin(kind) is tuple
