"""The console's audit Events on foreign objects (backends/kubernetes/console_events.py): what
a verb writes reads back as the same who, verb and why; the controller's own Events keep
their component, reason and message; history is oldest first and bounded."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from backends.kubernetes import console_events as events

ROLLOUT = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": "courses"}
words = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=12)


@given(
    verb=st.sampled_from(["promote", "pause", "abort", "retry", "undo", "gate-rollback"]),
    user=st.builds(lambda u, h: f"{u}@{h}", words, words),
    reason=st.text(max_size=40),
)
def test_what_a_verb_writes_reads_back(verb: str, user: str, reason: str) -> None:
    message = events.verb_message(verb, user, reason)
    body = events.event_body(ROLLOUT, "lms", verb, user, message)
    assert body["involvedObject"]["namespace"] == "lms"
    entry = events.audit_entry("courses", body, "argo-rollouts")
    assert (entry.actor, entry.action) == (user, verb)
    assert entry.reason == reason.lstrip(": ").strip()
    assert f"{entry.user}@{entry.host}" == user


def test_controller_events_and_a_message_of_another_shape() -> None:
    theirs = {
        "involvedObject": {"kind": "Rollout", "name": "courses"},
        "reason": "RolloutPaused",
        "message": "Rollout is paused (CanaryPauseStep)",
        "source": {"component": "rollouts-controller"},
        "lastTimestamp": "2026-12-03T16:00:00Z",
    }
    entry = events.audit_entry("courses", theirs, "argo-rollouts")
    assert (entry.actor, entry.action, entry.reason) == (
        "rollouts-controller",
        "RolloutPaused",
        "Rollout is paused (CanaryPauseStep)",
    )
    assert entry.at == datetime(2026, 12, 3, 16, tzinfo=UTC).timestamp()
    nameless = {**theirs, "source": {}}
    assert events.audit_entry("courses", nameless, "argo-rollouts").actor == "argo-rollouts"
    # The gate's own lines say what it answered: the whole message is the why.
    gate = events.event_body(ROLLOUT, "lms", "gate-rollback", "rollout-gate", "rolled back (x)")
    assert events.audit_entry("courses", gate, "flagger").reason == "rolled back (x)"


def test_history_is_oldest_first_filtered_and_bounded() -> None:
    def at(second: int, micro: int, name: str = "courses") -> dict:
        when = datetime(2026, 12, 3, 16, 0, second, micro, tzinfo=UTC)
        obj = {**ROLLOUT, "name": name}
        return events.event_body(obj, "lms", "promote", f"u{second}.{micro}@h", "m", when)

    listed = [at(5, 0), at(1, 900), at(1, 100), at(3, 0, name="grades")]
    rows = events.history(listed, "Rollout", "courses", "argo-rollouts")
    assert [r.actor for r in rows] == ["u1.100@h", "u1.900@h", "u5.0@h"]
    assert [r.actor for r in events.history(listed, "Rollout", "courses", "x", 2)] == [
        "u1.900@h",
        "u5.0@h",
    ]
    # A repeated Event: lastTimestamp moved past eventTime, the row takes the later time.
    repeated = {**at(1, 0), "lastTimestamp": "2026-12-03T16:00:09Z"}
    nine = datetime(2026, 12, 3, 16, 0, 9, tzinfo=UTC).timestamp()
    assert events.audit_entry("courses", repeated, "x").at == nine
