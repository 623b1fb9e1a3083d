"""Every driver sends the plan's webhooks: the controller, a console's driver (given no
notifier), and a one-shot command applied with no driver running."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from backends.base import CommandKind, Phase
from console.driver.controller import Controller
from console.driver.loop import Driver
from console.driver.notify import close_plan_notifiers
from console.driver.send import send_command
from console.plan.model import Plan
from tests.controller.fakes_controller import LONG_STEPS, World, plan
from tests.support.waits import eventually
from tests.support.webhook import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        close_plan_notifiers(wait=2.0)
        r.close()


def _hooked(receiver: Receiver, steps: str = LONG_STEPS) -> Plan:
    return plan("courses", steps=steps, extra=f"notify:\n  webhooks: [{receiver.url}]")


def test_a_driver_given_no_notifier_sends_the_plans_webhooks(
    tmp_path: Path, receiver: Receiver
) -> None:
    world = World(tmp_path)
    console = Driver(world.env(), "courses", holder="alice@lap:console:1", clock=world.clock)
    console.begin(_hooked(receiver))
    assert eventually(lambda: receiver.kinds()[:2] == ["started", "step"], timeout=5)


def test_a_one_shot_command_with_no_driver_sends_them(tmp_path: Path, receiver: Receiver) -> None:
    world = World(tmp_path)
    d = Driver(world.env(), "courses", holder="auto@ci:1:aa", clock=world.clock)
    d.begin(_hooked(receiver))
    d.close()  # nobody drives now
    assert eventually(lambda: "started" in receiver.kinds(), timeout=5)
    reply = send_command(world.env(), "courses", CommandKind.ABORT, user="bob")
    assert reply.startswith("aborted")
    assert eventually(lambda: "aborted" in receiver.kinds(), timeout=5)


def test_the_controller_sends_them(tmp_path: Path, receiver: Receiver) -> None:
    world = World(tmp_path)
    short = "  - setWeight: 50\n  - pause: 1s"
    d = Driver(world.env(), "courses", holder="starter@ci:1:aa", clock=world.clock)
    d.begin(_hooked(receiver, short))
    d.close()
    c = Controller(world.env(), holder="ctl@sim:1:aa", clock=world.clock, workers=0)
    for _ in range(10):
        world.clock.advance(1)
        c.pass_once()
    rec = world.store.load("courses")
    assert rec is not None and rec.phase is Phase.COMPLETED
    assert eventually(lambda: "completed" in receiver.kinds(), timeout=5)
