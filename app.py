"""The composer studio (Gradio): bring a seed, read its report, continue it with the shipped model.

This first version does one round: upload a MIDI seed → see how composer reads it → generate takes →
listen to each (General MIDI soundfont) and download it.  Keeping takes, undo, branches and sessions that
survive a restart come next (see the README).

Run: ``./run.sh studio`` (or ``python app.py``); serves on 127.0.0.1:7860, offline.  The standard
Gradio variables (GRADIO_SERVER_NAME, GRADIO_SERVER_PORT) override host and port.
"""

from __future__ import annotations

import os
import tempfile
from functools import lru_cache
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from composer.errors import InputError
from composer.midi_io import MAX_FILE_BYTES, piece_to_midi_bytes, read_midi
from composer.report import seed_report

MAX_TAKES = 8


@lru_cache(maxsize=1)
def composer():  # -> composer.generate.Composer, loaded once per server process (read-only afterwards)
    from composer.generate import Composer

    return Composer()


def _read_seed(file_path: str | None):  # -> Piece
    if not file_path:
        raise InputError("Choose a MIDI file (.mid) as the seed first.")
    path = Path(file_path)
    if path.stat().st_size > MAX_FILE_BYTES:
        raise InputError(f"The file is above composer's limit of {MAX_FILE_BYTES:,} bytes; use a shorter excerpt.")
    return read_midi(path.read_bytes(), name=path.name)


def inspect_seed(file_path: str | None) -> tuple[str, str]:
    """Handler: an uploaded file's path → (seed report as Markdown, status line).  Plain values in and out."""
    if not file_path:
        return "", "Choose a MIDI file (.mid) to read."
    try:
        piece = _read_seed(file_path)
    except InputError as error:
        return "", str(error)
    report = seed_report(piece, Path(file_path).name)
    return "```\n" + report.to_text() + "\n```", f"Read {report.notes} notes from {Path(file_path).name}."


def continue_seed(file_path: str | None, bars: float, takes: float, temperature: float, seed: float,
                  key_lock: bool) -> tuple[str, list[str], list[str]]:
    """Handler: seed file + settings → (status, MIDI file paths, WAV file paths), one of each per take."""
    from composer.generate import Settings
    from composer.render import render_wav
    from composer.score import estimate_key

    try:
        piece = _read_seed(file_path)
        settings = Settings(bars=int(bars), variations=int(takes), temperature=float(temperature),
                            seed=int(seed), key_lock=bool(key_lock)).validate()
    except InputError as error:
        return str(error), [], []
    key = piece.key if piece.key is not None else estimate_key(piece)
    results = composer().continue_piece(piece, settings, key=key)
    out = Path(tempfile.mkdtemp(prefix="composer-"))
    stem = Path(file_path or "seed").stem
    midis, wavs, lines = [], [], []
    for i, take in enumerate(results, start=1):
        midi = out / f"{stem}-take-{i:02d}.mid"
        midi.write_bytes(piece_to_midi_bytes(take.piece))
        wav = out / f"{stem}-take-{i:02d}.wav"
        wav.write_bytes(render_wav(take.piece).wav)
        midis.append(str(midi))
        wavs.append(str(wav))
        m = take.metrics
        share = "—" if m["share_in_key"] is None else f"{100 * m['share_in_key']:.0f}%"
        lines.append(f"take {i}: {m['notes']} notes, {share} in key, {m['bits_per_note']:.2f} bits/note")
    return "Generated " + "; ".join(lines) + ".", midis, wavs


def build_ui():  # -> gr.Blocks
    import gradio as gr

    with gr.Blocks(title="composer studio") as demo:
        gr.Markdown("# composer studio\nBring a melody as a MIDI file, read how composer understands it, and "
                    "continue it with the bundled model.")
        with gr.Row():
            upload = gr.File(label="Seed MIDI", file_types=[".mid", ".midi"], type="filepath")
            with gr.Column():
                bars = gr.Slider(1, 32, value=8, step=1, label="Length (bars)")
                takes = gr.Slider(1, MAX_TAKES, value=4, step=1, label="Takes")
                temperature = gr.Slider(0.1, 2.0, value=1.0, step=0.05, label="Temperature")
                seed = gr.Number(value=0, precision=0, label="Random seed")
                key_lock = gr.Checkbox(label="Key lock")
                go = gr.Button("Continue", variant="primary")
        status = gr.Markdown()
        report = gr.Markdown()
        midi_files = gr.File(label="Takes (MIDI)", file_count="multiple")
        audio_files = gr.File(label="Takes (audio, WAV)", file_count="multiple")
        upload.change(inspect_seed, inputs=upload, outputs=[report, status], api_name="inspect_seed")
        go.click(continue_seed, inputs=[upload, bars, takes, temperature, seed, key_lock],
                 outputs=[status, midi_files, audio_files], api_name="continue_seed")
    return demo


if __name__ == "__main__":
    build_ui().queue(default_concurrency_limit=2).launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
    )
