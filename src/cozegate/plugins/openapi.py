"""Describe a plugin the way Coze imports it: an OpenAPI 3.0 document and a ``plugin.json`` manifest.

Rules followed (coze-studio's importer, ``crossdomain/plugin/model/openapi.go``, and kin-openapi 0.118):
OpenAPI 3.0.x; ``info`` with title, description and version; exactly one server URL with a scheme;
every operation with ``operationId`` (the tool's name) and ``summary``; one ``application/json``
request body whose schema is an object; responses ``200`` (an object whose every field has one JSON
``type``; Coze passes the bot only declared fields) and ``default``. Schemas are therefore inlined
(no ``$ref``), ``Optional[X]`` becomes ``X`` with ``nullable``, and JSON-Schema-2020 keywords that
OpenAPI 3.0 lacks (``examples``, ``const``, numeric ``exclusiveMinimum``) are rewritten.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from cozegate.plugins.auth import TokenAuth
from cozegate.plugins.tool_spec import ERROR_FIELD, ToolSpec

if TYPE_CHECKING:
    from cozegate.plugins.plugin import Plugin, RegisteredTool

OPENAPI_VERSION = "3.0.1"
SECURITY_SCHEME = "serviceToken"
PLACEHOLDER_TOKEN = "<your service token>"  # noqa: S105 - a placeholder, never a real token

_ERROR_OBJECT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "code": {"type": "string", "description": "machine-readable error code"},
        "message": {"type": "string", "description": "what happened and what to do next"},
        "request_id": {"type": "string", "description": "quote it to the operator"},
        "details": {
            "type": "array",
            "description": "invalid_arguments: one entry per bad field",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "problem": {"type": "string"}},
            },
        },
    },
    "required": ["code", "message", "request_id"],
}


# The Schema Object keywords of OpenAPI 3.0; others (propertyNames, patternProperties, ...) are refused.
SCHEMA_KEYWORDS = frozenset(
    {
        "title", "multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum", "maxLength",
        "minLength", "pattern", "maxItems", "minItems", "uniqueItems", "maxProperties", "minProperties",
        "required", "enum", "type", "allOf", "oneOf", "anyOf", "not", "items", "properties",
        "additionalProperties", "description", "format", "default", "nullable", "discriminator", "readOnly",
        "writeOnly", "xml", "externalDocs", "example", "deprecated",
    }
)  # fmt: skip


class UnsupportedSchemaError(TypeError):
    pass


def check_exportable(spec: ToolSpec) -> None:
    """Raise ``UnsupportedSchemaError`` now (at registration) if Coze could not be told about the tool."""
    openapi_schema(spec.arguments.model_json_schema())
    openapi_schema(spec.output.json_schema(mode="serialization"))


def plugin_openapi(plugin: Plugin, server_url: str) -> dict[str, Any]:
    """The OpenAPI 3.0 document for ``plugin`` served at ``server_url`` (scheme and host, e.g. https://gw.example.com)."""
    if "://" not in server_url:
        raise ValueError(f"server URL {server_url!r} needs a scheme, e.g. https://{server_url}")
    document: dict[str, Any] = {
        "openapi": OPENAPI_VERSION,
        "info": {"title": plugin.title, "description": plugin.description, "version": plugin.version},
        "servers": [{"url": server_url.rstrip("/")}],
        "paths": {
            f"/plugins/{plugin.name}/{name}": {"post": _operation(tool)} for name, tool in sorted(plugin.tools.items())
        },
    }
    if isinstance(plugin.auth, TokenAuth):
        document["components"] = {"securitySchemes": {SECURITY_SCHEME: _security_scheme(plugin.auth)}}
        document["security"] = [{SECURITY_SCHEME: []}]
    return document


def plugin_manifest(plugin: Plugin) -> dict[str, Any]:
    """coze-studio's ``plugin.json``; the service token is a placeholder to fill in, never the real one."""
    auth: dict[str, Any] = {"type": "none"}
    if isinstance(plugin.auth, TokenAuth):
        payload = {
            "location": plugin.auth.location,
            "key": plugin.auth.name,
            "service_token": plugin.auth.prefix + PLACEHOLDER_TOKEN,
        }
        auth = {"type": "service_http", "sub_type": "token/api_key", "payload": json.dumps(payload)}
    return {
        "schema_version": "v1",
        "name_for_model": plugin.name,
        "name_for_human": plugin.title,
        "description_for_model": plugin.description,
        "description_for_human": plugin.description,
        "auth": auth,
        "logo_url": "",
        "api": {"type": "openapi"},
        "common_params": {"header": [], "query": [], "path": [], "body": []},
    }


def _operation(tool: RegisteredTool) -> dict[str, Any]:
    spec = tool.spec
    arguments = openapi_schema(spec.arguments.model_json_schema())
    output = openapi_schema(spec.output.json_schema(mode="serialization"))
    output.pop("required", None)  # an error answer carries only `error`
    output["properties"][ERROR_FIELD] = {
        **_ERROR_OBJECT,
        "description": "set instead of the fields above when the call failed in a way to explain to the user",
    }
    operation: dict[str, Any] = {
        "operationId": spec.name,
        "summary": spec.summary,
        "description": f"{spec.description} Time budget: {tool.deadline_seconds:g} s.",
    }
    if arguments.get("properties"):
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": arguments}}}
    operation["responses"] = {
        "200": {
            "description": "the tool's result, or `error` when it could not produce one",
            "content": {"application/json": {"schema": output}},
        },
        "default": {
            "description": "the call was refused or failed (400 invalid arguments, 401, 403, 413, 415, 429, 500)",
            "content": {
                "application/json": {
                    "schema": {"type": "object", "properties": {"error": _ERROR_OBJECT}, "required": ["error"]}
                }
            },
        },
    }
    return operation


def _security_scheme(auth: TokenAuth) -> dict[str, Any]:
    if auth.is_bearer:
        return {"type": "http", "scheme": "bearer"}
    return {"type": "apiKey", "in": auth.location, "name": auth.name}


def openapi_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A pydantic JSON schema (2020-12, with ``$defs``) as an inlined OpenAPI 3.0 schema."""
    return _convert(schema, schema.get("$defs", {}), ())


def _convert(node: dict[str, Any], defs: dict[str, Any], seen: tuple[str, ...]) -> dict[str, Any]:
    node = dict(node)
    node.pop("$defs", None)
    ref = node.pop("$ref", None)
    if ref is not None:
        name = ref.rsplit("/", 1)[-1]
        if name in seen:
            raise UnsupportedSchemaError(f"{name} refers to itself; Coze cannot import recursive types")
        target = _convert(defs[name], defs, (*seen, name))
        return {**target, **{k: v for k, v in node.items() if k != "title"}}
    for combinator in ("anyOf", "oneOf"):
        if combinator in node:
            options = node.pop(combinator)
            concrete = [o for o in options if o.get("type") != "null"]
            if len(concrete) != 1:
                raise UnsupportedSchemaError(
                    f"{node.get('title', 'a field')}: Coze needs one JSON type per field,"
                    f" not a union of {len(concrete)}"
                )
            merged = {**_convert(concrete[0], defs, seen), **_convert_keywords(node, defs, seen)}
            if len(concrete) < len(options):
                merged["nullable"] = True
            return merged
    if "allOf" in node and len(node["allOf"]) == 1:
        inner = node.pop("allOf")[0]
        return {**_convert(inner, defs, seen), **_convert_keywords(node, defs, seen)}
    converted = _convert_keywords(node, defs, seen)
    if "type" not in converted:
        converted["type"] = _infer_type(converted)
    return converted


def _convert_keywords(node: dict[str, Any], defs: dict[str, Any], seen: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties":
            out[key] = {name: _convert(sub, defs, seen) for name, sub in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = _convert(value, defs, seen)
        elif key == "prefixItems":
            raise UnsupportedSchemaError("tuples cannot be described to Coze; use a list or a model")
        elif key == "examples":
            if value:
                out["example"] = value[0]
        elif key == "const":
            out["enum"] = [value]
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool):
            out["minimum" if key == "exclusiveMinimum" else "maximum"] = value
            out[key] = True
        elif key in SCHEMA_KEYWORDS or key.startswith("x-"):
            out[key] = value
        else:
            raise UnsupportedSchemaError(
                f"{node.get('title', 'a field')}: `{key}` cannot be described in OpenAPI 3.0 (and so to Coze);"
                " use a model with named fields"
            )
    return out


def _infer_type(node: dict[str, Any]) -> str:
    values = node.get("enum")
    if values:
        kinds = {type(v) for v in values}
        for python_type, json_type in ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string")):
            if kinds == {python_type}:
                return json_type
    raise UnsupportedSchemaError(
        f"{node.get('title', 'a field')}: give it a concrete type (Coze needs one JSON type per field, not Any)"
    )
