"""Screens of the TUI: the main search screen and its modal helpers."""
