"""Every date a client sends is written YYYY-MM-DD (portal/types.py ``IsoDate``).

Pydantic's lax mode reads a number, or a string of digits, as a Unix time: ``"valid_from": 0``
was 1970-01-01 on an institution's authorisation, and ``1764547200`` a verification day. The
input models of every domain are walked here, so a new date field written as a plain ``date``
is caught too."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Annotated, Any, get_args, get_origin

import httpx
import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo

from portal import domains
from portal.accounts.models import Role, User
from tests.api.certificates.support import cert_body
from tests.support import assert_problem

# A model a client sends (not one the portal writes back): by the names the domains give them.
_INPUT_SUFFIXES = ("Create", "Update", "Import", "Request", "Resolve")


def _routes() -> list[APIRoute]:
    """Every route of every domain, as the application registers them (routers included into a
    router are followed)."""
    found: list[APIRoute] = []

    def walk(routes: list[Any]) -> None:
        for route in routes:
            included = getattr(route, "original_router", None)
            if included is not None:
                walk(included.routes)
            elif isinstance(route, APIRoute):
                found.append(route)

    for kind in ("routes", "pages"):
        for _, module in domains.modules(kind):
            walk(module.router.routes)
    return found


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The models an annotation names, and the models their fields name, all the way down."""
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        nested = [m for f in annotation.model_fields.values() for m in _models_in(f.annotation)]
        return [annotation, *nested]
    return [m for arg in get_args(annotation) for m in _models_in(arg)]


def _as_declared(info: FieldInfo) -> Any:
    """The parameter's type with its validators (``IsoDate``'s): FastAPI keeps them apart, in
    the field's metadata."""
    return Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation


def _with_dependencies(dependant: Dependant) -> list[Dependant]:
    return [dependant, *(d for sub in dependant.dependencies for d in _with_dependencies(sub))]


def _route_inputs() -> tuple[list[type[BaseModel]], list[tuple[str, str, Any]]]:
    """What the routes themselves read from a client: the models of their bodies (JSON), and
    their plain parameters (query, form) as (route, name, annotation). Found by name alone
    (``_input_models``), a follow-up's re-inspection day in ``follow_up_schemas.py`` and a
    form's date field were missed (attack review)."""
    models: dict[str, type[BaseModel]] = {}
    params: list[tuple[str, str, Any]] = []
    for route in _routes():
        for dependant in _with_dependencies(route.dependant):
            for field in dependant.body_params:
                found = _models_in(field.field_info.annotation)
                for model in found:
                    models[f"{model.__module__}.{model.__qualname__}"] = model
                if not found:
                    params.append((route.path, field.name, _as_declared(field.field_info)))
            for field in dependant.query_params:
                params.append((route.path, field.name, _as_declared(field.field_info)))
    return [models[key] for key in sorted(models)], params


def _input_models() -> list[type[BaseModel]]:
    found: dict[str, type[BaseModel]] = {}
    for model in _route_inputs()[0]:
        found[f"{model.__module__}.{model.__qualname__}"] = model
    for domain in domains.DOMAINS:
        try:
            module = importlib.import_module(f"{domain}.schemas")
        except ModuleNotFoundError:
            continue
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseModel)
                and value.__module__ == module.__name__
                and name.endswith(_INPUT_SUFFIXES)
            ):
                found[f"{module.__name__}.{name}"] = value
    return [found[key] for key in sorted(found)]


def _is_date(annotation: Any) -> bool:
    """``date``, ``date | None``, ``IsoDate`` (an Annotated date) and unions of them."""
    if annotation is date:
        return True
    if get_origin(annotation) is Annotated:
        return _is_date(get_args(annotation)[0])
    return any(_is_date(arg) for arg in get_args(annotation))


def _date_fields(model: type[BaseModel]) -> list[str]:
    return [name for name, field in model.model_fields.items() if _is_date(field.annotation)]


CASES = [
    pytest.param(model, field, id=f"{model.__name__}.{field}")
    for model in _input_models()
    for field in _date_fields(model)
]
PARAM_CASES = [
    pytest.param(annotation, id=f"{path}:{name}")
    for path, name, annotation in _route_inputs()[1]
    if _is_date(annotation)
]


def test_the_walk_finds_the_date_fields_clients_send() -> None:
    names = {case.id for case in CASES}
    assert {
        "CertificateCreate.verified_on",
        "AuthorisationCreate.valid_from",
        "EnforcementNoticeCreate.decision_date",
        "RunCreate.as_of",
        "CertificateCreate.valid_until",
        "RegulationImport.date",
        "FollowUpCorrection.reinspected_on",
    } <= names
    assert {case.id.split(":")[1] for case in PARAM_CASES} >= {"date_from", "reinspected_on"}


@pytest.mark.parametrize("annotation", PARAM_CASES)
def test_a_date_in_a_query_or_form_is_written_yyyy_mm_dd(annotation: Any) -> None:
    adapter: TypeAdapter[Any] = TypeAdapter(annotation)
    assert adapter.validate_python("2026-03-01") == date(2026, 3, 1)
    for unix_time in (0, 1764547200, "1764547200"):
        with pytest.raises(ValidationError):
            adapter.validate_python(unix_time)


def _field_errors(model: type[BaseModel], field: str, value: object) -> list[Any]:
    try:
        model.model_validate({field: value})
    except ValidationError as exc:
        return [e for e in exc.errors() if e["loc"][:1] == (field,)]
    return []


@pytest.mark.parametrize(("model", "field"), CASES)
def test_a_date_is_written_yyyy_mm_dd(model: type[BaseModel], field: str) -> None:
    assert _field_errors(model, field, "2026-03-01") == []
    for unix_time in (0, 1764547200, "1764547200", 1764547200.0):
        assert _field_errors(model, field, unix_time), unix_time


async def test_a_certificate_dated_by_a_number_is_a_422(
    client: httpx.AsyncClient,
    make_user: Callable[..., Awaitable[User]],
    auth_headers: Callable[[User], Awaitable[dict[str, str]]],
) -> None:
    """Through the API too: 1764547200 (2025-12-01 at midnight UTC) was stored as that day."""
    headers = await auth_headers(await make_user(Role.institution))
    body = cert_body(verified_on=1764547200)
    answer = await client.post("/api/v1/certificates", json=body, headers=headers)
    assert_problem(answer, 422, "validation_error")
    assert (await client.get(f"/api/v1/certificates/{body['number']}")).status_code == 404
