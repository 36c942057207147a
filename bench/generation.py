"""Generation speed on CPU, as ratios against references measured in the same run.

1. The LSTM step at batch 1: :class:`FastStepper` (fp32 and int8, the generator's default) against a
   default ``nn.LSTM`` single-step call of the same size (target: ≥ 5× faster), and what int8 costs in
   bits per note on the test split (the whole split scored through the step path; bar: < 0.02).
2. Whole notes at batch 1 and batch 8 (embedding, LSTM step, four heads, sampling): notes/s, and the cost
   of 8 variations against 1 (target: ≤ 2×).
3. Length: 128, 256, 512, 1024 notes; time(2N) / time(N) (target: ≤ 2.3).

    python bench/generation.py [--model PATH]     # writes bench/results/generation.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

import torch

from composer.evaluate import step_path_bits
from composer.generate import SHIPPED_MODEL, Composer, FastStepper, Settings
from composer.piece import Note, Piece, TimeSignature
from composer.testing.benchmark import write_result

ROOT = Path(__file__).resolve().parent.parent


def best_of(fn, repeats: int = 5) -> float:
    fn()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def seed() -> Piece:
    melody = [67, 67, 69, 71, 72, 71, 69, 67, 69, 71, 72, 74, 72, 71, 69, 67]
    return Piece(
        notes=tuple(Note(i * 0.5, 0.5, p, 80) for i, p in enumerate(melody)),
        tempo=100,
        time_signature=TimeSignature(4, 4),
        key=7,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, default=SHIPPED_MODEL)
    parser.add_argument("--data", type=Path, default=ROOT / "midi_data", help="corpus whose test split is scored")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: one core, as a studio worker)")
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
    }
    print(json.dumps(result, indent=2))
    out = ROOT / "bench" / "results" / "generation.json"
    write_result(out, result)


if __name__ == "__main__":
    main()
