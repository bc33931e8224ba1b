import os

from vidsearch.scan import content_hash, scan


def is_video(path: str) -> bool:
    return path.endswith(".mp4")


def touch(path, data=b"x"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_scan_recurses_and_skips_hidden_and_non_videos(tmp_path):
    touch(tmp_path / "a.mp4")
    touch(tmp_path / "sub" / "deeper" / "b.mp4")
    touch(tmp_path / "notes.txt")
    touch(tmp_path / ".hidden" / "c.mp4")
    touch(tmp_path / ".d.mp4")
    found = sorted(os.path.relpath(s.path, tmp_path) for s in scan([tmp_path], is_video))
    assert found == ["a.mp4", os.path.join("sub", "deeper", "b.mp4")]


def test_scan_survives_a_symlink_loop(tmp_path):
    touch(tmp_path / "lib" / "a.mp4")
    os.symlink(tmp_path / "lib", tmp_path / "lib" / "loop")
    found = [s.path for s in scan([tmp_path / "lib"], is_video)]
    assert found == [str(tmp_path / "lib" / "a.mp4")]


def test_scan_reports_each_file_once_when_roots_overlap(tmp_path):
    touch(tmp_path / "sub" / "a.mp4")
    found = list(scan([tmp_path, tmp_path / "sub", tmp_path / "sub" / "a.mp4"], is_video))
    assert len(found) == 1


def test_content_hash_is_the_same_for_a_copy_and_differs_on_change(tmp_path):
    data = os.urandom(3 << 20)
    a = touch(tmp_path / "a.mp4", data)
    b = touch(tmp_path / "b.mp4", data)
    assert content_hash(str(a)) == content_hash(str(b))
    changed = bytearray(data)
    changed[-1] ^= 1
    c = touch(tmp_path / "c.mp4", bytes(changed))
    assert content_hash(str(c)) != content_hash(str(a))
