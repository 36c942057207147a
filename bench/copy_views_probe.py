"""What the copy views promised before they were trained (issue 12's gap): on bars 5–8 of the validation split's
pieces, the shipped model's pitch and duration distributions with its copy views silenced (its weights for them
set to zero: the model shipped before them, f4, exactly), and the same with one constant weight per copy order
added — log(1 + count) of each pitch / duration that follows the track's last k pitches after the gap
(:class:`composer.context.CopyIndex`) — fitted on half of the pieces and scored on the other half.  A lower bound
on what the trained views (weights from each head's own state) can take; the trained ones are in
``bench/results/infill.json``.

    python bench/copy_views_probe.py [--out bench/results/copy_views_probe.json]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from composer.checkpoint import SHIPPED_MODEL, load_model
from composer.context import COPY_ORDERS, gap_context
from composer.dataset import collate, collate_contexts, load_songs
from composer.encoding import DURATION, PITCH
from composer.evaluate import _gap_rows
from composer.model import MusicLSTM, copy_strength

ROOT = Path(__file__).resolve().parent.parent


def captured(model: torch.nn.Module, name: str, store: dict[str, torch.Tensor]) -> None:
    """Keep the logits ``model.<name>`` returns in ``store[name]`` (the model's own method, wrapped)."""
    inner = getattr(model, name)

    def wrapped(*args: Any, **kwargs: Any) -> torch.Tensor:
        store[name] = inner(*args, **kwargs).detach()
        return store[name]

    setattr(model, name, wrapped)


@torch.no_grad()
def gap_rows(model: MusicLSTM, data: Path) -> dict[str, list[np.ndarray]]:
    """Per validation piece: its gap events' pitch and duration log-probabilities (both sides, copy views
    silenced), their copy-view counts and their targets."""
    store: dict[str, torch.Tensor] = {}
    captured(model, "pitch_logits", store)
    captured(model, "duration_logits", store)
    out: dict[str, list[np.ndarray]] = {k: [] for k in ("p", "d", "cp", "cd", "yp", "yd")}
    for song in load_songs(data)[0]:
        if song.split != "valid" or (rows := _gap_rows(song, 5, 8)) is None:
            continue
        a, b, w = rows
        _, ctx = gap_context(song.ids, song.programs, song.bar, song.bar_start, 5, 8)
        items = [(song, w, b - w, 0)]
        context = collate_contexts(items, [ctx], [np.zeros(b - w, dtype=bool)], copy=True)
        model.field_nll(collate(items), context=context)
        gap = slice(a - w, b - w)
        out["p"].append(F.log_softmax(store["pitch_logits"][0, gap].float(), -1).numpy())
        out["d"].append(F.log_softmax(store["duration_logits"][0, gap].float(), -1).numpy())
        out["cp"].append(copy_strength(context.copy_pitch[0, gap]).numpy())
        out["cd"].append(copy_strength(context.copy_duration[0, gap]).numpy())
        out["yp"].append(song.ids[a:b, PITCH])
        out["yd"].append(song.ids[a:b, DURATION])
    return out


def fitted(logp: list[np.ndarray], views: list[np.ndarray], targets: list[np.ndarray], seed: int) -> dict[str, Any]:
    """One weight per copy order, fitted (L-BFGS) on a random half of the pieces; bits per event on the other."""
    half = np.random.default_rng(seed).permutation(len(logp))[: len(logp) // 2]
    fit = np.zeros(len(logp), dtype=bool)
    fit[half] = True

    def stack(parts: list[np.ndarray], where: bool) -> torch.Tensor:
        return torch.from_numpy(np.concatenate([x for x, f in zip(parts, fit, strict=True) if f == where]))

    def pad(v: torch.Tensor, width: int) -> torch.Tensor:  # the pitch views leave the rest id out
        return F.pad(v, (0, width - v.shape[-1]))

    lp, v, y = (stack(x, True) for x in (logp, views, targets))
    weight = torch.zeros(len(COPY_ORDERS), requires_grad=True)
    optimizer = torch.optim.LBFGS([weight], max_iter=100)

    def nll(lp: torch.Tensor, v: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(lp + pad((weight[:, None] * v).sum(-2), lp.shape[-1]), y)

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = nll(lp, v, y)
        loss.backward()
        return loss

    optimizer.step(closure)
    lp, v, y = (stack(x, False) for x in (logp, views, targets))
    with torch.no_grad():
        return {
            "held_out_events": len(y),
            "bits_per_event": round(F.cross_entropy(lp, y).item() / math.log(2), 4),
            "bits_per_event_with_copy_views": round(nll(lp, v, y).item() / math.log(2), 4),
            "weights": {f"order_{k}": round(x, 3) for k, x in zip(COPY_ORDERS, weight.tolist(), strict=True)},
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=SHIPPED_MODEL)
    parser.add_argument("--data", type=Path, default=ROOT / "midi_data")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "copy_views_probe.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, _ = load_model(args.model)
    if not model.config.copy:
        raise SystemExit("the probe reads the copy views' counts through a model with copy views")
    with torch.no_grad():  # silenced: the model without its copy views
        for layer in (model.ctx_copy, model.ctx_copy_duration):
            layer.weight.zero_()
            layer.bias.zero_()
    model.eval()
    rows = gap_rows(model, args.data)
    from composer.testing.benchmark import write_result

    result = {
        "model": str(args.model),
        "split": "valid",
        "bars": "5-8",
        "pieces": len(rows["p"]),
        "pitch": fitted(rows["p"], rows["cp"], rows["yp"], seed=0),
        "duration": fitted(rows["d"], rows["cd"], rows["yd"], seed=0),
    }
    print(result)
    write_result(args.out, result)


if __name__ == "__main__":
    main()
