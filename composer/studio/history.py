"""A piece's history drawn as a tree: every take a node, numbered by its node, the path to the current point
marked.

Pure — the store's nodes in, SVG markup out, no gradio and nothing fetched from anywhere.  The seed sits at the
left; each round of takes is a column to its right, so a take's column is the first number of its label
("take 2.3": the third take made from a round-1 point).  Each node carries its id in ``data-node``; the page's
script (:mod:`composer.studio.ui`) turns a click on one, or Enter on a focused one, into a jump there.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from composer.studio.store import Node

COLUMN = 66  # px between rounds
ROW = 30  # px between rows
BOX_W, BOX_H = 46, 22  # a node's box
MARGIN = 8

PATH = "#d9640f"  # the way from the seed to the current point: the take colour of the piano rolls, darker
KEPT = "#3c4a5e"  # a take kept once and left (undo, a branch)
CANDIDATE = "#98a2b3"  # a take offered and never kept


@dataclass(frozen=True)
class Placed:
    """A node at its place in the drawing: ``column`` is its depth (the seed 0), ``row`` its line."""

    node: Node
    column: int
    row: int


def layout(tree: list[Node]) -> list[Placed]:
    """Every node of ``tree`` (parents before children, as :meth:`Store.tree` gives them) at a column and a row:
    depth first, children in the order they were made, a node on the row of its first child, so that one line
    reads a branch from left to right and each later child opens a row below."""
    children: dict[str | None, list[Node]] = {}
    for node in tree:
        children.setdefault(node.parent_id, []).append(node)
    placed: list[Placed] = []
    next_row = 0

    def place(node: Node, column: int) -> None:
        nonlocal next_row
        row = next_row
        placed.append(Placed(node, column, row))
        kids = children.get(node.id, [])
        if not kids:
            next_row += 1
        for kid in kids:
            place(kid, column + 1)

    for root in children.get(None, []):
        place(root, 0)
    return placed


def short_label(node: Node) -> str:
    """What a node's box says: "seed", the take's number ("1.3" for "take 1.3"), or an edit's ("✎1.3")."""
    label = node.label.removeprefix("take ").strip()
    if node.is_edit:
        label = "✎" + label.removeprefix("edit ").strip()
    return label if len(label) <= 7 else label[:6] + "…"


def node_detail(node: Node) -> str:
    """A take at a glance: its notes and the settings that made it (", 12 notes (T 1.0, top-p 0.95, seed 3)")."""
    notes, made = node.metrics.get("notes"), node.settings
    detail = f", {notes} notes" if notes is not None else ""
    if node.is_edit:
        return f" ({made.get('summary', 'edited')})"
    if made.get("temperature") is not None:
        command = made.get("command")
        detail += (
            " ("
            + (f"fill {made.get('bars')}, " if command == "infill" else "")
            + (f"accompany {made.get('style')}, " if command == "accompany" else "")
            + f"T {made['temperature']}, top-p {made.get('top_p')}, seed {made.get('seed')}"
            + (", key lock" if made.get("key_lock") else "")
            + (f", {made['form']}" if made.get("form", "auto") != "auto" else "")
            + ")"
        )
    return detail


def on_path(tree: list[Node], current: str) -> set[str]:
    """The ids from the seed down to ``current``, both included."""
    parent = {n.id: n.parent_id for n in tree}
    path: set[str] = set()
    node: str | None = current
    while node is not None and node not in path:
        path.add(node)
        node = parent.get(node)
    return path


def history_svg(tree: list[Node], current: str) -> str:
    """The tree as an SVG element: the path from the seed to ``current`` in orange (the current point filled),
    takes kept once and left in dark outline, takes never kept in grey dashes.  Each node is a focusable
    button-like group with its id in ``data-node`` and its label and settings as a tooltip."""
    placed = layout(tree)
    if not placed:
        return ""
    path = on_path(tree, current)
    where = {p.node.id: p for p in placed}

    def x(column: int) -> float:
        return MARGIN + column * COLUMN

    def y(row: int) -> float:
        return MARGIN + row * ROW + BOX_H / 2

    edges, nodes = [], []
    for p in placed:
        parent = where.get(p.node.parent_id or "")
        if parent is not None:
            # an elbow: out of the parent's right side, down its column gap, into the child's left side
            bend = x(parent.column) + BOX_W + (COLUMN - BOX_W) / 2
            marked = p.node.id in path
            edges.append(
                f'<path d="M{x(parent.column) + BOX_W:g},{y(parent.row):g} H{bend:g} V{y(p.row):g} '
                f'H{x(p.column):g}" fill="none" stroke="{PATH if marked else CANDIDATE}" '
                f'stroke-width="{3 if marked else 1.5}"/>'
            )
        node = p.node
        if node.id == current:
            kind, fill, stroke, ink = "current", PATH, PATH, "#ffffff"
        elif node.id in path:
            kind, fill, stroke, ink = "on-path", "#fde7d6", PATH, "#7a3306"
        elif node.kept:
            kind, fill, stroke, ink = "kept", "#ffffff", KEPT, KEPT
        else:
            kind, fill, stroke, ink = "candidate", "#ffffff", CANDIDATE, "#5b6577"
        dash = ' stroke-dasharray="3 2"' if kind == "candidate" else ""
        bold = ' font-weight="bold"' if kind == "current" else ""
        title = escape(node.label + node_detail(node) + (" ◀ current" if node.id == current else ""))
        nodes.append(
            f'<g class="node {kind}" data-node="{escape(node.id)}" tabindex="0" role="button" '
            f'aria-label="{title}"><title>{title}</title>'
            f'<rect x="{x(p.column):g}" y="{y(p.row) - BOX_H / 2:g}" width="{BOX_W}" height="{BOX_H}" rx="6" '
            f'fill="{fill}" stroke="{stroke}" stroke-width="{2.5 if kind == "current" else 1.5}"{dash}/>'
            f'<text x="{x(p.column) + BOX_W / 2:g}" y="{y(p.row) + 4:g}" text-anchor="middle" fill="{ink}" '
            f'font-size="12" font-family="sans-serif"{bold}>'
            f"{escape(short_label(node))}</text></g>"
        )
    width = MARGIN * 2 + max(p.column for p in placed) * COLUMN + BOX_W
    height = MARGIN * 2 + (max(p.row for p in placed) + 1) * ROW - (ROW - BOX_H)
    return (
        f'<svg class="history-tree" xmlns="http://www.w3.org/2000/svg" width="{width:g}" height="{height:g}" '
        f'viewBox="0 0 {width:g} {height:g}" role="group" aria-label="The history of the piece">'
        "<style>.history-tree .node{cursor:pointer}.history-tree .node:hover rect{stroke-width:3}"
        ".history-tree .node:focus{outline:none}.history-tree .node:focus rect{stroke:#1d4ed8;stroke-width:3}"
        f"</style>{''.join(edges)}{''.join(nodes)}</svg>"
    )
