"""Fit auto's form mix (composer.form.AUTO_MIX) on the validation split: how often should a take restate its
seed's last phrase (repeat), vary it, or go its own way (free), so that the takes restate their seed and repeat
themselves as much as real continuations do?

For each of free, repeat and vary, the musical check's validation seeds (8 seed bars, 4 takes × 8 bars) are
continued and measured as issue 16's measures read them (:func:`composer.discriminate.compare`'s ``form``):
the share of the melody restating the seed and the longest phrase repeated inside the 8 bars; the real
continuations are measured alike.  The weights (steps of 0.01) minimise the squared relative differences
between the mix's and the real continuations' two figures (a mix of takes averages their figures).  The test
split is not looked at.

    python bench/form_mix.py        # writes bench/results/form_mix.json; put its weights in AUTO_MIX
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import torch

from composer import evaluate
from composer.form import AUTO_MIX, RESTATED_SHARE
from composer.generate import Composer
from composer.testing.benchmark import write_result

ROOT = Path(__file__).resolve().parent.parent


def fit(measured: dict[str, tuple[float, float]], target: tuple[float, float]) -> dict[str, float]:
    """Weights over ``measured``'s forms ((restating share, mean share) each) nearest ``target``."""
    names = list(measured)
    best: tuple[float, dict[str, float]] | None = None
    grid = [i / 100 for i in range(101)]
    for weights in itertools.product(grid, repeat=len(names) - 1):
        rest = round(1 - sum(weights), 2)
        if rest < 0:
            continue
        w = dict(zip(names, (*weights, rest), strict=True))
        mix = [sum(w[n] * measured[n][i] for n in names) for i in range(2)]
        error = sum(((m - t) / t) ** 2 for m, t in zip(mix, target, strict=True))
        if best is None or error < best[0] - 1e-12:
            best = (error, w)
    assert best is not None
    return best[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "midi_data")
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "form_mix.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    composer = Composer()
    measured: dict[str, tuple[float, float]] = {}
    runs = {}
    real = (0.0, 0.0)
    for form in AUTO_MIX:
        started = time.perf_counter()
        r = evaluate.continuations(composer, args.data, seeds=args.seeds, split="valid", form=form)
        takes, truth = r["form"]["takes"], r["form"]["real"]
        measured[form] = (takes["restated_share"], takes["longest_repeat_notes"])
        real = (truth["restated_share"], truth["longest_repeat_notes"])
        runs[form] = {
            "restated_share": takes["restated_share"],
            "longest_repeat_notes": takes["longest_repeat_notes"],
            "restating_excerpts": takes["restating_excerpts"],
            "seedbars_restating_takes": r["restating_takes"],
            "seconds": round(time.perf_counter() - started, 1),
        }
        print(form, runs[form], flush=True)
    weights = fit(measured, real)
    mix = [round(sum(weights[n] * measured[n][i] for n in weights), 4) for i in range(2)]
    result = {
        "split": "valid",
        "seeds": args.seeds,
        "restated_threshold": RESTATED_SHARE,
        "forms": runs,
        "real": {"restated_share": real[0], "longest_repeat_notes": real[1]},
        "weights": weights,
        "mix": {"restated_share": mix[0], "longest_repeat_notes": mix[1]},
    }
    write_result(args.out, result, indent=1)
    print(f"real {real}, weights {weights}, the mix {mix} → {args.out}")


if __name__ == "__main__":
    main()
