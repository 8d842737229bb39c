"""The Open Inference Protocol v2 (KServe, Triton, MLServer), REST: ``POST
/v2/models/{m}/infer`` and the model metadata. Pure functions; no HTTP framework.

Tabular requests follow MLServer's ``pd`` convention: one input per column, named as the
signature names it, shape ``[n]`` or ``[n, 1]``::

    {"id": "r-1", "parameters": {"content_type": "pd"},
     "inputs": [{"name": "age", "shape": [2], "datatype": "INT64", "data": [31, 45]},
                {"name": "region", "shape": [2, 1], "datatype": "BYTES",
                 "data": [["north"], ["east"]]}],
     "outputs": [{"name": "prediction"}]}

Datatypes: ``BOOL``, ``INT8``..``INT64``, ``UINT8``..``UINT64``, ``FP16``/``FP32``/``FP64``
and ``BYTES`` (UTF-8 text: strings, and ISO 8601 for datetime columns). Values are checked
against the signature as for every protocol (:mod:`gapless.serving.validation`); the
declared datatype only decodes binary data.

Binary tensor extension (what ``tritonclient.http`` sends by default): with the header
``Inference-Header-Content-Length: N`` the first N bytes are the JSON and the rest is raw
tensor data, taken in input order by inputs whose ``parameters.binary_data_size`` gives
their byte count (little-endian, row-major; BOOL one byte; BYTES each element a 4-byte
little-endian length then its bytes). Outputs come back binary when asked for —
``parameters: {"binary_data": true}`` on a requested output, or ``binary_data_output`` in
the request's parameters, which an output's own ``binary_data`` overrides.
``Content-Encoding: gzip`` or ``deflate`` bodies are inflated (within the size limit).

Outputs: ``prediction`` (or the signature's output name), one value per row, and, for
classifiers, ``probabilities``, shape ``[n, classes]`` in the signature's class order.
Errors are ``{"error": message}`` (:func:`infer_error`). Shared memory and the
classification extension are refused with 400.
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gapless.core.errors import GaplessError, RequestError
from gapless.server.protocols.native import load_json
from gapless.serving.validation import InputSpec, frame_from_mapping, input_spec

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from gapless.core.schema import Signature

PLATFORM = "gapless-sklearn"
PROBABILITIES = "probabilities"
HEADER_LENGTH = "Inference-Header-Content-Length"
# Wire datatype -> numpy dtype of its binary form (BYTES has none: length-prefixed text).
DATATYPES: dict[str, str | None] = {
    "BOOL": "|b1", "INT8": "<i1", "INT16": "<i2", "INT32": "<i4", "INT64": "<i8",
    "UINT8": "<u1", "UINT16": "<u2", "UINT32": "<u4", "UINT64": "<u8",
    "FP16": "<f2", "FP32": "<f4", "FP64": "<f8", "BYTES": None,
}
# Signature column type -> the datatype metadata advertises for it.
COLUMN_DATATYPES = {"integer": "INT64", "float": "FP64", "boolean": "BOOL", "string": "BYTES",
                    "datetime": "BYTES"}


@dataclass(frozen=True)
class InferRequest:
    """A parsed inference request.

    ``outputs_requested`` is None when the client asked for every output.
    ``binary_outputs`` is True (every output binary), False (none), or the names of the
    outputs to send binary; hand it to :func:`format_infer` as ``binary``.
    ``parameters`` are the request's own parameters, for the caller to read.
    """

    frame: pd.DataFrame
    id: str | None
    outputs_requested: tuple[str, ...] | None
    binary_outputs: bool | frozenset[str]
    parameters: Mapping[str, Any] = field(default_factory=dict)


def parse_infer(body: bytes, headers: Mapping[str, str], signature: Signature | InputSpec, *,
                max_bytes: int, unknown_categories: str = "reject") -> InferRequest:
    """An inference request (JSON, or JSON plus binary tensors) as a frame and options.

    ``headers`` may be any mapping; names are matched case-insensitively. Raises
    :class:`RequestError`: 413 over ``max_bytes`` (also after inflating), 415 for an
    unknown ``Content-Encoding``, 400 for a malformed request (naming the input), 422
    for values against the signature (naming the field and the 0-based row).
    """
    spec = input_spec(signature)
    if len(body) > max_bytes:
        raise RequestError(f"the request body is {len(body):,} bytes, over the limit of "
                           f"{max_bytes:,}; send fewer rows per request", status=413)
    wanted = {"inference-header-content-length", "content-encoding"}
    found = {k.lower(): v for k, v in headers.items() if k.lower() in wanted}
    body = _inflate(body, found.get("content-encoding"), max_bytes)
    json_part, tensors = _split(body, found.get("inference-header-content-length"))
    payload = load_json(json_part, max_bytes=max_bytes)
    if not isinstance(payload, dict) or not isinstance(payload.get("inputs"), list):
        raise RequestError("expected a JSON object with `inputs`, a list of tensors "
                           "(one per column)", status=400, field="inputs")
    request_id = payload.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise RequestError(f"`id` must be a string, got {json.dumps(request_id)}",
                           status=400, field="id")
    parameters = _parameters(payload, "the request")
    requested, binary = _outputs(payload, parameters, spec.signature)
    columns = _inputs(payload["inputs"], tensors)
    frame = frame_from_mapping(columns, spec, unknown_categories=unknown_categories)
    return InferRequest(frame, request_id, requested, binary, parameters)


def infer_outputs(signature: Signature | InputSpec, predictions: Any,
                  probabilities: Any | None,
                  requested: Sequence[str] | None) -> dict[str, np.ndarray]:
    """The output tensors for a request: the model's predictions under the signature's
    output name and, when given, ``probabilities`` (rows x classes); only those
    ``requested`` (all when None), in the requested order."""
    import numpy as np

    available = {_signature(signature).output.name: np.asarray(predictions)}
    if probabilities is not None:
        available[PROBABILITIES] = np.asarray(probabilities, dtype=np.float64)
    if requested is None:
        return available
    missing = [name for name in requested if name not in available]
    if missing:
        raise RequestError(f"output `{missing[0]}` is not available for this model; it has "
                           f"{', '.join(available)}", status=400, field=missing[0])
    return {name: available[name] for name in requested}


def format_infer(model_name: str, model_version: str | None, request_id: str | None,
                 outputs: Mapping[str, Any], binary: bool | Collection[str] = False
                 ) -> tuple[bytes, dict[str, str]]:
    """The response body and the headers to send with it.

    ``outputs`` maps output names to arrays (any shape; row-major on the wire).
    ``binary`` is True for every output binary, a collection of the names to send binary
    (``InferRequest.binary_outputs``), or False. With any binary output the body is the
    JSON header followed by the raw tensors, and the headers carry
    ``Inference-Header-Content-Length``; the id is echoed when the request had one.
    """
    import numpy as np

    response: dict[str, Any] = {"model_name": model_name}
    if model_version is not None:
        response["model_version"] = str(model_version)
    if request_id is not None:
        response["id"] = request_id
    tensors, chunks = [], []
    for name, values in outputs.items():
        array = np.asarray(values)
        datatype, array = _wire_datatype(array)
        tensor: dict[str, Any] = {"name": name, "datatype": datatype,
                                  "shape": list(array.shape)}
        if binary is True or (binary is not False and name in binary):
            raw = _to_bytes(array, datatype)
            tensor["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        else:
            flat = array.reshape(-1)
            tensor["data"] = ([_text(v) for v in flat.tolist()] if datatype == "BYTES"
                              else flat.tolist())
        tensors.append(tensor)
    response["outputs"] = tensors
    header = json.dumps(response, separators=(",", ":")).encode()
    if not chunks:
        return header, {"Content-Type": "application/json"}
    return b"".join([header, *chunks]), {"Content-Type": "application/octet-stream",
                                         HEADER_LENGTH: str(len(header))}


def model_metadata(name: str, versions: Sequence[Any],
                   signature: Signature | InputSpec) -> dict[str, Any]:
    """``GET /v2/models/{name}``: the model's inputs (one ``[-1, 1]`` tensor per column)
    and outputs (predictions ``[-1]``; probabilities ``[-1, classes]`` for classifiers)."""
    sig = _signature(signature)
    output = sig.output
    kind = {"integer": "INT64", "float": "FP64", "boolean": "BOOL"}.get(output.type, "BYTES")
    outputs = [{"name": output.name, "datatype": kind, "shape": [-1]}]
    if output.problem in ("binary", "multiclass") and output.classes:
        outputs.append({"name": PROBABILITIES, "datatype": "FP64",
                        "shape": [-1, len(output.classes)]})
    return {"name": name, "versions": [str(v) for v in versions], "platform": PLATFORM,
            "inputs": [{"name": c.name, "datatype": COLUMN_DATATYPES[c.type], "shape": [-1, 1]}
                       for c in sig.inputs],
            "outputs": outputs}


def infer_error(exc: BaseException, *, status: int | None = None
                ) -> tuple[int, dict[str, str]]:
    """The status and ``{"error": message}`` body the protocol answers ``exc`` with:
    a :class:`RequestError` its own status, another gapless error ``status`` (the server's
    error table) or 500, anything else 500 with a fixed message (log the original)."""
    if isinstance(exc, RequestError):
        return exc.status, {"error": str(exc)}
    if isinstance(exc, GaplessError):
        return status or 500, {"error": str(exc)}
    return 500, {"error": "the model failed to predict on this request; the server log "
                          "has the details"}


def _signature(signature: Signature | InputSpec) -> Signature:
    return signature.signature if isinstance(signature, InputSpec) else signature


# -- request parts -----------------------------------------------------------------------
def _inflate(body: bytes, encoding: str | None, max_bytes: int) -> bytes:
    encoding = (encoding or "identity").strip().lower()
    if encoding == "identity":
        return body
    if encoding not in ("gzip", "deflate"):
        raise RequestError(f"Content-Encoding {encoding!r} is not supported; send gzip, "
                           "deflate or an uncompressed body", status=415)
    inflater = zlib.decompressobj(wbits=31 if encoding == "gzip" else 15)
    try:
        out = inflater.decompress(body, max_bytes + 1)
    except zlib.error as exc:
        raise RequestError(f"the body is not valid {encoding} data: {exc}",
                           status=400) from None
    if len(out) > max_bytes or inflater.unconsumed_tail:
        raise RequestError(f"the inflated request body is over the limit of {max_bytes:,} "
                           "bytes; send fewer rows per request", status=413)
    return out


def _split(body: bytes, header_length: str | None) -> tuple[bytes, memoryview]:
    if header_length is None:
        return body, memoryview(b"")
    try:
        length = int(header_length)
    except ValueError:
        length = -1
    if not 0 < length <= len(body):
        raise RequestError(f"{HEADER_LENGTH} is {header_length!r}, but the body has "
                           f"{len(body)} bytes; it must give the length of the JSON part",
                           status=400)
    return body[:length], memoryview(body)[length:]


def _parameters(owner: Mapping[str, Any], where: str) -> dict[str, Any]:
    parameters = owner.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise RequestError(f"`parameters` of {where} must be an object", status=400)
    return parameters


def _outputs(payload: Mapping[str, Any], parameters: Mapping[str, Any], signature: Signature
             ) -> tuple[tuple[str, ...] | None, bool | frozenset[str]]:
    default = parameters.get("binary_data_output", False) is True
    outputs = payload.get("outputs")
    if outputs is None:
        return None, default
    available = [signature.output.name]
    if signature.output.problem in ("binary", "multiclass"):
        available.append(PROBABILITIES)
    if not isinstance(outputs, list) or not all(
            isinstance(o, dict) and isinstance(o.get("name"), str) for o in outputs):
        raise RequestError("`outputs` must be a list of objects with a `name`", status=400,
                           field="outputs")
    names, binary = [], set()
    for output in outputs:
        name = output["name"]
        if name not in available:
            raise RequestError(f"unknown output `{name}`; this model has "
                               f"{', '.join(available)}", status=400, field=name)
        options = _parameters(output, f"output `{name}`")
        if "classification" in options:
            raise RequestError(f"output `{name}`: the classification extension is not "
                               f"supported; request `{PROBABILITIES}`", status=400, field=name)
        if options.get("binary_data", default) is True:
            binary.add(name)
        names.append(name)
    return tuple(names), frozenset(binary)


def _inputs(inputs: list[Any], tensors: memoryview) -> dict[str, Any]:
    columns: dict[str, Any] = {}
    offset = 0
    for position, tensor in enumerate(inputs):
        if not isinstance(tensor, dict) or not isinstance(tensor.get("name"), str):
            raise RequestError(f"input {position} must be an object with a `name`, `shape`, "
                               "`datatype` and `data`", status=400, field="inputs")
        name = tensor["name"]
        if name in columns:
            raise RequestError(f"input `{name}` is sent twice; send each column once",
                               status=400, field=name)
        datatype, count = _declared(tensor, name)
        options = _parameters(tensor, f"input `{name}`")
        if "shared_memory_region" in options:
            raise RequestError(f"input `{name}`: shared memory is not supported; send the "
                               "data in the body", status=400, field=name)
        if "binary_data_size" in options:
            size = options["binary_data_size"]
            if not isinstance(size, int) or isinstance(size, bool) or size < 0 or (
                    offset + size > len(tensors)):
                raise RequestError(f"input `{name}`: binary_data_size {size!r} does not fit "
                                   f"the {len(tensors) - offset} binary bytes left",
                                   status=400, field=name)
            raw = tensors[offset:offset + size]
            offset += size
            values = _from_bytes(raw, datatype, count, name)
        else:
            values = _from_json(tensor.get("data"), count, name)
        columns[name] = values
    if offset != len(tensors):
        raise RequestError(f"{len(tensors) - offset} bytes of binary data follow the inputs' "
                           "binary_data_size; the sizes must add up to the binary part",
                           status=400)
    return columns


def _declared(tensor: Mapping[str, Any], name: str) -> tuple[str, int]:
    datatype, shape = tensor.get("datatype"), tensor.get("shape")
    if datatype not in DATATYPES:
        raise RequestError(f"input `{name}`: datatype {datatype!r} is not supported; use one "
                           f"of {', '.join(DATATYPES)}", status=400, field=name)
    if not isinstance(shape, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise RequestError(f"input `{name}`: shape must be a list of non-negative integers, "
                           f"got {json.dumps(shape)}", status=400, field=name)
    if len(shape) not in (1, 2) or (len(shape) == 2 and shape[1] != 1):
        raise RequestError(f"input `{name}`: shape {shape} is not a column; tabular inputs "
                           "are one tensor per column, shape [n] or [n, 1]", status=400,
                           field=name)
    return datatype, math.prod(shape)


def _from_json(data: Any, count: int, name: str) -> list[Any]:
    if not isinstance(data, list):
        raise RequestError(f"input `{name}`: `data` must be a list (or binary data must be "
                           "sent with parameters.binary_data_size)", status=400, field=name)
    if data and all(isinstance(row, list) for row in data):
        data = [value for row in data for value in row]  # [n, 1] sent nested
    if len(data) != count:
        raise RequestError(f"input `{name}`: the shape holds {count} values but `data` has "
                           f"{len(data)}", status=400, field=name)
    return data


def _from_bytes(raw: memoryview, datatype: str, count: int, name: str) -> Any:
    import numpy as np

    dtype = DATATYPES[datatype]
    if dtype is None:
        return _strings(raw, count, name)
    width = np.dtype(dtype).itemsize
    if len(raw) != count * width:
        raise RequestError(f"input `{name}`: {datatype} with {count} values takes "
                           f"{count * width} bytes, but binary_data_size is {len(raw)}",
                           status=400, field=name)
    return np.frombuffer(raw, dtype=dtype)


def _strings(raw: memoryview, count: int, name: str) -> list[str]:
    out, position, end = [], 0, len(raw)
    for element in range(count):
        if position + 4 > end:
            raise RequestError(f"input `{name}`: BYTES data ends before element {element} of "
                               f"{count}", status=400, field=name, row=element)
        (length,) = struct.unpack_from("<I", raw, position)
        start, position = position + 4, position + 4 + length
        if position > end:
            raise RequestError(f"input `{name}`: element {element} says {length} bytes but "
                               "the data ends first", status=400, field=name, row=element)
        try:
            out.append(str(raw[start:position], "utf-8"))
        except UnicodeDecodeError:
            raise RequestError(f"input `{name}`, element {element}: not UTF-8 text",
                               status=400, field=name, row=element) from None
    if position != end:
        raise RequestError(f"input `{name}`: {end - position} bytes left after {count} BYTES "
                           "elements; binary_data_size and shape disagree", status=400,
                           field=name)
    return out


# -- response parts ----------------------------------------------------------------------
def _wire_datatype(array: np.ndarray) -> tuple[str, np.ndarray]:
    import numpy as np

    kind, size = array.dtype.kind, array.dtype.itemsize
    if kind == "O" and array.size and not all(isinstance(v, str | bytes)
                                              for v in array.reshape(-1).tolist()):
        array = np.asarray(array.tolist())  # numbers that came out as objects
        kind, size = array.dtype.kind, array.dtype.itemsize
    if kind == "b":
        return "BOOL", array
    if kind in "iu":
        return f"{'INT' if kind == 'i' else 'UINT'}{size * 8}", array
    if kind == "f":
        if size not in (2, 4, 8):
            return "FP64", array.astype(np.float64)
        return f"FP{size * 8}", array
    return "BYTES", array


def _to_bytes(array: np.ndarray, datatype: str) -> bytes:
    import numpy as np

    if datatype != "BYTES":
        return np.ascontiguousarray(array, dtype=DATATYPES[datatype]).tobytes()
    parts = []
    for value in array.reshape(-1).tolist():
        data = value if isinstance(value, bytes) else str(value).encode()
        parts.append(struct.pack("<I", len(data)))
        parts.append(data)
    return b"".join(parts)


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


__all__ = [
    "COLUMN_DATATYPES",
    "DATATYPES",
    "HEADER_LENGTH",
    "InferRequest",
    "PLATFORM",
    "PROBABILITIES",
    "format_infer",
    "infer_error",
    "infer_outputs",
    "model_metadata",
    "parse_infer",
]
