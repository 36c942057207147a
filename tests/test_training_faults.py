"""Training faults: ``kill -9`` at random points, then ``--resume``; a full or unwritable --out; truncated checkpoints.

The CI-sized versions of bench/training_faults.py (which kills a run on a real slice of the corpus 13 times and
writes the figures).  The single-kill case and the half-truncated file live in test_model.py.
"""

import contextlib
import errno
import io
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from composer import checkpoint
from composer.cli import main
from composer.errors import InputError
from composer.testing import smf
from composer.testing.training import cli_train_args as train_args  # the same tiny training run as test_train

# A child process that is the composer CLI plus two hooks: each optimizer step's index goes to FAULT_PROGRESS as it
# starts (so the test can kill at a chosen step), and with FAULT_KILL_AT_WRITE=N the process SIGKILLs itself at the
# N-th write of last.safetensors, after the temporary file is half written and before it replaces the checkpoint.
CHILD = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path

    import composer.train as train
    from composer.cli import main

    progress = os.open(os.environ["FAULT_PROGRESS"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    real_lr_at = train.lr_at

    def lr_at(step, total, cfg):
        os.write(progress, b"%d\\n" % step)
        return real_lr_at(step, total, cfg)

    train.lr_at = lr_at
    wanted, seen, real_replace = int(os.environ.get("FAULT_KILL_AT_WRITE", "0")), [0], os.replace

    def replace(src, dst):
        if Path(dst).name == "last.safetensors":
            seen[0] += 1
            if seen[0] == wanted:
                os.truncate(src, os.path.getsize(src) // 2)
                os.kill(os.getpid(), signal.SIGKILL)
        real_replace(src, dst)

    os.replace = replace
    sys.exit(main(sys.argv[1:]))
""")

REPO = Path(__file__).resolve().parent.parent
RUN_FILES = {"best.safetensors", "best.json", "last.safetensors", "last.json"}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """30 short melodies (their own hash split) and an event cache for this module."""
    folder = tmp_path_factory.mktemp("midi")
    rng = np.random.default_rng(5)
    for i in range(30):
        (folder / f"m{i:02d}.mid").write_bytes(smf.simple_file([int(p) for p in rng.integers(55, 80, 24)]))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COMPOSER_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield folder


def run_main(argv):
    """``composer ARGV`` in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def summary(stdout):
    return json.loads(stdout[stdout.index("{\n") :])


@pytest.fixture(scope="module")
def reference(corpus, tmp_path_factory):
    """One uninterrupted run: (its folder, its final summary)."""
    out = tmp_path_factory.mktemp("reference") / "run"
    code, stdout, _ = run_main(train_args(corpus, out))
    assert code == 0
    return out, summary(stdout)


def tensors(path):
    return checkpoint.read(path)[0]


def assert_equal_tensors(path, other):
    a, b = tensors(path), tensors(other)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), (path.name, key)


def assert_same_run(run, ref):
    for name in ("last.safetensors", "best.safetensors"):  # last: weights and the AdamW state
        assert_equal_tensors(run / name, ref / name)


def one_clear_sentence(stderr):
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


# ------------------------------------------------------------------------------------------ kill -9, then --resume


def steps_started(progress: Path) -> list[int]:
    text = progress.read_text() if progress.exists() else ""
    return [int(line) for line in text.splitlines()[: text.count("\n")]]


def test_kill_9_at_random_points_and_inside_a_checkpoint_write_then_resume_equals_an_uninterrupted_run(
    corpus, reference, tmp_path
):
    ref, ref_summary = reference
    total = ref_summary["steps"]
    rng = random.Random(11)
    child = tmp_path / "child.py"
    child.write_text(CHILD)
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    command = [sys.executable, str(child), *train_args(corpus, out)]

    # 1. SIGKILL from outside at a random step (and a random moment inside it)
    progress = tmp_path / "1.progress"
    kill_at = rng.randrange(2, total // 2)
    proc = subprocess.Popen(
        command, env={**env, "FAULT_PROGRESS": str(progress)}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        started = steps_started(progress)
        if started and started[-1] >= kill_at:
            time.sleep(rng.uniform(0, 0.01))
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.002)
    assert proc.wait() == -signal.SIGKILL, proc.stderr.read()  # killed, not finished
    first = checkpoint.read(out / "last.safetensors")[1]["state"]["step"]

    # 2. --resume, killed again by itself half-way through a later write of last.safetensors
    progress = tmp_path / "2.progress"
    write = rng.randrange(2, total - first - 1)
    killed = subprocess.run(
        [*command, "--resume"],
        env={**env, "FAULT_PROGRESS": str(progress), "FAULT_KILL_AT_WRITE": str(write)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert f"step {first}" in killed.stdout  # it resumed where the first kill left it
    second = checkpoint.read(out / "last.safetensors")[1]["state"]["step"]
    assert first < second < total
    assert 0 <= steps_started(progress)[-1] + 1 - second <= 1  # at most the step whose checkpoint never landed
    assert len(list(out.glob(".*.tmp"))) <= 1  # the killed write's one temporary file, at most

    # 3. --resume to the end: the same weights, optimizer state and metrics as the run that was never killed
    done = subprocess.run(
        [*command, "--resume"],
        env={**env, "FAULT_PROGRESS": str(tmp_path / "3.progress")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert f"step {second}" in done.stdout
    final = summary(done.stdout)
    assert {k: final[k] for k in ("best_valid_bits_per_note", "steps", "epochs")} == {
        k: ref_summary[k] for k in ("best_valid_bits_per_note", "steps", "epochs")
    }
    assert_same_run(out, ref)
    assert (
        json.loads((out / "last.json").read_text())["state"]["history"]
        == json.loads((ref / "last.json").read_text())["state"]["history"]
    )
    # What the kills left behind (half-written temporary files) has names that nothing loads.
    assert checkpoint.resolve(out) == out / "best.safetensors"
    assert {p.name for p in out.glob("*.safetensors")} == {"best.safetensors", "last.safetensors"}
    assert not list(out.glob(".*.tmp"))  # … and the next saves removed it


def test_a_temporary_file_left_by_a_killed_save_goes_with_the_next_save(tmp_path):
    path = tmp_path / "last.safetensors"
    tensors = {"model.w": torch.zeros(3)}
    checkpoint.save(path, tensors, {"step": 1})
    leftover = tmp_path / ".last.safetensors.99999.tmp"  # what a process killed mid-write leaves
    leftover.write_bytes(b"half a checkpoint")
    (tmp_path / ".last.json.99999.tmp").write_bytes(b"{")
    other = tmp_path / ".best.safetensors.99999.tmp"  # another checkpoint's: not this save's to remove
    other.write_bytes(b"x")
    checkpoint.save(path, tensors, {"step": 2})
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".best.safetensors.99999.tmp",
        "last.json",
        "last.safetensors",
    ]
    assert checkpoint.read(path)[1]["step"] == 2


# ------------------------------------------------------------------------------------- a full or unwritable --out


def failing_save(monkeypatch, name, nth, error):
    """Make the ``nth`` write of ``name`` (last or best) fail with ``error``; returns the files as they were then."""
    real_save, seen, before = checkpoint.save, [0], {}

    def save(path, tensors, config):
        path = Path(path)
        if path.name == f"{name}.safetensors":
            seen[0] += 1
            if seen[0] == nth:
                before.update({p.name: p.read_bytes() for p in path.parent.iterdir() if p.name in RUN_FILES})
                raise error
        real_save(path, tensors, config)

    monkeypatch.setattr(checkpoint, "save", save)
    return before


def assert_previous_checkpoints_intact(out, before):
    assert before, "the failure never happened"
    for name, data in before.items():
        assert (out / name).read_bytes() == data, name
        if name.endswith(".safetensors"):
            checkpoint.load_model(out / name)
    assert {p.name for p in out.glob("*.safetensors")} <= {"best.safetensors", "last.safetensors"}


@pytest.mark.parametrize(
    "error",
    [
        OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)),
        PermissionError(errno.EACCES, os.strerror(errno.EACCES)),
        OSError(errno.EROFS, os.strerror(errno.EROFS)),
    ],
    ids=["ENOSPC", "EACCES", "EROFS"],
)
def test_a_failing_write_of_last_is_one_clear_sentence_and_keeps_the_previous_checkpoints(
    corpus, reference, tmp_path, monkeypatch, error
):
    out = tmp_path / "run"
    before = failing_save(monkeypatch, "last", 12, error)  # in epoch 2, after a best.safetensors exists
    code, _, stderr = run_main(train_args(corpus, out))
    assert code == 2
    message = one_clear_sentence(stderr)
    assert str(out) in message and error.strerror in message and "--resume" in message
    assert_previous_checkpoints_intact(out, before)
    assert "best.safetensors" in before
    code, stdout, _ = run_main(train_args(corpus, out, "--resume"))  # the folder takes writes again
    assert code == 0 and "resuming at" in stdout
    assert_same_run(out, reference[0])


def test_a_full_disk_while_writing_best_is_one_clear_sentence_and_keeps_the_previous_checkpoints(
    corpus, reference, tmp_path, monkeypatch
):
    out = tmp_path / "run"
    before = failing_save(monkeypatch, "best", 2, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
    code, _, stderr = run_main(train_args(corpus, out))
    assert code == 2
    message = one_clear_sentence(stderr)
    assert str(out) in message and "No space left" in message and "--resume" in message
    assert_previous_checkpoints_intact(out, before)
    code, stdout, _ = run_main(train_args(corpus, out, "--resume"))  # space again
    assert code == 0 and "resuming at" in stdout
    assert_same_run(out, reference[0])


def limited(max_bytes, command):
    """``command`` with RLIMIT_FSIZE: a write past ``max_bytes`` fails in the kernel (EFBIG), as a full disk does."""
    wrapper = (
        f"import os, resource, sys; resource.setrlimit(resource.RLIMIT_FSIZE, ({max_bytes}, {max_bytes})); "
        "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"
    )
    return [sys.executable, "-c", wrapper, *command]


def test_a_real_write_error_from_the_kernel_is_one_clear_sentence_and_keeps_the_previous_checkpoints(corpus, tmp_path):
    out = tmp_path / "run"
    assert run_main(train_args(corpus, out, "--max-steps", "4"))[0] == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    # Room for best.safetensors (model) but not last.safetensors (model + optimizer): the next checkpoint fails.
    room = (len(before["best.safetensors"]) + len(before["last.safetensors"])) // 2
    done = subprocess.run(
        limited(room, ["-m", "composer.cli", *train_args(corpus, out, "--resume")]),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr[-3000:]
    message = one_clear_sentence(done.stderr)
    assert str(out) in message and "--resume" in message
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # intact, and no temporary file left


def can_mount_a_tmpfs():
    if not shutil.which("unshare"):
        return False
    probe = subprocess.run(["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"], capture_output=True)
    return probe.returncode == 0


def test_a_really_full_disk_is_one_clear_sentence_and_keeps_the_previous_checkpoint(corpus, reference, tmp_path):
    if not can_mount_a_tmpfs():
        pytest.skip("needs a private tmpfs (unshare -m and mount, as root with CAP_SYS_ADMIN)")
    ref, _ = reference
    disk, kept = tmp_path / "disk", tmp_path / "kept"
    disk.mkdir()
    # A disk that holds one last.safetensors but not a second one beside it: the second checkpoint fails.
    size_k = (ref / "last.safetensors").stat().st_size * 3 // 2 // 1024 + 8
    argv = " ".join([sys.executable, "-m", "composer.cli", *train_args(corpus, disk / "run")])
    script = f"mount -t tmpfs -o size={size_k}k tmpfs {disk} && {argv}; rc=$?; cp -a {disk}/run {kept}; exit $rc"
    done = subprocess.run(
        ["unshare", "-m", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert {p.name for p in kept.iterdir()} == {"last.safetensors", "last.json"}  # no temporary file left
    assert checkpoint.read(kept / "last.safetensors")[1]["state"]["step"] == 1
    assert run_main(train_args(corpus, tmp_path / "one", "--max-steps", "1"))[0] == 0
    assert_equal_tensors(kept / "last.safetensors", tmp_path / "one" / "last.safetensors")
    assert done.returncode == 2, done.stderr[-3000:]
    message = one_clear_sentence(done.stderr)
    assert str(disk / "run") in message and "No space left" in message and "--resume" in message


@pytest.mark.parametrize("where", ["under a regular file", "a regular file"])
def test_an_out_that_cannot_be_a_folder_is_one_clear_sentence(corpus, tmp_path, where):
    regular = tmp_path / "notes.txt"
    regular.write_text("a file, not a folder\n")
    out = regular / "run" if where == "under a regular file" else regular
    code, _, stderr = run_main(train_args(corpus, out, "--max-steps", "1"))
    assert code == 2
    message = one_clear_sentence(stderr)
    assert str(regular) in message and "--out" in message
    assert regular.read_text() == "a file, not a folder\n"


def test_an_out_folder_that_refuses_writes_is_one_clear_sentence_before_training(corpus, tmp_path):
    # Root ignores file modes (CI runs as root), so the probe file that train() writes is made a folder instead.
    out = tmp_path / "run"
    (out / ".write-test").mkdir(parents=True)
    code, stdout, stderr = run_main(train_args(corpus, out))
    assert code == 2
    assert str(out) in one_clear_sentence(stderr) and "training" not in stdout
    assert not (out / "last.safetensors").exists()


# ----------------------------------------------------------------------------------------- truncated checkpoints


def cut_points(path):
    size = path.stat().st_size
    header = int.from_bytes(path.read_bytes()[:8], "little")
    return {
        "empty": 0,
        "in the length prefix": 5,
        "length prefix only": 8,
        "in the JSON header": 8 + header // 2,
        "no tensors": 8 + header,
        "in the tensors": 8 + header + (size - 8 - header) // 2,
        "last byte": size - 1,
    }


TRUNCATIONS = [
    "empty",
    "in the length prefix",
    "length prefix only",
    "in the JSON header",
    "no tensors",
    "in the tensors",
    "last byte",
]


@pytest.mark.parametrize("where", TRUNCATIONS)
def test_a_truncated_checkpoint_is_refused_by_load_model_resume_and_generate(corpus, reference, tmp_path, where):
    ref, _ = reference
    run = tmp_path / "run"
    run.mkdir()
    for name in RUN_FILES:
        (run / name).write_bytes((ref / name).read_bytes())
    for name in ("last.safetensors", "best.safetensors"):
        data = (ref / name).read_bytes()
        (run / name).write_bytes(data[: cut_points(ref / name)[where]])
        with pytest.raises(InputError, match=re.escape(name) + ".*truncated"):
            checkpoint.load_model(run / name)
    damaged = {p.name: p.read_bytes() for p in run.iterdir()}

    code, stdout, stderr = run_main(train_args(corpus, run, "--resume"))
    assert code == 2 and "resuming" not in stdout
    assert "last.safetensors" in one_clear_sentence(stderr)
    seed = next(corpus.glob("*.mid"))
    code, _, stderr = run_main(
        ["generate", str(seed), "--out", str(tmp_path / "takes"), "--model", str(run / "best.safetensors"), "--quiet"]
    )
    assert code == 2
    assert "best.safetensors" in one_clear_sentence(stderr)
    assert not (tmp_path / "takes").exists()
    assert {p.name: p.read_bytes() for p in run.iterdir()} == damaged  # refusing writes nothing
