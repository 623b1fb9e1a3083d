"""The rollout state machine: ``machine.step(record, plan, observation, command, now)``
returns the next record and the actions to apply. Pure: no I/O, time passed in.

``context.py`` is what every strategy shares (splits, health gates, analysis, pauses);
``canary.py``, ``bluegreen.py``, ``rolling.py`` and ``rolling_native.py`` are the strategies;
``batches.py`` what both rolling paths share.
"""
