"""One instance of a demo LMS service: ``python -m backends.local.service SERVICE VERSION NAME BEHAVIOUR``.

Binds 127.0.0.1 on a free port and prints ``PORT <n>`` on stdout. Serves a few JSON endpoints
of a small LMS (courses, enrollments, grades) and ``/healthz`` (readiness). Its behaviour
(latency, error ratio, slow start, crash on start, unready) comes as JSON on the command line
and can be changed at run time with ``PUT /_admin/behaviour`` (the gateway never forwards
``/_admin``). It exits when its stdin closes, so it never outlives the demo that started it,
and on SIGTERM it stops accepting, finishes what is in flight and exits.

Only the standard library is imported, except by an instance of a service that evaluates
feature flags (``SERVICE_FLAGS``; see ``backends/local/flag_eval.py``): 18 of these run on a
two-core laptop.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

from backends.local.http11 import (
    Request,
    error_response,
    json_response,
    response_bytes,
    serve_connection,
)

DEFAULT_BEHAVIOUR: dict[str, Any] = {
    "latency": 0.004,  # base seconds per request
    "jitter": 0.002,  # mean of an exponential added on top
    "errors": 0.0,  # share of requests answered 503/500
    "extra_latency": 0.0,  # injected fault: seconds added to every request
    "slow_start": 0.0,  # seconds after start before /healthz says ready
    "crash": False,  # exit 1 right after start (a crash loop)
    "unready": False,  # /healthz answers 503 while true
    "gradebook_bug": 0.0,  # share of new-gradebook answers that fail (flag drills)
}

BEHAVIOUR_TYPES = {
    "latency": float,
    "jitter": float,
    "errors": float,
    "extra_latency": float,
    "slow_start": float,
    "crash": bool,
    "unready": bool,
    "gradebook_bug": float,
}

if TYPE_CHECKING:
    from backends.local.flag_eval import ServiceFlags

COURSES: list[dict[str, Any]] = [
    {"id": i, "code": f"CS{100 + i}", "title": t, "credits": 3 + i % 3, "seats": 40 + 5 * i}
    for i, t in enumerate(
        [
            "Intro to Programming",
            "Data Structures",
            "Algorithms",
            "Operating Systems",
            "Databases",
            "Computer Networks",
            "Compilers",
            "Distributed Systems",
            "Machine Learning",
            "Human-Computer Interaction",
            "Security Engineering",
            "Software Testing",
        ],
        start=1,
    )
]


# The flags each service evaluates, with the value its code falls back to (flag absent,
# disabled or not loaded). Answers name the variants used in ``x-lms-flags``.
SERVICE_FLAGS: dict[str, dict[str, Any]] = {
    "grades": {"new-gradebook": False},
    "courses": {"course-recommendations": False},
}
NEW_GRADEBOOK_LATENCY = 0.008  # seconds the new gradebook's computation adds


def validate_behaviour(raw: object) -> dict[str, Any]:
    """Check a behaviour patch; raises ValueError naming the bad field."""
    if not isinstance(raw, dict):
        raise ValueError("behaviour must be a JSON object")
    out: dict[str, Any] = {}
    for key, value in raw.items():
        kind = BEHAVIOUR_TYPES.get(key)
        if kind is None:
            raise ValueError(
                f"unknown behaviour field '{key}'; known: {', '.join(BEHAVIOUR_TYPES)}"
            )
        if kind is bool:
            if not isinstance(value, bool):
                raise ValueError(f"'{key}' must be true or false")
            out[key] = value
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"'{key}' must be a number")
        if value < 0 or (key in ("errors", "gradebook_bug") and value > 1) or value > 120:
            raise ValueError(f"'{key}' is out of range: {value}")
        out[key] = float(value)
    return out


class Instance:
    """The state of this process: who it is, how it behaves, what is in flight."""

    def __init__(
        self,
        service: str,
        version: str,
        name: str,
        behaviour: dict[str, Any],
        flags: ServiceFlags | None = None,
    ):
        self.service = service
        self.flags = flags
        self.flag_defaults = SERVICE_FLAGS.get(service, {}) if flags is not None else {}
        self.version = version
        self.name = name
        self.behaviour = dict(DEFAULT_BEHAVIOUR)
        self.behaviour.update(behaviour)
        self.started = time.monotonic()
        self.draining = False
        self.inflight = 0
        self.served = 0
        self.headers = [
            (b"x-lms-service", service.encode()),
            (b"x-lms-version", version.encode()),
            (b"x-lms-instance", name.encode()),
        ]

    def ready(self) -> bool:
        b = self.behaviour
        slow = float(b["slow_start"])
        return not self.draining and not b["unready"] and time.monotonic() - self.started >= slow

    async def handle(self, req: Request) -> bytes:
        path = req.path
        if path == "/healthz":
            ok = self.ready()
            return json_response(200 if ok else 503, {"ready": ok, "instance": self.name})
        if path == "/_admin/behaviour":
            return self.admin(req)
        if path == "/_admin/flags":
            loaded = self.flags.status() if self.flags is not None else {"loaded": False}
            return json_response(200, loaded)
        self.inflight += 1
        try:
            b = self.behaviour
            on: dict[str, Any] = {}
            headers = self.headers
            if self.flag_defaults and self.flags is not None:
                found = self.flags.evaluate_many(self.flag_defaults, req.headers)
                on = {k: value for k, (value, _) in found.items()}
                labels = {k: label for k, (_, label) in found.items()}
                value = ", ".join(f"{k}={v}" for k, v in labels.items())
                headers = [*headers, (b"x-lms-flags", value.encode("latin-1", "replace"))]
            delay = float(b["latency"]) + float(b["extra_latency"])
            if on.get("new-gradebook") and req.method == "GET":
                delay += NEW_GRADEBOOK_LATENCY
            jitter = float(b["jitter"])
            if jitter > 0:
                delay += random.expovariate(1.0 / jitter)
            if delay > 0:
                await asyncio.sleep(delay)
            self.served += 1
            if random.random() < float(b["errors"]):
                status = 503 if random.random() < 0.7 else 500
                return response_bytes(
                    status,
                    json.dumps({"error": "injected fault", "instance": self.name}).encode(),
                    headers,
                )
            if on.get("new-gradebook") and random.random() < float(b["gradebook_bug"]):
                body = {"error": "the new gradebook failed (injected bug)", "instance": self.name}
                return response_bytes(500, json.dumps(body).encode(), headers)
            status, obj = self.route(req)
            if isinstance(obj, dict):
                obj["served_by"] = {"version": self.version, "instance": self.name}
                if on:
                    flagged(self.service, obj, on)
            return response_bytes(status, json.dumps(obj).encode(), headers)
        finally:
            self.inflight -= 1

    def admin(self, req: Request) -> bytes:
        if req.method == "GET":
            return json_response(200, {"behaviour": self.behaviour, "served": self.served})
        if req.method != "PUT":
            return error_response(405, "use GET or PUT on /_admin/behaviour")
        try:
            patch = validate_behaviour(json.loads(req.body or b"null"))
        except ValueError as exc:
            return error_response(400, str(exc))
        self.behaviour.update(patch)
        return json_response(200, {"behaviour": self.behaviour})

    def route(self, req: Request) -> tuple[int, object]:
        """The LMS endpoints. v2 answers with a richer schema, as a candidate would."""
        parts = [p for p in req.path.split("/") if p]
        v2 = self.version != "v1"
        if not parts:
            return 200, {"service": self.service, "version": self.version}
        if parts[0] != self.service:
            return 404, {"error": f"no such path {req.path} on {self.service}"}
        rest = parts[1:]
        if self.service == "courses":
            return self.courses(req, rest, v2)
        if self.service == "enrollments":
            return self.enrollments(req, rest, v2)
        if self.service == "grades":
            return self.grades(req, rest, v2)
        return 200, {"service": self.service, "path": req.path}

    def courses(self, req: Request, rest: list[str], v2: bool) -> tuple[int, object]:
        if not rest:
            limit = int(req.params().get("limit", "20") or 20) if req.query else 20
            items = COURSES[: max(0, min(limit, 100))]
            return 200, {"courses": items, "total": len(COURSES)}
        course = _course(rest[0])
        if course is None:
            return 404, {"error": f"no course {rest[0]}"}
        if len(rest) == 2 and rest[1] == "syllabus":
            weeks = [{"week": w, "topic": f"{course['title']} part {w}"} for w in range(1, 13)]
            return 200, {"course": course["id"], "weeks": weeks}
        out = dict(course)
        if v2:
            out["prerequisites"] = [c["code"] for c in COURSES[: course["id"] % 3]]
        return 200, out

    def enrollments(self, req: Request, rest: list[str], v2: bool) -> tuple[int, object]:
        if req.method == "POST":
            try:
                body = json.loads(req.body or b"{}")
                user, course_id = str(body["user"]), int(body["course"])
            except (ValueError, KeyError, TypeError):
                return 400, {"error": "POST /enrollments needs {user, course}"}
            return 201, {"user": user, "course": course_id, "status": "enrolled"}
        if len(rest) == 2 and rest[1] == "count":
            course = _course(rest[0])
            if course is None:
                return 404, {"error": f"no course {rest[0]}"}
            return 200, {"course": course["id"], "enrolled": (course["id"] * 37) % course["seats"]}
        user = req.params().get("user", "") if req.query else ""
        if not user:
            return 400, {"error": "GET /enrollments needs ?user=<id>"}
        seed = sum(map(ord, user))
        items = [
            {"course": COURSES[(seed + k) % len(COURSES)]["id"], "term": "2026-fall"}
            for k in range(seed % 4 + 1)
        ]
        out: dict[str, Any] = {"user": user, "enrollments": items}
        if v2:
            out["credits"] = sum(COURSES[i["course"] - 1]["credits"] for i in items)
        return 200, out

    def grades(self, req: Request, rest: list[str], v2: bool) -> tuple[int, object]:
        if req.method == "POST":
            try:
                body = json.loads(req.body or b"{}")
                student, grade = str(body["student"]), float(body["grade"])
            except (ValueError, KeyError, TypeError):
                return 400, {"error": "POST /grades needs {student, course, grade}"}
            return 201, {"student": student, "grade": grade, "status": "recorded"}
        if not rest:
            return 400, {"error": "GET /grades/<student>"}
        student = rest[0]
        seed = sum(map(ord, student))
        grades = [
            {
                "course": COURSES[(seed + k) % len(COURSES)]["code"],
                "grade": 2.0 + (seed * k) % 21 / 10,
            }
            for k in range(seed % 5 + 1)
        ]
        out: dict[str, Any] = {"student": student, "grades": grades}
        if v2:
            out["gpa"] = round(sum(g["grade"] for g in grades) / len(grades), 2)
        return 200, out


def flagged(service: str, out: dict[str, Any], on: dict[str, Any]) -> None:
    """What the flags change in an answer: the new gradebook's GPA, course recommendations."""
    if service == "grades" and on.get("new-gradebook") and "grades" in out:
        grades = [g["grade"] for g in out["grades"]]
        # The new computation: a credit-weighted GPA on a 4.0 scale, and a letter.
        weighted = sum(g * (1 + i % 3) for i, g in enumerate(grades))
        gpa = round(weighted / sum(1 + i % 3 for i in range(len(grades))), 2) if grades else 0.0
        out["gradebook"] = {"engine": "new", "gpa": gpa, "letter": _letter(gpa)}
    if service == "courses" and on.get("course-recommendations"):
        seed = int(out.get("id", 0) or 0)
        out["recommended"] = [COURSES[(seed + k) % len(COURSES)]["code"] for k in (1, 4, 7)]


def _letter(gpa: float) -> str:
    for bound, letter in ((3.7, "A"), (3.0, "B"), (2.0, "C"), (1.0, "D")):
        if gpa >= bound:
            return letter
    return "F"


def _course(raw: str) -> dict[str, Any] | None:
    try:
        i = int(raw)
    except ValueError:
        return None
    return COURSES[i - 1] if 1 <= i <= len(COURSES) else None


def _exit_when_stdin_closes() -> None:
    # The supervisor holds our stdin open; EOF means it is gone (even by SIGKILL).
    try:
        while sys.stdin.buffer.read(1024):
            pass
    except (OSError, ValueError):
        pass
    os._exit(0)


async def main_async(inst: Instance) -> None:
    loop = asyncio.get_running_loop()
    idle: set[asyncio.StreamWriter] = set()
    conns: set[asyncio.Task] = set()

    async def on_conn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            conns.add(task)
        try:
            await serve_connection(reader, writer, inst.handle, idle)
        finally:
            if task is not None:
                conns.discard(task)

    server = await asyncio.start_server(on_conn, "127.0.0.1", 0, backlog=512)
    port = server.sockets[0].getsockname()[1]
    watch = loop.create_task(inst.flags.watch()) if inst.flags is not None else None
    sys.stdout.write(f"PORT {port}\n")
    sys.stdout.flush()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await stop.wait()
    if watch is not None:
        watch.cancel()
    # Graceful stop: refuse new connections, finish in-flight requests, close idle ones.
    inst.draining = True
    server.close()
    deadline = time.monotonic() + 5.0
    while inst.inflight and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    for w in list(idle):
        w.close()
    await asyncio.sleep(0.01)


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print("usage: service SERVICE VERSION NAME BEHAVIOUR_JSON", file=sys.stderr)
        return 2
    service, version, name, raw = argv
    try:
        behaviour = validate_behaviour(json.loads(raw))
    except ValueError as exc:
        print(f"{name}: bad behaviour: {exc}", file=sys.stderr)
        return 2
    threading.Thread(target=_exit_when_stdin_closes, daemon=True).start()
    if behaviour.get("crash"):
        time.sleep(0.2)
        print(f"{name}: crashing on start (injected fault)", file=sys.stderr)
        return 1
    flags = None
    if service in SERVICE_FLAGS and os.environ.get("LMS_FLAGS_FILE"):
        # Imported only here: the other services stay on the standard library.
        from backends.local.flag_eval import from_environment

        flags = from_environment(name)
    if flags is not None:
        flags.start()
    inst = Instance(service, version, name, behaviour, flags)
    try:
        asyncio.run(main_async(inst))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter finalization: the stdin watcher thread is blocked in a read.
    os._exit(code)
