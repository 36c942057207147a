"""The training loop: seeded, resumable (kill -9 included), distributed; its state and its choice of songs."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from composer import checkpoint
from composer.cli import main
from composer.dataset import Song, collate
from composer.errors import InputError
from composer.model import MusicLSTM
from composer.testing import smf
from composer.testing.training import TINY, cli_train_args, songs
from composer.train import TrainConfig, TrainState, evaluate_songs, select_songs, train


def tiny_cfg(tmp_path, **kw):
    base = dict(
        data="unused",
        out=str(tmp_path / "run"),
        model=TINY,
        epochs=3,
        batch_events=160,
        max_len=20,
        lr=3e-3,
        warmup_steps=2,
        progress=False,
        threads=1,
        checkpoint_seconds=0.0,
    )
    base.update(kw)
    return TrainConfig(**base)


def weights(path):
    return checkpoint.read(path)[0]


def test_training_lowers_the_loss_and_save_load_gives_identical_outputs(tmp_path):
    data = songs(16)
    result = train(tiny_cfg(tmp_path, epochs=4), songs=(data[:12], data[12:]))
    history = [h["bits_per_note"] for h in result["history"]]
    assert history[-1] < history[0]
    model, config = checkpoint.load_model(tmp_path / "run" / "best.safetensors")
    assert config["model"] == TINY.to_dict()
    again, _ = checkpoint.load_model(tmp_path / "run" / "best.safetensors")
    batch = collate([(s, 0, len(s), 0) for s in data[:3]])
    assert torch.equal(model.field_nll(batch), again.field_nll(batch))
    card = json.loads((tmp_path / "run" / "best.json").read_text())
    assert card["metrics"]["valid"]["bits_per_note"] == pytest.approx(min(history))


def test_stop_and_resume_matches_an_uninterrupted_run(tmp_path):
    data = songs(16)
    split = (data[:12], data[12:])
    train(tiny_cfg(tmp_path / "a"), songs=split)
    train(tiny_cfg(tmp_path / "b", max_steps=5), songs=split)  # stops mid-epoch after a checkpoint
    train(tiny_cfg(tmp_path / "b"), songs=split, resume=True)
    a, b = weights(tmp_path / "a" / "run" / "last.safetensors"), weights(tmp_path / "b" / "run" / "last.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def corpus_folder(tmp_path, n=14):
    folder = tmp_path / "midi"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for i in range(n):
        (folder / f"t{i}.mid").write_bytes(smf.simple_file([int(p) for p in rng.integers(55, 80, 24)]))
    (folder / "broken.mid").write_bytes(b"MThd garbage")
    return folder


def test_kill_9_then_resume_matches_an_uninterrupted_run(tmp_path):
    folder = corpus_folder(tmp_path)
    env = {**os.environ, "COMPOSER_CACHE": str(tmp_path / "cache")}
    run = [sys.executable, "-m", "composer.cli"]
    subprocess.run([*run, *cli_train_args(folder, tmp_path / "full")], check=True, env=env, capture_output=True)
    proc = subprocess.Popen(
        [*run, *cli_train_args(folder, tmp_path / "killed")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    last = tmp_path / "killed" / "last.json"
    deadline = time.time() + 120
    while time.time() < deadline:
        if last.exists():
            try:
                if json.loads(last.read_text())["state"]["step"] >= 4:
                    break
            except (ValueError, KeyError):
                pass
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = subprocess.run(
        [*run, *cli_train_args(folder, tmp_path / "killed", "--resume")], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "resuming at epoch" in done.stdout
    a = weights(tmp_path / "full" / "last.safetensors")
    b = weights(tmp_path / "killed" / "last.safetensors")
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_a_folder_with_bad_files_trains_and_reports_them(tmp_path, capsys):
    folder = corpus_folder(tmp_path)
    os.environ["COMPOSER_CACHE"] = str(tmp_path / "cache")
    try:
        assert main(cli_train_args(folder, tmp_path / "out", "--max-steps", "2")) == 0
    finally:
        del os.environ["COMPOSER_CACHE"]
    out = capsys.readouterr().out
    assert "skipped: broken.mid" in out
    assert (tmp_path / "out" / "best.safetensors").exists()


def test_empty_and_all_bad_folders_are_one_clear_error(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(cli_train_args(empty, tmp_path / "o1")) == 2
    assert "holds no .mid or .midi files" in capsys.readouterr().err
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.mid").write_bytes(b"RIFF....WAVE")
    os.environ["COMPOSER_CACHE"] = str(tmp_path / "cache")
    try:
        assert main(cli_train_args(bad, tmp_path / "o2")) == 2
    finally:
        del os.environ["COMPOSER_CACHE"]
    assert "None of the 1 MIDI files" in capsys.readouterr().err


def test_two_process_ddp_with_gloo(tmp_path):
    folder = corpus_folder(tmp_path)
    env = {**os.environ, "COMPOSER_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    torchrun = Path(sys.executable).parent / "torchrun"
    done = subprocess.run(
        [
            str(torchrun),
            "--standalone",
            "--nproc_per_node",
            "2",
            "-m",
            "composer.cli",
            *cli_train_args(folder, tmp_path / "ddp", "--epochs", "2"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "2 process(es)" in done.stdout
    _model, config = checkpoint.load_model(tmp_path / "ddp" / "best.safetensors")
    assert config["metrics"]["valid"]["bits_per_note"] > 0


def test_init_fine_tunes_from_a_checkpoint(tmp_path):
    folder = corpus_folder(tmp_path)
    os.environ["COMPOSER_CACHE"] = str(tmp_path / "cache")
    try:
        assert main(cli_train_args(folder, tmp_path / "base", "--max-steps", "3")) == 0
        base = tmp_path / "base" / "best.safetensors"
        # the model settings come from the checkpoint, whatever the flags say
        assert (
            main(
                [*cli_train_args(folder, tmp_path / "tuned", "--max-steps", "3"), "--hidden", "64", "--init", str(base)]
            )
            == 0
        )
    finally:
        del os.environ["COMPOSER_CACHE"]
    _, config = checkpoint.load_model(tmp_path / "tuned" / "best.safetensors")
    assert config["model"]["hidden"] == 32 and config["init"] == str(base)


def test_train_state_reads_and_writes_the_checkpoints_state_as_before(tmp_path):
    # A run's "state" as last.json has always held it (a run written before TrainState existed).
    saved = {
        "bad_epochs": 1,
        "batch": 3,
        "best": 5.25,
        "epoch": 2,
        "history": [{"epoch": 1, "step": 7, "bits_per_note": 5.25, "notes": 100.0}],
        "notes_seen": 1234,
        "step": 10,
        "train_seconds": 4.5,
    }
    state = TrainState.from_dict(saved)
    assert (state.epoch, state.batch, state.step, state.best) == (2, 3, 10, 5.25)
    assert json.loads(json.dumps(state.to_dict(), sort_keys=True)) == saved
    fresh = TrainState().to_dict()
    assert sorted(fresh) == sorted(saved) and fresh["best"] == float("inf")


def test_resume_continues_from_the_state_in_last_json(tmp_path):
    data = songs(16)
    train(tiny_cfg(tmp_path, max_steps=3), songs=(data[:12], data[12:]))
    state = json.loads((tmp_path / "run" / "last.json").read_text())["state"]
    assert state["step"] == 3 and state["epoch"] == 0 and state["batch"] == 3 and state["best"] == float("inf")
    result = train(tiny_cfg(tmp_path, max_steps=5), songs=(data[:12], data[12:]), resume=True)
    assert result["steps"] == 5


def test_select_songs_follows_each_songs_split_collection_and_evaluation_set():
    def song(name, split, collection="folk", eval_set="", group=""):
        return Song(np.zeros((1, 4), dtype=np.int64), 48, 0, 0, name, collection, group, split, eval_set)

    pool = [
        song("a", "train"),
        song("b", "valid"),
        song("c", "test"),
        song("d", "train", eval_set="kinder", group="g"),
        song("e", "train", group="g"),  # grouped with an evaluation piece
        song("f", "train", collection="chorales"),
    ]

    def names(cfg):
        train_songs, valid_songs = select_songs(pool, cfg)
        return [s.name for s in train_songs], [s.name for s in valid_songs]

    assert names(TrainConfig()) == (["a", "d", "e", "f"], ["b"])
    assert names(TrainConfig(exclude_eval=True)) == (["a", "f"], ["b"])
    assert names(TrainConfig(collections=["chorales"])) == (["f"], [])
    # --repeat weighs a collection up in training only; validation counts each piece once
    assert names(TrainConfig(repeat={"chorales": 3})) == (["a", "d", "e", "f", "f", "f"], ["b"])
    with pytest.raises(InputError, match="--repeat names absent, which no training piece belongs to"):
        names(TrainConfig(repeat={"chorales": 3, "absent": 2}))


def test_repeat_of_a_collection_with_no_training_piece_is_one_sentence(tmp_path, capsys):
    folder = corpus_folder(tmp_path)
    os.environ["COMPOSER_CACHE"] = str(tmp_path / "cache")
    try:
        code = main(cli_train_args(folder, tmp_path / "out", "--max-steps", "1", "--repeat", "bach-sopranos=8"))
    finally:
        del os.environ["COMPOSER_CACHE"]
    err = capsys.readouterr().err
    assert code == 2 and "--repeat names bach-sopranos, which no training piece belongs to" in err
    assert "Traceback" not in err and not (tmp_path / "out" / "best.safetensors").exists()


def test_repeat_flag_reads_collection_counts_and_refuses_anything_else():
    from composer.cli import _repeats

    assert _repeats("bach-soprano=8, essen=2") == {"bach-soprano": 8, "essen": 2}
    assert _repeats(None) is None
    for bad in ("bach-soprano", "essen=0", "=3", "essen=two"):
        with pytest.raises(InputError, match="COLLECTION=N"):
            _repeats(bad)


def test_init_warm_starts_from_the_shipped_four_field_model(tmp_path):
    data = songs(4, length=24)
    result = train(
        tiny_cfg(tmp_path, init=str(checkpoint.SHIPPED_MODEL), max_steps=1, epochs=1), songs=(data[:3], data[3:])
    )
    model, config = checkpoint.load_model(tmp_path / "run" / "last.safetensors")  # a current-format checkpoint
    assert config["encoding"] == checkpoint.encoding_table() and model.config.hidden == 512
    assert config["init"] == str(checkpoint.SHIPPED_MODEL) and result["history"]


def test_validation_reports_each_field_and_velocity_only_where_it_is_known():
    torch.manual_seed(0)
    model = MusicLSTM(TINY)
    data = songs(6)
    report = evaluate_songs(model, data, torch.device("cpu"))
    notes = sum(int((s.ids[:, 1] != 88).sum()) for s in data)
    known = sum(int((s.ids[:, 1] != 88).sum()) for s in data if s.has_dynamics)
    assert report["notes"] == notes and report["velocity_notes"] == known < notes
    without = sum(report[f"{f}_bits"] for f in ("shift", "pitch", "duration", "track"))
    assert report["bits_per_note_without_velocity"] == pytest.approx(without)
    velocity_total = report["velocity_bits"] * known / notes  # velocity bits count only where known
    assert report["bits_per_note"] == pytest.approx(without + velocity_total)


def test_a_time_limit_stops_between_steps_then_validates_and_writes_best_and_last(tmp_path):
    data = songs(16)
    seen: list[int] = []
    started = time.perf_counter()
    result = train(
        tiny_cfg(tmp_path, epochs=10_000, max_seconds=1.0),
        songs=(data[:12], data[12:]),
        on_progress=lambda state: seen.append(state.step),
    )
    assert time.perf_counter() - started < 30  # the limit, one validation, the saves (slack for a busy machine)
    assert result["steps"] > 0 and seen[-1] == result["steps"]
    assert result["history"][-1]["step"] == result["steps"]  # validated where it stood
    for name in ("best", "last"):
        assert (tmp_path / "run" / f"{name}.safetensors").exists()
    assert json.loads((tmp_path / "run" / "last.json").read_text())["state"]["step"] == result["steps"]


def test_a_cancel_stops_between_steps_without_validating(tmp_path):
    data = songs(16)
    steps: list[int] = []
    result = train(
        tiny_cfg(tmp_path, epochs=50),  # three batches an epoch
        songs=(data[:12], data[12:]),
        cancel=lambda: len(steps) >= 2,
        on_progress=lambda state: steps.append(state.step),
    )
    assert result["steps"] == 2 and result["history"] == []  # stopped inside the first epoch, not validated
    assert json.loads((tmp_path / "run" / "last.json").read_text())["state"]["step"] == 2
    assert (tmp_path / "run" / "best.safetensors").exists()  # every run leaves a model


def test_mid_epoch_validation_keeps_the_best_and_a_one_off_run_may_skip_last(tmp_path):
    data = songs(16)
    result = train(tiny_cfg(tmp_path, epochs=2, validate_seconds=1e-9, save_last=False), songs=(data[:12], data[12:]))
    epochs = [row["epoch"] for row in result["history"]]
    assert any(0 < e < 1 for e in epochs) and epochs[-1] == 2 and len(epochs) == result["steps"]
    best = json.loads((tmp_path / "run" / "best.json").read_text())["metrics"]
    assert best["valid"]["bits_per_note"] == pytest.approx(min(r["bits_per_note"] for r in result["history"]))
    assert not (tmp_path / "run" / "last.safetensors").exists()
