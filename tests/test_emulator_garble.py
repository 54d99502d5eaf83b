"""The ``garbled`` emulator fault: the write is applied, its 2xx answer spoiled; a
refusal is passed on untouched."""

from __future__ import annotations

import json

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connectors.emulator import EmulatorServer
from connectors.emulator_garble import garbled

RECORD = {"data": {"id": "tsh_1", "project": {"id": "prj_a"}, "durationSeconds": 60}}


def test_truncated_is_not_json_and_no_id_is_json_without_any_id() -> None:
    body = json.dumps(RECORD).encode()
    with pytest.raises(ValueError):
        json.loads(garbled(body, "truncated"))
    assert json.loads(garbled(body, "no-id")) == {
        "data": {"project": {}, "durationSeconds": 60}}
    with pytest.raises(ValueError):
        json.loads(garbled(b"", "truncated"))   # a 204's empty answer gets spoiled too


def test_the_write_is_applied_and_only_a_2xx_answer_is_spoiled() -> None:
    applied: list[str] = []

    async def write(request: Request) -> Response:
        if request.method == "DELETE":
            return JSONResponse({"message": "invoiced"}, status_code=409)
        applied.append(request.method)
        return JSONResponse(RECORD, status_code=201)

    app = Starlette(routes=[Route("/items", write, methods=["POST", "DELETE"])])
    with EmulatorServer(app) as server, httpx.Client(base_url=server.base_url) as client:
        server.faults.add("garbled", method="*", times=2)
        made = client.post("/items", json={})
        refused = client.delete("/items")
    assert applied == ["POST"] and made.status_code == 201
    with pytest.raises(ValueError):
        made.json()
    assert refused.status_code == 409 and refused.json() == {"message": "invoiced"}
