"""The bytes a record's content hash is taken of, written straight from the model.

The content hash is sha256 of ``json.dumps(record.model_dump(mode="json"), sort_keys=True)``
without ``source.received_at`` (``schemas.ingest.prepare.digest_of``). Digests of that form
are stored with every record and a replay is recognised by them, so the bytes must never
change. Dumping the model to a dict and sorting it was a fifth of the parse workers' time.

``canonical_json(record)`` writes the same text directly: for each model a function is
generated once from its fields (keys already sorted, strings escaped by the json module's own
C escaper, so non-ASCII and control characters come out exactly as ``json.dumps`` writes
them; dates as ISO text, enums as their values, datetimes through pydantic's own
serialiser). A model whose fields this module does not know how to write (a new field type,
a custom serialiser, an alias, extra fields) gets no generated function and is written by the
old dump-and-sort path instead, so a model change can make hashing slower but never
different. Tests compare both paths on generated extracts and on random (hypothesis)
records.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import types
import typing
from collections.abc import Callable
from json.encoder import encode_basestring_ascii
from typing import Any

from pydantic import BaseModel, TypeAdapter

_datetime_json = TypeAdapter(dt.datetime)


class Unsupported(TypeError):
    """A field this module cannot write exactly as model_dump + json.dumps would."""


def _datetime(value: dt.datetime) -> str:
    # pydantic decides how a datetime is written (Z or offset, fractions): ask it.
    return encode_basestring_ascii(_datetime_json.dump_python(value, mode="json"))


class _Builder:
    """Generates one writer function per model (nested models first) as Python source.

    ``expression(annotation, v)`` is the source of an expression writing the value of the
    (side-effect free) expression ``v``: the fields are written inline, without a function
    call per field, which is most of the gain over dump-and-sort.
    """

    def __init__(self) -> None:
        self.env: dict[str, Any] = {"_esc": encode_basestring_ascii, "_int": int.__repr__,
                                    "_datetime": _datetime}
        self.done: dict[type[BaseModel], str] = {}
        self.sources: list[str] = []  # what was generated, for reading and for tests
        self.depth = 0

    def expression(self, annotation: Any, v: str) -> str:
        origin, args = typing.get_origin(annotation), typing.get_args(annotation)
        if origin is typing.Annotated:
            return self.expression(args[0], v)
        if origin in (typing.Union, types.UnionType):
            inner = [a for a in args if a is not type(None)]
            if len(inner) != 1 or len(args) != 2:
                raise Unsupported(annotation)
            return f'("null" if {v} is None else {self.expression(inner[0], v)})'
        if origin is typing.Literal:
            if not all(isinstance(a, str) for a in args):
                raise Unsupported(annotation)
            return f"_esc({v})"
        if origin is list and len(args) == 1:
            self.depth += 1
            item = f"x{self.depth}"
            write_item = self.expression(args[0], item)
            self.depth -= 1
            return f'("[" + ", ".join([{write_item} for {item} in {v}]) + "]")'
        if isinstance(annotation, type):
            if issubclass(annotation, BaseModel):
                return f"{self.model(annotation)}({v})"
            if issubclass(annotation, enum.Enum):
                if not all(isinstance(m.value, str) for m in annotation):
                    raise Unsupported(annotation)
                return f"_esc({v}._value_)"
            if annotation is bool:
                return f'("true" if {v} else "false")'
            if annotation is int:
                return f"_int({v})"
            if annotation is str:
                return f"_esc({v})"
            if annotation is dt.datetime:
                return f"_datetime({v})"
            if annotation is dt.date:
                return f"('\"' + {v}.isoformat() + '\"')"
        raise Unsupported(annotation)

    def model(self, model: type[BaseModel],
              nested_exclude: dict[str, frozenset[str]] | None = None,
              exclude: frozenset[str] = frozenset()) -> str:
        """The name of the generated function writing ``model``."""
        if not exclude and not nested_exclude and model in self.done:
            return self.done[model]
        decorators = model.__pydantic_decorators__
        if (model.model_config.get("extra") == "allow" or model.model_computed_fields
                or decorators.field_serializers or decorators.model_serializers
                or model.model_config.get("serialize_by_alias")):
            raise Unsupported(model)
        pieces: list[str] = []
        for name, info in sorted(model.model_fields.items()):
            if name in exclude:
                continue
            if info.exclude or info.serialization_alias or info.alias:
                raise Unsupported(f"{model.__name__}.{name}")
            if nested_exclude and name in nested_exclude:
                inner = info.annotation
                if not (isinstance(inner, type) and issubclass(inner, BaseModel)):
                    raise Unsupported(f"{model.__name__}.{name}")
                value = f"{self.model(inner, exclude=nested_exclude[name])}(r.{name})"
            else:
                value = self.expression(info.annotation, f"r.{name}")
            key = encode_basestring_ascii(name)
            pieces += [repr(("{" if not pieces else ", ") + key + ": "), value]
        pieces.append(repr("}") if pieces else repr("{}"))
        fn_name = f"_write_{model.__name__}_{len(self.env)}"
        source = f"def {fn_name}(r):\n    return ''.join(({', '.join(pieces)},))\n"
        self.sources.append(source)
        exec(source, self.env)  # noqa: S102 - built from field names and the helpers above
        if not exclude and not nested_exclude:
            self.done[model] = fn_name
        return fn_name


def canonical_writer(model: type[BaseModel], exclude: dict[str, frozenset[str]]
                     ) -> Callable[[BaseModel], str] | None:
    """A function writing ``json.dumps(model_dump(mode="json") - exclude, sort_keys=True)``,
    or None when the model has a field this module cannot write exactly."""
    builder = _Builder()
    try:
        return typing.cast(Callable[[BaseModel], str],
                           builder.env[builder.model(model, exclude)])
    except Unsupported:
        return None


def reference_json(dumped: dict[str, Any], exclude: dict[str, frozenset[str]]) -> str:
    """The original definition: the sorted json.dumps of a dump, without the excluded keys."""
    for field, keys in exclude.items():
        dumped = {**dumped, field: {k: v for k, v in dumped[field].items() if k not in keys}}
    return json.dumps(dumped, sort_keys=True)
