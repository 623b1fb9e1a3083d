"""Judging a version from its numbers: ``verdicts.py`` turns one observation into a
measurement (pass, fail, inconclusive per metric) and counts them; ``whatif.py`` replays a
plan's analysis over past metrics for ``rollout analyze``. Pure."""
