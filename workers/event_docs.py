"""docs/events.md and docs/events.schema.json, generated from the `AnyEvent` union.

Run `usher events-doc` after adding or changing an event type; tests/unit/test_event_docs.py
fails while the files are stale.
"""

from __future__ import annotations

import inspect as pyinspect
import json
from pathlib import Path
from typing import Any

import msgspec
from msgspec import inspect

from schemas.events import EVENT_TYPES, AnyEvent, Event, EventHead

DOCS = Path(__file__).resolve().parent.parent / "docs"
MARKDOWN = DOCS / "events.md"
SCHEMA = DOCS / "events.schema.json"

ENVELOPE: dict[str, str] = {
    "type": "The event type, `<aggregate>.<what happened>`; dispatch on it.",
    "id": "The event id, a UUIDv7 (ordered by time); consumers deduplicate on it.",
    "version": "The version of this type's shape; raised only for a change that is not "
    "backward compatible (new fields with defaults keep the version).",
    "occurred_at": "When it happened (RFC 3339, UTC).",
    "aggregate_type": "The kind of thing it concerns: film, screening, hold, booking, "
    "device_reservation, ...",
    "aggregate_id": "That thing's id, as text; events of one aggregate arrive in commit order.",
    "venue_id": "The venue, when the event belongs to one (null for films).",
}


def _label(t: inspect.Type) -> str:
    """A short human name for a field's type."""
    if isinstance(t, inspect.Metadata):
        return _label(t.type)
    if isinstance(t, inspect.UnionType):
        return " or ".join(_label(x) for x in t.types)
    if isinstance(t, inspect.ListType | inspect.SetType | inspect.FrozenSetType):
        return f"list of {_label(t.item_type)}"
    if isinstance(t, inspect.VarTupleType):
        return f"list of {_label(t.item_type)}"
    if isinstance(t, inspect.DictType):
        return f"object of {_label(t.value_type)}"
    if isinstance(t, inspect.LiteralType):
        return " or ".join(json.dumps(v) for v in t.values)
    if isinstance(t, inspect.StructType):
        return t.cls.__name__
    if isinstance(t, inspect.EnumType):
        return " or ".join(json.dumps(m.value) for m in t.cls)
    names = {
        inspect.StrType: "string",
        inspect.IntType: "integer",
        inspect.FloatType: "number",
        inspect.BoolType: "boolean",
        inspect.NoneType: "null",
        inspect.UUIDType: "uuid",
        inspect.DateTimeType: "date-time",
        inspect.DateType: "date",
        inspect.TimeType: "time",
        inspect.DecimalType: "decimal string",
        inspect.AnyType: "any",
    }
    return names.get(type(t), type(t).__name__.removesuffix("Type").lower())


def _description(t: inspect.Type) -> str:
    if isinstance(t, inspect.Metadata) and t.extra_json_schema:
        return str(t.extra_json_schema.get("description", ""))
    return ""


def _is_datetime(t: inspect.Type) -> bool:
    if isinstance(t, inspect.Metadata):
        return _is_datetime(t.type)
    return isinstance(t, inspect.DateTimeType)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _default(field: inspect.Field) -> str:
    if field.required:
        return "required"
    if field.default is not msgspec.NODEFAULT:
        return f"default `{json.dumps(msgspec.to_builtins(field.default))}`"
    if field.default_factory is not msgspec.NODEFAULT:
        return f"default `{json.dumps(msgspec.to_builtins(field.default_factory()))}`"
    return "optional"


def _event_classes() -> list[type[Event]]:
    return list(EVENT_TYPES.values())


def _mark_datetimes(defs: dict[str, Any], cls: type[msgspec.Struct]) -> None:
    """msgspec 0.22 leaves `format` off datetimes; put `date-time` back."""
    info = inspect.type_info(cls)
    assert isinstance(info, inspect.StructType)
    properties = defs[cls.__name__]["properties"]
    for field in info.fields:
        if not _is_datetime(field.type) and not (
            isinstance(field.type, inspect.UnionType)
            and any(_is_datetime(x) for x in field.type.types)
        ):
            continue
        prop = properties[field.encode_name]
        for option in prop.get("anyOf", [prop]):
            if option.get("type") == "string":
                option["format"] = "date-time"


def json_schema() -> dict[str, Any]:
    """The JSON Schema of one event on the wire (outbox payload, stream entry `event` field)."""
    (union, _), defs = msgspec.json.schema_components(
        [AnyEvent, EventHead], ref_template="#/$defs/{name}"
    )
    structs: list[type[msgspec.Struct]] = [*_event_classes(), EventHead]
    for cls in structs:
        _mark_datetimes(defs, cls)
    for cls in _event_classes():
        body = defs[cls.__name__]
        body["properties"]["aggregate_type"] = {"const": cls.aggregate}
        body["properties"]["aggregate_id"] = {"type": "string"}
        body["required"] = [*body["required"], "aggregate_type", "aggregate_id"]
        # The docstring, dedented here: msgspec 0.23 dedents it and 0.22 does not.
        doc = pyinspect.cleandoc(cls.__doc__ or "")
        body["description"] = doc or f"`{cls.type_name()}`: an event about a {cls.aggregate}."
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Usher domain event",
        "description": (
            "One event as it travels in the outbox and in the `event` field of a stream entry. "
            "Decode `EventHead` first and skip a `type` you do not know. Generated by "
            "`usher events-doc` from schemas/events.py."
        ),
        **union,
        "$defs": dict(sorted(defs.items())),
    }


def _fields_table(cls: type[msgspec.Struct], skip: set[str]) -> list[str]:
    info = inspect.type_info(cls)
    assert isinstance(info, inspect.StructType)
    lines = ["| field | type | | description |", "|---|---|---|---|"]
    for field in info.fields:
        if field.encode_name in skip:
            continue
        lines.append(
            f"| `{field.encode_name}` | {_cell(_label(field.type))} | {_default(field)} "
            f"| {_cell(_description(field.type))} |"
        )
    return lines


def markdown() -> str:
    classes = _event_classes()
    lines = [
        "# Domain events",
        "",
        "<!-- Generated by `usher events-doc` from schemas/events.py: do not edit by hand. -->",
        "",
        "Every change the API commits is recorded as an event in the outbox, in the same",
        "transaction, and published to the Redis Stream `<prefix>events` (docs/streams.md).",
        "An event is one flat JSON object: the envelope below beside the event's own fields.",
        "The machine-readable contract is [events.schema.json](events.schema.json).",
        "",
        "Rules for consumers and producers:",
        "",
        "- Decode the envelope (`EventHead`) first and dispatch on `type`; skip a type you do not",
        "  know (a newer producer may send it), never fail on it.",
        "- Ignore fields you do not know. New fields always come with a default, so an older",
        "  event still decodes; a change that cannot be made that way gets a new `version`.",
        "- Deduplicate on `id`: an event can be delivered more than once (docs/streams.md).",
        "",
        "## Envelope",
        "",
        "| field | type | | description |",
        "|---|---|---|---|",
    ]
    head = inspect.type_info(EventHead)
    assert isinstance(head, inspect.StructType)
    for field in head.fields:
        lines.append(
            f"| `{field.encode_name}` | {_cell(_label(field.type))} | {_default(field)} "
            f"| {_cell(ENVELOPE.get(field.encode_name, ''))} |"
        )
    lines += [
        "",
        "## Event types",
        "",
        "| type | aggregate | aggregate id field | version |",
        "|---|---|---|---|",
    ]
    for cls in classes:
        version = inspect.type_info(cls)
        assert isinstance(version, inspect.StructType)
        default_version = next(f.default for f in version.fields if f.name == "version")
        lines.append(
            f"| [`{cls.type_name()}`](#{cls.type_name().replace('.', '')}) | {cls.aggregate} "
            f"| `{cls.aggregate_field}` | {default_version} |"
        )
    envelope = {f.encode_name for f in head.fields}
    for cls in classes:
        lines += ["", f"### {cls.type_name()}", ""]
        if cls.__doc__:
            lines += [" ".join(cls.__doc__.split()), ""]
        lines += [
            f"About a {cls.aggregate}: `aggregate_id` is its `{cls.aggregate_field}`. "
            f"Struct `{cls.__name__}`. Fields besides the envelope:",
            "",
            *_fields_table(cls, envelope),
        ]
    return "\n".join(lines) + "\n"


def rendered() -> dict[Path, str]:
    """Each generated file and the text it should have."""
    return {
        MARKDOWN: markdown(),
        SCHEMA: json.dumps(json_schema(), indent=2, sort_keys=False) + "\n",
    }


def stale() -> list[Path]:
    """The generated files whose text differs from what the Structs say now."""
    return [
        path for path, text in rendered().items() if not path.exists() or path.read_text() != text
    ]


def write() -> list[Path]:
    """Regenerate the files; return the ones that changed."""
    changed = stale()
    DOCS.mkdir(exist_ok=True)
    for path, text in rendered().items():
        if path in changed:
            path.write_text(text)
    return changed
