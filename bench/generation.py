"""Generation speed on CPU, as ratios against references measured in the same run.

1. The LSTM step at batch 1: :class:`FastStepper` (fp32 and int8, the generator's default) against a
   default ``nn.LSTM`` single-step call of the same size (target: ≥ 5× faster), and what int8 costs in
   bits per note on the test split (the whole split scored through the step path; bar: < 0.02).
2. Whole notes at batch 1 and batch 8 (embedding, LSTM step, five heads, sampling): notes/s, and the cost
   of 8 variations against 1 (target: ≤ 2×).
3. Length: 128, 256, 512, 1024 notes; time(2N) / time(N) (target: ≤ 2.3).
4. Against the previous shipped model (issue 11's target: batch-1 notes/s at least its): that model with its
   own code, taken from git (``git archive 644fec8 composer``), and this checkout, each timed by
   ``bench/notes_per_s.py`` in a process of its own, alternately, ``--rounds`` times; the best of each.

    python bench/generation.py [--model PATH]     # writes bench/results/generation.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import torch
from notes_per_s import best_of, seed

from composer.evaluate import step_path_bits
from composer.generate import SHIPPED_MODEL, Composer, FastStepper, Settings
from composer.testing.benchmark import write_result

ROOT = Path(__file__).resolve().parent.parent


PREVIOUS = "644fec8"  # the previous (four-field) model and its code, as issue 15's benchmark run had them


def against_previous(rev: str, rounds: int) -> dict[str, object]:
    """Notes/s of this checkout and of commit ``rev`` (its code and its shipped model), alternately in fresh
    processes so that both meet the same machine load; the best of ``rounds`` each, and their ratio."""
    script = ROOT / "bench" / "notes_per_s.py"
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "previous.tar"
        with open(archive, "wb") as f:
            subprocess.run(["git", "archive", rev, "composer"], cwd=ROOT, stdout=f, check=True)
        with tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="data")
        trees = {"current": ROOT, "previous": Path(tmp)}
        best: dict[str, dict[str, float]] = {name: {} for name in trees}
        for _ in range(rounds):
            for name, tree in trees.items():
                env = {**os.environ, "PYTHONPATH": str(tree)}
                done = subprocess.run(
                    [sys.executable, str(script)], env=env, capture_output=True, text=True, check=True
                )
                for field, value in json.loads(done.stdout).items():
                    best[name][field] = max(best[name].get(field, 0.0), value)
    return {
        "previous_commit": rev,
        "rounds": rounds,
        "notes_per_s": {name: {k: round(v) for k, v in b.items()} for name, b in best.items()},
        "batch_1_ratio": round(best["current"]["batch_1"] / best["previous"]["batch_1"], 3),
        "batch_8_ratio": round(best["current"]["batch_8_per_take"] / best["previous"]["batch_8_per_take"], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, default=SHIPPED_MODEL)
    parser.add_argument("--data", type=Path, default=ROOT / "midi_data", help="corpus whose test split is scored")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: one core, as a studio worker)")
    parser.add_argument("--previous", default=PREVIOUS, help="the commit whose model and code are the reference")
    parser.add_argument("--rounds", type=int, default=3, help="alternate timings of each checkout")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    composer = Composer(args.model)
    model = composer.model
    h, layers = model.config.hidden, model.config.layers

    # 1. one LSTM step at batch 1
    reference = torch.nn.LSTM(h, h, num_layers=layers, batch_first=True).eval()
    x1 = torch.randn(1, 1, h)
    state = (torch.zeros(layers, 1, h), torch.zeros(layers, 1, h))
    with torch.no_grad():
        steps = 200
        ref_s = best_of(lambda: [reference(x1, state) for _ in range(steps)]) / steps
        fast = {}
        for name, int8 in (("fp32", False), ("int8", True)):
            stepper = FastStepper(model, int8=int8)
            split = stepper.split_state(state)
            fast[name] = best_of(lambda s=stepper, sp=split: [s.step(x1[:, 0], sp) for _ in range(steps)]) / steps
        ref_s = min(ref_s, best_of(lambda: [reference(x1, state) for _ in range(steps)]) / steps)
    bits = {
        name: step_path_bits(model, args.data, int8=int8)["bits_per_note"]
        for name, int8 in (("fp32", False), ("int8", True))
    }

    # 2. whole notes, batch 1 and 8
    def run(notes: int, k: int) -> float:
        return best_of(
            lambda: composer.continue_piece(seed(), Settings(bars=None, notes=notes, variations=k, seed=1)), repeats=3
        )

    n = 256
    t1, t8 = run(n, 1), run(n, 8)
    lengths = {str(length): run(length, 1) for length in (128, 256, 512, 1024)}
    keys = list(lengths)
    growth = {f"{b}/{a}": round(lengths[b] / lengths[a], 3) for a, b in itertools.pairwise(keys)}
    result = {
        "model": str(args.model.relative_to(ROOT) if args.model.is_relative_to(ROOT) else args.model),
        "hidden": h,
        "layers": layers,
        "threads": args.threads,
        "lstm_step_ms": {
            "default_nn_lstm": round(ref_s * 1e3, 4),
            "fast_step_fp32": round(fast["fp32"] * 1e3, 4),
            "fast_step_int8": round(fast["int8"] * 1e3, 4),
            "speedup_fp32": round(ref_s / fast["fp32"], 2),
            "speedup_int8": round(ref_s / fast["int8"], 2),
        },
        "test_split_bits_per_note": {
            "step_path_fp32": round(bits["fp32"], 5),
            "step_path_int8": round(bits["int8"], 5),
            "int8_cost": round(bits["int8"] - bits["fp32"], 5),
        },
        "notes_per_s": {"batch_1": round(n / t1), "batch_8_per_take": round(8 * n / t8)},
        "eight_variations_cost_vs_one": round(t8 / t1, 3),
        "seconds_by_length_batch_1": {k: round(v, 4) for k, v in lengths.items()},
        "time_growth_when_length_doubles": growth,
        "against_previous_model": against_previous(args.previous, args.rounds),
    }
    print(json.dumps(result, indent=2))
    out = ROOT / "bench" / "results" / "generation.json"
    write_result(out, result)


if __name__ == "__main__":
    main()
