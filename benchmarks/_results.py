"""What every benchmark script shares when it reports: its section of RESULTS.md, the
command that ran it, the machine and package versions.

Each script owns one section of ``benchmarks/RESULTS.md``, delimited by
``<!-- bench:NAME:begin -->`` and ``<!-- bench:NAME:end -->``, and replaces only that
span when it runs again, so the scripts can run in any order. Only the standard library
is imported, so a script's parent process stays small while it measures children.
"""

from __future__ import annotations

import os
import platform
import shlex
import sys
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

FILE_HEADER = (
    "# Benchmarks\n\n"
    "Each section below is written by one script in `benchmarks/` and replaced when it runs "
    "again; run them all with `make bench`.\n"
)


def markers(name: str) -> tuple[str, str]:
    """The begin and end comments around section ``name``."""
    return f"<!-- bench:{name}:begin -->", f"<!-- bench:{name}:end -->"


def write_section(path: Path, name: str, text: str) -> None:
    """Replace section ``name`` of ``path`` with ``text`` (which starts and ends with the
    section's markers), keeping the rest of the file; append it when it is not there."""
    begin_marker, end_marker = markers(name)
    old = path.read_text(encoding="utf-8") if path.exists() else FILE_HEADER
    begin, end = old.find(begin_marker), old.find(end_marker)
    if begin != -1 and end > begin:
        new = old[:begin] + text.rstrip("\n") + old[end + len(end_marker):]
    else:
        new = old.rstrip("\n") + "\n\n" + text.rstrip("\n") + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(new, encoding="utf-8")


def now() -> str:
    return datetime.now().astimezone().strftime("%a %d %b %Y %H:%M:%S %Z")


def command(*, default_run: bool) -> str:
    """``make bench`` when make ran the script with its default arguments, else the argv."""
    if "MAKELEVEL" in os.environ and default_run:
        return "make bench"
    return shlex.join(["python", *sys.argv])


def machine() -> str:
    """CPU count (as nproc counts), CPU model, memory, OS and Python."""
    cpu = "unknown CPU"
    memory = "unknown memory"
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 ** 2:.1f} GiB RAM"
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (f"{cores} CPUs (nproc), {cpu}; {memory}; {platform.platform(terse=True)}; "
            f"Python {platform.python_version()}")


def version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def status_kib(field: str) -> int:
    """A ``kB`` field of /proc/self/status (VmRSS, VmHWM), or 0 where there is none."""
    try:
        for line in Path("/proc/self/status").read_text(encoding="utf-8").splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class ChildFailed(Exception):
    """A measured child exited with an error (printed above by the child)."""


def reap(command: list[str], result: Path, label: str) -> dict[str, Any]:
    """Run ``command`` (a child that writes its JSON record to ``result``), reap it alone
    with ``os.wait4`` so its rusage is its own, and return the record with ``peak_kib``
    (the child's ``ru_maxrss``) and ``process_seconds``; ChildFailed when it fails."""
    import json
    import os
    import subprocess
    import sys
    import time

    print(f"{label}: running ...", file=sys.stderr, flush=True)
    start = time.perf_counter()
    child = subprocess.Popen(command)
    _, status, usage = os.wait4(child.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise ChildFailed(f"the {label} child failed with exit status {code}; its error is "
                          "printed above")
    record = json.loads(result.read_text(encoding="utf-8"))
    result.unlink()
    record.update(peak_kib=usage.ru_maxrss, process_seconds=time.perf_counter() - start)
    if "seconds" in record:
        print(f"{label}: {record['seconds']:.2f} s (process {record['process_seconds']:.1f} "
              f"s), peak RSS {usage.ru_maxrss / 1024:,.0f} MiB", file=sys.stderr, flush=True)
    return record


def opening(section: str, title: str, args: Any, versions: list[str]) -> list[str]:
    """A section's first lines: its begin marker, the title, the command and date, the
    machine, the versions of ``versions`` (package names) and, in quick mode, the notice.
    ``args`` has ``quick`` and ``output`` (the scripts' shared options)."""
    lines = [markers(section)[0], f"## {title}", "",
             f"Command: `{command(default_run=not args.quick and args.output is not None)}`; "
             f"{now()}.", f"Machine: {machine()}.",
             "Versions: " + ", ".join(f"{name} {version(name)}" for name in versions) + ".", ""]
    if args.quick:
        lines += ["**Quick mode (`--quick`): smoke check only.**", ""]
    return lines


def publish(section: str, lines: list[str], output: Path | None) -> None:
    """Close the section with its end marker, print it, and write it into ``output``."""
    text = "\n".join([*lines, markers(section)[1]]) + "\n"
    print(text)
    if output is not None:
        write_section(output, section, text)
