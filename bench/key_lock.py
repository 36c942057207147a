"""Key lock's mechanism and strength: chosen on the validation split, then measured once on the test split.

Key lock keeps the key music21 hears in the seed's last bars: the model is told that key, pitches outside
its scale are masked, and the pitch distribution is multiplied by a prior over the scale degrees raised to
a strength (``Settings.key_prior``, ``Settings.key_strength``): "profile" — the key's scale-degree profile
(the tonic weighs most), "contrast" — the profile over the geometric mean of its neighbours' (relative,
dominant, subdominant: only what tells the key from them), or "drift" — the profile, in full only on a take
whose own new notes do not point to the key (``composer.generate.KeyWatch``), half of it on the others, or
"select" — several takes drawn under drift for each one asked (all of the form drawn for it), the one whose notes
point to the key most clearly kept, or "accept" — the same candidates, the first in the key kept, or "heard" —
the candidates drawn without the scale mask, the first that music21's own key analysis hears in the key kept.
Strength 0 is the scale mask alone (with "heard": the choice alone).

Issue 16 asks for both: keep the key (≥ 90 % of takes in the seed's key, music21's analysis of the 8
continued bars) without flattening it (the takes' pooled scale-degree histogram overlaps the real
continuations' at ≥ 0.9 of the real-vs-real overlap: ``scale_degrees.split_half_ratio`` of
:func:`composer.discriminate.compare`).  This bench runs the musical check of ``composer evaluate
--continuations`` (50 seeds of 8 bars, 8 bars × 4 takes) on the validation split for each setting, picks
among those meeting both targets the one the logistic regression of ``--continuations`` tells from the real
continuations least (issue 16's measure of a bland take; none: the highest key agreement), and then reports on
the test split the takes without key lock and with the chosen setting.

    python bench/key_lock.py            # writes bench/results/key_lock.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from composer import evaluate
from composer.generate import KEY_PRIOR, KEY_STRENGTH, SELECT_CANDIDATES, Composer
from composer.testing.benchmark import write_result

ROOT = Path(__file__).resolve().parent.parent
# (prior, strength), 8 settings: the profile in full on takes drifting from the key at three strengths, the
# mask alone, the profile at three strengths (2 was the default before issue 16), the contrast at 2.  Earlier
# rounds on the same split (same seeds: the same notes for the settings they share) also had profile 0.5
# (key agreement 0.685), the contrast at 1 and 3 (0.71 and 0.875; degree ratios 0.962, 0.84), a contrast
# against the relative key alone (1: 0.845, 0.938; 2: 0.83, 0.789) and the profile weighed by each note's
# length in beats (2, 3, 4: 0.78, 0.765, 0.75; ratios 0.86–0.74): all dominated by the profile, dropped;
# drift without a margin (2, 3: 0.71, 0.73; ratios 1.00, 0.99) and with it but no base (composer.generate.DRIFT_BASE).
# The round with the issue-11 retrained model adds "select" (SELECT_CANDIDATES takes drawn under drift at the
# strength, the ones pointing to the key most clearly kept) and keeps the best of the earlier round's (drift 2
# and 2.5, profile 1.5 and 2; the earlier round's mask alone, profile 1, drift 3 and contrast 2 are in the
# comment above and in git history's key_lock.json).
# The round after auto's mix was banded and gained echo (issue 16's forms) adds "accept" (the same candidates,
# the first in the key kept rather than the clearest) and the number of candidates drawn for each take asked
# (Settings.key_candidates: 3 before, 6 here), and keeps select at 1 and 1.5 (the earlier round's
# pick and its default); select 0 and 2, drift and profile at 3 candidates are in git history's key_lock.json
# (all dominated).  Scratch runs of that round (the same seeds, not kept): accept 0 and 0.25 at 9 candidates
# 0.82 / 0.996 and 0.875 / 0.985 (key agreement / degree ratio): below the key target; accept 0.5 and 1 at 6
# without the scale mask 0.895 / 0.982 and 0.93 / 0.962: no better than with it.
# The round after that draws each take's form first and all its candidates in that form, one kept from each
# take's own candidates (``kept_candidates``: one from each take's run): chosen from a pool of every form, key lock had
# preferred free takes to the ones restating the seed (the test split's restatement 0.67× the real
# continuations', 0.86× without key lock).  Its settings are the ones below; the pooled round's (select 1 and 1.5,
# accept 1, 1.5 and 2 at 3 candidates; select and accept 0 at 6) are in git history's key_lock.json.  A scratch
# run of this round (the same seeds, not kept): accept 0.5 at 10 candidates 0.91 / 0.984, no better than at 8
# within the sampling's noise, for 1.25× their time.
# The round after that adds "heard": the candidates drawn without the scale mask, the first that music21's own
# key analysis hears in the key kept (``composer.generate.heard_margins``).  Accept 0.5 ×8, that round's pick,
# still left the key-locked takes easy to tell from real continuations (test split: logistic regression 0.68,
# issue 16 asks ≤ 0.65): against the real continuations that stay in their seed's key, its takes had more
# tonic (24 % vs 21 %), fewer semitone steps (11 % vs 14 %: the mask took the chromatic passing notes) and
# less repetition; real continuations chosen in the key at the same share read 0.53 (scratch, training split).
# With "heard" in the sweep the choice among the settings meeting both targets is the one the logistic
# regression tells from real continuations least (the measure of a bland take; the degree ratios of
# the settings meeting both differ by less than their noise), and no longer the highest degree ratio.
# A setting: (prior, strength, candidates).
SETTINGS = (
    ("select", 0.5, 6),
    ("accept", 0.5, 6),
    ("accept", 0.75, 6),
    ("accept", 1.0, 6),
    ("accept", 0.5, 8),
    ("accept", 1.0, 8),
    ("heard", 0.0, 6),
    ("heard", 0.25, 6),
    ("heard", 0.5, 6),
    ("heard", 0.0, 8),
    ("heard", 0.25, 8),
    ("heard", 0.5, 8),
)
Setting = tuple[str, float, int]
KEY_TARGET = 0.9  # share of takes in the seed's key
DEGREE_TARGET = 0.9  # the takes' scale-degree overlap with real music, as a share of real-vs-real
SHOWN = (
    "key_agreement",
    "reference_key_agreement",
    "key_agreement_same_signature",
    "key_kept_by_whole_piece",
    "take_bits_per_note",
)


def name(setting: Setting | None) -> str:
    return "off" if setting is None else f"{setting[0]} {setting[1]:g}" + (f" x{setting[2]}" if setting[2] != 3 else "")


def check(composer: Composer, data: Path, split: str, setting: Setting | None, seeds: int) -> dict:
    started = time.perf_counter()
    result = run(composer, data, split, setting, seeds)
    result["seconds"] = round(time.perf_counter() - started, 1)
    shown = {k: result[k] for k in SHOWN}
    degrees = result["scale_degrees"]
    form = result["form"]["takes"]
    print(
        f"{split:5} {name(setting):12}: {shown} degree ratio {degrees['split_half_ratio']} "
        f"(pair {degrees['pair_ratio']}), tonic {degrees['takes'][0]} (real {degrees['real'][0]}), "
        f"semitones {form['semitone_share']} (real {result['form']['real']['semitone_share']}), "
        f"{result['seconds']} s",
        flush=True,
    )
    return result


def run(composer: Composer, data: Path, split: str, setting: Setting | None, seeds: int) -> dict:
    return evaluate.continuations(
        composer,
        data,
        seeds=seeds,
        split=split,
        key_lock=setting is not None,
        key_prior=setting[0] if setting else None,
        key_strength=setting[1] if setting else None,
        key_candidates=setting[2] if setting else None,
    )


def choose(sweep: dict[str, dict]) -> Setting:
    """Among the settings meeting both targets, the one the logistic regression tells from real continuations
    least (then the least flattening); else the one that keeps the key best."""

    def ratio(s: Setting) -> float:
        return sweep[name(s)]["scale_degrees"]["split_half_ratio"]

    def agreement(s: Setting) -> float:
        return sweep[name(s)]["key_agreement"]

    def told(s: Setting) -> float:
        return sweep[name(s)]["discriminator"]["takes_vs_real"]["logistic_regression"]["accuracy"]

    meeting = [s for s in SETTINGS if agreement(s) >= KEY_TARGET and ratio(s) >= DEGREE_TARGET]
    if meeting:
        return min(meeting, key=lambda s: (told(s), -ratio(s), -agreement(s), s[1]))
    return max(SETTINGS, key=lambda s: (agreement(s), ratio(s), -s[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "midi_data")
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "key_lock.json")
    parser.add_argument(
        "--sweep-from", type=Path, help="take the validation sweep from this earlier result file (same model)"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    composer = Composer()
    sweep = {}
    if args.sweep_from:
        sweep = json.loads(args.sweep_from.read_text())["validation_sweep"]
    for setting in [*SETTINGS, None]:
        if name(setting) not in sweep:
            sweep[name(setting)] = check(composer, args.data, "valid", setting, args.seeds)
    best = choose(sweep)
    test = {
        "off": check(composer, args.data, "test", None, args.seeds),
        "chosen": check(composer, args.data, "test", best, args.seeds),
    }
    result = {
        "targets": {"key_agreement": KEY_TARGET, "scale_degree_split_half_ratio": DEGREE_TARGET},
        "validation_sweep": sweep,
        "chosen": {"prior": best[0], "strength": best[1], "candidates": best[2]},
        "generator_default": {"prior": KEY_PRIOR, "strength": KEY_STRENGTH, "candidates": SELECT_CANDIDATES},
        "test": test,
    }
    write_result(args.out, result, indent=1)
    print(
        f"chosen {name(best)} (generator default {KEY_PRIOR} {KEY_STRENGTH:g} x{SELECT_CANDIDATES}); test key "
        f"agreement without key lock {test['off']['key_agreement']:.3f}, with key lock "
        f"{test['chosen']['key_agreement']:.3f} "
        f"(real continuations {test['off']['reference_key_agreement']:.3f}), degree ratio "
        f"{test['chosen']['scale_degrees']['split_half_ratio']} → {args.out}"
    )


if __name__ == "__main__":
    main()
