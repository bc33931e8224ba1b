"""Widgets of the TUI; each talks to the screen through its own Message subclasses."""
