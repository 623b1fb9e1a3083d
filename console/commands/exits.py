"""Exit codes of every ``rollout`` command (docs/ci-cd.md lists them for pipelines)."""

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_STOPPED = 3
EXIT_BACKEND = 4
EXIT_UNGUARDED = 5  # `rollout status --check`: a rollout has no live driver
