"""Bad input never earns a 5xx (issue 6): schemathesis fuzzes every operation of the
running server's OpenAPI spec, and hand-written strategies send malformed bytes, wrong
content types and junk to every POST route. Each refusal must be a 4xx with a JSON body.

The routes that predict read raw bytes, so FastAPI's spec describes no body for them;
the spec is given loose body schemas here (the protocols' shapes, with any JSON allowed
in the values) so schemathesis generates bodies that reach deep into the parsers, in
both its positive (fits the schema) and negative (violates it) modes.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import httpx
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

EXAMPLES = 30  # per operation and generation mode
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))

ANY_JSON: dict[str, Any] = {}
ROW = {"type": "object", "properties": {"age": ANY_JSON, "region": ANY_JSON},
       "additionalProperties": ANY_JSON}
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("post", "/v1/endpoints/{name}/predict"): {"anyOf": [
        {"type": "object", "required": ["instances"], "properties": {
            "instances": {"type": "array", "items": ROW}, "key": ANY_JSON,
            "keys": ANY_JSON}},
        {"type": "object", "required": ["columns", "data"], "properties": {
            "columns": {"type": "array", "items": ANY_JSON},
            "data": {"type": "array", "items": {"type": "array", "items": ANY_JSON}}}},
    ]},
    ("post", "/invocations"): {"type": "object", "properties": {
        "dataframe_split": {"type": "object", "properties": {
            "columns": {"type": "array", "items": ANY_JSON},
            "data": {"type": "array", "items": ANY_JSON}, "index": ANY_JSON}},
        "dataframe_records": {"type": "array", "items": ROW},
        "instances": ANY_JSON, "inputs": ANY_JSON, "params": ANY_JSON}},
    ("post", "/v2/models/{name}/infer"): {"type": "object", "required": ["inputs"],
                                          "properties": {
        "id": ANY_JSON, "parameters": ANY_JSON, "outputs": ANY_JSON,
        "inputs": {"type": "array", "items": {"type": "object", "properties": {
            "name": {"type": "string"}, "shape": {"type": "array", "items": ANY_JSON},
            "datatype": {"type": "string"}, "data": ANY_JSON, "parameters": ANY_JSON}}}}},
    ("post", "/v1/endpoints/{name}/feedback"): {"type": "object", "properties": {
        "feedback": {"type": "array", "items": {"type": "object", "properties": {
            "prediction_id": ANY_JSON, "label": ANY_JSON}}}}},
    ("put", "/v1/endpoints/{name}/deployment"): {"type": "object", "properties": {
        "strategy": ANY_JSON, "unknown_categories": ANY_JSON, "guardrails": ANY_JSON,
        "ramp": ANY_JSON, "reason": ANY_JSON, "expected_revision": ANY_JSON,
        "variants": {"type": "array", "items": {"type": "object", "properties": {
            "name": ANY_JSON, "model": {"anyOf": [{"enum": ["churn@1"]}, ANY_JSON]},
            "weight": ANY_JSON, "role": ANY_JSON}}}}},
}
ENDPOINT_NAME = {"anyOf": [{"enum": ["default"]}, {"type": "string"}]}


def _fuzzable(spec: dict[str, Any]) -> dict[str, Any]:
    """The server's spec with body schemas on the raw-body routes and ``default`` as a
    likely endpoint name (so most requests reach a deployed model)."""
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            for parameter in operation.get("parameters", []):
                if parameter["name"] == "name":
                    parameter["schema"] = ENDPOINT_NAME
            body = BODIES.get((method, path))
            if body is not None:
                assert "requestBody" not in operation, f"{method} {path} now declares a body"
                operation["requestBody"] = {"required": True,
                                            "content": {"application/json": {"schema": body}}}
    assert len([k for k in BODIES if k[1] in spec["paths"]]) == len(BODIES)
    return spec


def _refusal(response: Any, what: str) -> None:
    """A status below 500 and, for a refusal, a JSON body that says what was wrong (MLflow's
    415 is plain text, as MLflow's own scoring server sends it)."""
    assert response.status_code < 500, f"{what}: {response.status_code} {response.text[:500]}"
    if response.status_code == 415 and urlsplit(str(response.request.url)).path == "/invocations":
        assert response.text.strip(), what
    elif response.status_code >= 400:
        content_type = response.headers.get("content-type", "")
        if isinstance(content_type, list):  # schemathesis' Response keeps every value
            content_type = ",".join(content_type)
        assert "json" in content_type, (what, content_type, response.text[:500])
        assert json.loads(response.text), (what, response.text[:500])


def test_no_operation_of_the_spec_answers_a_server_error(server: str) -> None:
    base = f"http://{server}"
    spec = _fuzzable(httpx.get(f"{base}/openapi.json", timeout=10).json())
    schema = schemathesis.openapi.from_dict(spec)
    calls: dict[str, int] = {}
    failures: list[str] = []
    with requests.Session() as session:
        for result in schema.get_all_operations():
            operation = result.ok()
            # Only a body can be made to violate the spec; the paths take any text.
            has_body = (operation.method.lower(), operation.path) in BODIES
            modes = [GenerationMode.POSITIVE] + [GenerationMode.NEGATIVE] * has_body
            for mode in modes:
                label = f"{operation.label} ({mode.value})"
                try:
                    calls[label] = _fuzz(operation, mode, base, session)
                except Exception as exc:  # noqa: BLE001 - gather every route's failure
                    failures.append(f"{label}: {type(exc).__name__}: {exc}")
    assert not failures, "\n\n".join(failures)
    ran = {label.rsplit(" (", 1)[0] for label in calls}
    assert len(ran) == len(spec_operations(spec)), sorted(ran)
    print(f"schemathesis sent {sum(calls.values())} requests to {len(ran)} operations")


def _fuzz(operation: Any, mode: GenerationMode, base: str, session: requests.Session) -> int:
    """Send up to ``EXAMPLES`` generated cases of ``operation``; the number sent."""
    sent = 0

    @SETTINGS
    @given(case=operation.as_strategy(generation_mode=mode))
    def fuzz(case: Any) -> None:
        nonlocal sent
        response = case.call(base_url=base, session=session, timeout=30)
        sent += 1
        case.validate_response(response, checks=[not_a_server_error])
        if response.status_code != 401:
            _refusal(response, f"{operation.label}: {case.as_curl_command()}")

    fuzz()
    return sent


def spec_operations(spec: dict[str, Any]) -> list[tuple[str, str]]:
    return [(method, path) for path, methods in spec["paths"].items() for method in methods]


# -- hand-written junk for the POST routes --------------------------------------------
POSTS = ["/v1/endpoints/default/predict", "/invocations", "/v2/models/default/infer",
         "/v1/endpoints/default/feedback"]
CONTENT_TYPES = ["application/json", "text/csv", "text/plain", "application/octet-stream",
                 "application/json; format=pandas-split", "application/json; charset=latin-1",
                 "multipart/form-data; boundary=x", "application/x-www-form-urlencoded", ""]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=10**18),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20),
    st.sampled_from(["NaN", "Infinity", "-Infinity", "nan", "inf", "1e309", "-0", "", "\x00",
                     "n", "s", "default", "churn@1", "\ud800"]),
)
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)),
    max_leaves=20)
fields = st.sampled_from(["instances", "columns", "data", "key", "keys", "dataframe_split",
                          "dataframe_records", "inputs", "outputs", "id", "parameters",
                          "feedback", "prediction_id", "label", "shape", "datatype", "name",
                          "age", "region"])
shaped = st.recursive(
    json_values,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(fields, inner, max_size=5)),
    max_leaves=30)


def _encoded(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True, ensure_ascii=False).encode("utf-8",
                                                                       "surrogatepass")


raw_bodies = st.one_of(
    st.binary(max_size=200),
    st.builds(_encoded, shaped),
    st.builds(lambda b, cut: b[:cut], st.builds(_encoded, shaped), st.integers(0, 50)),
    st.sampled_from([b"", b"{", b"[", b"null", b"NaN", b"{\"instances\": NaN}",
                     b"{\"instances\": [{\"age\": NaN, \"region\": \"n\"}]}",
                     b"{\"instances\": [{\"age\": 1e999, \"region\": \"n\"}]}",
                     b"{\"instances\": [{\"age\": -Infinity, \"region\": \"n\"}]}",
                     b"{\"instances\": [{\"age\": " + b"9" * 5000 + b", \"region\": \"n\"}]}",
                     b"[" * 10000 + b"]" * 10000, b"\xff\xfe{}", b"\xef\xbb\xbf{}",
                     b"age,region\n30,n\n", b"age,region\n\"unterminated\n",
                     b"{\"columns\": [\"age\", \"age\"], \"data\": [[1, 2]]}",
                     b"{\"inputs\": [{\"name\": \"age\", \"shape\": [-1], "
                     b"\"datatype\": \"FP64\", \"data\": [1]}]}"]),
)


@settings(max_examples=250, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(route=st.sampled_from(POSTS), body=raw_bodies, content_type=st.sampled_from(CONTENT_TYPES))
def _post_junk(client: httpx.Client, route: str, body: bytes, content_type: str) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = client.post(route, content=body, headers=headers)
    _refusal(response, f"POST {route} {content_type!r} {body[:300]!r}")


def test_junk_bodies_to_every_post_route_are_refused_as_json(server: str) -> None:
    with httpx.Client(base_url=f"http://{server}", timeout=5) as client:
        _post_junk(client)
        valid = client.post("/v1/endpoints/default/predict",
                            json={"instances": [{"age": 30.0, "region": "n"}]})
        assert valid.status_code == 200, valid.text


def test_oversized_and_deeply_nested_bodies_are_refused(server: str) -> None:
    with httpx.Client(base_url=f"http://{server}", timeout=60) as client:
        for route in [*POSTS, "/v1/endpoints/default/deployment"]:
            method = "PUT" if route.endswith("/deployment") else "POST"
            for body in (b"[" * 200_000 + b"]" * 200_000, b" " * (11 * 1024 * 1024),
                         b"{\"a\": " * 50_000 + b"1" + b"}" * 50_000):
                response = client.request(method, route, content=body,
                                          headers={"content-type": "application/json"})
                _refusal(response, f"{method} {route} {body[:40]!r}...")
                assert response.status_code >= 400
