"""Fit auto's form mix (composer.form.AUTO_MIX) on the validation split: how often should a take restate its
seed's last phrase (repeat), vary it, or go its own way (free), so that the takes restate their seed and repeat
themselves as much as real continuations do — for each band of how much the seed repeats itself?

The musical check's validation seeds (8 seed bars; ``--seeds`` of them, 4 takes × 8 bars) are continued in each
of free, repeat and vary, and every take and every real continuation is measured as issue 16's measures read
them (:mod:`composer.discriminate`): the share of its melody restating the seed and the longest phrase repeated
inside its 8 bars.  The seeds are banded by their own longest repeated phrase (:func:`composer.form.
seed_repetition`, the same measure on the seed's 8 bars), since a seed that repeats itself has real
continuations that do; in each band the weights (steps of 0.01) minimise the squared relative differences
between the mix's and the band's real continuations' two figures (a mix of takes averages their figures).  The
test split is not looked at.

    python bench/form_mix.py        # writes bench/results/form_mix.json; put its weights in AUTO_MIX
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from composer.discriminate import Excerpt, excerpt_stats, restated_share
from composer.evaluate import continuation_seeds
from composer.form import RESTATED_SHARE, seed_repetition
from composer.generate import Composer, Settings
from composer.testing.benchmark import write_result

ROOT = Path(__file__).resolve().parent.parent
FORMS = ("free", "repeat", "vary", "echo")
BANDS = (3, 6, 10, math.inf)  # a seed's own longest repeat below this many notes (validation: ~190/100/50/60)


def fit(measured: dict[str, tuple[float, float]], target: tuple[float, float]) -> dict[str, float]:
    """Weights over ``measured``'s forms ((restated share, longest repeat) each) nearest ``target``."""
    names = list(measured)
    best: tuple[float, dict[str, float]] | None = None
    grid = [i / 100 for i in range(101)]
    for weights in itertools.product(grid, repeat=len(names) - 1):
        rest = round(1 - sum(weights), 2)
        if rest < 0:
            continue
        w = dict(zip(names, (*weights, rest), strict=True))
        mix = [sum(w[n] * measured[n][i] for n in names) for i in range(2)]
        error = sum(((m - t) / max(t, 1e-6)) ** 2 for m, t in zip(mix, target, strict=True))
        if best is None or error < best[0] - 1e-12:
            best = (error, w)
    assert best is not None
    return best[1]


def measure(ex: Excerpt, seed: Excerpt) -> tuple[float, float]:
    """(share of the melody restating the seed, longest phrase repeated inside) of one excerpt."""
    return restated_share(ex, seed), float(excerpt_stats(ex).longest_repeat)


def generate(
    data: Path, count: int, forms: tuple[str, ...] = FORMS
) -> list[tuple[int, tuple[float, float], dict[str, list[tuple[float, float]]]]]:
    """Per validation seed: (its own repetition, its real continuation's (restated share, longest repeat), each
    of ``forms``'s takes' figures)."""
    composer = Composer()
    seeds = []
    started = time.perf_counter()
    for i, (_, piece, seed_notes, true_next, key) in enumerate(continuation_seeds(data, "valid", count, 8, 8)):
        if key is None:  # the discriminator reads every excerpt in the seed's key
            continue
        bar = piece.time_signature.bar_beats
        cut = piece.bar_start + 8 * bar
        seed_piece = piece.with_notes(tuple(seed_notes))
        seed = Excerpt(tuple(seed_notes), key, bar, piece.bar_start, piece.bar_start, 8)
        takes: dict[str, list[tuple[float, float]]] = {}
        for form in forms:
            generated = composer.continue_piece(seed_piece, Settings(bars=8, variations=4, seed=i, form=form), key=key)
            takes[form] = [
                measure(Excerpt(t.continuation.notes, key, bar, piece.bar_start, cut, 8), seed) for t in generated
            ]
        real = measure(Excerpt(tuple(true_next), key, bar, piece.bar_start, cut, 8), seed)
        seeds.append((seed_repetition(seed_piece), real, takes))
        if (i + 1) % 25 == 0:
            print(f"{i + 1} seeds, {time.perf_counter() - started:.0f} s", flush=True)

    return seeds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "midi_data")
    parser.add_argument("--seeds", type=int, default=400)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "form_mix.json")
    parser.add_argument(
        "--measured",
        type=Path,
        help="keep each seed's figures here (JSON); read them back, if there, instead of generating",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    started = time.perf_counter()
    if args.measured and args.measured.exists():  # measured before: generate only the forms not there
        seeds = [
            (r, tuple(real), {f: [tuple(t) for t in ts] for f, ts in takes.items()})
            for r, real, takes in json.loads(args.measured.read_text())
        ]
        missing = tuple(f for f in FORMS if f not in seeds[0][2])
        if missing:
            for old, new in zip(seeds, generate(args.data, args.seeds, missing), strict=True):
                old[2].update(new[2])
    else:
        seeds = generate(args.data, args.seeds)
    if args.measured:
        args.measured.write_text(json.dumps(seeds))

    def mean(rows: list[tuple[float, float]]) -> tuple[float, float]:
        return (float(np.mean([r[0] for r in rows])), float(np.mean([r[1] for r in rows]))) if rows else (0.0, 0.0)

    bands = []
    overall_mix: list[tuple[float, float]] = []
    low = 0.0
    for below in BANDS:
        inside = [s for s in seeds if low <= s[0] < below]
        real = mean([s[1] for s in inside])
        measured = {f: mean([t for s in inside for t in s[2][f]]) for f in FORMS}
        weights = fit(measured, real)
        mix = (
            float(sum(weights[f] * measured[f][0] for f in FORMS)),
            float(sum(weights[f] * measured[f][1] for f in FORMS)),
        )
        overall_mix += [mix] * len(inside)
        bands.append(
            {
                "seed_repetition": [low, None if math.isinf(below) else below],
                "seeds": len(inside),
                "real": {"restated_share": round(real[0], 4), "longest_repeat_notes": round(real[1], 3)},
                "forms": {
                    f: {"restated_share": round(m[0], 4), "longest_repeat_notes": round(m[1], 3)}
                    for f, m in measured.items()
                },
                "weights": weights,
                "mix": {"restated_share": round(mix[0], 4), "longest_repeat_notes": round(mix[1], 3)},
            }
        )
        print(bands[-1], flush=True)
        low = below
    real_all = mean([s[1] for s in seeds])
    result = {
        "split": "valid",
        "seeds": len(seeds),
        "takes_per_seed": 4,
        "restated_threshold": RESTATED_SHARE,
        "bands": bands,
        "real": {"restated_share": round(real_all[0], 4), "longest_repeat_notes": round(real_all[1], 3)},
        "mix": {
            "restated_share": round(float(np.mean([m[0] for m in overall_mix])), 4),
            "longest_repeat_notes": round(float(np.mean([m[1] for m in overall_mix])), 3),
        },
        "forms": {
            f: dict(
                zip(
                    ("restated_share", "longest_repeat_notes"),
                    (round(v, 4) for v in mean([t for s in seeds for t in s[2][f]])),
                    strict=True,
                )
            )
            for f in FORMS
        },
        "seconds": round(time.perf_counter() - started, 1),
    }
    write_result(args.out, result, indent=1)
    print(f"→ {args.out}")


if __name__ == "__main__":
    main()
