"""Everything that runs the engine against real backends: ``loop.py`` (the Driver: lease,
observe, step, save, apply), ``edges.py`` (observations and actions), ``send.py`` (operator
commands), ``notify.py`` (webhooks), ``preflight.py`` (refuse what an environment cannot
carry), ``pool.py`` (which rollouts one process drives, parked while they are over). No
Textual: the console, ``rollout auto`` and the controller all drive through it.
"""
