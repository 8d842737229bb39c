"""CSV: streamed by PyArrow, with delimiter and encoding detection and line-accurate errors.

PyArrow's errors say *what* is wrong ("Expected 3 columns, got 2", "conversion error
to int64: invalid value 'x'") but not *where*. On such an error we re-read the file
with Python's csv module only up to the offending record to name its line.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Mapping
from typing import Any

from gapless.core.config import redact_uri
from gapless.core.errors import ValidationError
from gapless.data.sources.base import OpenedSource, arrow_types, check_encoding, open_binary

SAMPLE_BYTES = 1 << 18
BLOCK_SIZE = 8 << 20
DELIMITERS = ",;\t|"
NULL_VALUES = ["", "NA", "N/A", "NaN", "nan", "null", "NULL", "None", "#N/A", "-nan"]


def detect_encoding(sample: bytes) -> str:
    """UTF-8 (with or without BOM) or UTF-16 by BOM; else Windows-1252, the usual encoding of
    non-UTF-8 spreadsheets, when it decodes; else charset-normalizer's best guess.

    Statistical detectors misjudge short Western European samples (they call
    "Málaga" cp775 Polish), so they are only the last resort; give ``encoding=`` to
    read other single-byte encodings such as cp1250.
    """
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if exc.start >= len(sample) - 4:  # a multi-byte character cut by the sample's end
            return "utf-8"
    try:
        sample.decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(sample).best()
    return best.encoding if best is not None else "latin-1"


def detect_delimiter(text: str) -> str:
    lines = [line for line in text.splitlines()[:50] if line.strip()]
    if not lines:
        return ","
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=DELIMITERS).delimiter
    except csv.Error:
        counts = {d: lines[0].count(d) for d in DELIMITERS}
        best = max(counts, key=counts.__getitem__)
        return best if counts[best] else ","


def open_csv(
    path: str,
    *,
    storage_options: Mapping[str, Any],
    delimiter: str | None = None,
    encoding: str | None = None,
    column_types: Mapping[str, str] | None = None,
    null_values: list[str] | None = None,
    newlines_in_values: bool = False,
) -> OpenedSource:
    """Open a CSV file (local or fsspec URI, optionally compressed) as record batches."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    shown = redact_uri(path)
    with open_binary(path, storage_options) as handle:
        sample = handle.read(SAMPLE_BYTES)
    if not sample.strip():
        raise ValidationError(f"file {shown} is empty; there is nothing to ingest")
    encoding = check_encoding(encoding) if encoding else detect_encoding(sample)
    text = sample.decode(encoding, errors="replace")
    delimiter = delimiter or detect_delimiter(text)
    if len(delimiter) != 1:
        raise ValidationError(f"delimiter must be one character, got {delimiter!r}")
    pyarrow_encoding = "utf8" if encoding in ("utf-8", "utf_8") else encoding
    handle = open_binary(path, storage_options)
    locate = _Locator(path, storage_options, encoding, delimiter)
    try:
        reader = pacsv.open_csv(
            handle,
            read_options=pacsv.ReadOptions(encoding=pyarrow_encoding, block_size=BLOCK_SIZE),
            parse_options=pacsv.ParseOptions(delimiter=delimiter,
                                             newlines_in_values=newlines_in_values),
            convert_options=pacsv.ConvertOptions(
                column_types=arrow_types(column_types),
                null_values=null_values if null_values is not None else NULL_VALUES,
                strings_can_be_null=True,
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        handle.close()
        raise locate.explain(exc) from exc
    return OpenedSource(reader=reader, uri=shown, explain_error=locate.explain,
                        close=handle.close)


class _Locator:
    """Finds the line behind a PyArrow CSV error by re-reading the file with Python."""

    def __init__(self, path: str, storage_options: Mapping[str, Any], encoding: str,
                 delimiter: str) -> None:
        self.path = path
        self.shown = redact_uri(path)
        self.storage_options = storage_options
        self.encoding = encoding
        self.delimiter = delimiter

    def explain(self, exc: Exception) -> Exception:
        message = str(exc)
        fields = re.search(r"Expected (\d+) columns, got (\d+)", message)
        conversion = re.search(
            r"column #(\d+): CSV conversion error to (\S+): invalid value '(.*)'", message
        )
        if fields:
            expected = int(fields.group(1))
            line, row = self._find(lambda _n, record: len(record) != expected)
            where = f", line {line}" if line else ""
            got = f"{len(row)} fields: {self.delimiter.join(row)[:80]!r}" if row else "fewer"
            return ValidationError(
                f"file {self.shown}{where}: expected {expected} fields like the header, got "
                f"{got}; fix or remove the line (a stray delimiter or an unquoted value?)"
            )
        if conversion:
            index, arrow_type, value = (int(conversion.group(1)), conversion.group(2),
                                        conversion.group(3))
            header = self._header()
            name = header[index] if index < len(header) else f"#{index}"
            line, _ = self._find(lambda n, record: n > 1 and index < len(record)
                                 and record[index] == value)
            where = f", line {line}" if line else ""
            return ValidationError(
                f"file {self.shown}{where}, column {name!r}: earlier rows were read as "
                f"{arrow_type} but this value is {value!r} (a column of mixed types); declare "
                f"its type (Python: column_types={{{name!r}: 'string'}}, CLI: --type "
                f"{name}=string) or clean the file"
            )
        if isinstance(exc, UnicodeDecodeError) or "utf8" in message.lower() or "decode" in (
            message.lower()
        ):
            return ValidationError(
                f"file {self.shown} is not valid {self.encoding}: {message.splitlines()[0]}; "
                "give its encoding (Python: encoding='latin-1', CLI: --encoding latin-1)"
            )
        return ValidationError(f"file {self.shown}: cannot read it as CSV: {message}")

    def _text(self) -> io.TextIOWrapper:
        return io.TextIOWrapper(open_binary(self.path, self.storage_options),
                                encoding=self.encoding, errors="replace", newline="")

    def _header(self) -> list[str]:
        with self._text() as text:
            return next(csv.reader(text, delimiter=self.delimiter), [])

    def _find(self, predicate) -> tuple[int | None, list[str]]:  # type: ignore[no-untyped-def]
        """(physical line number, record) of the first record matching ``predicate``."""
        with self._text() as text:
            reader = csv.reader(text, delimiter=self.delimiter)
            start = 1
            for record in reader:
                if record and predicate(start, record):
                    return start, record
                start = reader.line_num + 1
        return None, []
