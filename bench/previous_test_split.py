"""The shipped model on the test split of the corpus before issue 11 (1,178 single-track pieces): does the model
that learned tracks and dynamics still continue plain melodies as well as the one it replaced (2.9665 bits/note,
bench/results/evaluation.json of commit 24bc659)?

The files come from git (``git archive REV midi_data``); their manifest's test split is scored with
``composer.train.evaluate_songs`` (LSTM only).

    python bench/previous_test_split.py [--rev 24bc659] [--model composer/models/shipped]
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import tarfile
import tempfile
from pathlib import Path

import torch

from composer.checkpoint import SHIPPED_MODEL, load_model
from composer.dataset import load_songs
from composer.testing.benchmark import write_result
from composer.train import evaluate_songs

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rev", default="24bc659", help="the commit whose midi_data/ test split is scored")
    parser.add_argument("--model", type=Path, default=SHIPPED_MODEL)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "previous_test_split.json")
    args = parser.parse_args()
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "corpus.tar"
        with open(archive, "wb") as f:
            subprocess.run(["git", "archive", args.rev, "midi_data"], cwd=ROOT, stdout=f, check=True)
        with tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="data")
        corpus = Path(tmp) / "midi_data"
        folder = Path(tmp) / "test"
        folder.mkdir()
        with open(corpus / "manifest.csv", newline="", encoding="utf-8") as f:
            rows = [r for r in csv.DictReader(f) if r["split"] == "test"]
        for r in rows:  # a folder without a manifest: every file in it is scored
            (folder / r["path"].replace("/", "__")).write_bytes((corpus / r["path"]).read_bytes())
        songs, report = load_songs(folder, use_cache=False)
    model, _ = load_model(args.model)
    lstm = {k: round(v, 4) for k, v in evaluate_songs(model, songs, torch.device("cpu")).items()}
    result = {"model": str(args.model), "corpus_commit": args.rev, "pieces": len(songs), "files": report.files, **lstm}
    write_result(args.out, result)
    print(result)


if __name__ == "__main__":
    main()
