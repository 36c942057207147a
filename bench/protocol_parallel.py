"""A protocol run with its folds shared among processes: the same result as ``composer evaluate --protocol SET``
(each fold's fine-tunes seeded seed + k whichever process runs it), in about 1/N of the time on N idle cores.

    python bench/protocol_parallel.py --set chorales [--workers 2] [--model PATH] [--seed S] [--out FILE]

Each worker runs ``composer.evaluate.protocol(…, only=its folds)`` on one thread; ``merge_protocols`` joins them.
"""

from __future__ import annotations

import argparse
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SETS = {"chorales": "chorales_bwv253_438", "kinder": "essen_kinder"}


def _run(eval_set: str, data: Path, model: Path, seed: int, only: tuple[int, ...]) -> dict[str, Any]:
    import torch

    from composer import evaluate

    torch.set_num_threads(1)
    return evaluate.protocol(eval_set, data, model, progress=True, seed=seed, only=only)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=sorted(SETS), default="chorales")
    parser.add_argument("--model", type=Path, default=ROOT / "composer" / "models" / "shipped" / "model.safetensors")
    parser.add_argument("--data", type=Path, default=ROOT / "midi_data")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0, help="the fine-tunes' seed (fold k: seed + k)")
    parser.add_argument("--out", type=Path, help="default: bench/results/protocol_<set>.json")
    args = parser.parse_args()
    from composer import evaluate
    from composer.testing.benchmark import write_result

    folds = 10
    shares = [tuple(range(w, folds, args.workers)) for w in range(args.workers)]
    with ProcessPoolExecutor(args.workers) as pool:
        parts = list(
            pool.map(_run, *zip(*[(SETS[args.set], args.data, args.model, args.seed, s) for s in shares], strict=True))
        )
    result = evaluate.merge_protocols(parts)
    result["pretrained"] = str(args.model.relative_to(ROOT)) if args.model.is_relative_to(ROOT) else str(args.model)
    out = args.out or ROOT / "bench" / "results" / f"protocol_{args.set}.json"
    write_result(out, {SETS[args.set]: result})
    clean = result["without_variant_tunes"]
    print(
        f"{args.set}: {result['lstm_pitch_bits']} pitch bits/note (without the memory "
        f"{result['lstm_without_memory_pitch_bits']}); without the {result['pieces'] - clean['pieces']} tunes with a "
        f"close variant {clean['lstm_pitch_bits']} ({clean['lstm_without_memory_pitch_bits']}) → {out}"
    )


if __name__ == "__main__":
    main()
