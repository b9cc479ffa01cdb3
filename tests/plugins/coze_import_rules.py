"""What Coze's plugin import checks, as a test oracle (from coze-studio's importer and kin-openapi 0.118).

Sources (coze-dev/coze-studio, backend/): crossdomain/plugin/model/openapi.go (info.description, one
server URL with a host, operationId and summary, one JSON request body of type object, responses only
"200"/"default", 200 = one application/json object, every property typed), kin-openapi's T.Validate
(unique operationIds, arrays with items, no unknown schema keys). Frontend: tool names
^[a-zA-Z0-9_]+$, at most 30 characters.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlparse

TOOL_NAME = re.compile(r"^[A-Za-z0-9_]{1,30}$")
# Schema Object keys of OpenAPI 3.0 (anything else must start with x-).
SCHEMA_KEYS = {
    "title", "multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum", "maxLength", "minLength",
    "pattern", "maxItems", "minItems", "uniqueItems", "maxProperties", "minProperties", "required", "enum", "type",
    "allOf", "oneOf", "anyOf", "not", "items", "properties", "additionalProperties", "description", "format",
    "default", "nullable", "discriminator", "readOnly", "writeOnly", "xml", "externalDocs", "example", "deprecated",
}  # fmt: skip
JSON_TYPES = {"string", "number", "integer", "boolean", "array", "object"}


def coze_import_problems(document: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    if not str(document.get("openapi", "")).startswith("3.0."):
        problems.append("openapi must be 3.0.x")
    info = document.get("info", {})
    problems += [f"info.{key} missing" for key in ("title", "description", "version") if not info.get(key)]
    servers = document.get("servers", [])
    if len(servers) != 1:
        problems.append("exactly one server URL")
    elif not urlparse(servers[0].get("url", "")).netloc or len(servers[0]["url"]) > 512:
        problems.append("server URL needs a scheme and host, at most 512 characters")
    seen: set[str] = set()
    for path, item in document.get("paths", {}).items():
        if not path.startswith("/"):
            problems.append(f"{path}: must start with /")
        for method, operation in item.items():
            where = f"{method.upper()} {path}"
            op_id = operation.get("operationId", "")
            if not TOOL_NAME.match(op_id):
                problems.append(f"{where}: operationId {op_id!r} is not a Coze tool name")
            if op_id in seen:
                problems.append(f"{where}: operationId {op_id!r} repeated")
            seen.add(op_id)
            if not operation.get("summary"):
                problems.append(f"{where}: summary missing")
            body = operation.get("requestBody")
            if body is not None:
                content = body.get("content", {})
                if list(content) != ["application/json"]:
                    problems.append(f"{where}: request body must be exactly application/json")
                else:
                    schema = content["application/json"].get("schema", {})
                    if schema.get("type") != "object":
                        problems.append(f"{where}: request body schema must be an object")
                    problems += _schema_problems(schema, f"{where} body")
            responses = operation.get("responses", {})
            if not set(responses) <= {"200", "default"} or "200" not in responses:
                problems.append(f"{where}: responses must be 200 (and default), got {sorted(responses)}")
            for status, response in responses.items():
                if not response.get("description"):
                    problems.append(f"{where}: response {status} needs a description")
            ok = responses.get("200", {}).get("content", {})
            if list(ok) != ["application/json"]:
                problems.append(f"{where}: 200 must have exactly application/json content")
            else:
                schema = ok["application/json"].get("schema", {})
                if schema.get("type") != "object" or not schema.get("properties"):
                    problems.append(f"{where}: 200 schema must be an object with properties")
                problems += _schema_problems(schema, f"{where} 200")
    return problems


def _schema_problems(schema: dict[str, Any], where: str) -> list[str]:
    problems: list[str] = []
    if "$ref" in schema:
        return [f"{where}: $ref (Coze reads inline schemas)"]
    unknown = {k for k in schema if k not in SCHEMA_KEYS and not k.startswith("x-")}
    if unknown:
        problems.append(f"{where}: keys OpenAPI 3.0 does not know: {sorted(unknown)}")
    if schema.get("type") not in JSON_TYPES:
        problems.append(f"{where}: needs one JSON type, has {schema.get('type')!r}")
    if schema.get("type") == "array":
        if not isinstance(schema.get("items"), dict):
            problems.append(f"{where}: array without items")
        else:
            problems += _schema_problems(schema["items"], f"{where}[]")
    for name, sub in schema.get("properties", {}).items():
        problems += _schema_problems(sub, f"{where}.{name}")
    return problems
