"""The full evaluation of a model, written to bench/results/evaluation.json and shown as a table.

* bits per note on the corpus's test split, total and per field, for the model and the n-gram baseline;
* the published protocols: 10-fold cross-validated pitch bits per note on the chorale soprano melodies
  BWV 253–438 and on the Essen kinder tunes, the LSTM fine-tuned per fold from ``--model`` (which must
  not have seen the evaluation sets: the shipped model is trained with ``--exclude-eval``);
* with ``--fp32``: the same test-split figure for the full-precision checkpoint, to show what fp16 costs.

    python bench/evaluation.py --model composer/models/shipped [--fp32 runs/shipped/best.safetensors]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from composer import evaluate
from composer.checkpoint import load_model
from composer.testing.benchmark import write_result

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, default=ROOT / "composer" / "models" / "shipped")
    parser.add_argument("--fp32", type=Path, help="the full-precision checkpoint the shipped one came from")
    parser.add_argument("--data", type=Path, default=ROOT / "midi_data")
    parser.add_argument("--folds", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--skip-protocols", action="store_true")
    parser.add_argument(
        "--protocol-json",
        type=Path,
        nargs="*",
        default=[],
        help="take the protocol results from these `composer evaluate --protocol … --write` files "
        "(run in parallel, one per core) instead of running them here",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "evaluation.json")
    args = parser.parse_args()

    started = time.perf_counter()
    model, config = load_model(args.model)
    split = evaluate.test_split(model, args.data)
    result = {
        "model": str(args.model.relative_to(ROOT) if args.model.is_relative_to(ROOT) else args.model),
        "model_config": config["model"],
        "test_bits_per_note": round(split["lstm"]["bits_per_note"], 4),
        "test_per_field_bits": {k: round(v, 4) for k, v in split["lstm"].items() if k.endswith("_bits")},
        # the model alone, without the short-term memory (composer.memory) that the figures above blend in
        "test_bits_per_note_without_memory": round(split["lstm_without_memory"]["bits_per_note"], 4),
        "test_pitch_bits_without_memory": round(split["lstm_without_memory"]["pitch_bits"], 4),
        "ngram_test_bits_per_note": round(split["ngram"]["bits_per_note"], 4),
        "ngram_test_per_field_bits": {k: round(v, 4) for k, v in split["ngram"].items() if k.endswith("_bits")},
        "ngram_order": split["ngram"]["order"],
        "test_pieces": split["test_pieces"],
        "test_notes": int(split["lstm"]["notes"]),
    }
    if args.fp32:
        full, _ = load_model(args.fp32)
        fp32 = evaluate.test_split(full, args.data, ngram=False, memory=False)
        result["test_bits_per_note_fp32"] = round(fp32["lstm"]["bits_per_note"], 4)
        result["fp16_cost_bits_per_note"] = round(
            result["test_bits_per_note_without_memory"] - result["test_bits_per_note_fp32"], 5
        )
    print(json.dumps(result, indent=2), flush=True)
    runs = {}
    for path in args.protocol_json:
        runs.update({k: v for k, v in json.loads(path.read_text()).items() if k != "stamp"})  # the eval sets
    if not args.skip_protocols:
        for key in ("chorales_bwv253_438", "essen_kinder"):
            run = runs.get(key) or evaluate.protocol(
                key, args.data, args.model, folds=args.folds, epochs=args.epochs, progress=True
            )
            result[f"{key}_pitch_bits"] = run["lstm_pitch_bits"]
            result[f"{key}_pitch_bits_without_memory"] = run.get("lstm_without_memory_pitch_bits")
            result[f"{key}_ngram_pitch_bits"] = run["ngram_pitch_bits"]
            if run.get("without_variant_tunes"):
                result[f"{key}_pitch_bits_without_variant_tunes"] = run["without_variant_tunes"]["lstm_pitch_bits"]
            result[f"{key}_protocol"] = run
    result["seconds"] = round(time.perf_counter() - started, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_result(args.out, result)
    print(table(result))


def table(r: dict) -> str:
    rows = ["| measure | composer LSTM | composer n-gram | published |", "|---|---:|---:|---|"]
    if "chorales_bwv253_438_pitch_bits" in r:
        rows.append(
            f"| chorale soprano melodies BWV 253–438, pitch bits/note (10-fold CV) | "
            f"**{r['chorales_bwv253_438_pitch_bits']:.3f}** | "
            f"{r['chorales_bwv253_438_ngram_pitch_bits']:.3f} | "
            "IDyOM pitch-only 2.342, best system 1.953 (Pearce 2005) |"
        )
        rows.append(
            f"| Essen kinder, pitch bits/note (10-fold CV) | **{r['essen_kinder_pitch_bits']:.3f}** | "
            f"{r['essen_kinder_ngram_pitch_bits']:.3f} | IDyOM 2.102 (Pearce 2005) |"
        )
        for key, name in (("chorales_bwv253_438", "chorale melodies"), ("essen_kinder", "Essen kinder")):
            clean = r[f"{key}_protocol"].get("without_variant_tunes")
            if clean and clean["lstm_pitch_bits"] is not None:
                rows.append(
                    f"| … {name} without the {r[f'{key}_protocol']['pieces'] - clean['pieces']} tunes that have a "
                    f"close variant in the corpus ({clean['pieces']} tunes) | **{clean['lstm_pitch_bits']:.3f}** | "
                    f"{clean['ngram_pitch_bits']:.3f} | — |"
                )
    rows.append(
        f"| test split, bits/note (all five fields) | **{r['test_bits_per_note']:.3f}** | "
        f"{r['ngram_test_bits_per_note']:.3f} | — |"
    )
    return "\n".join(rows)


if __name__ == "__main__":
    main()
