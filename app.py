"""The composer studio (Gradio).

For now it reads a seed and shows the seed report — what composer understood of the file: notes,
bars, tempo, meter, key, tracks kept and dropped, and the quantization.  Continuation arrives with the
model and the continuation engine (see the README's roadmap).

Run: ``./run.sh studio`` (or ``python app.py``); serves on 127.0.0.1:7860, offline.  The standard
Gradio variables (GRADIO_SERVER_NAME, GRADIO_SERVER_PORT) override host and port.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from composer.errors import InputError
from composer.midi_io import MAX_FILE_BYTES, read_midi
from composer.report import seed_report

EXAMPLES = Path(__file__).parent / "midi_data"


def inspect_seed(file_path: str | None) -> tuple[str, str]:
    """Handler: an uploaded file's path → (seed report as Markdown, status line).  Plain values in and out."""
    if not file_path:
        return "", "Choose a MIDI file (.mid) to read."
    path = Path(file_path)
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise InputError(f"The file is above composer's limit of {MAX_FILE_BYTES:,} bytes; use a shorter excerpt.")
        piece = read_midi(path.read_bytes(), name=path.name)
    except InputError as error:
        return "", str(error)
    report = seed_report(piece, path.name)
    return "```\n" + report.to_text() + "\n```", f"Read {report.notes} notes from {path.name}."


def build_ui():  # -> gr.Blocks
    import gradio as gr

    with gr.Blocks(title="composer studio") as demo:
        gr.Markdown("# composer studio\nBring a melody as a MIDI file and see how composer reads it. "
                    "Continuations arrive with the trained model (in progress).")
        upload = gr.File(label="Seed MIDI", file_types=[".mid", ".midi"], type="filepath")
        status = gr.Markdown()
        report = gr.Markdown()
        upload.change(inspect_seed, inputs=upload, outputs=[report, status], api_name="inspect_seed")
    return demo


if __name__ == "__main__":
    build_ui().queue(default_concurrency_limit=2).launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
    )
