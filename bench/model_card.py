"""Write composer/models/shipped/MODEL_CARD.md from what was measured: the run's own record and the
evaluation (bench/results/evaluation.json).  No figure is typed by hand.

The record is either a CPU run folder (``runs/NAME/last.json`` + ``best.json``, from ``composer train``) or the
folder ``bench/gpu_training.py --export`` wrote on a GPU machine (``summary.json`` + ``model.json``).

    python bench/model_card.py --run runs/shipped
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def previous_run(run: dict) -> list[str]:
    """A sentence on the run this one started from, read from that run's own record."""
    if not run.get("init"):
        return []
    record = ROOT / Path(run["init"]).parent / "last.json"
    if not record.exists():
        return []
    prev = json.loads(record.read_text())
    st = prev["state"]
    return [
        f"That first run: {st['epoch']} epochs, {st['step']:,} steps, {st['train_seconds'] / 60:.1f} minutes, "
        f"best validation {st['best']:.4f} bits/note."
    ]


def epoch_table(history: list[dict[str, Any]]) -> list[str]:
    """The run's validation by epoch; for a model with a context encoder, also its random tasks with and without
    the context."""
    context = bool(history) and "context_bits_per_note" in history[0]
    extra = " random tasks (continue, infill, accompany): with the context vs without |" if context else ""
    rows = []
    for h in history:
        cell = f" {h['context_bits_per_note']:.4f} vs {h['context_left_only_bits_per_note']:.4f} |" if context else ""
        rows.append(f"| {h['epoch']} | {h['bits_per_note']:.4f} | {h['pitch_bits']:.4f} |{cell}")
    rule = "|---:|---:|---:|" + ("---:|" if context else "")
    return ["| epoch | validation bits/note | pitch bits |" + extra, rule, *rows]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--run", type=Path, default=ROOT / "runs" / "shipped")
    parser.add_argument("--evaluation", type=Path, default=ROOT / "bench" / "results" / "evaluation.json")
    parser.add_argument("--out", type=Path, default=ROOT / "composer" / "models" / "shipped" / "MODEL_CARD.md")
    parser.add_argument(
        "--command", default="composer train --data midi_data --out runs/shipped --exclude-eval --epochs 20 --threads 2"
    )
    parser.add_argument("--note", action="append", default=[], help="a sentence for the Training section")
    args = parser.parse_args()
    ev = json.loads(args.evaluation.read_text())
    shipped = args.out.parent / "model.safetensors"
    if (args.run / "summary.json").exists():  # trained on a lent GPU by bench/gpu_training.py
        summary = json.loads((args.run / "summary.json").read_text())
        run = json.loads((args.run / "model.json").read_text())
        best = {"metrics": summary["best_meta_metrics"]}
        state = {
            "epoch": summary["epochs"],
            "step": summary["steps"],
            "train_seconds": summary["train_seconds"],
            "history": summary["history"],
            "notes_seen": None,
        }
        where = f"one {summary['device']} (PyTorch {summary['torch']}, bf16 autocast)"
        reproduce = [
            f"{summary['command']} --out /tmp/run --export runs/{args.run.name}   # on a CUDA machine",
            f"cp runs/{args.run.name}/model.* composer/models/shipped/   # fp16 weights, config inside",
            "python bench/evaluation.py --protocol-json bench/results/protocol_chorales.json "
            "bench/results/protocol_kinder.json   # after the two protocol runs (README)",
        ]
    else:
        run = json.loads((args.run / "last.json").read_text())
        best = json.loads((args.run / "best.json").read_text())
        state = run["state"]
        where = "a 2-core CPU (no GPU)"
        reproduce = [
            *args.command.split(" && "),
            f"composer export-model runs/{args.run.name}/best.safetensors   # fp16 weights → composer/models/shipped/",
            f"python bench/evaluation.py --fp32 runs/{args.run.name}/best.safetensors --skip-protocols",
        ]
    train_cfg, model = run["train"], run["model"]
    history = state["history"]
    lines = [
        "# The shipped model",
        "",
        f"An LSTM of {model['layers']} layers × {model['hidden']} units with five heads, drawn in this order: shift, "
        f"track, duration, pitch (absolute, interval on the track, scale degree, and the notes 1 and 2 bars back on "
        f"the track), velocity (head width {model['head_hidden']})"
        + (
            f", and a context encoder for infill and accompany — a bidirectional LSTM of {model['context']} units a "
            "direction over the notes after a gap or on the given tracks, read by the heads (not the LSTM) at the "
            "current time and at each new note's onset, beside exact views of the context (the next context note "
            "on the track, the pitch classes sounding, the track's notes 1, 2, 4 and 8 bars ahead and whether the "
            "last notes recur there"
            + (
                "; in an infill also the far views: the track's notes 12, 16, 24 and 32 bars ahead and the "
                "velocities of the notes that recur with the new note"
                if model.get("far")
                else ""
            )
            + (
                "; and the copy views: the pitches and durations that follow the track's last 1, 2, 3, 4, 6 and 8 "
                "pitches wherever they recur on it after the gap"
                if model.get("copy")
                else ""
            )
            + "); plain continuation reads none of it"
            if model.get("context")
            else ""
        )
        + f"; {run['parameters']:,} parameters, stored as fp16 "
        f"safetensors ({shipped.stat().st_size / 1e6:.1f} MB) with its config inside. Loaded by default by the CLI "
        "and the studio.",
        "",
        "## Data",
        f"The embedded corpus `midi_data/` (fingerprint `{run['data_fingerprint']}`), training split, **without** the "
        "two evaluation sets (chorale soprano lines BWV 253–438, Essen kinder) and every piece grouped with them "
        "(`--exclude-eval`), so the published protocols can fine-tune from it without leaks. Random transposition "
        f"by {'up to ±6 semitones (range-safe)' if train_cfg.get('augment') else 'none'}. "
        "Velocity is learned only from pieces with dynamics (POP909's played velocities, the few scores with "
        "notated dynamics); elsewhere it is masked.",
        "",
        "## Reproduce",
        "```bash",
        *reproduce,
        f"python bench/model_card.py --run runs/{args.run.name}",
        "```",
        f"Seed {train_cfg['seed']}; AdamW, peak learning rate {train_cfg['lr']}, {train_cfg['warmup_steps']} warm-up "
        f"steps then cosine decay; batches of ~{train_cfg['batch_events']} events in windows of up to "
        f"{train_cfg['max_len']}; gradient clipping {train_cfg['clip']}; dropout {model['dropout']}; early stopping "
        f"after {train_cfg['patience']} epochs without improvement.",
        "",
        "## Training",
        *([f"Warm start from `{run['init']}`."] if run.get("init") else []),
        *previous_run(run),
        f"This run: {state['epoch']} epochs, {state['step']:,} steps, "
        + (f"{state['notes_seen']:,} notes seen, " if state.get("notes_seen") else "")
        + f"{state['train_seconds'] / 60:.1f} minutes on {where}. Best validation at epoch "
        f"{best['metrics'].get('epoch')}: {best['metrics']['valid']['bits_per_note']:.4f} bits/note.",
        "",
        *[line for note in args.note for line in (note, "")],  # each note a paragraph
        *epoch_table(history),
        "",
        "## Evaluation (bench/results/evaluation.json)",
        f"- Test split ({ev['test_pieces']:,} pieces, {ev['test_notes']:,} notes): **{ev['test_bits_per_note']:.4f} "
        f"bits/note** (shift {ev['test_per_field_bits']['shift_bits']:.3f}, pitch "
        f"{ev['test_per_field_bits']['pitch_bits']:.3f}, duration {ev['test_per_field_bits']['duration_bits']:.3f}, "
        f"track {ev['test_per_field_bits'].get('track_bits', 0.0):.3f}, velocity "
        f"{ev['test_per_field_bits']['velocity_bits']:.3f} per note with a known velocity); the "
        f"order-{ev['ngram_order']} n-gram: "
        f"{ev['ngram_test_bits_per_note']:.4f}.",
    ]
    if "test_bits_per_note_fp32" in ev:
        lines.append(
            f"- fp16 weights cost {ev['fp16_cost_bits_per_note']:+.5f} bits/note on the test split "
            f"(fp32: {ev['test_bits_per_note_fp32']:.4f})."
        )
    if "chorales_bwv253_438_pitch_bits" in ev:
        lines.append(
            f"- Chorale soprano melodies BWV 253–438, 10-fold CV, pitch bits/note: "
            f"**{ev['chorales_bwv253_438_pitch_bits']:.3f}** (IDyOM best system 1.953, pitch-only 2.342; "
            f"our n-gram {ev['chorales_bwv253_438_ngram_pitch_bits']:.3f})."
        )
        lines.append(
            f"- Essen kinder, 10-fold CV, pitch bits/note: **{ev['essen_kinder_pitch_bits']:.3f}** "
            f"(IDyOM 2.102; our n-gram {ev['essen_kinder_ngram_pitch_bits']:.3f})."
        )
        chorales, kinder = ev.get("chorales_bwv253_438_protocol", {}), ev.get("essen_kinder_protocol", {})
        rates = chorales.get("learning_rates", [])
        if len(rates) > 1:
            # "chosen" (a rate, or "average": the fine-tunes' mean) since the protocol's fourth round; "lr" before
            chose = [[f.get("chosen") or f"{f['lr']:g}" for f in run["per_fold"]] for run in (chorales, kinder)]
            options = [f"{r:g}" for r in rates] + (["average"] if any("average" in c for c in chose) else [])
            lines.append(
                "- Each protocol fold fine-tunes at " + " and ".join(f"{r:g}" for r in rates) + " and keeps the "
                "rate (or the fine-tunes' average) with the fewest pitch bits on a validation fold (one of the "
                "training folds): "
                + "; ".join(
                    f"{name} " + ", ".join(f"{o} in {picked.count(o)}" for o in options)
                    for name, picked in zip(("chorales", "kinder"), chose, strict=True)
                )
                + " of their folds."
            )
    infill = ROOT / "bench" / "results" / "infill.json"
    if model.get("context") and infill.exists():
        fill = json.loads(infill.read_text())
        gap, harm = fill.get("gap_bars_5_8", {}), ROOT / "bench" / "results" / "harmonization.json"
        if gap:
            lines.append(
                f"- Infill, bars 5–8 of {gap['pieces']:,} test pieces (bench/results/infill.json): "
                f"{gap['gap_bits_per_note']:.3f} bits/note given both sides against "
                f"{gap['gap_left_only_bits_per_note']:.3f} given the left only (ratio {gap['ratio']:.3f})."
            )
        if harm.exists():
            h = json.loads(harm.read_text())
            lines.append(
                f"- Alto, tenor and bass of the {h['chorales']} four-voice chorales of BWV 253–438 ({h['folds']}-fold, "
                f"bench/results/harmonization.json): {h['pitch_bits_given_soprano']:.3f} pitch bits/note given the "
                f"soprano, {h['pitch_bits_without_soprano']:.3f} without it (the n-gram without it: "
                f"{h['ngram_pitch_bits_without_soprano']:.3f})."
            )
    lines += [
        "",
        "## Limits",
        "Trained on chorales, European folk melodies, Renaissance polyphony and POP909's pop arrangements (melody, "
        "second melody, piano): it continues tonal, metrical music in up to 16 tracks; drums, and instruments far "
        "from these (orchestral, electronic), are outside what it has heard.",
        "",
    ]
    args.out.write_text("\n".join(lines))
    print(args.out.read_text())


if __name__ == "__main__":
    main()
