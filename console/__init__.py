"""rollout: a terminal console for progressive delivery."""

__version__ = "0.1.0"
