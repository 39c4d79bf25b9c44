"""The long property run: tests/test_properties.py and tests/test_check_properties.py
with the Hypothesis "long" profile.

CI runs a few hundred examples per property; this runs tens of thousands and
prints what the README reports: the date, the duration, the number of
examples run (counted by Hypothesis, per property) and the number of failures,
and for ``check`` the claims tried, the wrong verdicts and the kinds matched.

    python tools/long_properties.py                 # the "long" profile (20,000 per property)
    python tools/long_properties.py --examples 5000 # another count per property
    python tools/long_properties.py -k hessian      # one property

Every failure it finds belongs in tests/test_regressions.py once fixed.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, help="examples per property (default: profile)")
    ap.add_argument("-k", default=None, help="pytest -k expression")
    args = ap.parse_args()
    tally = Path(tempfile.mkdtemp()) / "check-tally.json"
    env = dict(os.environ, HYPOTHESIS_PROFILE="long", INDEXCALC_CHECK_TALLY=str(tally))
    if args.examples:
        env["HYPOTHESIS_LONG_EXAMPLES"] = str(args.examples)
    cmd = [sys.executable, "-m", "pytest", "tests/test_properties.py",
           "tests/test_check_properties.py", "-q", "-p",
           "no:cacheprovider", "--hypothesis-show-statistics", "-rfE"]
    if args.k:
        cmd += ["-k", args.k]
    started = datetime.datetime.now(datetime.UTC)
    t0 = time.time()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    elapsed = time.time() - t0
    out = proc.stdout + proc.stderr
    print(out)
    examples = failing = 0
    for block in re.split(r"\n(?=tests/test_\w*properties.py::)", out):
        phases = re.findall(r"- (\d+) passing, (\d+) failing, and (\d+) invalid", block)
        if phases and block.startswith("tests/"):
            name = block.split("\n", 1)[0].split("::")[-1].rstrip(":")
            ok, bad, invalid = (sum(int(p[k]) for p in phases) for k in range(3))
            examples += ok + bad
            failing += bad
            print(f"{name}: {ok + bad} examples ({bad} failing, {invalid} invalid)")
    if tally.exists():
        counts = json.loads(tally.read_text(encoding="utf-8"))
        print(f"check: {counts.get('claims', 0)} claims, {counts.get('wrong verdicts', 0)} "
              f"wrong verdicts; {counts.get('false claims', 0)} false, of which "
              f"{counts.get('kind as made', 0)} classified as the mistake made, "
              f"{counts.get('kind also true', 0)} as another kind the numbers confirm, "
              f"{counts.get('kind not recovered after renaming', 0)} not recovered after "
              f"renaming, {counts.get('kind wrong', 0)} wrong ({counts})")
    failed = re.search(r"(\d+) failed", out)
    print(f"\nlong property run {started:%Y-%m-%d %H:%M} UTC: {examples} examples "
          f"({failing} failing) in {elapsed / 60:.1f} min, "
          f"{int(failed.group(1)) if failed else 0} failing properties, "
          f"pytest exit code {proc.returncode}")
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
