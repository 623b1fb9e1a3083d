"""``rollout validate PLAN [PLAN...]``: check plan files; summarize the good, list every error.

Exit 0 when every file is a valid plan (its summary on stdout, warnings on stderr); exit 2
when any is not, with each problem on stderr as ``FILE:LINE: FIELD: message``.
"""

from __future__ import annotations

import argparse
import sys

from console.plan.load import PlanError, check_file, summarize

EXIT_OK = 0
EXIT_BAD_INPUT = 2


def run(args: argparse.Namespace) -> int:
    """Validate each file in ``args.plan``; 0 if all are valid, else 2."""
    status = EXIT_OK
    for i, path in enumerate(args.plan):
        try:
            plan, warnings = check_file(path)
        except PlanError as exc:
            for error in exc.errors:
                print(error, file=sys.stderr)
            n = len(exc.errors)
            print(f"{path}: invalid plan ({n} error{'s' * (n != 1)})", file=sys.stderr)
            status = EXIT_BAD_INPUT
            continue
        if i:
            print()
        print(summarize(plan))
        for w in warnings:
            where = f"{w.file}:{w.line}" if w.line else w.file
            print(f"{where}: {w.field}: warning: {w.message}", file=sys.stderr)
    return status
