"""vidsearch: search a personal video library by what happens in it."""

__version__ = "0.1.0"
