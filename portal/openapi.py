"""The published OpenAPI document says what the API really does: every error is
``application/problem+json`` (RFC 9457), documented once as the ``Problem`` schema."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details with a stable machine-readable code.",
    "required": ["type", "title", "status", "detail", "code", "title_zh", "detail_zh"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string", "examples": ["certificate_not_found", "validation_error"]},
        "title_zh": {"type": "string"},
        "detail_zh": {"type": "string"},
        "instance": {"type": "string"},
        "request_id": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "field": {"type": "string"},
                    "type": {"type": "string"},
                    "message": {"type": "string"},
                    "message_zh": {"type": "string"},
                },
            },
        },
    },
    "additionalProperties": True,
}

_PROBLEM_CONTENT = {
    "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
}
# Protocols with an error format of their own (Open311 GeoReport v2) document it themselves.
NATIVE_ERROR_PREFIXES = ("/open311/",)
_HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


def document_problems(app: FastAPI) -> None:
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = generate()
        schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
        for path, path_item in schema.get("paths", {}).items():
            native = path.startswith(NATIVE_ERROR_PREFIXES)
            for method, operation in path_item.items():
                if method not in _HTTP_METHODS:
                    continue
                responses = operation.setdefault("responses", {})
                if native:
                    # FastAPI's own request validation still answers with a problem.
                    if "422" in responses:
                        responses["422"]["content"] = dict(_PROBLEM_CONTENT)
                    continue
                for status, response in responses.items():
                    if status[0] in "45":
                        response["content"] = dict(_PROBLEM_CONTENT)
                responses.setdefault(
                    "4XX", {"description": "Problem (RFC 9457)", "content": dict(_PROBLEM_CONTENT)}
                )
                responses.setdefault(
                    "5XX", {"description": "Problem (RFC 9457)", "content": dict(_PROBLEM_CONTENT)}
                )
        _require_nonempty_form_fields(schema)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _require_nonempty_form_fields(schema: dict[str, Any]) -> None:
    """FastAPI reads an empty form field as a missing one, so a required string form field
    (schemas named ``Body_…``) really needs at least one character; say so in the document."""
    for name, component in schema.get("components", {}).get("schemas", {}).items():
        if "Body_" not in name:
            continue
        for field in component.get("required", []):
            prop = component.get("properties", {}).get(field, {})
            if prop.get("type") == "string" and "minLength" not in prop:
                prop["minLength"] = 1
