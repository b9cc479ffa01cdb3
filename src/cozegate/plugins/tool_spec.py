"""A tool's contract, read once from its Python signature: argument model, output adapter and docs.

Parameters become the fields of the JSON request body (``Annotated[str, Field(description=...)]`` or a
``Field`` default documents them); a single parameter typed as a pydantic model *is* the body. A
parameter annotated ``ToolContext`` is injected and never part of the body. The return annotation is
the response: an object type (pydantic model, ``TypedDict``, ``dict``) as is, anything else wrapped as
``{"result": value}`` because Coze reads a plugin's outputs from a JSON object.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, get_args, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, create_model

from cozegate.plugins.context import ToolContext

TOOL_NAME = re.compile(r"^[A-Za-z0-9_]{1,30}$")  # Coze: letters, digits, _; at most 30
RESULT_FIELD = "result"
ERROR_FIELD = "error"  # the 200 body of an error the bot should read


@dataclass(frozen=True)
class ToolSpec:
    name: str
    function: Callable[..., Any]
    is_async: bool
    summary: str
    description: str
    arguments: type[BaseModel]
    body_parameter: str | None  # set when one model-typed parameter receives the whole body
    context_parameter: str | None
    output: TypeAdapter[Any]
    wraps_output: bool
    deadline_seconds: float | None
    max_concurrency: int | None

    def call_arguments(self, body: BaseModel, context: ToolContext | None) -> dict[str, Any]:
        """Keyword arguments for the function from the validated body."""
        if self.body_parameter is not None:
            kwargs: dict[str, Any] = {self.body_parameter: body}
        else:
            kwargs = {name: getattr(body, name) for name in type(body).model_fields}
        if self.context_parameter is not None:
            assert context is not None, "a tool taking a ToolContext is called with one"
            kwargs[self.context_parameter] = context
        return kwargs

    def response_json(self, value: Any) -> bytes:
        """The function's return value as the JSON response body (validated against the annotation)."""
        data = {RESULT_FIELD: value} if self.wraps_output else value
        return self.output.dump_json(self.output.validate_python(data))


def spec_from_function(
    function: Callable[..., Any],
    *,
    name: str | None = None,
    description: str | None = None,
    deadline_seconds: float | None = None,
    max_concurrency: int | None = None,
) -> ToolSpec:
    """Read ``function``'s signature; raises ``TypeError`` naming what a tool must change."""
    tool_name = name or function.__name__
    if not TOOL_NAME.match(tool_name):
        raise TypeError(f"tool name {tool_name!r} must be letters, digits and _, at most 30")
    hints = get_type_hints(function, include_extras=True)
    if "return" not in hints:
        raise TypeError(f"tool {tool_name!r}: annotate the return type (what the bot gets back)")
    summary, long_description = _doc_parts(function, description)

    context_parameter: str | None = None
    fields: dict[str, Any] = {}
    for parameter in inspect.signature(function).parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD, parameter.POSITIONAL_ONLY):
            raise TypeError(f"tool {tool_name!r}: parameter {parameter.name!r} must be a plain named parameter")
        if parameter.name not in hints:
            raise TypeError(f"tool {tool_name!r}: annotate parameter {parameter.name!r} with its type")
        annotation = hints[parameter.name]
        if annotation is ToolContext:
            context_parameter = parameter.name
            continue
        if _mentions(annotation, ToolContext):  # else the caller could send a forged context in the body
            raise TypeError(f"tool {tool_name!r}: annotate {parameter.name!r} as plain `ToolContext` to receive it")
        if parameter.default is inspect.Parameter.empty:
            fields[parameter.name] = annotation  # required, unless an Annotated Field(default=...) says otherwise
        else:
            fields[parameter.name] = (annotation, parameter.default)

    body_parameter = _single_model_parameter(fields)
    if body_parameter is not None:
        arguments: type[BaseModel] = fields[body_parameter]
    else:
        arguments = create_model(
            f"{_camel(tool_name)}Arguments",
            __config__=ConfigDict(title=f"{tool_name} arguments"),
            **fields,
        )

    output, wraps = _output_adapter(tool_name, hints["return"])
    return ToolSpec(
        name=tool_name,
        function=function,
        is_async=inspect.iscoroutinefunction(function),
        summary=summary,
        description=long_description,
        arguments=arguments,
        body_parameter=body_parameter,
        context_parameter=context_parameter,
        output=output,
        wraps_output=wraps,
        deadline_seconds=deadline_seconds,
        max_concurrency=max_concurrency,
    )


def _single_model_parameter(fields: dict[str, Any]) -> str | None:
    """The parameter that receives the whole body: the only one, typed as a model, without a default."""
    if len(fields) != 1:
        return None
    ((name, annotation),) = fields.items()
    is_model = isinstance(annotation, type) and issubclass(annotation, BaseModel)
    return name if is_model else None


def _mentions(annotation: Any, target: type) -> bool:
    return annotation is target or any(_mentions(arg, target) for arg in get_args(annotation))


def _output_adapter(tool_name: str, annotation: Any) -> tuple[TypeAdapter[Any], bool]:
    if annotation is None or annotation is type(None):
        raise TypeError(f"tool {tool_name!r} must return something the bot can read (not None)")
    adapter: TypeAdapter[Any] = TypeAdapter(annotation)
    schema = adapter.json_schema()
    if _is_object_schema(schema):
        properties = _object_of(schema).get("properties", {})
        if not properties:
            raise TypeError(
                f"tool {tool_name!r}: return a pydantic model or TypedDict; Coze passes the bot only the declared"
                " fields of a response, so a plain dict would reach it as {}"
            )
        if ERROR_FIELD in properties:
            raise TypeError(f"tool {tool_name!r}: the response field {ERROR_FIELD!r} is reserved for call errors")
        return adapter, False
    wrapper = create_model(
        f"{_camel(tool_name)}Result",
        **{RESULT_FIELD: (annotation, Field(description=f"What {tool_name} returns"))},  # type: ignore[call-overload]
    )
    return TypeAdapter(wrapper), True


def _object_of(schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str):
        target: dict[str, Any] = schema.get("$defs", {}).get(ref.rsplit("/", 1)[-1], {})
        return target
    return schema


def _is_object_schema(schema: dict[str, Any]) -> bool:
    return _object_of(schema).get("type") == "object"


def _doc_parts(function: Callable[..., Any], description: str | None) -> tuple[str, str]:
    text = description or inspect.getdoc(function) or ""
    if not text.strip():
        raise TypeError(
            f"tool {function.__name__!r}: give it a docstring; the bot's model reads it to decide when to call"
        )
    paragraphs = [p.strip() for p in text.strip().split("\n\n")]
    return paragraphs[0].splitlines()[0], " ".join(" ".join(p.split()) for p in paragraphs)


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))
