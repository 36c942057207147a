"""The piece as an interactive piano roll in the page: HTML + SVG markup, and the script that works it.

Pure markup — a :class:`Piece` in, an HTML string out, no gradio and nothing fetched from anywhere: the page's
:mod:`composer.studio.ui` shows it in a ``gr.HTML`` whose ``js_on_load`` is :data:`ROLL_SCRIPT` (as the drawn
history is shown).  Written here rather than taken from ``gradio_pianoroll``: that component (0.0.9) requires
gradio < 6, and this page runs on Gradio 6.

What is drawn: each track in its colour (the piano-roll PNG's, :data:`composer.studio.render.TRACK_COLOURS`), a
note's opacity its velocity, bar numbers along a ruler on top, a faint band on every C.  The notes are an SVG in
beats × pitch rows stretched to the roll's width (``preserveAspectRatio="none"``), so that zooming is a CSS
width; the ruler's numbers are HTML placed in percent, so that they never stretch.

What the script does (all in the browser; the server sees only the results):

- drag along the ruler: selects whole bars → ``trigger('select', {bars: "2-3"})``;
- drag a note: moves it (snapped to a quarter of a beat, whole semitones) → ``trigger('submit', {edits})``;
- double-click an empty place: adds a note there, one beat long, on the chosen track;
- a selected note: Delete (or Backspace) deletes it, the velocity slider sets its velocity;
- zoom in and out (the zoom outlasts a redraw);
- a track's instrument, picked from the 128 General MIDI programs in its list → an edit
  (``{"op": "program", "track": 1, "program": 40}``), a new point of the history like a note's;
- Play / Stop: plays the piece's audio (the WAV the studio renders of the piece so far, served by the page as a
  file: ``gradio_api/file=PATH``, see :attr:`composer.studio.desk.StudioApp.served`) with a vertical cursor that
  follows the sound (beats = seconds × tempo / 60: the piece has one tempo and its audio starts at beat 0), drawn
  on every animation frame.  A piece of one track plays in an ``<audio>``; a piece of several plays its *stems*
  (one WAV per track, :func:`composer.studio.render.render_stems`) through the Web Audio API, each through its
  own gain, all started at one moment of one ``AudioContext``, whose clock the cursor follows;
- M / S beside each track's colour (pieces of several tracks): mute it, or solo it (only soloed tracks sound).
  A way of listening, not an edit: the gains change while the stems play, nothing goes to the server, and the
  choice outlasts a redraw as the zoom does.  It shows in the markup (the toggles' ``aria-pressed``, the roll's
  ``data-muted`` and ``data-soloed``, and while playing ``data-gains``, "track:gain" each).

``edits`` is a JSON list in :mod:`composer.edit`'s format, the same the ``/edit`` API takes.
"""

from __future__ import annotations

import json
from functools import lru_cache
from html import escape

from composer.edit import pitch_name, where
from composer.midi_io import instrument_name, track_label
from composer.piece import Piece
from composer.studio.render import TRACK_COLOURS

ROW_PX = 7  # px per semitone row
MIN_ROWS = 24  # at least two octaves drawn, so that a short melody has room to move
MARGIN_ROWS = 3  # empty rows above and below the highest and lowest notes
ROOM_BARS = 2  # empty bars drawn after the last note, to add notes in
QUIETEST = 0.3  # a velocity-1 note's opacity; 127 is opaque (as in the PNG roll)


def _hex(colour: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*colour)


# The General MIDI instruments in their sixteen families of eight, as a musician looks for them in a list.
FAMILIES = (
    "Piano", "Chromatic percussion", "Organ", "Guitar", "Bass", "Strings", "Ensemble", "Brass",
    "Reed", "Pipe", "Synth lead", "Synth pad", "Synth effects", "Ethnic", "Percussive", "Sound effects",
)  # fmt: skip


@lru_cache(maxsize=1)
def _instrument_options() -> str:
    """The 128 General MIDI programs as ``<option>``s in their families (none selected): made once."""
    return "".join(
        f'<optgroup label="{family}">'
        + "".join(
            f'<option value="{p}">{escape(instrument_name(p))}</option>' for p in range(8 * number, 8 * number + 8)
        )
        + "</optgroup>"
        for number, family in enumerate(FAMILIES)
    )


def _track_controls(piece: Piece, index: int, mixable: bool) -> str:
    """A track in the toolbar: its colour, its name (when it has one besides its instrument's), its mute and
    solo toggles (``mixable``: the player has a stem per track) and the list of instruments, its own chosen."""
    track = piece.tracks[index]
    label = escape(track_label(track))
    colour = _hex(TRACK_COLOURS[index % len(TRACK_COLOURS)])
    mix = (
        f'<button type="button" class="roll-mute" data-track="{index}" aria-pressed="false" '
        f'title="Mute {label} (while listening; not an edit)">M</button>'
        f'<button type="button" class="roll-solo" data-track="{index}" aria-pressed="false" '
        f'title="Solo {label}: hear only the soloed tracks (while listening; not an edit)">S</button>'
        if mixable
        else ""
    )
    options = _instrument_options().replace(
        f'<option value="{track.program}">', f'<option value="{track.program}" selected>'
    )
    return (
        f'<span class="roll-track" data-track="{index}"><i style="background:{colour}"></i>'
        f"{escape(track.name) + ' ' if track.name else ''}{mix}"
        f'<select class="roll-program" data-track="{index}" data-program="{track.program}" '
        f'title="The instrument of track {index + 1} ({label}): another is an edit, which Undo takes back" '
        f'aria-label="Instrument of track {index + 1}">{options}</select></span>'
    )


def roll_html(piece: Piece, audio: str | None = None, stems: dict[int, str] | None = None) -> str:
    """The roll of ``piece``: a toolbar (play, zoom, track for new notes, velocity, delete, and per track its
    colour, mute and solo, and instrument), the ruler of bar numbers and the notes.  ``audio``: the path of the
    piece's WAV, which the page serves (no Play button without it); ``stems``: track → the path of its stem
    (:func:`composer.studio.render.render_stems`), for a piece of several tracks: the player plays them together,
    and mute and solo are shown."""
    bar = piece.time_signature.bar_beats
    last_bar = max(1, -(-(piece.end - piece.bar_start) // bar)) if piece.notes else 1
    beats = piece.bar_start + (last_bar + ROOM_BARS) * bar
    pitches = [n.pitch for n in piece.notes] or [60]
    low, high = min(pitches) - MARGIN_ROWS, max(pitches) + MARGIN_ROWS
    if high - low + 1 < MIN_ROWS:
        grow = MIN_ROWS - (high - low + 1)
        low, high = low - grow // 2, high + grow - grow // 2
    low, high = max(low, 21), min(high, 108)
    rows = high - low + 1

    lanes = [
        f'<rect x="0" y="{high - p}" width="{beats:g}" height="1" fill="#eceef1"/>'
        for p in range(low, high + 1)
        if p % 12 == 0
    ]
    lines, numbers = [], []
    first = 0 if piece.bar_start > 0 else 1
    for number in range(first, int(last_bar + ROOM_BARS) + 1):
        at = 0.0 if number == 0 else piece.bar_start + (number - 1) * bar
        lines.append(
            f'<line x1="{at:g}" x2="{at:g}" y1="0" y2="{rows}" stroke="#d6d6d2" vector-effect="non-scaling-stroke"/>'
        )
        numbers.append(f'<span class="roll-bar-no" style="left:{100 * at / beats:.4f}%">{number}</span>')
    labels = [
        f'<span class="roll-c" style="top:{(high - p) * ROW_PX + 20}px">{pitch_name(p)}</span>'
        for p in range(low, high + 1)
        if p % 12 == 0
    ]
    notes = []
    for n in piece.notes:
        colour = _hex(TRACK_COLOURS[n.track % len(TRACK_COLOURS)])
        opacity = QUIETEST + (1 - QUIETEST) * min(max(n.velocity, 1), 127) / 127
        title = escape(
            f"{pitch_name(n.pitch)}, {where(piece, n.start)}, {n.duration:g} beats, velocity {n.velocity}"
            + (f", {track_label(piece.tracks[n.track])}" if len(piece.tracks) > 1 else "")
        )
        notes.append(
            f'<rect class="roll-note" data-start="{n.start!r}" data-duration="{n.duration!r}" data-pitch="{n.pitch}"'
            f' data-velocity="{n.velocity}" data-track="{n.track}" x="{n.start:g}" y="{high - n.pitch}"'
            f' width="{n.duration:g}" height="1" fill="{colour}" fill-opacity="{opacity:.3f}" stroke="#333"'
            f' stroke-opacity="0.35" vector-effect="non-scaling-stroke"><title>{title}</title></rect>'
        )
    tracks = "".join(
        f'<option value="{i}"{" selected" if i == 0 else ""}>{i + 1} {escape(track_label(t))}</option>'
        for i, t in enumerate(piece.tracks)
    )
    legend = "".join(_track_controls(piece, i, bool(stems) and i in (stems or {})) for i in range(len(piece.tracks)))
    facts = {
        "beats": beats,
        "bar": bar,
        "barStart": piece.bar_start,
        "low": low,
        "high": high,
        "lastBar": int(last_bar),
        "firstBar": first,
        "tempo": piece.tempo,
    }
    mixed = f" data-stems='{escape(json.dumps({str(t): p for t, p in stems.items()}))}'" if audio and stems else ""
    play = (
        f'<button type="button" class="roll-play" data-audio="{escape(audio)}"{mixed} title="Play the piece">'
        "▶ Play</button>"
        if audio
        else ""
    )
    width = max(600, round(beats * 18))  # px at zoom 1: ~18 px a beat, the page's width at most scrolls
    return (
        f'<div class="roll" tabindex="0" data-facts=\'{escape(json.dumps(facts))}\'>{_STYLE}'
        f'<div class="roll-tools">{play}'
        '<button type="button" class="roll-zoom" data-zoom="0.5" title="Zoom out">−</button>'
        '<button type="button" class="roll-zoom" data-zoom="2" title="Zoom in">+</button>'
        f'<label>New notes on <select class="roll-new-track">{tracks}</select></label>'
        '<label>Velocity <input class="roll-velocity" type="range" min="1" max="127" value="80" disabled></label>'
        '<button type="button" class="roll-delete" disabled>Delete note</button>'
        f'<span class="roll-legend">{legend}</span>'
        "</div>"
        '<div class="roll-scroll">'
        f'<div class="roll-canvas" style="width:calc(var(--roll-zoom, 1) * {width}px)">'
        f'<div class="roll-ruler" title="Drag along the bar numbers to select bars">{"".join(numbers)}'
        '<div class="roll-selection" hidden></div></div>'
        f'<svg class="roll-notes" viewBox="0 0 {beats:g} {rows}" preserveAspectRatio="none" '
        f'style="width:100%;height:{rows * ROW_PX}px" role="img" aria-label="The notes of the piece">'
        f"{''.join(lanes)}{''.join(lines)}{''.join(notes)}</svg>"
        f'{"".join(labels)}<div class="roll-cursor" hidden></div></div></div>'
        '<p class="roll-hint">Drag along the bar numbers to select bars for "Fill these bars". Drag a note to move '
        "it, double-click an empty place to add one, click a note to change its velocity or delete it (Delete "
        "key), pick another instrument for a track. Every edit is a point in the history: Undo takes it back. "
        "M and S mute a track or hear it alone (solo) while you listen; they change nothing in the piece.</p></div>"
    )


_STYLE = """<style>
.roll{font:12px sans-serif;user-select:none}
.roll-tools{display:flex;flex-wrap:wrap;gap:8px;align-items:center;margin-bottom:4px}
.roll-tools button{border:1px solid #cbd5e1;border-radius:4px;padding:1px 8px;background:#fff;cursor:pointer}
.roll-tools button:disabled{opacity:.4;cursor:default}
.roll-track{margin-right:8px}
.roll-track i{display:inline-block;width:10px;height:10px;margin-right:3px;border-radius:2px}
.roll-scroll{overflow-x:auto;border:1px solid #e5e7eb;background:#fafaf7}
.roll-canvas{position:relative;min-width:100%}
.roll-ruler{position:relative;height:20px;background:#f1f1ec;cursor:col-resize;border-bottom:1px solid #d6d6d2}
.roll-bar-no{position:absolute;top:3px;padding-left:3px;color:#666;pointer-events:none}
.roll-selection{position:absolute;top:0;height:20px;background:rgba(29,78,216,.25);border:1px solid #1d4ed8;
  pointer-events:none}
.roll-notes{display:block;cursor:crosshair}
.roll-note{cursor:grab}.roll-note.chosen{stroke:#1d4ed8;stroke-opacity:1;stroke-width:2}
.roll-c{position:absolute;left:2px;color:#999;font-size:9px;pointer-events:none}
.roll-hint{color:#666;margin:4px 0 0}
.roll-cursor{position:absolute;top:0;bottom:0;width:2px;margin-left:-1px;background:#dc2626;pointer-events:none}
.roll-play-note{color:#666}
.roll-track{display:inline-flex;align-items:center;gap:3px}
.roll-tools .roll-mute,.roll-tools .roll-solo{padding:0 5px;font-weight:600;font-size:11px}
.roll-tools .roll-mute[aria-pressed=true]{background:#fcd34d;border-color:#b45309}
.roll-tools .roll-solo[aria-pressed=true]{background:#86efac;border-color:#15803d}
.roll-track.silent i{opacity:.25}
.roll-program{max-width:12em;font-size:12px}
</style>"""

# The roll's behaviour, run once when the page loads (``gr.HTML(js_on_load=...)``): ``element`` is the
# component, whose content is replaced whenever the page shows another point, so every handler is delegated
# from ``element`` and reads the roll's facts from the markup of the moment.  The zoom lives on ``element`` and
# outlasts a redraw.
ROLL_SCRIPT = r"""
const roll = () => element.querySelector('.roll');
const facts = () => JSON.parse(roll().dataset.facts);
const svg = () => element.querySelector('.roll-notes');
const SNAP = 0.25;  // beats
const snap = (b) => Math.round(b / SNAP) * SNAP;
const beatAt = (event, box) => {
  const r = box.getBoundingClientRect();
  return Math.min(Math.max((event.clientX - r.left) / r.width, 0), 1) * facts().beats;
};
const pitchAt = (event) => {
  const f = facts(), r = svg().getBoundingClientRect();
  const row = Math.floor((event.clientY - r.top) / r.height * (f.high - f.low + 1));
  return Math.min(Math.max(f.high - row, f.low), f.high);
};
const barOf = (beat) => {
  const f = facts();
  if (f.barStart > 0 && beat < f.barStart) return 0;
  return Math.min(Math.max(Math.floor((beat - f.barStart) / f.bar) + 1, f.firstBar), f.lastBar);
};
const barBegins = (n) => { const f = facts(); return n === 0 ? 0 : f.barStart + (n - 1) * f.bar; };
const ref = (rect) => ({start: parseFloat(rect.dataset.start), pitch: parseInt(rect.dataset.pitch),
                        track: parseInt(rect.dataset.track)});
const send = (edits) => trigger('submit', {edits: JSON.stringify(edits)});
let drag = null, chosen = null, player = null;  // player: what Play plays (below)

const choose = (rect) => {
  element.querySelectorAll('.roll-note.chosen').forEach((n) => n.classList.remove('chosen'));
  chosen = rect;
  const velocity = element.querySelector('.roll-velocity'), del = element.querySelector('.roll-delete');
  if (rect) { rect.classList.add('chosen'); velocity.value = rect.dataset.velocity; roll().focus(); }
  if (velocity) velocity.disabled = !rect;
  if (del) del.disabled = !rect;
};
const showSelection = (a, b) => {
  const f = facts(), box = element.querySelector('.roll-selection');
  const lo = barBegins(Math.min(a, b)), hi = barBegins(Math.max(a, b)) + (Math.max(a, b) === 0 ? f.barStart : f.bar);
  box.style.left = (100 * lo / f.beats) + '%';
  box.style.width = (100 * (hi - lo) / f.beats) + '%';
  box.hidden = false;
};

element.addEventListener('pointerdown', (event) => {
  const ruler = event.target.closest && event.target.closest('.roll-ruler');
  if (ruler) {
    const bar = barOf(beatAt(event, ruler));
    drag = {kind: 'bars', from: bar, to: bar};
    showSelection(bar, bar);
    event.preventDefault();
    return;
  }
  const note = event.target.closest && event.target.closest('.roll-note');
  if (note) {
    choose(note);
    drag = {kind: 'note', rect: note, x: beatAt(event, svg()), pitch: pitchAt(event), moved: false,
            start: parseFloat(note.dataset.start), notePitch: parseInt(note.dataset.pitch)};
    event.preventDefault();
  }
});
element.addEventListener('pointermove', (event) => {
  if (!drag) return;
  if (drag.kind === 'bars') {
    drag.to = barOf(beatAt(event, element.querySelector('.roll-ruler')));
    showSelection(drag.from, drag.to);
  } else {
    const f = facts();
    const start = Math.max(0, snap(drag.start + beatAt(event, svg()) - drag.x));
    const pitch = Math.min(Math.max(drag.notePitch + pitchAt(event) - drag.pitch, 21), 108);
    drag.moved = drag.moved || start !== drag.start || pitch !== drag.notePitch;
    drag.to = {start, pitch};
    drag.rect.setAttribute('x', start);
    drag.rect.setAttribute('y', f.high - pitch);
  }
});
const finish = () => {
  if (!drag) return;
  const done = drag;
  drag = null;
  if (done.kind === 'bars') {
    const a = Math.min(done.from, done.to), b = Math.max(done.from, done.to);
    trigger('select', {bars: a === b ? String(a) : a + '-' + b});
  } else if (done.moved) {
    send([{op: 'move', note: ref(done.rect), start: done.to.start, pitch: done.to.pitch}]);
  }
};
element.addEventListener('pointerup', finish);
element.addEventListener('pointerleave', finish);
element.addEventListener('dblclick', (event) => {
  const area = event.target.closest && event.target.closest('.roll-notes');
  if (!area || event.target.closest('.roll-note')) return;
  const track = parseInt((element.querySelector('.roll-new-track') || {}).value || '0');
  const velocity = parseInt((element.querySelector('.roll-velocity') || {}).value || '80');
  send([{op: 'add', start: Math.max(0, Math.floor(beatAt(event, svg()) / SNAP) * SNAP), duration: 1,
         pitch: pitchAt(event), velocity, track}]);
});
element.addEventListener('change', (event) => {
  if (event.target.classList.contains('roll-velocity') && chosen) {
    send([{op: 'velocity', note: ref(chosen), velocity: parseInt(event.target.value)}]);
  }
});
element.addEventListener('click', (event) => {
  const t = event.target;
  if (t.classList.contains('roll-delete') && chosen) send([{op: 'delete', note: ref(chosen)}]);
  if (t.classList.contains('roll-zoom')) {
    const zoom = parseFloat(element.style.getPropertyValue('--roll-zoom') || '1') * parseFloat(t.dataset.zoom);
    element.style.setProperty('--roll-zoom', String(Math.min(Math.max(zoom, 0.25), 8)));
  }
});
// A track's instrument: another is an edit like a note's, a new point of the history.
element.addEventListener('change', (event) => {
  const t = event.target;
  if (t.classList.contains('roll-program') && t.value !== t.dataset.program) {
    send([{op: 'program', track: parseInt(t.dataset.track), program: parseInt(t.value)}]);
  }
});

// Mute / solo: how the piece is listened to, not an edit.  Kept here by track number, so that it outlasts a
// redraw (as the zoom does), and painted onto each new markup: the toggles' aria-pressed, the roll's
// data-muted / data-soloed, and the playing stems' gains (soloed tracks only when any is; a muted one never).
const mix = {muted: new Set(), soloed: new Set()};
const level = (track) => (mix.muted.has(track) || (mix.soloed.size > 0 && !mix.soloed.has(track))) ? 0 : 1;
const paint = () => {
  const r = roll();
  if (!r) return;
  r.dataset.muted = [...mix.muted].sort((a, b) => a - b).join(' ');
  r.dataset.soloed = [...mix.soloed].sort((a, b) => a - b).join(' ');
  r.querySelectorAll('.roll-mute, .roll-solo').forEach((b) => {
    const on = (b.classList.contains('roll-mute') ? mix.muted : mix.soloed).has(parseInt(b.dataset.track));
    b.setAttribute('aria-pressed', String(on));
  });
  r.querySelectorAll('.roll-track[data-track]').forEach((t) => {
    t.classList.toggle('silent', !!t.querySelector('.roll-mute') && level(parseInt(t.dataset.track)) === 0);
  });
  // A list the musician changed shows what the piece has again (an Undo redraws it with another program).
  r.querySelectorAll('.roll-program').forEach((s) => {
    if (s.value !== s.dataset.program) s.value = s.dataset.program;
  });
  if (player && player.gains) {
    for (const [track, gain] of player.gains) gain.gain.setTargetAtTime(level(track), player.ctx.currentTime, 0.01);
  }
};
watch('value', paint);
paint();
element.addEventListener('click', (event) => {
  const b = event.target.closest && event.target.closest('.roll-mute, .roll-solo');
  if (!b) return;
  const set = b.classList.contains('roll-mute') ? mix.muted : mix.soloed, track = parseInt(b.dataset.track);
  if (set.has(track)) set.delete(track); else set.add(track);
  paint();
});

// Play / Stop.  One track: the piece's audio, served by the page as a file, in an <audio>; the cursor follows
// audio.currentTime.  Several tracks: a stem per track (the piece with only that track's notes), fetched and
// decoded, each through its own gain into one AudioContext, all started at one moment of its clock; the cursor
// follows that clock, and mute / solo set the gains while they play.  The cursor moves on every animation
// frame; a redraw with another piece stops the sound.
const stop = () => {
  if (!player) return;
  const p = player;
  player = null;
  p.halt();
  cancelAnimationFrame(p.frame);
  if (p.button.isConnected) p.button.textContent = '\u25b6 Play';
  if (p.cursor.isConnected) p.cursor.hidden = true;
  const r = roll();
  if (r) delete r.dataset.gains;
};
const follow = () => {
  if (!player) return;
  const p = player;
  if (!p.cursor.isConnected) { stop(); return; }
  const f = facts(), beat = p.seconds() * f.tempo / 60;
  p.cursor.style.left = (100 * Math.min(beat, f.beats) / f.beats) + '%';
  p.cursor.hidden = false;
  p.cursor.dataset.beat = beat.toFixed(3);
  const scroll = element.querySelector('.roll-scroll'), x = p.cursor.offsetLeft;
  if (scroll && (x < scroll.scrollLeft || x > scroll.scrollLeft + scroll.clientWidth - 20)) scroll.scrollLeft = x - 20;
  if (p.gains) {  // the gains as they sound, for whoever looks (a test): "track:gain" each
    roll().dataset.gains = [...p.gains].map(([t, g]) => t + ':' + g.gain.value.toFixed(2)).join(' ');
  }
  if (p.ended()) { stop(); return; }
  p.frame = requestAnimationFrame(follow);
};
const notReady = (button) => {
  button.title = 'The audio is not ready yet (or cannot play here): try again in a moment.';
  button.textContent = '\u25b6 Play (not ready)';
};
const url = (path) => 'gradio_api/file=' + encodeURI(path);
const playOne = (button) => {
  const audio = new Audio(url(button.dataset.audio));
  const p = {button, cursor: element.querySelector('.roll-cursor'), frame: 0, seconds: () => audio.currentTime,
             ended: () => audio.ended, halt: () => audio.pause()};
  player = p;
  button.textContent = '\u25a0 Stop';
  audio.addEventListener('ended', stop);
  audio.play().then(() => { if (player === p) follow(); }).catch(() => {
    if (player === p) stop();
    notReady(button);
  });
};
// At the stems' rate (render.py's previews: 24 kHz), so that decoding them does not double the memory they take;
// where a browser refuses that rate, at its own.
const rate = (wanted, fallback) => { try { return wanted(); } catch (error) { return fallback(); } };
const playStems = async (button, stems) => {
  const ctx = rate(() => new AudioContext({sampleRate: 24000}), () => new AudioContext());
  const p = {button, cursor: element.querySelector('.roll-cursor'), frame: 0, ctx, gains: null, sources: [],
             seconds: () => 0, ended: () => false, halt: () => { p.sources.forEach((s) => s.stop()); ctx.close(); }};
  player = p;
  button.textContent = '\u25a0 Stop';
  try {
    const buffers = await Promise.all(Object.entries(stems).map(async ([track, path]) => {
      const response = await fetch(url(path));
      if (!response.ok) throw new Error('not ready');
      return [parseInt(track), await ctx.decodeAudioData(await response.arrayBuffer())];
    }));
    if (player !== p) return;  // stopped while they loaded
    await ctx.resume();
    const at = ctx.currentTime + 0.05, gains = new Map();
    let length = 0;
    for (const [track, buffer] of buffers) {
      const source = ctx.createBufferSource(), gain = ctx.createGain();
      source.buffer = buffer;
      gain.gain.value = level(track);
      source.connect(gain).connect(ctx.destination);
      source.start(at);
      p.sources.push(source);
      gains.set(track, gain);
      length = Math.max(length, buffer.duration);
    }
    p.gains = gains;
    p.seconds = () => Math.max(0, ctx.currentTime - at);
    p.ended = () => ctx.currentTime - at >= length;
    follow();
  } catch (error) {
    if (player === p) stop(); else ctx.close();
    notReady(button);
  }
};
const play = (button) => {
  if (player) { const same = player.button === button; stop(); if (same) return; }
  const stems = button.dataset.stems ? JSON.parse(button.dataset.stems) : null;
  if (stems && Object.keys(stems).length && window.AudioContext) playStems(button, stems); else playOne(button);
};
element.addEventListener('click', (event) => {
  const button = event.target.closest && event.target.closest('.roll-play');
  if (button) play(button);
});
element.addEventListener('keydown', (event) => {
  if ((event.key === 'Delete' || event.key === 'Backspace') && chosen && !event.target.closest('input,select')) {
    event.preventDefault();
    send([{op: 'delete', note: ref(chosen)}]);
  }
});
"""
