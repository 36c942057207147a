"""Evaluation: the n-gram baseline, bits per note, the cross-validated protocol, `composer evaluate`."""

import csv
import json
import math
import shutil
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch

from composer import checkpoint, evaluate
from composer.cli import main
from composer.corpus import KINDER_EVAL, MANIFEST, read_manifest
from composer.dataset import Song, load_songs
from composer.encoding import FIELDS, PITCH, REST
from composer.errors import InputError
from composer.evaluate import PROTOCOL_LRS, folds_of, protocol, tunes_with_variants
from composer.generate import KEY_PRIOR, KEY_STRENGTH
from composer.model import ModelConfig, MusicLSTM
from composer.ngram import NGramModel

DATA = Path(__file__).resolve().parent.parent / "midi_data"
TINY = ModelConfig(hidden=32, layers=1, head_hidden=16)


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory):
    """40 kinder tunes (the evaluation set) and 60 other pieces of the embedded corpus, with their manifest."""
    root = tmp_path_factory.mktemp("corpus")
    entries = read_manifest(DATA)
    kinder = [e for e in entries if e.eval_set == KINDER_EVAL][:40]
    others = [e for e in entries if not e.eval_set and e.collection == "essen"][:60]
    chosen = kinder + others
    for e in chosen:
        (root / e.path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(DATA / e.path, root / e.path)
    with open(root / MANIFEST, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(asdict(chosen[0])))
        writer.writeheader()
        for e in chosen:
            writer.writerow(asdict(e))
    return root


def test_ngram_probabilities_sum_to_one():
    rng = np.random.default_rng(0)
    seqs = [
        np.stack(
            [
                rng.integers(0, 5, 30),
                rng.integers(30, 36, 30),
                rng.integers(0, 4, 30),
                np.full(30, 9),
                rng.integers(0, 2, 30),
            ],
            1,
        )
        for _ in range(5)
    ]
    model = NGramModel(3).fit(seqs)
    seq = seqs[0].copy()
    for field in range(len(FIELDS)):
        total = 0.0
        for symbol in range(FIELDS[field].size):
            seq[7, field] = symbol
            total += model.field_probability(seq, 7, field)
        seq[7] = seqs[0][7]
        assert total == pytest.approx(1.0, abs=1e-9)
    # the pitch-protocol distribution leaves the rest symbol out and still sums to one
    total = 0.0
    for symbol in range(FIELDS[PITCH].size):
        if symbol == REST:
            continue
        seq[7, PITCH] = symbol
        total += model.field_probability(seq, 7, PITCH, exclude_rest=True)
    assert total == pytest.approx(1.0, abs=1e-9)


def test_ngram_learns_a_repeated_melody():
    melody = np.array([[12, 40 + (i % 4), 11, 10, 0] for i in range(64)])
    model = NGramModel(4).fit([melody])
    assert model.pitch_bits(melody)[8:].mean() < 0.2


def test_folds_are_balanced_and_deterministic():
    songs = [Song(np.zeros((3, 4), dtype=np.int64), 48, 0, 0, name=f"n{i:03d}") for i in range(25)]
    folds = folds_of(songs, 10)
    assert folds == folds_of(list(reversed(songs)), 10)[::-1]
    assert sorted(np.bincount(folds).tolist()) == [2] * 5 + [3] * 5


def test_protocol_cross_validates_without_seeing_the_test_fold(small_corpus):
    result = protocol(KINDER_EVAL, small_corpus, None, folds=4, epochs=1, model_config=TINY)
    assert result["pieces"] == 40 and result["folds"] == 4
    assert sum(f["pieces"] for f in result["per_fold"]) == 40
    assert math.isfinite(result["lstm_pitch_bits"]) and result["lstm_pitch_bits"] > 0
    assert 0 < result["ngram_pitch_bits"] < math.log2(88) + 1
    assert result["published"]["IDyOM (Pearce 2005)"] == 2.102
    # each fold chose on its validation fold, among its fine-tunes (one a rate) and their average: the fewest bits
    assert result["learning_rates"] == list(PROTOCOL_LRS) and len(PROTOCOL_LRS) > 1
    assert result["seed"] == 0  # the fine-tunes' seed (fold k: seed + k), recorded
    assert result["companions"] is None  # the kinder tunes revisit no other pieces
    for fold in result["per_fold"]:
        tried = fold["valid_pitch_bits"]
        assert set(tried) == {f"{lr:g}" for lr in PROTOCOL_LRS} | {"average"}
        assert tried[fold["chosen"]] == min(tried.values())


def test_protocol_fine_tunes_beside_the_companions_and_no_evaluation_piece_or_its_group(small_corpus, monkeypatch):
    fitted: list[list[str]] = []
    real = evaluate._fine_tuned

    def spy(data, pretrained, fit, valid, lrs, **kw):
        fitted.append([s.name for s in fit])
        return real(data, pretrained, fit, valid, lrs, **kw)

    monkeypatch.setattr(evaluate, "_fine_tuned", spy)
    monkeypatch.setitem(evaluate.PROTOCOL_COMPANIONS, KINDER_EVAL, "essen")
    songs, _ = load_songs(small_corpus)
    held = {s.group for s in songs if s.eval_set}
    companions = {s.name for s in songs if s.collection == "essen" and s.split == "train" and s.group not in held}
    assert companions
    result = protocol(KINDER_EVAL, small_corpus, None, folds=4, epochs=1, model_config=TINY, lrs=(1e-3,))
    assert result["companions"] == {"collection": "essen", "pieces": len(companions)}
    evaluation = [s for s in songs if s.eval_set == KINDER_EVAL]
    fold_of = dict(zip([s.name for s in evaluation], folds_of(evaluation, 4), strict=True))
    for k, names in enumerate(fitted):
        assert companions <= set(names)
        # beside the companions only the training folds: never the test fold or the validation fold
        folds = {fold_of[n] for n in names if n in fold_of}
        assert folds == set(range(4)) - {k, (k + 1) % 4}
        assert not {s.name for s in songs if s.group in held and not s.eval_set} & set(names)
    assert [f["chosen"] for f in result["per_fold"]] == ["0.001"] * 4  # one fine-tune: nothing to average


def test_note_pitch_terms_give_the_pitch_bits_with_and_without_the_memory_and_average_models(small_corpus):
    songs, _ = load_songs(small_corpus)
    tunes = [s for s in songs if s.eval_set == KINDER_EVAL][:6]
    torch.manual_seed(0)
    a, b = MusicLSTM(TINY), MusicLSTM(TINY)
    p, keep, hit = evaluate.note_pitch_terms(a, tunes)
    assert len(p) == sum(int((s.ids[:, 1] != REST).sum()) for s in tunes)
    assert evaluate.mean_pitch_bits(p) == pytest.approx(evaluate.model_pitch_bits(a, tunes), abs=1e-4)
    assert evaluate.mean_pitch_bits(p, keep, hit) == pytest.approx(
        evaluate.model_pitch_bits(a, tunes, memory=True), abs=1e-4
    )
    q = evaluate.note_pitch_terms(b, tunes)[0]
    # the average of two models is a mixture: never worse than the worse one, here strictly better than it
    mixed = evaluate.mean_pitch_bits((p + q) / 2)
    assert mixed < max(evaluate.mean_pitch_bits(p), evaluate.mean_pitch_bits(q))


def test_protocol_reports_the_tunes_without_a_close_variant_apart(small_corpus, tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(small_corpus, corpus)
    songs, _ = load_songs(corpus)
    kinder = sorted(s.name for s in songs if s.eval_set == KINDER_EVAL)
    listed = kinder[:3]  # three tunes with "a close variant", one listed twice (two variants)
    rows = [f"{name},{KINDER_EVAL},essen/other{i}.mid,3.0,train,train" for i, name in enumerate([*listed, listed[0]])]
    (corpus / "eval-variants.csv").write_text(
        "eval_path,eval_set,variant_path,distance,split,old_split\n" + "\n".join(rows) + "\n"
    )
    assert tunes_with_variants(corpus) == set(listed)
    result = protocol(KINDER_EVAL, corpus, None, folds=4, epochs=1, model_config=TINY, lrs=(1e-3,))
    clean = result["without_variant_tunes"]
    assert clean["pieces"] == result["pieces"] - 3
    assert 0 < clean["notes"] < result["notes"]
    assert math.isfinite(clean["lstm_pitch_bits"]) and math.isfinite(clean["ngram_pitch_bits"])
    assert math.isfinite(clean["lstm_without_memory_pitch_bits"])
    assert all(math.isfinite(f["lstm_without_memory_pitch_bits"]) for f in result["per_fold"])


def test_evaluate_cli_scores_a_folder_as_json(small_corpus, tmp_path, capsys):
    model_path = tmp_path / "tiny.safetensors"
    checkpoint.save(model_path, checkpoint.model_tensors(MusicLSTM(TINY)), {"model": TINY.to_dict()})
    folder = tmp_path / "mine"
    folder.mkdir()
    for p in sorted((small_corpus / "essen").glob("*.mid"))[:5]:
        shutil.copy(p, folder / p.name)
    (folder / "bad.mid").write_text("not midi")
    code = main(
        ["evaluate", "--model", str(model_path), "--data", str(folder), "--reference", str(small_corpus), "--json"]
    )
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["scored"] == 5 and len(result["skipped"]) == 1
    assert result["bits_per_note"] > result["ngram_bits_per_note"] > 0  # an untrained model loses to the n-gram
    fields = {"shift_bits", "pitch_bits", "duration_bits", "velocity_bits", "track_bits"}
    assert set(result["per_field"]) == set(result["ngram_per_field"]) == fields
    assert result["velocity_notes"] == 0  # folk tunes at one velocity say nothing about dynamics
    assert result["per_field"]["velocity_bits"] == 0
    assert result["bits_per_note_without_velocity"] == pytest.approx(result["bits_per_note"], abs=1e-3)
    # the pitch with the short-term memory of each tune's own notes; the model alone beside it
    assert result["memory"] and result["per_field"]["pitch_bits"] < result["without_memory"]["pitch_bits"]
    args = ["evaluate", "--model", str(model_path), "--data", str(folder), "--reference", str(small_corpus)]
    assert main([*args, "--json", "--no-memory"]) == 0
    alone = json.loads(capsys.readouterr().out)
    assert not alone["memory"]
    assert alone["per_field"]["pitch_bits"] == pytest.approx(result["without_memory"]["pitch_bits"], abs=1e-4)
    assert alone["bits_per_note"] == pytest.approx(result["without_memory"]["bits_per_note"], abs=1e-4)


def test_ngram_bits_count_velocity_only_where_it_is_known():
    from composer.testing.training import songs

    data = songs(6)
    summary = evaluate.ngram_bits(NGramModel(2).fit(s.ids for s in data), data)
    notes = sum(int((s.ids[:, PITCH] != REST).sum()) for s in data)
    known = sum(int((s.ids[:, PITCH] != REST).sum()) for s in data if s.has_dynamics)
    assert summary["notes"] == notes and summary["velocity_notes"] == known < notes
    without = sum(summary[f"{f}_bits"] for f in ("shift", "pitch", "duration", "track"))
    assert summary["bits_per_note_without_velocity"] == pytest.approx(without)
    assert summary["bits_per_note"] == pytest.approx(without + summary["velocity_bits"] * known / notes)


def test_evaluate_refuses_a_missing_model(capsys):
    assert main(["evaluate", "--model", "/nonexistent/model.safetensors"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_key_relations_follow_the_circle_of_fifths():
    from composer.evaluate import fifths, key_relation

    c, g, f, a_minor, e_minor, c_minor, f_sharp = 0, 7, 5, 12 + 9, 12 + 4, 12 + 0, 6
    assert [fifths(k) for k in (c, g, f, a_minor, e_minor, c_minor, f_sharp)] == [0, 1, -1, 0, 1, -3, 6]
    assert key_relation(c, c) == "same"
    assert key_relation(c, a_minor) == "relative"
    assert key_relation(c, g) == key_relation(c, f) == key_relation(c, e_minor) == "closely related"
    assert key_relation(c, c_minor) == "parallel"
    assert key_relation(c, f_sharp) == "distant"
    assert key_relation(c, None) == "distant"


def test_continuations_check_without_and_with_key_lock(capsys):
    """`composer evaluate --continuations` on three test pieces with the shipped model: the figures the README
    quotes are there, in range, and key lock keeps every new note in the key heard in the seed."""
    results = {}
    for flags in ([], ["--key-lock"]):
        assert main(["evaluate", "--continuations", "--seeds", "3", "--json", *flags]) == 0
        results[bool(flags)] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    off, on = results[False], results[True]
    for r in (off, on):
        assert r["split"] == "test" and r["seeds"] == 3 and r["takes"] == 12
        for name in (
            "key_agreement",
            "reference_key_agreement",
            "key_agreement_same_signature",
            "key_agreement_closely_related",
            "key_kept_by_whole_piece",
            "looped_share",
        ):
            assert 0 <= r[name] <= 1, name
        assert r["pitch_class_ratio"] > 0.5 and r["note_length_ratio"] > 0.5
        assert 1 < r["take_bits_per_note"] < 12  # five fields; velocity too where a seed has dynamics (POP909)
        # issue 16: the discriminator, form and degree figures ride along (3 seeds: too few to mean much)
        for pair in ("takes_vs_real", "real_vs_real_control"):
            for model in ("logistic_regression", "random_forest"):
                assert 0 <= r["discriminator"][pair][model]["accuracy"] <= 1, (pair, model)
        assert r["discriminator"]["takes_vs_real"]["rows"] == 15
        assert set(r["form"]) == {"takes", "real", "another_piece_real"}
        assert r["form"]["takes"]["excerpts"] == 12 and r["form"]["real"]["excerpts"] == 3
        assert abs(sum(r["scale_degrees"]["takes"]) - 1) < 1e-3 and 0 < r["scale_degrees"]["overlap"] <= 1
    assert off["key_lock"] is False and off["key_strength"] is None and off["key_prior"] is None
    assert on["key_lock"] is True and on["key_strength"] == KEY_STRENGTH and on["key_prior"] == KEY_PRIOR
    assert 0.8 < on["mean_share_in_key"] <= 1.0  # the default ("heard") lets a chromatic note through
    assert on["key_agreement_same_signature"] >= off["key_agreement_same_signature"]


def test_continuations_refuse_a_bad_key_strength(capsys):
    assert main(["evaluate", "--continuations", "--seeds", "1", "--key-lock", "--key-strength", "7"]) == 2
    err = capsys.readouterr().err.strip()
    assert "key-lock strength must be 0 to 4" in err and len(err.splitlines()) == 1


def test_protocol_runs_over_some_folds_merge_into_the_whole_run(small_corpus):
    whole = protocol(KINDER_EVAL, small_corpus, None, folds=4, epochs=1, model_config=TINY, lrs=(1e-3,))
    parts = [
        protocol(KINDER_EVAL, small_corpus, None, folds=4, epochs=1, model_config=TINY, lrs=(1e-3,), only=only)
        for only in ((1, 3), (0, 2))
    ]
    assert [f["fold"] for f in parts[0]["per_fold"]] == [1, 3] and parts[0]["pieces"] < whole["pieces"]
    merged = evaluate.merge_protocols(parts)
    for key in ("pieces", "notes", "lstm_pitch_bits", "lstm_without_memory_pitch_bits", "ngram_pitch_bits"):
        assert merged[key] == pytest.approx(whole[key], abs=2e-4)
    assert merged["without_variant_tunes"] == pytest.approx(whole["without_variant_tunes"], abs=2e-4)
    assert [f["fold"] for f in merged["per_fold"]] == [0, 1, 2, 3]
    with pytest.raises(InputError, match="each fold once"):
        evaluate.merge_protocols([parts[0], parts[0]])
