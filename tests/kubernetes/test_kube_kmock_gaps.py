"""Why tests/kubernetes/fakecluster/emulator.py exists: what kmock 0.8's KubernetesEmulator lacks.

The backend needs resourceVersion (compare-and-swap, watch resume), PUT, and label
selectors. If a kmock release grows these, this test fails: time to reconsider using it.
"""

from __future__ import annotations

import asyncio

import pytest

kmock = pytest.importorskip("kmock")
aiohttp = pytest.importorskip("aiohttp")


async def probe() -> dict[str, object]:
    emu = kmock.KubernetesEmulator()
    emu.resources["v1/configmaps"] = {}
    out: dict[str, object] = {}
    async with kmock.Server(emu) as server, aiohttp.ClientSession() as s:
        url = str(server.url).rstrip("/") + "/api/v1/namespaces/lms/configmaps"
        r = await s.post(url, json={"metadata": {"name": "a", "labels": {"x": "1"}}})
        out["created"] = await r.json()
        r = await s.get(url + "?labelSelector=x%3D2")
        out["list"] = await r.json()
        r = await s.put(url + "/a", json={"metadata": {"name": "a", "resourceVersion": "1"}})
        out["put_status"] = r.status
    return out


def test_kmock_has_no_resource_versions_put_or_selectors():
    got = asyncio.run(asyncio.wait_for(probe(), 20))
    assert "resourceVersion" not in got["created"]["metadata"]  # no CAS, no watch resume
    assert got["list"]["metadata"]["resourceVersion"] == "..."
    assert len(got["list"]["items"]) == 1  # the selector x=2 was ignored
    assert got["put_status"] >= 400  # PUT (update/replace) is not served
