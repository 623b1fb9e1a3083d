"""Configuration and composition: the config file (``settings.py``), XDG paths
(``paths.py``) and ``environments.py``, the one place that names concrete backends and wires
them into an ``Environment``."""
