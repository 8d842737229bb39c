"""The three wire protocols without HTTP: each body format gives the same frame, responses
have each protocol's shape, and binary tensors are read and written as tritonclient does."""

from __future__ import annotations

import gzip
import io
import json
import struct
from typing import Any

import numpy as np
import pandas as pd
import pytest

from gapless.core.errors import NotFoundError, RequestError
from gapless.core.schema import infer_signature
from gapless.data.sample_data import make_loans
from gapless.server.protocols.mlflow import format_mlflow, mlflow_error, parse_mlflow
from gapless.server.protocols.native import format_native, parse_native
from gapless.server.protocols.oip_v2 import (
    HEADER_LENGTH,
    format_infer,
    infer_error,
    infer_outputs,
    model_metadata,
    parse_infer,
)
from gapless.serving.validation import InputSpec, frame_from_records

LIMIT = 1_000_000


@pytest.fixture(scope="module")
def loans() -> pd.DataFrame:
    return make_loans(200)


@pytest.fixture(scope="module")
def spec(loans: pd.DataFrame) -> InputSpec:
    return InputSpec(infer_signature(loans.drop(columns=["defaulted"]), loans["defaulted"],
                                     problem="binary"))


@pytest.fixture(scope="module")
def rows(loans: pd.DataFrame) -> pd.DataFrame:
    """Four rows, one with a missing income and one with a missing housing."""
    head = loans.drop(columns=["defaulted"]).iloc[:4].reset_index(drop=True)
    head.loc[1, "income"] = np.nan
    head.loc[2, "housing"] = None
    return head


@pytest.fixture(scope="module")
def records(rows: pd.DataFrame) -> list[dict[str, Any]]:
    return json.loads(rows.to_json(orient="records", date_format="iso"))


@pytest.fixture(scope="module")
def want(records: list[dict[str, Any]], spec: InputSpec) -> pd.DataFrame:
    return frame_from_records(records, spec)


def dumps(payload: Any) -> bytes:
    return json.dumps(payload).encode()


def status_of(call: Any) -> RequestError:
    with pytest.raises(RequestError) as caught:
        call()
    return caught.value


# -- native ------------------------------------------------------------------------------
def test_native_instances_and_columns_give_the_same_frame(spec, records, want) -> None:
    names = list(records[0])
    by_rows = parse_native(dumps({"instances": records}), spec, max_bytes=LIMIT)
    by_columns = parse_native(dumps({"columns": names,
                                     "data": [[r[n] for n in names] for r in records]}),
                              spec, max_bytes=LIMIT)
    pd.testing.assert_frame_equal(by_rows.frame, want)
    pd.testing.assert_frame_equal(by_columns.frame, want)
    assert by_rows.keys is None


def test_native_keys_per_request_or_per_row(spec, records) -> None:
    one = parse_native(dumps({"instances": records, "key": "customer-42"}), spec,
                       max_bytes=LIMIT)
    assert one.keys == ("customer-42",) * 4
    each = parse_native(dumps({"instances": records, "keys": ["a", "b", 7, "d"]}), spec,
                        max_bytes=LIMIT)
    assert each.keys == ("a", "b", "7", "d")
    error = status_of(lambda: parse_native(dumps({"instances": records, "keys": ["a"]}), spec,
                                           max_bytes=LIMIT))
    assert error.status == 400 and "one key per row (4), got 1 keys" in str(error)
    error = status_of(lambda: parse_native(dumps({"instances": records, "key": "a",
                                                  "keys": list("abcd")}), spec, max_bytes=LIMIT))
    assert error.status == 400 and "not both" in str(error)


@pytest.mark.parametrize(("body", "status", "fragment"), [
    (b'{"instances": [{"age": 1,}]}', 400, "not valid JSON: Expecting property name enclosed "
                                           "in double quotes at line 1, column 26 (byte 25)"),
    (b'{"instances": "\xff"}', 400, "not UTF-8"),
    (b"", 400, "empty"),
    (b"[1, 2]", 400, "got an array"),
    (b'{"instance": []}', 400, "unknown field `instance`"),
    (b'{"columns": ["age"]}', 400, "`columns` was sent without `data`"),
    (b'{}', 400, "no rows"),
    (b'{"instances": [{"age": "old"}]}', 422, "missing required fields"),
    (b" " * (LIMIT + 1), 413, "over the limit of 1,000,000"),
])
def test_native_bad_bodies(spec, body, status, fragment) -> None:
    error = status_of(lambda: parse_native(body, spec, max_bytes=LIMIT))
    assert error.status == status and fragment in str(error)


def test_native_value_errors_name_field_and_row(spec, records) -> None:
    bad = [dict(r) for r in records]
    bad[2]["income"] = "abc"
    error = status_of(lambda: parse_native(dumps({"instances": bad}), spec, max_bytes=LIMIT))
    assert (error.status, error.field, error.row) == (422, "income", 2)
    assert "row 2, field `income`: expected a number, got 'abc'" in str(error)


def test_native_response(spec) -> None:
    body = format_native(["p1", "p2"], np.array([0, 1]), np.array([[0.75, 0.25], [0.1, 0.9]]),
                         "loans@3", "challenger", classes=spec.signature.output.classes)
    assert body == {"model": "loans@3", "variant": "challenger", "ids": ["p1", "p2"],
                    "predictions": [0, 1],
                    "probabilities": [{"0": 0.75, "1": 0.25}, {"0": 0.1, "1": 0.9}]}
    plain = format_native(["p1"], pd.Series(["yes"], dtype="str"), None, "m@1", None)
    assert plain == {"model": "m@1", "variant": None, "ids": ["p1"], "predictions": ["yes"]}
    assert json.loads(json.dumps([body, plain])) == [body, plain]


# -- MLflow ------------------------------------------------------------------------------
def mlflow_bodies(rows: pd.DataFrame, records: list[dict[str, Any]]) -> dict[str, bytes]:
    split = json.loads(rows.to_json(orient="split", date_format="iso"))
    columns = {n: [r[n] for r in records] for n in records[0]}
    parquet = io.BytesIO()
    rows.to_parquet(parquet)
    return {
        "dataframe_split": dumps({"dataframe_split": split}),
        "dataframe_records": dumps({"dataframe_records": records, "params": {"x": 1}}),
        "instances records": dumps({"instances": records}),
        "instances columns": dumps({"instances": columns}),
        "inputs columns": dumps({"inputs": columns}),
        "csv": rows.to_csv().encode(),
        "parquet": parquet.getvalue(),
    }


@pytest.mark.parametrize("kind", ["dataframe_split", "dataframe_records", "instances records",
                                  "instances columns", "inputs columns", "csv", "parquet"])
def test_mlflow_formats_give_the_same_frame(spec, rows, records, want, kind) -> None:
    content_type = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet"}.get(
        kind, "application/json; charset=utf-8")
    frame = parse_mlflow(mlflow_bodies(rows, records)[kind], content_type, spec,
                         max_bytes=LIMIT)
    pd.testing.assert_frame_equal(frame, want)


def test_mlflow_inputs_as_one_row(spec, records, want) -> None:
    frame = parse_mlflow(dumps({"inputs": records[0]}), "application/json", spec,
                         max_bytes=LIMIT)
    pd.testing.assert_frame_equal(frame, want.iloc[:1])


@pytest.mark.parametrize(("content_type", "fragment"), [
    ("application/json; format=pandas-split", "Unrecognized content type parameters: format"),
    ("application/json; charset=latin-1", "only supports UTF-8"),
    ("text/plain", "only supports the following content types"),
    (None, "Got ''"),
])
def test_mlflow_refuses_content_types_as_mlflow_does(spec, records, content_type,
                                                     fragment) -> None:
    error = status_of(lambda: parse_mlflow(dumps({"instances": records}), content_type, spec,
                                           max_bytes=LIMIT))
    status, body = mlflow_error(error)
    assert status == 415 and isinstance(body, str) and fragment in body


@pytest.mark.parametrize(("body", "fragment"), [
    (b'{"instances": [], "inputs": []}', "exactly one of the fields"),
    (b'{"data": []}', "exactly one of the fields"),
    (b"[{}]", "received a list"),
    (b'{"dataframe_split": {"data": [[1]], "rows": 1}}', "`data` field and optionally"),
    (b'{"dataframe_records": {"age": 1}}', "must be a list of records"),
    (b'{"inputs": [[1, 2]]}', "rows as plain arrays carry no field names"),
    (b"{not json", "not valid JSON"),
])
def test_mlflow_malformed_bodies_are_bad_request(spec, body, fragment) -> None:
    error = status_of(lambda: parse_mlflow(body, "application/json", spec, max_bytes=LIMIT))
    status, payload = mlflow_error(error)
    assert status == 400 and payload["error_code"] == "BAD_REQUEST"
    assert fragment in payload["message"]


def test_mlflow_signature_errors_are_invalid_parameter_value(spec, records) -> None:
    bad = [dict(r) for r in records]
    bad[1]["age"] = "old"
    error = status_of(lambda: parse_mlflow(dumps({"dataframe_records": bad}),
                                           "application/json", spec, max_bytes=LIMIT))
    assert error.status == 422
    status, payload = mlflow_error(error)
    assert status == 400 and payload == {
        "error_code": "INVALID_PARAMETER_VALUE", "error_class": "SCHEMA_ENFORCEMENT_FAILED",
        "message": str(error)}
    assert "row 1, field `age`" in payload["message"]


def test_mlflow_csv_errors_name_the_row(spec, rows) -> None:
    text = rows.to_csv(index=False).replace("36,", "thirty-six,", 1)
    error = status_of(lambda: parse_mlflow(text.encode(), "text/csv", spec, max_bytes=LIMIT))
    assert error.status == 422 and error.row == 0 and error.field == "term_months"


def test_mlflow_other_errors() -> None:
    assert mlflow_error(NotFoundError("no default endpoint"), status=404) == (
        404, {"error_code": "ENDPOINT_NOT_FOUND", "message": "no default endpoint"})
    status, payload = mlflow_error(ValueError("Input X contains NaN"))
    assert status == 400 and payload["error_code"] == "BAD_REQUEST"
    assert "NaN" not in payload["message"]
    assert mlflow_error(RequestError("big", status=413))[0] == 413


def test_mlflow_response_shapes() -> None:
    assert format_mlflow(np.array([0, 1])) == {"predictions": [0, 1]}
    assert format_mlflow(pd.Series([0.5], name="score")) == {"predictions": [{"score": 0.5}]}
    assert format_mlflow(pd.DataFrame({"a": [1], "b": ["x"]})) == {
        "predictions": [{"a": 1, "b": "x"}]}


# -- Open Inference Protocol v2 ----------------------------------------------------------
def column_arrays(rows: pd.DataFrame, spec: InputSpec) -> dict[str, tuple[str, np.ndarray]]:
    """Each column as a client would hold it: (datatype, array of shape [n, 1])."""
    out = {}
    for column in spec.signature.inputs:
        values = rows[column.name]
        if column.type in ("string", "datetime"):
            text = [None if pd.isna(v) else (v.isoformat() if column.type == "datetime" else v)
                    for v in values]
            out[column.name] = ("BYTES", np.array(text, dtype=object).reshape(-1, 1))
        elif column.type == "boolean":
            out[column.name] = ("BOOL", values.to_numpy().reshape(-1, 1))
        elif column.type == "integer":
            out[column.name] = ("INT32", values.to_numpy(np.int32).reshape(-1, 1))
        else:
            out[column.name] = ("FP64", values.to_numpy(np.float64).reshape(-1, 1))
    return out


def serialize_bytes(array: np.ndarray) -> bytes:
    """tritonclient.utils.serialize_byte_tensor: 4-byte little-endian length, then bytes."""
    parts = []
    for value in array.reshape(-1):
        data = value if isinstance(value, bytes) else str(value).encode("utf-8")
        parts.append(struct.pack("<I", len(data)) + data)
    return b"".join(parts)


def triton_request(arrays: dict[str, tuple[str, np.ndarray]], *, request_id: str = "",
                   outputs: list[dict[str, Any]] | None = None) -> tuple[bytes, dict[str, str]]:
    """The body and headers tritonclient.http.InferenceServerClient.infer sends for inputs
    set with set_data_from_numpy(binary_data=True) (tritonclient/http/_utils.py); text
    with missing values goes as JSON data."""
    request: dict[str, Any] = {}
    if request_id:
        request["id"] = request_id
    raws, tensors = [], []
    for name, (datatype, array) in arrays.items():
        tensor = {"name": name, "shape": list(array.shape), "datatype": datatype}
        if datatype == "BYTES" and any(v is None for v in array.reshape(-1)):
            # Binary BYTES have no null (tritonclient sends None as 'None'): a client with
            # missing text sends that input as JSON, next to the binary ones.
            tensor["data"] = array.reshape(-1).tolist()
        else:
            raw = serialize_bytes(array) if datatype == "BYTES" else array.tobytes()
            raws.append(raw)
            tensor["parameters"] = {"binary_data_size": len(raw)}
        tensors.append(tensor)
    request["inputs"] = tensors
    if outputs:
        request["outputs"] = outputs
    else:
        request["parameters"] = {"binary_data_output": True}
    header = json.dumps(request).encode()
    return header + b"".join(raws), {HEADER_LENGTH: str(len(header))}


def triton_result(body: bytes, headers: dict[str, str]) -> tuple[dict[str, Any],
                                                                 dict[str, np.ndarray]]:
    """What tritonclient.http.InferResult reads from a response: the JSON and each output
    as numpy (tritonclient/http/_infer_result.py)."""
    length = int(headers.get(HEADER_LENGTH, len(body)))
    result, buffer, offset = json.loads(body[:length]), body[length:], 0
    arrays = {}
    for output in result["outputs"]:
        size = (output.get("parameters") or {}).get("binary_data_size")
        if size is None:
            arrays[output["name"]] = np.array(output["data"]).reshape(output["shape"])
            continue
        raw = buffer[offset:offset + size]
        offset += size
        if output["datatype"] == "BYTES":
            values, position = [], 0
            while position < len(raw):
                (n,) = struct.unpack_from("<I", raw, position)
                values.append(raw[position + 4:position + 4 + n])
                position += 4 + n
            array = np.array(values, dtype=object)
        else:
            dtype = {"INT64": "<i8", "FP64": "<f8", "BOOL": "|b1", "FP32": "<f4"}
            array = np.frombuffer(raw, dtype=dtype[output["datatype"]])
        arrays[output["name"]] = array.reshape(output["shape"])
    return result, arrays


def test_oip_json_request_gives_the_same_frame(spec, rows, want) -> None:
    inputs = []
    for i, (name, (datatype, array)) in enumerate(column_arrays(rows, spec).items()):
        nested = i % 2 == 0  # half sent [n] flat, half [n, 1] nested
        data = array.tolist() if nested else array.reshape(-1).tolist()
        inputs.append({"name": name, "datatype": datatype, "data": data,
                       "shape": list(array.shape) if nested else [len(array)]})
    body = dumps({"id": "r-1", "parameters": {"content_type": "pd"}, "inputs": inputs,
                  "outputs": [{"name": "probabilities"}]})
    request = parse_infer(body, {}, spec, max_bytes=LIMIT)
    pd.testing.assert_frame_equal(request.frame, want)
    assert (request.id, request.outputs_requested, request.binary_outputs) == (
        "r-1", ("probabilities",), frozenset())
    assert request.parameters == {"content_type": "pd"}


def test_oip_binary_request_as_tritonclient_sends_it(spec, rows, want) -> None:
    body, headers = triton_request(column_arrays(rows, spec), request_id="abc")
    request = parse_infer(body, headers, spec, max_bytes=LIMIT)
    pd.testing.assert_frame_equal(request.frame, want)
    assert request.id == "abc" and request.outputs_requested is None
    assert request.binary_outputs is True
    gzipped = parse_infer(gzip.compress(body), {**headers, "Content-Encoding": "gzip"}, spec,
                          max_bytes=LIMIT)
    pd.testing.assert_frame_equal(gzipped.frame, want)


def test_oip_binary_outputs_per_output(spec, rows) -> None:
    outputs = [{"name": "prediction", "parameters": {"binary_data": True}},
               {"name": "probabilities", "parameters": {"binary_data": False}}]
    body, headers = triton_request(column_arrays(rows, spec), outputs=outputs)
    request = parse_infer(body, {k.lower(): v for k, v in headers.items()}, spec,
                          max_bytes=LIMIT)
    assert request.binary_outputs == frozenset({"prediction"})
    assert request.outputs_requested == ("prediction", "probabilities")


def test_oip_binary_response_round_trip(spec) -> None:
    probabilities = np.array([[0.8, 0.2], [0.3, 0.7], [0.5, 0.5]])
    outputs = infer_outputs(spec, np.array([0, 1, 0]), probabilities, None)
    outputs["label"] = np.array(["no", "yes", "héllo"], dtype=object)
    body, headers = format_infer("loans", "3", "abc", outputs, True)
    assert headers["Content-Type"] == "application/octet-stream"
    result, arrays = triton_result(body, headers)
    assert result["id"] == "abc" and result["model_name"] == "loans"
    assert result["model_version"] == "3"
    assert [o["datatype"] for o in result["outputs"]] == ["INT64", "FP64", "BYTES"]
    assert arrays["prediction"].tolist() == [0, 1, 0]
    np.testing.assert_array_equal(arrays["probabilities"], probabilities)
    assert arrays["label"].tolist() == [b"no", b"yes", "héllo".encode()]


def test_oip_json_response(spec) -> None:
    outputs = infer_outputs(spec, np.array([1, 0]), np.array([[0.1, 0.9], [0.6, 0.4]]),
                            ["prediction"])
    body, headers = format_infer("loans", None, None, outputs)
    assert headers == {"Content-Type": "application/json"}
    assert json.loads(body) == {"model_name": "loans", "outputs": [
        {"name": "prediction", "datatype": "INT64", "shape": [2], "data": [1, 0]}]}
    mixed, headers = format_infer("m", "1", "x", {"a": np.array([True]),
                                                  "b": np.array(["t"])}, ["b"])
    result, arrays = triton_result(mixed, headers)
    assert result["outputs"][0] == {"name": "a", "datatype": "BOOL", "shape": [1],
                                    "data": [True]}
    assert arrays["b"].tolist() == [b"t"]
    error = status_of(lambda: infer_outputs(spec, [1], None, ["probabilities"]))
    assert error.status == 400 and "not available" in str(error)


def test_oip_bytes_encoding_of_text_inputs(spec, rows, want) -> None:
    arrays = column_arrays(rows, spec)
    arrays["region"] = ("BYTES", np.array([b"north", "south", b"east", b"west"],
                                          dtype=object))
    body, headers = triton_request(arrays)
    frame = parse_infer(body, headers, spec, max_bytes=LIMIT).frame
    assert frame["region"].tolist() == ["north", "south", "east", "west"]
    arrays["region"] = ("BYTES", np.array([b"\xff", b"a", b"b", b"c"], dtype=object))
    body, headers = triton_request(arrays)
    error = status_of(lambda: parse_infer(body, headers, spec, max_bytes=LIMIT))
    assert (error.status, error.field, error.row) == (400, "region", 0)


def binary_with(spec: InputSpec, rows: pd.DataFrame, change: Any) -> tuple[bytes, dict]:
    body, headers = triton_request(column_arrays(rows, spec))
    return change(body, headers)


def _with_header(body: bytes, headers: dict, update: Any) -> tuple[bytes, dict]:
    length = int(headers[HEADER_LENGTH])
    request = json.loads(body[:length])
    update(request)
    header = json.dumps(request).encode()
    return header + body[length:], {HEADER_LENGTH: str(len(header))}


def _set(path: str, value: Any) -> Any:
    def update(request: dict[str, Any]) -> None:
        tensor = next(t for t in request["inputs"] if t["name"] == "age")
        if path == "shape":
            tensor["shape"] = value
        elif path == "datatype":
            tensor["datatype"] = value
        elif path == "size":
            tensor["parameters"]["binary_data_size"] = value
        elif path == "outputs":
            request["outputs"] = value
        elif path == "shm":
            tensor["parameters"]["shared_memory_region"] = value
    return lambda body, headers: _with_header(body, headers, update)


@pytest.mark.parametrize(("change", "status", "fragment"), [
    (lambda body, headers: (body, {HEADER_LENGTH: "zero"}), 400, "must give the length"),
    (lambda body, headers: (body + b"\x00", headers), 400, "1 bytes of binary data follow"),
    (lambda body, headers: (body[:-3], headers), 400, "does not fit"),
    (_set("shape", [4, 2]), 400, "tabular inputs are one tensor per column"),
    (_set("datatype", "BF16"), 400, "datatype 'BF16' is not supported"),
    (_set("size", 12), 400, "INT32 with 4 values takes 16 bytes"),
    (_set("outputs", [{"name": "logits"}]), 400, "unknown output `logits`"),
    (_set("outputs", [{"name": "prediction", "parameters": {"classification": 2}}]), 400,
     "classification extension"),
    (_set("shm", "region0"), 400, "shared memory is not supported"),
    (lambda body, headers: (body, {**headers, "content-encoding": "br"}), 415, "'br'"),
    (lambda body, headers: (body + b" " * LIMIT, headers), 413, "over the limit"),
])
def test_oip_malformed_requests(spec, rows, change, status, fragment) -> None:
    body, headers = binary_with(spec, rows, change)
    error = status_of(lambda: parse_infer(body, headers, spec, max_bytes=LIMIT))
    assert error.status == status and fragment in str(error), str(error)
    assert infer_error(error) == (status, {"error": str(error)})


def test_oip_value_errors_name_field_and_row(spec, rows) -> None:
    arrays = column_arrays(rows, spec)
    arrays["age"] = ("FP32", np.array([[30.0], [31.5], [32.0], [33.0]], dtype=np.float32))
    body, headers = triton_request(arrays)
    error = status_of(lambda: parse_infer(body, headers, spec, max_bytes=LIMIT))
    assert (error.status, error.field, error.row) == (422, "age", 1)
    assert "expected an integer, got 31.5" in str(error)


def test_oip_model_metadata(spec) -> None:
    meta = model_metadata("loans", [1, 2], spec.signature)
    assert meta["name"] == "loans" and meta["versions"] == ["1", "2"]
    assert meta["platform"] == "gapless-sklearn"
    inputs = {i["name"]: i for i in meta["inputs"]}
    assert inputs["age"] == {"name": "age", "datatype": "INT64", "shape": [-1, 1]}
    assert inputs["region"]["datatype"] == "BYTES" and inputs["has_guarantor"]["datatype"] == (
        "BOOL")
    assert [i["name"] for i in meta["inputs"]] == spec.names
    assert meta["outputs"] == [{"name": "prediction", "datatype": "INT64", "shape": [-1]},
                               {"name": "probabilities", "datatype": "FP64", "shape": [-1, 2]}]
    assert infer_error(RuntimeError("boom"))[0] == 500
    assert "boom" not in infer_error(RuntimeError("boom"))[1]["error"]
