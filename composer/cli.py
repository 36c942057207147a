"""``composer …``: the command-line tool.  Thin: parse flags, call the library, print, set the exit code.

Exit codes: 0 success, 2 bad input (every refused file is named with its reason), 1 some output could not be
written (``generate``: each file named; the others are written) or an internal error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING

from composer.checkpoint import SHIPPED_MODEL
from composer.errors import InputError

# composer.generate.KEY_PRIORS, named here so that the parser is built without importing torch (a test checks)
KEY_PRIOR_NAMES = ("profile", "contrast", "drift", "select", "accept", "heard")

if TYPE_CHECKING:
    from collections.abc import Callable

    from composer.generate import Composer, Settings, Take
    from composer.piece import Piece

    # A writing command's work on one piece: → its takes and what its manifest record adds.
    Task = Callable[[Composer, Piece, int | None], tuple[list[Take], dict[str, object]]]

DEFAULT_DATA = Path(__file__).resolve().parent.parent / "midi_data"


def _cmd_inspect(args: argparse.Namespace) -> int:
    from composer.report import inspect_file

    if args.roundtrip:
        args.roundtrip.mkdir(parents=True, exist_ok=True)
    reports: list[dict[str, object]] = []
    refused = 0
    for name in args.files:
        path = Path(name)
        started = time.perf_counter()
        try:
            report = inspect_file(path, roundtrip_dir=args.roundtrip, estimate_key=not args.no_key_estimate)
        except InputError as error:
            refused += 1
            reports.append({"file": str(path), "refused": str(error)})
            if not args.json:
                print(f"refused: {error}", file=sys.stderr)
            continue
        data = report.to_dict()
        data["seconds"] = round(time.perf_counter() - started, 4)
        reports.append(data)
        if not args.json:
            print(report.to_text())
            print()
    if args.json:
        print(json.dumps(reports if len(reports) != 1 else reports[0], indent=2))
    return 2 if refused else 0


def _cmd_corpus_build(args: argparse.Namespace) -> int:
    from composer.corpus import build

    summary = build(
        args.out,
        workers=args.workers,
        limit=args.limit,
        progress=not args.quiet,
        pop909=args.pop909,
        skip=tuple(c for c in (args.skip or "").split(",") if c),
    )
    print(json.dumps(summary, indent=2))
    return 0


def _cmd_corpus_stats(args: argparse.Namespace) -> int:
    from composer.corpus import collection_table, counts, read_manifest

    try:
        entries = read_manifest(args.data)
    except FileNotFoundError:
        raise InputError(f"{args.data} has no manifest.csv; build the corpus with 'composer corpus build'.") from None
    print(json.dumps({"pieces": len(entries), **counts(entries), "collections": collection_table(entries)}, indent=2))
    return 0


def _repeats(text: str | None) -> dict[str, int] | None:
    """``--repeat``'s ``COLLECTION=N,…`` → {collection: N}."""
    if not text:
        return None
    out = {}
    for part in text.split(","):
        name, _, count = part.partition("=")
        if not name.strip() or not count.strip().isdigit() or int(count) < 1:
            raise InputError(
                f"--repeat {part!r} is not COLLECTION=N with N a whole number from 1; write e.g. bach-soprano=8."
            )
        out[name.strip()] = int(count)
    return out


def _cmd_train(args: argparse.Namespace) -> int:
    from composer.model import ModelConfig
    from composer.train import TrainConfig, train

    if args.epochs < 1 or args.batch_events < 1 or args.max_len < 2 or args.lr <= 0:
        raise InputError("--epochs, --batch-events and --lr must be positive and --max-len at least 2.")
    model = ModelConfig(
        hidden=args.hidden,
        layers=args.layers,
        head_hidden=args.head_hidden,
        dropout=args.dropout,
        context=args.context,
        far=args.far_views,
        copy=args.copy_views,
    )
    cfg = TrainConfig(
        data=str(args.data),
        out=str(args.out),
        model=model,
        epochs=args.epochs,
        batch_events=args.batch_events,
        max_len=args.max_len,
        lr=args.lr,
        patience=args.patience,
        seed=args.seed,
        augment=not args.no_augment,
        exclude_eval=args.exclude_eval,
        collections=args.collections.split(",") if args.collections else None,
        repeat=_repeats(args.repeat),
        init=str(args.init) if args.init else None,
        freeze_base=args.freeze_base,
        freeze_context=args.freeze_context,
        checkpoint_seconds=args.checkpoint_seconds,
        max_steps=args.max_steps,
        max_seconds=args.max_seconds,
        device=args.device,
        threads=args.threads,
        progress=not args.quiet,
    )
    result = train(cfg, resume=args.resume)
    if os.environ.get("RANK", "0") == "0":  # under torchrun, one process reports
        print(json.dumps({k: v for k, v in result.items() if k != "history"}, indent=2))
    return 0


DEFAULT_MODEL = SHIPPED_MODEL


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from composer import evaluate
    from composer.checkpoint import load_model

    if args.protocol:
        sets = {"chorales": "chorales_bwv253_438", "kinder": "essen_kinder"}
        results = {}
        for name in args.protocol.split(","):
            if name not in sets:
                raise InputError(f"Unknown protocol {name!r}; choose chorales, kinder or both (chorales,kinder).")
            results[sets[name]] = evaluate.protocol(
                sets[name],
                args.reference,
                args.pretrained or args.model,
                folds=args.folds,
                epochs=args.epochs,
                progress=not args.json,
                seed=args.protocol_seed,
            )
        _emit(results, args)
        return 0
    if args.continuations:
        from composer.generate import Composer

        result = evaluate.continuations(
            Composer(args.model),
            args.reference,
            seeds=args.seeds,
            split=args.split,
            key_lock=args.key_lock,
            key_strength=args.key_strength,
            key_prior=args.key_prior,
            progress=not args.json,
        )
        if not args.json and "discriminator" in result:
            print(_continuation_summary(result), file=sys.stderr)
        _emit(result, args)
        return 0
    model, _ = load_model(args.model)
    if args.gap:
        from composer.dataset import load_songs
        from composer.fill import parse_bars

        bars = parse_bars(args.gap)
        if args.data:
            songs, _ = load_songs(args.data, use_cache=False)
        else:
            songs = [s for s in load_songs(args.reference)[0] if s.split == args.split]
        _emit(evaluate.gap_scores(model, songs, bars), args)
        return 0
    if args.data:
        result = evaluate.score_folder(
            model, args.data, args.reference, ngram_order=args.ngram_order, memory=not args.no_memory
        )
    else:
        result = evaluate.test_split(model, args.reference, ngram_order=args.ngram_order, memory=not args.no_memory)
    _emit(result, args)
    return 0


def _continuation_summary(result: dict) -> str:
    """Issue 16's figures side by side, for a reader (the JSON that follows has them all)."""
    d = result["discriminator"]
    lines = ["can a classifier tell them apart (grouped 5-fold; 0.5 = no):"]
    for pair, label in (("takes_vs_real", "takes vs real"), ("real_vs_real_control", "real vs real (control)")):
        lr, rf = d[pair]["logistic_regression"], d[pair]["random_forest"]
        lines.append(
            f"  {label:24} logistic accuracy {lr['accuracy']:.2f} AUC {lr['auc']:.2f}; "
            f"forest accuracy {rf['accuracy']:.2f} AUC {rf['auc']:.2f}"
        )
    takes, real = result["form"]["takes"], result["form"]["real"]
    lines.append(f"  {'':30} {'takes':>8} {'real':>8}")
    for key in (k for k in takes if k != "excerpts"):
        lines.append(f"  {key.replace('_', ' '):30} {takes[key]:8.3f} {real[key]:8.3f}")
    degrees = result["scale_degrees"]
    lines.append(f"  {'scale degrees (0 = tonic)':30} {'takes':>8} {'real':>8}")
    for degree, (t, r) in enumerate(zip(degrees["takes"], degrees["real"], strict=True)):
        lines.append(f"  {degree:30} {t:8.3f} {r:8.3f}")
    lines.append(
        f"  degree overlap, split halves: {degrees['split_half_overlap']:.3f} "
        f"(real vs real {degrees['reference_split_half_overlap']:.3f}, ratio {degrees['split_half_ratio']:.3f})"
    )
    return "\n".join(lines)


def _emit(result: dict, args: argparse.Namespace) -> None:
    text = json.dumps(result, indent=None if args.json else 2)
    print(text)
    if args.write:
        from composer.testing.benchmark import write_result  # stamped with commit, date and machine

        args.write.parent.mkdir(parents=True, exist_ok=True)
        write_result(args.write, result)


def _cmd_export(args: argparse.Namespace) -> int:
    from composer.checkpoint import export

    target = export(args.checkpoint, args.out, half=not args.fp32)
    print(f"wrote {target} ({target.stat().st_size / 1e6:.1f} MB)")
    return 0


FORMATS = ("mid", "musicxml", "wav")


def _seed_files(names: list[str]) -> list[Path]:
    files: list[Path] = []
    for name in names:
        path = Path(name)
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.suffix.lower() in (".mid", ".midi") and p.is_file())
        else:
            files.append(path)
    return files


def _cmd_studio(args: argparse.Namespace) -> int:
    from composer.studio.ui import serve

    serve(db=args.db)
    return 0


def _formats(text: str) -> list[str]:
    formats = [f.strip().lower() for f in text.split(",") if f.strip()]
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise InputError(f"Unknown output format {', '.join(unknown) or '(none)'}; choose from {', '.join(FORMATS)}.")
    return formats


def _settings(args: argparse.Namespace, **length: object) -> Settings:
    """The sampling settings every writing command shares (generate, infill, accompany)."""
    from composer.generate import KEY_PRIOR, KEY_STRENGTH, SELECT_CANDIDATES, Settings

    values: dict[str, object] = {
        "variations": args.variations,
        "temperature": args.temperature,
        "top_k": args.top_k,
        "top_p": args.top_p,
        "seed": args.seed,
        "key_lock": args.key_lock,
        "key_strength": KEY_STRENGTH if args.key_strength is None else args.key_strength,
        "key_prior": args.key_prior or KEY_PRIOR,
        "key_candidates": SELECT_CANDIDATES if args.key_candidates is None else args.key_candidates,
        "pitch_range": _pitch_range(args.pitch_range),
        "register_lock": not args.free_register,
        **length,
    }
    return Settings(**values).validate()  # type: ignore[arg-type]


def _cmd_generate(args: argparse.Namespace) -> int:
    """Continue each seed and write each take in each format, seed by seed and file by file: a seed that is
    refused, or a file that cannot be written, is named in one sentence and the rest are still written.

    Exit code: 0 every seed continued and every file written; 2 a seed was refused (bad input: fix the file);
    1 every seed was read but some file could not be written (each named on stderr and in the manifest).
    """
    formats = _formats(args.format)
    settings = _settings(
        args,
        bars=None if args.notes else args.bars,
        notes=args.notes,
        form=args.form.strip().lower(),
        density_lock=not args.free_density,
    )

    def task(composer: Composer, piece: Piece, key: int | None) -> tuple[list[Take], dict[str, object]]:
        return composer.continue_piece(piece, settings, key=key), {}

    return _write_batch(args, settings, formats, task, "continued", "generating", {})


def _cmd_infill(args: argparse.Namespace) -> int:
    """Fill bars A-B of each piece (issue 12), written as ``generate`` writes its takes; same exit codes."""
    from composer.fill import parse_bars, regenerated_tracks

    formats = _formats(args.format)
    bars = parse_bars(args.bars)
    settings = _settings(args, bars=1)

    def task(composer: Composer, piece: Piece, key: int | None) -> tuple[list[Take], dict[str, object]]:
        tracks = regenerated_tracks(piece, args.tracks)
        takes = composer.infill(piece, bars, settings, tracks=tracks, key=key)
        return takes, {"bars": f"{bars[0]}-{bars[1]}", "filled_tracks": [piece.tracks[t].name for t in tracks]}

    extra = {"bars": f"{bars[0]}-{bars[1]}", "tracks": args.tracks}
    return _write_batch(args, settings, formats, task, "filled", "filling", extra)


def _cmd_accompany(args: argparse.Namespace) -> int:
    """Accompany each piece (issue 12): its tracks kept, a piano part or alto, tenor and bass added (over bars
    A-B alone with ``--bars``)."""
    from composer.fill import parse_bars
    from composer.generate import STYLES

    formats = _formats(args.format)
    style = args.style.strip().lower()
    if style not in STYLES:
        raise InputError(f"The accompaniment style must be {' or '.join(STYLES)}; got {args.style!r}.")
    bars = parse_bars(args.bars) if args.bars is not None else None
    settings = _settings(args, bars=1, density_lock=not args.free_density)
    if args.chord_strength is not None:
        settings = replace(settings, chord_strength=args.chord_strength).validate()

    def task(composer: Composer, piece: Piece, key: int | None) -> tuple[list[Take], dict[str, object]]:
        takes = composer.accompany(piece, settings, style=style, bars=bars, key=key)
        about: dict[str, object] = {"style": style, "added_tracks": [name for name, _ in STYLES[style]]}
        if bars is not None:
            about["bars"] = f"{bars[0]}-{bars[1]}"
        return takes, about

    extra = {"style": style, **({"bars": f"{bars[0]}-{bars[1]}"} if bars is not None else {})}
    return _write_batch(args, settings, formats, task, "accompanied", "accompanying", extra)


def _write_batch(
    args: argparse.Namespace,
    settings: Settings,
    formats: list[str],
    task: Task,
    done_word: str,
    progress_word: str,
    extra: dict[str, object],
) -> int:
    """Run ``task`` on each file named and write its takes (:func:`_write_one`), file by file: a refused file
    or a file that cannot be written is named in one sentence and the rest still happen; then the manifest."""
    import hashlib

    from composer.atomic import atomic_write
    from composer.generate import Composer

    files = _seed_files(args.seeds)
    if not files:
        raise InputError("No MIDI files found; name MIDI files or folders that contain them.")
    composer = Composer(args.model)
    model_hash = hashlib.sha256(composer.model_path.read_bytes()).hexdigest()[:16]
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    records: list[dict[str, object]] = []
    refused = 0
    failures: list[str] = []
    iterator = files
    if not args.quiet:
        from tqdm import tqdm

        iterator = tqdm(files, desc=progress_word, unit="file")
    for path in iterator:
        try:
            record, failed = _write_one(composer, path, task, formats, out, args.continuation_only)
        except InputError as error:
            refused += 1
            records.append({"file": str(path), "refused": str(error)})
            print(f"refused: {error}", file=sys.stderr)
            continue
        except Exception:  # a fault of composer's on one file must not stop the others; it is named, not shown
            failed = [f"{path.name} could not be {done_word} (a fault of composer's; please report it with the file)."]
            record = {"file": str(path), "failed": failed}
        for sentence in failed:
            print(f"failed: {sentence}", file=sys.stderr)
        failures += failed
        records.append(record)
    manifest = {
        "command": args.command,
        "settings": {
            **settings.__dict__,
            **extra,
            "formats": formats,
            "continuation_only": args.continuation_only,
        },
        "model": str(args.model or "shipped"),
        "model_sha256": model_hash,
        "seeds": records,
    }
    atomic_write(out / "manifest.json", (json.dumps(manifest, indent=2) + "\n").encode())
    made = len(files) - refused
    print(
        f"{made} file(s) {done_word}, {refused} refused, {len(failures)} file(s) not written; "
        f"see {out / 'manifest.json'}"
    )
    return 2 if refused else 1 if failures else 0


FORMAT_NAMES = {"mid": "MIDI file", "musicxml": "MusicXML score", "wav": "WAV audio"}


def _pitch_range(text: str | None) -> tuple[int, int] | None:
    """``--pitch-range LOW-HIGH`` (MIDI note numbers, e.g. 60-84) → (low, high); the bounds are checked by
    :meth:`Settings.validate`."""
    if text is None:
        return None
    low, dash, high = text.strip().partition("-")
    if not (dash and low.strip().isdigit() and high.strip().isdigit()):
        raise InputError(
            f"--pitch-range {text!r} is not LOW-HIGH; give two MIDI note numbers, e.g. 60-84 (middle C to C6)."
        )
    return int(low), int(high)


def _write_one(
    composer: Composer, path: Path, task: Task, formats: list[str], out: Path, continuation_only: bool
) -> tuple[dict[str, object], list[str]]:
    """Run ``task`` on one file and write its takes: → (its manifest record, one sentence per file not
    written).  Raises :class:`InputError` where the file is refused (then nothing is written for it)."""
    from composer.atomic import atomic_write
    from composer.midi_io import piece_to_midi_bytes, read_seed
    from composer.report import seed_report
    from composer.score import musicxml_of_piece
    from composer.studio.render import render_wav

    piece = read_seed(path)
    report = seed_report(piece, path.name)  # states the key, or estimates it once
    takes, about = task(composer, piece, report.key_number)
    folder = out / path.stem
    folder.mkdir(parents=True, exist_ok=True)
    failures: list[str] = []
    take_records: list[dict[str, object]] = []
    for i, take in enumerate(takes, start=1):
        music = take.continuation if continuation_only else take.piece
        stem = f"take-{i:02d}"
        written: list[str] = []
        rounded: str | None = None  # the score's word on rounding, when its notes had to be rounded
        for fmt in formats:
            name = f"{stem}.{fmt}"
            try:
                if fmt == "mid":
                    data = piece_to_midi_bytes(music)
                elif fmt == "musicxml":
                    score = musicxml_of_piece(music, title=f"{path.stem} {stem}")
                    data = score.data
                    rounded = score.rounded
                else:
                    data = render_wav(music).wav
                atomic_write(folder / name, data)  # each file whole or not at all
            except OSError as error:
                reason = error.strerror or "the system refused it"
                failures.append(f"{path.name}: the {FORMAT_NAMES[fmt]} {name} could not be written ({reason}).")
            except Exception:  # a writer's fault on one take stops neither the other formats nor the other seeds
                failures.append(
                    f"{path.name}: the {FORMAT_NAMES[fmt]} {name} could not be made (a fault of composer's "
                    f"{fmt} writer on this take); its other files were written."
                )
            else:
                written.append(name)
        record = {"files": written, **({"musicxml_rounded": rounded} if rounded else {}), **take.metrics.to_dict()}
        take_records.append(record)
    seed_record: dict[str, object] = {
        "file": str(path),
        "folder": folder.name,
        # The seed's track table up front: the takes continue on exactly these tracks, in this order.
        "tracks": [asdict(t) for t in report.tracks],
        "seed_report": report.to_dict(),
        **about,
    }
    seed_record["takes"] = take_records
    if failures:
        seed_record["failed"] = failures
    return seed_record, failures


def _sampling_arguments(g: argparse.ArgumentParser) -> None:
    """The sampling options generate, infill and accompany share."""
    g.add_argument("--variations", type=int, default=4, help="takes per file, 1-16")
    g.add_argument("--temperature", type=float, default=1.0)
    g.add_argument("--top-k", type=int, default=0, help="0: off")
    g.add_argument("--top-p", type=float, default=0.95, help="1: off")
    g.add_argument("--seed", type=int, default=0, help="random seed: same seed and settings, same notes")
    g.add_argument(
        "--key-lock",
        action="store_true",
        help="keep the key heard in the seed's last bars: its scale, and its tonal centre",
    )
    g.add_argument(
        "--key-strength",
        type=float,
        help="with --key-lock: how strongly the key's tonal centre pulls, 0-4 (0: the scale only, or with "
        "--key-prior heard the choice of candidates only; default: composer.generate.KEY_STRENGTH)",
    )
    g.add_argument(
        "--key-prior",
        choices=KEY_PRIOR_NAMES,
        help="with --key-lock: profile (weigh the key's degrees), contrast (only what tells the key from its "
        "relative, dominant and subdominant), drift (the profile, only on a take whose notes leave the key), "
        "select (six drift takes of its form drawn for each take asked, the one in the key most clearly kept), "
        "accept (the same candidates, the first in the key kept) or heard (the candidates drawn without the "
        "scale mask, the first that music21's key analysis hears in the key kept); default: "
        "composer.generate.KEY_PRIOR",
    )
    g.add_argument(
        "--key-candidates",
        type=int,
        metavar="N",
        help="with --key-lock and the priors select, accept and heard: candidates drawn for each take, 1-16 "
        "(default: composer.generate.SELECT_CANDIDATES, 6)",
    )
    g.add_argument(
        "--pitch-range",
        metavar="LOW-HIGH",
        help="new notes only between these MIDI pitches, e.g. 60-84 (default: the whole piano, 21-108)",
    )
    g.add_argument(
        "--free-register",
        action="store_true",
        help="let each track leave its register (default: a track's new notes stay within its range in the "
        "seed, widened by a whole tone and to at least a fifth)",
    )


def _output_arguments(g: argparse.ArgumentParser, whole: str = "the new part alone") -> None:
    g.add_argument("--model", type=Path, help="checkpoint (default: the shipped model)")
    g.add_argument("--format", default="mid", help="comma-separated: mid, musicxml, wav")
    g.add_argument("--continuation-only", action="store_true", help=f"write {whole}")
    g.add_argument("--quiet", action="store_true")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="composer", description="Seed-and-continue music composer.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("inspect", help="report on seed MIDI files: notes, bars, tempo, meter, key, quantization")
    p.add_argument("files", nargs="+", help="MIDI files")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument("--roundtrip", type=Path, metavar="DIR", help="write decode(encode(file)) to DIR/<same file name>")
    p.add_argument(
        "--no-key-estimate",
        action="store_true",
        help="skip music21's key estimate for files that state no key (faster)",
    )
    p.set_defaults(func=_cmd_inspect)

    from composer.model import ModelConfig
    from composer.train import TrainConfig

    t = sub.add_parser("train", help="train (or fine-tune) the LSTM on a folder of MIDI")
    t.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of MIDI (default: the embedded corpus)")
    t.add_argument("--out", type=Path, required=True, help="run folder for checkpoints (runs/NAME)")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    t.add_argument(
        "--init",
        type=Path,
        help="start from this checkpoint's weights (fine-tune); a model of the older four-field format starts a "
        "new model as it was (tracks and dynamics then learned)",
    )
    t.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    t.add_argument("--hidden", type=int, default=ModelConfig.hidden)
    t.add_argument("--layers", type=int, default=ModelConfig.layers)
    t.add_argument("--head-hidden", type=int, default=ModelConfig.head_hidden)
    t.add_argument("--dropout", type=float, default=ModelConfig.dropout)
    t.add_argument(
        "--context",
        type=int,
        default=ModelConfig.context,
        help="width of the context encoder that infill and accompany read (e.g. 256; 0: none); with --init "
        "from a model without one, it is added and trained on random gaps and held-out tracks",
    )
    t.add_argument(
        "--freeze-base",
        action="store_true",
        help="train only the context encoder and what the heads read of it (infill, accompany): the note model "
        "and so continuation stay exactly as they are",
    )
    t.add_argument(
        "--far-views",
        action="store_true",
        help="the heads also read the filled track 12, 16, 24 and 32 bars after the gap (a chorus that returns); "
        "with --init from a model without them, they are added at zero",
    )
    t.add_argument(
        "--copy-views",
        action="store_true",
        help="the heads also read what follows the filled track's last notes wherever they recur after the gap "
        "(a phrase or motif that returns anywhere); with --init from a model without them, they are added at zero",
    )
    t.add_argument(
        "--freeze-context",
        action="store_true",
        help="with --far-views: train only the far views (with --copy-views: only the copy views); the note "
        "model and the context encoder, and so continuation and accompaniment, stay exactly as they are",
    )
    t.add_argument("--batch-events", type=int, default=TrainConfig.batch_events)
    t.add_argument("--max-len", type=int, default=TrainConfig.max_len)
    t.add_argument("--lr", type=float, default=TrainConfig.lr)
    t.add_argument("--patience", type=int, default=TrainConfig.patience)
    t.add_argument("--seed", type=int, default=TrainConfig.seed)
    t.add_argument("--no-augment", action="store_true", help="no transposition augmentation")
    t.add_argument(
        "--exclude-eval",
        action="store_true",
        help="leave out the evaluation sets and every piece grouped with them (for pretraining)",
    )
    t.add_argument("--collections", help="comma-separated collections to train on (default: all)")
    t.add_argument(
        "--repeat",
        help="COLLECTION=N,…: each training piece of these collections appears N times an epoch "
        "(e.g. bach-soprano=8 weighs a small collection up)",
    )
    t.add_argument("--checkpoint-seconds", type=float, default=TrainConfig.checkpoint_seconds)
    t.add_argument("--max-steps", type=int, help="stop after this many steps")
    t.add_argument(
        "--max-seconds", type=float, help="stop after this many seconds (then validate and write best and last)"
    )
    t.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    t.add_argument("--threads", type=int, help="torch threads per process")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=_cmd_train)

    e = sub.add_parser("evaluate", help="bits per note: test split, a folder, or the published protocols")
    e.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="checkpoint (default: the shipped model)")
    e.add_argument("--data", type=Path, help="score this folder of MIDI instead of the test split")
    e.add_argument(
        "--reference", type=Path, default=DEFAULT_DATA, help="the corpus with the split (default: the embedded corpus)"
    )
    e.add_argument("--protocol", help="chorales, kinder or chorales,kinder: 10-fold pitch bits per note")
    e.add_argument(
        "--no-memory",
        action="store_true",
        help="score the pitch and the duration with the note model alone, without the short-term memory of what "
        "the piece has played (the protocols report both)",
    )
    e.add_argument(
        "--pretrained",
        type=Path,
        help="with --protocol: the model to fine-tune per fold "
        "(default: --model; it must not have seen the evaluation sets)",
    )
    e.add_argument("--folds", type=int, default=10)
    e.add_argument("--epochs", type=int, default=30, help="with --protocol: fine-tuning epochs per fold (max)")
    e.add_argument(
        "--protocol-seed",
        type=int,
        default=0,
        help="with --protocol: the fine-tunes' random seed (fold k uses seed + k; the published figures use 0)",
    )
    e.add_argument(
        "--continuations",
        action="store_true",
        help="the musical check: continue the first 8 bars of test pieces, compare with the truth",
    )
    e.add_argument("--seeds", type=int, default=50, help="with --continuations: how many test pieces")
    e.add_argument(
        "--split",
        default="test",
        choices=["train", "valid", "test"],
        help="with --continuations or --gap: the split the pieces come from (default: test)",
    )
    e.add_argument("--key-lock", action="store_true", help="with --continuations: generate with key lock")
    e.add_argument(
        "--key-strength",
        type=float,
        help="with --key-lock: the weight of the key's scale-degree prior (default: the generator's)",
    )
    e.add_argument(
        "--key-prior",
        choices=KEY_PRIOR_NAMES,
        help="with --key-lock: which scale-degree prior (default: the generator's)",
    )
    e.add_argument(
        "--gap",
        metavar="A-B",
        help="score the notes of bars A-B given everything else (the infill model) and given only what precedes "
        "them, in --data's pieces or the reference's --split (default test)",
    )
    e.add_argument("--ngram-order", type=int, default=4)
    e.add_argument("--json", action="store_true", help="one JSON object on one line")
    e.add_argument("--write", type=Path, help="also write the result as JSON to this file")
    e.set_defaults(func=_cmd_evaluate)

    g = sub.add_parser("generate", help="continue seed MIDI files (or folders of them): K takes each")
    g.add_argument("seeds", nargs="+", help="MIDI files or folders")
    g.add_argument("--out", type=Path, required=True, help="output folder: OUT/<seed>/take-01.mid, manifest.json")
    g.add_argument("--bars", type=int, default=8, help="length of each continuation in bars")
    g.add_argument("--notes", type=int, help="length in notes instead of bars")
    _sampling_arguments(g)
    g.add_argument(
        "--form",
        default="auto",
        help="how each take stands to the seed's last phrase: auto (the default: a form for each take, as often "
        "as real music restates its phrase and repeats itself, more where the seed repeats itself), free (the "
        "model's own way, nothing steered), repeat (restate it, fitted to the harmony), vary (its rhythm and "
        "contour, new notes), contrast (a new section in the same key and meter) or echo (a new phrase of its "
        "own, then that phrase again)",
    )
    g.add_argument(
        "--free-density",
        action="store_true",
        help="let each track play as often as the model likes (default: each track is pulled towards its "
        "notes per bar in the seed's last 4 bars)",
    )
    _output_arguments(g)
    g.set_defaults(func=_cmd_generate)

    f = sub.add_parser("infill", help="regenerate bars A-B of MIDI files, keeping every other note: K takes each")
    f.add_argument("seeds", nargs="+", help="MIDI files or folders")
    f.add_argument("--out", type=Path, required=True, help="output folder: OUT/<file>/take-01.mid, manifest.json")
    f.add_argument(
        "--bars",
        required=True,
        metavar="A-B",
        help="the bars to fill, as printed music counts them: bar 1 is the first whole bar, a pickup is bar 0 "
        "(at most 16 bars)",
    )
    f.add_argument(
        "--tracks",
        metavar="NAME,...",
        help="fill only these tracks (names or numbers from 1, as inspect lists them; default: every track)",
    )
    _sampling_arguments(f)
    _output_arguments(f, whole="the new notes alone")
    f.set_defaults(func=_cmd_infill)

    a = sub.add_parser("accompany", help="add an accompaniment to MIDI files, keeping their tracks: K takes each")
    a.add_argument("seeds", nargs="+", help="MIDI files or folders")
    a.add_argument("--out", type=Path, required=True, help="output folder: OUT/<file>/take-01.mid, manifest.json")
    a.add_argument(
        "--style",
        default="piano",
        help="piano (a piano part, as POP909's piano tracks play under their melodies) or chorale (alto, tenor "
        "and bass under the melody, as in the chorales)",
    )
    a.add_argument(
        "--bars",
        metavar="A-B",
        help="accompany only bars A-B (as printed music counts them; at most 16): a piece accompanied before in "
        "this style has its accompaniment refilled there, the rest kept (default: the whole piece)",
    )
    a.add_argument(
        "--chord-strength",
        type=float,
        metavar="S",
        help="piano style: how strongly the new notes (their pitches, and their durations a quarter as much) lean "
        "to the chords guessed under the melody, 0 to 32; each take is also the one of three drawn that the guess "
        "expects most on its chords (0: the model's own harmony, one drawn a take; default: "
        "composer.generate.CHORD_STRENGTH, 16)",
    )
    a.add_argument(
        "--free-density",
        action="store_true",
        help="piano style: let the piano play as busily as the model likes (default: pulled to the pace of "
        "POP909's piano under a melody as busy)",
    )
    _sampling_arguments(a)
    _output_arguments(a, whole="the accompaniment alone")
    a.set_defaults(func=_cmd_accompany)

    x = sub.add_parser("export-model", help="write a checkpoint's weights (fp16) for shipping")
    x.add_argument("checkpoint", type=Path)
    x.add_argument("--out", type=Path, default=DEFAULT_MODEL)
    x.add_argument("--fp32", action="store_true", help="keep full precision")
    x.set_defaults(func=_cmd_export)

    st = sub.add_parser("studio", help="serve the studio on 127.0.0.1:7860, offline (as python app.py does)")
    st.add_argument(
        "--db",
        type=Path,
        default=None,
        help="the SQLite file for pieces (default: COMPOSER_STUDIO_DB or ~/.local/share/composer/studio.sqlite3)",
    )
    st.set_defaults(func=_cmd_studio)

    p = sub.add_parser("corpus", help="the embedded corpus in midi_data/")
    csub = p.add_subparsers(dest="corpus_command", required=True)
    b = csub.add_parser("build", help="rebuild midi_data/ from music21's bundled corpus and POP909 (offline)")
    b.add_argument("--out", type=Path, default=DEFAULT_DATA)
    b.add_argument("--workers", type=int, default=None, help="parallel processes (default: all cores)")
    b.add_argument("--limit", type=int, default=None, help="build a small sample (for tests)")
    b.add_argument(
        "--skip", help="comma-separated multi-voice collections to leave out (e.g. quartets: ~20 s a movement)"
    )
    b.add_argument("--quiet", action="store_true")
    b.add_argument(
        "--pop909",
        type=Path,
        default=None,
        help="the POP909 folder (001/001.mid …): derive pop909/ from songs 001-850 "
        "(default: keep the POP909 files already in the corpus)",
    )
    b.set_defaults(func=_cmd_corpus_build)
    s = csub.add_parser("stats", help="pieces and notes per split, collection and evaluation set")
    s.add_argument("--data", type=Path, default=DEFAULT_DATA)
    s.set_defaults(func=_cmd_corpus_stats)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
