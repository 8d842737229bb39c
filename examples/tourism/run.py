"""The tourism recommender, data to monitoring, with one command:

    python examples/tourism/run.py [--dir DIR] [--tourists N] [--visits N]

It uses ``recommend.yaml`` beside it as the training spec (edit it to try other families
or budgets) and runs, in a new workspace: generated data as versioned datasets, training
against the popularity baseline, registry, serving, replayed visits as feedback, the
online hit rate, and batch top-k (see ``gapless.cli.demo_tourism``).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from gapless import Workspace
    from gapless.cli.demo_tourism import run_tourism
    from gapless.cli.render import console

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=None, help="workspace folder (new)")
    parser.add_argument("--tourists", type=int, default=2000)
    parser.add_argument("--destinations", type=int, default=400)
    parser.add_argument("--visits", type=int, default=40_000)
    parser.add_argument("--replayed", type=int, default=600)
    parser.add_argument("--trials", type=int, default=None, help="override the spec's budget")
    args = parser.parse_args(argv)
    spec = yaml.safe_load((HERE / "recommend.yaml").read_text(encoding="utf-8"))
    if args.trials is not None:
        spec["budget"] = {"trials": args.trials}
    root = args.dir or Path(tempfile.mkdtemp(prefix="gapless-tourism-"))
    with Workspace.init(root) as ws:
        console().print(f"[bold]tourism recommender[/] workspace: {ws.root}\n")
        return run_tourism(ws, spec=spec, tourists=args.tourists,
                           destinations=args.destinations, visits=args.visits,
                           replayed=args.replayed, say=console().print)


if __name__ == "__main__":
    main()
