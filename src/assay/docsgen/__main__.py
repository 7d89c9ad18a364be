"""``python -m assay.docsgen [--check] [--docs DIR]``: write (or check) the generated pages."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from assay.docsgen import COMMAND, stale, write


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__)
    parser.add_argument("--docs", type=Path, default=Path("docs"), help="The docs folder.")
    parser.add_argument(
        "--check", action="store_true", help="Change nothing; fail if a page is out of date."
    )
    args = parser.parse_args(argv)
    if args.check:
        old = stale(args.docs)
        for path in old:
            print(f"out of date: {args.docs / path}", file=sys.stderr)
        if old:
            print(f"run `{COMMAND}` and commit the pages", file=sys.stderr)
        return 1 if old else 0
    for path in write(args.docs):
        print(f"wrote {args.docs / path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
