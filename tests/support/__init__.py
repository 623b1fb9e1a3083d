"""What tests in every area share (and bench/tui.py reuses), one module per job:

- ``clock``: the one hand-moved ``Clock`` (``clock()``, ``clock.now``, ``advance()``) and ``T0``;
- ``waits``: bounded polls for tests that watch threads and processes;
- ``pilot``: bounded waits and screen reads for Textual Pilot tests;
- ``fakes``: in-memory traffic and metrics backends and the console's fake environment;
- ``records``: rollout records to seed a store with;
- ``envs``: an environment of fakes and a real file store that the commands open;
- ``webhook``: a webhook receiver on 127.0.0.1;
- ``tmux``: the real CLI in a detached tmux session (keys in, the pane read back, cleanup);
- ``properties``: the Hypothesis profile and per-module example counts.

Tests import them as ``tests.support.<module>`` (``tests/`` is a package; pytest puts the
checkout on ``sys.path``).
"""
