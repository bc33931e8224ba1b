"""The terminal UI (`vidsearch tui`): a Textual app over the same search API as `find`.

Importing this package imports nothing heavy; `vidsearch.tui.app` brings in Textual.
"""
