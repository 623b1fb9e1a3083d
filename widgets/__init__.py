"""Reusable Textual widgets that render plain data (no backend calls)."""
