"""Parse the Runtime API's ``show stat`` (CSV) and ``show servers state`` answers. Pure.

``Server`` joins both for one server line: its state as the health checks see it (``status``,
``check_status``, ``last_check``), the operator's admin state (maintenance, drain) and its
weights (``initial`` from the configuration, ``user`` as set by ``set server ... weight``).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

# srv_admin_state bits (HAProxy's SRV_ADMF_*): forced, inherited, configured, resolution
# and hostname maintenance; forced and inherited drain.
MAINT_BITS = 0x01 | 0x02 | 0x04 | 0x20 | 0x40
DRAIN_BITS = 0x08 | 0x10


@dataclass(frozen=True)
class Server:
    backend: str
    name: str
    status: str  # UP, DOWN, DRAIN, MAINT, "no check", "UP 1/3", NOLB ...
    initial_weight: int  # srv_iweight: the weight in the configuration
    user_weight: int  # srv_uweight: the weight last set (or configured)
    admin_state: int  # srv_admin_state bits
    check_status: str = ""  # L7OK, L4CON, L7STS ...
    check_desc: str = ""  # "Layer4 connection problem"
    last_check: str = ""  # last_chk: "Connection refused", "HTTP status check returned code <503>"
    since_change: int | None = None  # lastchg: seconds since the last UP/DOWN change
    address: str = ""

    @property
    def in_maintenance(self) -> bool:
        return bool(self.admin_state & MAINT_BITS)

    @property
    def drained(self) -> bool:
        return bool(self.admin_state & DRAIN_BITS)

    @property
    def effective_weight(self) -> int:
        """The share of new requests it is given: none in maintenance or drain."""
        return 0 if self.in_maintenance or self.drained else self.user_weight

    @property
    def routable(self) -> bool:
        """Passes its checks (or has none): new requests may go to it if it has weight.
        "UP 1/3" is up and failing checks, still routable; "DOWN 1/2" is not yet."""
        return not self.in_maintenance and self.status.split(" ")[0] in ("UP", "DRAIN", "no")

    def problem(self) -> str:
        """Why it is not routable, in words: ``v2-vm03 DOWN: L4CON Connection refused (5s ago)``."""
        if self.in_maintenance:
            return f"{self.name} in maintenance"
        detail = " ".join(p for p in (self.check_status, self.last_check or self.check_desc) if p)
        ago = f" ({self.since_change}s ago)" if self.since_change is not None else ""
        return f"{self.name} {self.status}" + (f": {detail}" if detail else "") + ago


def parse_stat(text: str) -> dict[tuple[str, str], dict[str, str]]:
    """``show stat`` -> {(backend, server): row} for server rows (not FRONTEND/BACKEND)."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines or not lines[0].startswith("# "):
        raise ValueError(f"not a 'show stat' answer: {text[:80]!r}")
    reader = csv.DictReader(io.StringIO("\n".join([lines[0][2:], *lines[1:]])))
    rows: dict[tuple[str, str], dict[str, str]] = {}
    for row in reader:
        name = row.get("svname") or ""
        if row.get("type") == "2" and name not in ("FRONTEND", "BACKEND"):
            rows[(row.get("pxname") or "", name)] = row
    return rows


def parse_servers_state(text: str) -> dict[tuple[str, str], dict[str, str]]:
    """``show servers state`` -> {(backend, server): fields by the header's names}."""
    header: list[str] | None = None
    rows: dict[tuple[str, str], dict[str, str]] = {}
    for line in text.splitlines():
        if line.startswith("# "):
            header = line[2:].split()
            continue
        parts = line.split()
        if header is None or len(parts) < 8:
            continue  # the leading format version ("1") and blank lines
        row = dict(zip(header, parts, strict=False))
        rows[(row.get("be_name", ""), row.get("srv_name", ""))] = row
    if header is None:
        raise ValueError(f"not a 'show servers state' answer: {text[:80]!r}")
    return rows


def join(
    stat: dict[tuple[str, str], dict[str, str]], state: dict[tuple[str, str], dict[str, str]]
) -> list[Server]:
    """One ``Server`` per server present in both answers, in ``show stat`` order."""
    servers = []
    for key, row in stat.items():
        st = state.get(key)
        if st is None:
            continue
        servers.append(
            Server(
                backend=key[0],
                name=key[1],
                status=row.get("status", ""),
                initial_weight=_int(st.get("srv_iweight")),
                user_weight=_int(st.get("srv_uweight")),
                admin_state=_int(st.get("srv_admin_state")),
                check_status=row.get("check_status", ""),
                check_desc=row.get("check_desc", ""),
                last_check=row.get("last_chk", ""),
                since_change=_int(row["lastchg"]) if row.get("lastchg", "").isdigit() else None,
                address=row.get("addr", ""),
            )
        )
    return servers


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0
