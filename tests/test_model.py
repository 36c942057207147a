"""The LSTM, its checkpoints, and the training loop (seeded, resumable, distributed)."""

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
from composer.dataset import Song, collate, iterate_batches, transpose_range, transposed
from composer.encoding import PITCH, REST
from composer.model import NO_PITCH, ModelConfig, MusicLSTM
from composer.testing import smf
from composer.train import TrainConfig, train

TINY = ModelConfig(hidden=32, layers=2, head_hidden=16, dropout=0.1)


def songs(n=12, length=40, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        ids = np.stack(
            [
                rng.choice([0, 6, 12], length),
                rng.integers(30, 50, length),
                rng.integers(0, 12, length),
                np.full(length, 10),
            ],
            axis=1,
        ).astype(np.int64)
        out.append(Song(ids=ids, bar=36 if i % 2 else 48, bar_start=i % 3, key=i % 24, name=f"s{i}"))
    return out


def test_step_by_step_equals_whole_sequence():
    torch.manual_seed(0)
    model = MusicLSTM(TINY).eval()
    batch = collate([(s, 0, len(s), 0) for s in songs(3)])
    whole, _ = model(batch.inputs, batch.in_pos, batch.bar, batch.key, batch.prev_pitch)
    state = model.initial_state(3)
    steps = []
    for t in range(batch.inputs.shape[1]):
        out, state = model(
            batch.inputs[:, t : t + 1],
            batch.in_pos[:, t : t + 1],
            batch.bar[:, t : t + 1],
            batch.key[:, t : t + 1],
            batch.prev_pitch[:, t : t + 1],
            state,
        )
        steps.append(out)
    assert torch.allclose(torch.cat(steps, 1), whole, atol=1e-5)


def test_field_losses_are_exact_log_probabilities():
    torch.manual_seed(0)
    model = MusicLSTM(TINY).eval()
    batch = collate([(s, 0, len(s), 0) for s in songs(2)])
    nll = model.field_nll(batch)
    h, _ = model(batch.inputs, batch.in_pos, batch.bar, batch.key, batch.prev_pitch)
    zs, *_ = model.head_inputs(h)
    logp = torch.log_softmax(model.shift_logits(zs), -1)
    expected = -logp.gather(-1, batch.targets[..., :1]).squeeze(-1)
    assert torch.allclose(nll[..., 0], expected * batch.mask, atol=1e-5)
    assert (nll >= 0).all()


def test_windows_start_from_the_previous_event_and_positions_follow():
    s = songs(1, length=10)[0]
    b = collate([(s, 4, 3, 0)])
    assert b.inputs[0].tolist() == s.ids[3:6].tolist()
    assert b.targets[0].tolist() == s.ids[4:7].tolist()
    pos = s.positions()
    assert b.tgt_pos[0].tolist() == pos[5:8].tolist() and b.in_pos[0].tolist() == pos[4:7].tolist()
    assert b.prev_pitch[0].tolist() == s.ids[2:5, 1].tolist()  # the event before each input event
    first = collate([(s, 0, 3, 0)])
    assert first.prev_pitch[0].tolist() == [NO_PITCH, NO_PITCH, s.ids[0, 1]]


def test_transposition_is_range_safe_and_moves_the_key():
    ids = np.array([[0, 0, 0, 5], [12, REST, 0, 0], [12, 80, 3, 5]])
    s = Song(ids=ids, bar=48, bar_start=0, key=23)
    low, high = transpose_range(s)
    assert low == 0 and high == 5  # the lowest pitch is A0, the highest 80 + 5 <= 87
    moved, key = transposed(ids, 23, 2)
    assert moved[:, PITCH].tolist() == [2, REST, 82] and key == 13


def test_batches_are_a_function_of_seed_and_epoch():
    data = songs(30)
    a = [
        [(x[1], x[2], x[3]) for x in b]
        for b in iterate_batches(data, max_len=16, batch_events=64, seed=3, epoch=2, augment=True)
    ]
    b = [
        [(x[1], x[2], x[3]) for x in b]
        for b in iterate_batches(data, max_len=16, batch_events=64, seed=3, epoch=2, augment=True)
    ]
    assert a == b
    covered = sum(length for batch in a for _, length, _ in batch)
    assert covered == sum(len(s) for s in data)  # every event is a target exactly once per epoch


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


def cli_train_args(folder, out, *extra):
    return [
        "train",
        "--data",
        str(folder),
        "--out",
        str(out),
        "--hidden",
        "32",
        "--layers",
        "1",
        "--head-hidden",
        "16",
        "--epochs",
        "3",
        "--batch-events",
        "96",
        "--max-len",
        "16",
        "--threads",
        "1",
        "--checkpoint-seconds",
        "0",
        "--quiet",
        *extra,
    ]


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
