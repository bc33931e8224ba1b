"""Builtin model cards (TOML), installed as the package `vidsearch.cards`; no code lives here."""
