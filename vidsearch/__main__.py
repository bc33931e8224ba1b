from vidsearch.cli import entry

entry()
