"""Without --cluster, Ray is never imported, even where it is installed."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow

pytest.importorskip("ray")


def test_a_local_index_never_imports_ray(tiny_model, library, tmp_path):
    # A process of its own: this one imports Ray for the cluster tests beside it.
    script = (
        "import sys\n"
        "from vidsearch.cli import main\n"
        f"code = main(['index', {str(library)!r}, '--db', {str(tmp_path / 'lib.db')!r}, '-q'])\n"
        "print(code, sorted(m for m in sys.modules if m == 'ray' or m.startswith('ray.')))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=REPO, timeout=600)
    # The summary comes first; the script's own line is the last.
    assert done.stdout.splitlines()[-1] == "0 []", done.stdout + done.stderr


def test_path_map_without_cluster_is_a_usage_error(tiny_model, library, tmp_path, capsys):
    from tests.faults.conftest import assert_one_clean_line, cli

    code, _out, err = cli(capsys, "index", library, "--path-map", "/a=/b")
    assert code == 2
    assert "--cluster" in assert_one_clean_line(err)


@pytest.mark.parametrize("argv", [["--videos-per-worker", "2"],
                                  ["--cluster", "local", "--videos-per-worker", "-1"]])
def test_videos_per_worker_is_checked_before_any_work(tiny_model, library, tmp_path, capsys,
                                                      argv):
    from tests.faults.conftest import assert_one_clean_line, cli

    code, _out, err = cli(capsys, "index", library, "--db", tmp_path / "lib.db", *argv)
    assert code == 2
    assert "--videos-per-worker" in assert_one_clean_line(err)
    assert not (tmp_path / "lib.db").exists()
