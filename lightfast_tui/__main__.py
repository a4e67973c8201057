"""`python -m lightfast_tui [--config PATH]`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lightfast_tui", description="Lightfast's terminal UI")
    parser.add_argument("--config", help="lightfast.yml (default: found from the working directory upwards)")
    args = parser.parse_args(argv)
    run(args.config)


def run(config: str | None) -> None:
    from core.errors import LightfastError
    from core.service import Lightfast
    from lightfast_tui.app import LightfastApp

    try:
        service = Lightfast.open(Path(config) if config else None)
    except LightfastError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    LightfastApp(service).run()


if __name__ == "__main__":
    main()
