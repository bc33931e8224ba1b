"""Packages: every package under vidsearch/ is found; the model cards in the top-level models/
folder are mapped in as vidsearch.cards (pyproject.toml cannot say both)."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["vidsearch", "vidsearch.*"]), "vidsearch.cards"],
    package_dir={"vidsearch.cards": "models"},
)
