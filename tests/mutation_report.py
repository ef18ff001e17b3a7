"""The kill rate of `make mutation`, per file and in all: `python -m tests.mutation_report`.

Reads mutmut's results (mutants/**/*.meta). A mutant is killed when a test failed, or timed out;
it survived when every selected test passed; "no tests" means no selected test ran its code.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

KILLED = {1, 3, 24, -24, 36, 152, 255}
SURVIVED = {0}


def main() -> int:
    metas = sorted(Path("mutants/aims/domain").glob("*.py.meta"))
    if not metas:
        print("no mutation results: run `make mutation`", file=sys.stderr)
        return 1
    total: Counter[str] = Counter()
    print(f"{'file':<28} {'killed':>7} {'survived':>9} {'no test':>8} {'rate':>7}")
    for meta in metas:
        codes = json.loads(meta.read_text())["exit_code_by_key"].values()
        counts = Counter(
            "killed" if code in KILLED else "survived" if code in SURVIVED else "no tests" if code in (5, 33) else "other"
            for code in codes
        )
        total += counts
        tested = counts["killed"] + counts["survived"] + counts["no tests"]
        rate = counts["killed"] / tested * 100 if tested else 100.0
        print(f"{meta.name[:-5]:<28} {counts['killed']:>7} {counts['survived']:>9} {counts['no tests']:>8} {rate:>6.1f}%")
    tested = total["killed"] + total["survived"] + total["no tests"]
    print(f"{'all of aims/domain':<28} {total['killed']:>7} {total['survived']:>9} {total['no tests']:>8} "
          f"{total['killed'] / tested * 100:>6.1f}%")  # fmt: skip
    print(json.dumps({"mutants": tested, "killed": total["killed"], "kill_rate": round(total["killed"] / tested, 4)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
