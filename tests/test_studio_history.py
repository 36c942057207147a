"""The history drawn as a tree: where each node goes, how the path to the current point is marked, and that
every node carries its id for the page's click."""

import xml.etree.ElementTree as ET

from composer.studio.history import history_svg, layout, on_path, short_label
from composer.studio.store import Node

SVG = "{http://www.w3.org/2000/svg}"


def node(id: str, parent: str | None, label: str, *, kept: bool = False, **settings) -> Node:
    return Node(id, "p", parent, "take" if parent else "seed", label, settings, {}, b"", None, 0.0, kept or not parent)


def sample() -> list[Node]:
    """seed → 1.1, 1.2 (kept) → 2.1 (kept, current), 2.2; seed → 1.3 (kept once, then undone).  Made in this
    order, as the store lists them."""
    return [
        node("s", None, "seed"),
        node("a", "s", "take 1.1"),
        node("b", "s", "take 1.2", kept=True, temperature=1.0, top_p=0.95, seed=3),
        node("c", "b", "take 2.1", kept=True),
        node("d", "b", "take 2.2"),
        node("e", "s", "take 1.3", kept=True),
    ]


def test_layout_puts_rounds_in_columns_and_a_branch_on_one_row():
    placed = {p.node.id: (p.column, p.row) for p in layout(sample())}
    # seed and its first take share row 0; a node sits on its first child's row, each later child opens a row
    assert placed == {"s": (0, 0), "a": (1, 0), "b": (1, 1), "c": (2, 1), "d": (2, 2), "e": (1, 3)}


def test_the_path_runs_from_the_seed_to_the_current_point():
    assert on_path(sample(), "c") == {"s", "b", "c"}
    assert on_path(sample(), "s") == {"s"}


def test_each_take_is_a_focusable_node_named_by_its_number_with_the_path_marked():
    svg = ET.fromstring(history_svg(sample(), "c"))
    groups = svg.findall(f".//{SVG}g[@data-node]")
    assert [g.get("data-node") for g in groups] == ["s", "a", "b", "c", "d", "e"]  # every take a node
    assert [g.find(f"{SVG}text").text for g in groups] == ["seed", "1.1", "1.2", "2.1", "2.2", "1.3"]
    kinds = {g.get("data-node"): g.get("class").split()[1] for g in groups}
    assert kinds == {"s": "on-path", "a": "candidate", "b": "on-path", "c": "current", "d": "candidate", "e": "kept"}
    assert all(g.get("tabindex") == "0" and g.get("role") == "button" for g in groups)
    titles = {g.get("data-node"): g.find(f"{SVG}title").text for g in groups}
    assert titles["c"] == "take 2.1 ◀ current" and titles["b"] == "take 1.2 (T 1.0, top-p 0.95, seed 3)"
    thick = [p for p in svg.findall(f"{SVG}path") if p.get("stroke-width") == "3"]
    assert len(thick) == 2  # seed → 1.2 → 2.1


def test_labels_and_ids_from_an_imported_session_are_escaped():
    tree = [node('s"><script>', None, "seed"), node("t", 's"><script>', "take <b>1.1</b> & a long name")]
    text = history_svg(tree, "t")
    root = ET.fromstring(text)  # still well-formed
    assert "<script>" not in text and "<b>" not in text
    assert root.findall(f".//{SVG}g[@data-node]")[0].get("data-node") == 's"><script>'
    assert short_label(tree[1]).endswith("…") and len(short_label(tree[1])) == 7


def test_an_empty_tree_draws_nothing():
    assert history_svg([], "x") == ""
