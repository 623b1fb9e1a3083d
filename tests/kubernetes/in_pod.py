"""Run ``rollout ARGS`` as it runs in the controller's pod (deploy/controller/), for tests:

    python -m tests.kubernetes.in_pod controller --env cluster --listen 127.0.0.1 --port 0

- **In-cluster configuration**: the Kubernetes client reads the service account's token and
  CA from /var/run/secrets/kubernetes.io/serviceaccount/; here they come from the directory
  ``$ROLLOUT_TEST_SERVICE_ACCOUNT`` instead (the only thing changed: those paths), and
  ``KUBERNETES_SERVICE_HOST``/``_PORT`` name the emulator, as the kubelet sets them in a pod.
- **Read-only root filesystem**: an audit hook reports every write outside the directories
  in ``$ROLLOUT_TEST_WRITABLE`` (os.pathsep-separated: the pod's emptyDir) as one line
  ``write outside the writable mounts: EVENT PATH`` on stderr, which the test asserts never
  appears. (In the pod such a write fails with EROFS.)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

MARK = "write outside the writable mounts:"
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
ALWAYS_WRITABLE = ("/dev/", "/proc/self/")


def _use_service_account(directory: Path) -> None:
    from kubernetes.config import incluster_config

    from backends.kubernetes import connection

    incluster_config.SERVICE_TOKEN_FILENAME = str(directory / "token")
    incluster_config.SERVICE_CERT_FILENAME = str(directory / "ca.crt")
    connection.SA_NAMESPACE = directory / "namespace"


def _watch_writes(writable: list[str]) -> None:
    roots = [os.path.realpath(w) + os.sep for w in writable]

    def allowed(path: Any) -> bool:
        if isinstance(path, int):
            return True  # an open descriptor: its open was checked
        text = os.fsdecode(path)
        if text.startswith(ALWAYS_WRITABLE):
            return True
        real = os.path.realpath(text) + os.sep
        return any(real.startswith(r) for r in roots)

    def hook(event: str, args: tuple[Any, ...]) -> None:
        path = None
        if event == "open" and args and args[0] is not None:
            mode, flags = args[1], args[2]
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or bool(
                isinstance(flags, int) and flags & WRITE_FLAGS
            )
            path = args[0] if writing else None
        elif event in ("os.mkdir", "os.remove", "os.rmdir", "os.truncate", "os.chmod"):
            path = args[0]
        elif event == "os.rename":
            path = args[1]
        if path is not None and not allowed(path):
            sys.stderr.write(f"{MARK} {event} {os.fsdecode(path)}\n")
            sys.stderr.flush()

    sys.addaudithook(hook)


def main() -> int:
    _use_service_account(Path(os.environ["ROLLOUT_TEST_SERVICE_ACCOUNT"]))
    _watch_writes(os.environ["ROLLOUT_TEST_WRITABLE"].split(os.pathsep))
    from console.cli import main as rollout

    return rollout(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
