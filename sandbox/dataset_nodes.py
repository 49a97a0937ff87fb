"""The generated project's classification trees: its areas and its iterations
(three releases of four sprints each, with dates)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sandbox.dataset_records import EPOCH, Node, iso


def area_nodes(project: str) -> list[Node]:
    return _build_nodes(project, "area", _areas(project), 100, {})


def iteration_nodes(project: str) -> list[Node]:
    spec, dates = _iterations(project)
    return _build_nodes(project, "iteration", spec, 200, dates)


def _areas(project: str) -> list[tuple[str, int | None]]:
    return [
        (project, None),
        ("Web", 0),
        ("Checkout", 1),
        ("Search", 1),
        ("Mobile", 0),
        ("iOS", 4),
        ("Android", 4),
        ("Platform", 0),
        ("Data & Analytics", 7),
    ]


def _build_nodes(
    project: str,
    structure: str,
    spec: list[tuple[str, int | None]],
    first_id: int,
    dates: dict[int, tuple[str, str]],
) -> list[Node]:
    nodes: list[Node] = []
    for i, (name, parent) in enumerate(spec):
        path = name if parent is None else nodes[parent].path + "\\" + name
        start, finish = dates.get(i, (None, None))
        ident = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{project}/{structure}/{path}"))
        nodes.append(
            Node(
                first_id + i,
                ident,
                name,
                path,
                structure,
                None if parent is None else first_id + parent,
                start,
                finish,
            )
        )
    return nodes


def _iterations(project: str) -> tuple[list[tuple[str, int | None]], dict[int, tuple[str, str]]]:
    spec: list[tuple[str, int | None]] = [(project, None)]
    dates: dict[int, tuple[str, str]] = {}
    sprint = 0
    for release in range(1, 4):
        spec.append((f"Release {release}", 0))
        rel_idx = len(spec) - 1
        rel_start = EPOCH + timedelta(weeks=40 * (release - 1))
        dates[rel_idx] = (iso(rel_start), iso(rel_start + timedelta(weeks=40, days=-3)))
        for _ in range(4):
            sprint += 1
            spec.append((f"Sprint {sprint}", rel_idx))
            start = EPOCH + timedelta(weeks=10 * (sprint - 1))
            dates[len(spec) - 1] = (iso(start), iso(start + timedelta(weeks=10, days=-3)))
    return spec, dates
