"""The Textual console: the app, its screens, key metadata, the palette and the thread
runner. With ``widgets/``, the only code that imports Textual (an import-linter contract)."""
