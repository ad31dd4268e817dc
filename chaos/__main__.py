"""`python -m chaos [--fault NAME ...] [--out FILE]`: the fault suite (`make chaos`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from chaos.faults import FAULTS
from chaos.run import RESULTS, Timing, chaos_run, rows_table, rows_write
from chaos.services import ServiceMissing


def main() -> int:
    parser = argparse.ArgumentParser(description="Inject faults one at a time under API load.")
    parser.add_argument("--fault", action="append", choices=sorted(FAULTS), default=None)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    timing = Timing.from_env()
    try:
        rows = chaos_run(faults=args.fault or list(FAULTS), timing=timing)
    except ServiceMissing as exc:
        print(f"chaos: {exc}", file=sys.stderr)
        return 2
    print(rows_table(rows=rows))
    rows_write(rows=rows, path=args.out, timing=timing)
    print(f"chaos: wrote {args.out}")
    bad = [r for r in rows if r.lost or r.duplicated or r.half_written or r.recovery_s is None]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
