"""The flagd model: parse and check, describe in our shape, change, and write back."""

from __future__ import annotations

import json
import threading

import pytest

from backends.base import (
    BackendUnavailable,
    CohortRule,
    FlagBackend,
    FlagFileError,
    UnknownFlag,
    UnknownVariant,
    Unsupported,
)
from backends.flagd import FlagdFile, from_config, model
from backends.local.demo_flags import SEED, seed_flags

BOOL = {"on": True, "off": False}


def doc_of(flags: dict) -> model.FlagDocument:
    return model.check({"flags": flags}, "flags.json")


def refused(text: str) -> FlagFileError:
    with pytest.raises(FlagFileError) as info:
        model.parse(text, "/x/flags.json")
    return info.value


def test_seed_is_valid_and_described() -> None:
    doc = model.new_document("f.json", SEED)
    gb = doc.flag("new-gradebook")
    assert gb.enabled and gb.default_variant == "off" and gb.off_variant == "off"
    assert gb.cohorts == (CohortRule("x-lms-beta", ("true",), "on"),)
    assert gb.fractional == {} and gb.editable


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        ("{bad", "", "not valid JSON"),
        ("[]", "", "top level"),
        ('{"flags": []}', "flags", "object"),
        ('{"flags": {"a": {"variants": {"on": true}}}}', "flags.a.state", "ENABLED or DISABLED"),
        ('{"flags": {"a": {"state": "ENABLED", "variants": {}}}}', "flags.a.variants", "non-empty"),
        (
            '{"flags": {"a": {"state": "ENABLED", "variants": {"on": true, "x": "s"}}}}',
            "flags.a.variants",
            "one type",
        ),
        (
            '{"flags": {"a": {"state": "ENABLED", "variants": {"on": true}, "defaultVariant": "x"}}}',
            "flags.a.defaultVariant",
            "unknown variant 'x'",
        ),
        (
            '{"flags": {"a": {"state": "ENABLED", "variants": {"on": true, "off": false},'
            ' "targeting": {"fractional": [["on", 20], ["off", 70]]}}}}',
            "flags.a.targeting.fractional",
            "sum to 90, not 100",
        ),
        (
            '{"flags": {"a": {"state": "ENABLED", "variants": {"on": true, "off": false},'
            ' "targeting": {"fractional": [{"var": "user"}, ["on", 20], ["nope", 80]]}}}}',
            "flags.a.targeting.fractional[2][0]",
            "unknown variant 'nope'",
        ),
        (
            '{"flags": {"a": {"state": "ENABLED", "variants": {"on": true, "off": false},'
            ' "targeting": {"if": [{"==": [{"var": "x"}, "1"]}, "maybe", null]}}}}',
            "flags.a.targeting.if[1]",
            "unknown variant 'maybe'",
        ),
        (
            '{"flags": {"a": {"state": "ENABLED", "variants": {"on": true},'
            ' "targeting": {"$ref": "nope"}}}}',
            "flags.a.targeting.$ref",
            "no evaluator",
        ),
    ],
)
def test_malformed_files_are_refused_with_file_and_field(text: str, field: str, words: str) -> None:
    err = refused(text)
    assert err.where == "/x/flags.json"
    assert err.field == field
    assert words in str(err) and str(err).startswith("/x/flags.json: ")


def test_targeting_of_our_shape_reads_back() -> None:
    doc = doc_of({"a": {"state": "ENABLED", "variants": BOOL, "defaultVariant": "off"}})
    doc = model.set_cohort(doc, "a", CohortRule("x-lms-beta", ("true",), "on"))
    doc = model.set_cohort(doc, "a", CohortRule("user", ("u1", "u2"), "off"))
    doc = model.set_fractional(doc, "a", {"on": 20, "off": 80})
    flag = doc.flag("a")
    assert [c.field for c in flag.cohorts] == ["x-lms-beta", "user"]
    assert flag.fractional == {"on": 20, "off": 80} and flag.bucket_by == ""
    assert flag.targeting == {
        "if": [
            {"==": [{"var": "x-lms-beta"}, "true"]},
            "on",
            {"in": [{"var": "user"}, ["u1", "u2"]]},
            "off",
            {"fractional": [["on", 20], ["off", 80]]},
        ]
    }
    # Replacing a rule keeps its place; clearing removes it.
    doc = model.set_cohort(doc, "a", CohortRule("x-lms-beta", ("yes",), "off"))
    assert doc.flag("a").cohorts[0] == CohortRule("x-lms-beta", ("yes",), "off")
    doc = model.clear_cohort(doc, "a", "x-lms-beta")
    doc = model.clear_cohort(doc, "a", "user")
    assert doc.flag("a").targeting == {"fractional": [["on", 20], ["off", 80]]}
    # set_default removes the split, keeps cohorts, enables.
    doc = model.set_enabled(doc, "a", False)
    doc = model.set_default(doc, "a", "on")
    assert doc.flag("a").enabled and doc.flag("a").fractional == {}
    assert "targeting" not in doc.raw["flags"]["a"]


def test_unknown_names_and_foreign_targeting() -> None:
    raw = {"state": "ENABLED", "variants": BOOL, "defaultVariant": "off"}
    doc = doc_of(
        {"a": raw, "b": {**raw, "targeting": {"if": [{"<": [{"var": "n"}, 3]}, "on", "off"]}}}
    )
    with pytest.raises(UnknownFlag, match="known: a, b"):
        model.set_default(doc, "zzz", "on")
    with pytest.raises(UnknownVariant, match="its variants: on, off"):
        model.set_default(doc, "a", "maybe")
    assert not doc.flag("b").editable
    with pytest.raises(Unsupported):
        model.set_fractional(doc, "b", {"on": 50, "off": 50})
    with pytest.raises(FlagFileError, match="sum to 90"):
        model.set_fractional(doc, "a", {"on": 20, "off": 70})
    # The kill switch replaces any targeting.
    killed = model.kill_all(doc)
    assert all(f.default_variant == "off" and not f.targeting for f in killed.flags.values())


def test_percent_weights() -> None:
    flag = doc_of({"a": {"state": "ENABLED", "variants": BOOL, "defaultVariant": "off"}}).flag("a")
    assert model.percent_weights(flag, "on", 20) == {"on": 20, "off": 80}
    assert model.percent_weights(flag, "off", 30) == {"off": 30, "on": 70}
    with pytest.raises(ValueError, match=r"0\.\.100"):
        model.percent_weights(flag, "on", 101)


def test_unedited_parts_survive_a_change() -> None:
    raw = {
        "$schema": model.SCHEMA,
        "$evaluators": {"beta": {"==": [{"var": "x-lms-beta"}, "true"]}},
        "metadata": {"flagSetId": "lms"},
        "flags": {
            "a": {
                "state": "ENABLED",
                "variants": BOOL,
                "defaultVariant": "off",
                "metadata": {"team": "x"},
            }
        },
    }
    doc = model.set_fractional(model.check(raw, "f"), "a", {"on": 10, "off": 90})
    out = json.loads(model.dumps(doc))
    assert out["$evaluators"] == raw["$evaluators"] and out["metadata"] == raw["metadata"]
    assert out["flags"]["a"]["metadata"] == {"team": "x"}


def test_file_backend_writes_atomically_and_serializes_writers(tmp_path) -> None:
    path = seed_flags(tmp_path)
    backend = FlagdFile(path)
    assert isinstance(backend, FlagBackend)
    assert [f.key for f in backend.flags()] == list(SEED)
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(10):
                backend.set_cohort("new-gradebook", CohortRule(f"field{n}", (str(i),), "on"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    fields = {c.field for c in backend.flag("new-gradebook").cohorts}
    assert {"field0", "field1", "field2"} <= fields  # no writer lost another's change
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    # A hand-broken file is refused by reads and by changes, and left as it is.
    path.write_text('{"flags": {"a": {"state": "ON"}}}')
    with pytest.raises(FlagFileError) as info:
        backend.kill("a")
    assert info.value.field == "flags.a.state" and info.value.where == str(path)
    assert path.read_text() == '{"flags": {"a": {"state": "ON"}}}'


def test_missing_file_is_unreachable_and_config_is_checked(tmp_path) -> None:
    with pytest.raises(BackendUnavailable, match="no flag file"):
        FlagdFile(tmp_path / "nope.json").flags()
    assert from_config({"kind": "flagd", "file": "~/f.json"}).path.name == "f.json"
    with pytest.raises(ValueError, match=r"flags\.file"):
        from_config({"kind": "flagd"})
    with pytest.raises(ValueError, match="unknown key 'url'"):
        from_config({"kind": "flagd", "file": "f", "url": "x"})
