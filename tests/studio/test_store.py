"""The studio's SQLite store: schema and migrations, edits with undo/redo, versions, effort, durability."""

from __future__ import annotations

import sqlite3

import pytest

from samstream.errors import InvalidInputError, UnknownObjectError
from samstream.studio.store import SCHEMA_VERSION, ConflictError, NotFoundError, Store, net_prompts


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_store(tmp_path, clock=None) -> Store:
    store = Store(tmp_path / "s.sqlite3", clock=clock or Clock(), idle_gap=30.0)
    store.add_video("clip.mp4", "media/clip.mp4", "file", 10, 48, 64, 24.0)
    return store


def points(x: float = 5.0, clear_old: bool = False) -> dict:
    return {"points": [[x, 5.0]], "labels": [1], "clear_old": clear_old}


def test_schema_is_versioned_in_wal_mode(tmp_path):
    store = make_store(tmp_path)
    assert store.schema_version == SCHEMA_VERSION == 2
    mode = sqlite3.connect(tmp_path / "s.sqlite3").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    store.close()
    db = sqlite3.connect(tmp_path / "s.sqlite3")
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(InvalidInputError, match="newer"):
        Store(tmp_path / "s.sqlite3")


def test_versions_and_stale_edits(tmp_path):
    store = make_store(tmp_path)
    obj, v1 = store.create_object(1, None, "cat", "animal", "#f00", expect=0)
    assert (obj["obj_id"], v1) == (1, 1)
    with pytest.raises(ConflictError, match="version 0"):
        store.create_object(1, None, "dog", "", "", expect=0)
    assert [o["name"] for o in store.objects(1)] == ["cat"]  # the refused edit changed nothing
    with pytest.raises(InvalidInputError, match="already has"):
        store.create_object(1, 1, "again", "", "", expect=None)
    with pytest.raises(NotFoundError):
        store.video(9)
    with pytest.raises(UnknownObjectError):
        store.object(1, 7)
    assert store.set_review(1, 1, "accepted", "ann", "fine", expect=1) == 2
    assert [o["obj_id"] for o in store.objects(1, "accepted")] == [1]
    assert store.objects(1, "rejected") == []
    with pytest.raises(InvalidInputError, match="status"):
        store.set_review(1, 1, "great", "", "", None)


def test_undo_redo_and_redo_stack_dropped_by_a_new_edit(tmp_path):
    store = make_store(tmp_path)
    store.create_object(1, None, "a", "", "", None)
    rle = {"size": [48, 64], "counts": "x"}
    store.add_edit(1, 1, 0, "points", points(1.0), rle, None)
    store.add_edit(1, 1, 0, "points", points(2.0), rle, None)
    store.add_edit(1, 1, 3, "points", points(3.0), rle, None)
    edit, _ = store.step_history(1, undo=True, expect=None)
    assert edit["frame"] == 3 and [e["payload"]["points"][0][0] for e in store.active_edits(1)] == [1.0, 2.0]
    edit, _ = store.step_history(1, undo=False, expect=None)
    assert edit["frame"] == 3 and len(store.active_edits(1)) == 3
    store.step_history(1, undo=True, expect=None)
    store.add_edit(1, 1, 5, "points", points(4.0), rle, None)  # a new edit: the undone one is gone for good
    assert store.step_history(1, undo=False, expect=None)[0] is None
    assert [e["frame"] for e in store.active_edits(1)] == [0, 0, 5]


def test_net_prompts_folds_clears_and_replacements():
    def e(i, frame, kind="points", clear_old=False):
        return {"id": i, "obj_id": 1, "frame": frame, "kind": kind, "payload": {"clear_old": clear_old}}

    edits = [e(1, 0), e(2, 0), e(3, 4), e(4, 4, "clear"), e(5, 6, "box"), e(6, 6), e(7, 0, clear_old=True)]
    net = net_prompts(edits)
    assert list(net) == [(1, 6), (1, 0)]  # frame 4 cleared; frame 0 replaced last
    assert [x["id"] for x in net[(1, 6)]] == [5, 6] and [x["id"] for x in net[(1, 0)]] == [7]


def test_effort_counts_clicks_frames_and_active_time(tmp_path):
    clock = Clock()
    store = make_store(tmp_path, clock)
    store.create_object(1, None, "a", "", "", None)
    clock.now += 5  # 5 s after creating the object: counted
    store.add_edit(1, 1, 0, "points", {"points": [[1, 1], [2, 2]], "labels": [1, 0], "clear_old": True}, None, None)
    clock.now += 100  # an idle gap over 30 s: not counted
    store.add_edit(1, 1, 4, "box", {"box": [0, 0, 9, 9]}, None, None)
    clock.now += 10
    store.add_edit(1, 1, 4, "clear", {}, None, None)
    (effort,) = store.effort(1)
    assert effort == {"obj_id": 1, "clicks": 3, "prompted_frames": 1, "edited_frames": 2, "active_seconds": 15.0}


def test_committed_changes_survive_reopening_and_running_propagations_become_interrupted(tmp_path):
    store = make_store(tmp_path)
    store.create_object(1, None, "a", "", "", None)
    pid = store.start_propagation(1, 0, -1, "forward", 10)
    store.put_frame_masks(1, 2, {1: ({"size": [48, 64], "counts": "abc"}, 1.5)}, set(), pid, 1)
    # no close(): the process "dies" here
    again = Store(tmp_path / "s.sqlite3")
    assert again.latest_propagation(1)["status"] == "interrupted"
    assert again.latest_propagation(1)["frames_done"] == 1
    assert again.masks_on(1, 2) == {1: {"size": [48, 64], "counts": "abc"}}
    assert [o["name"] for o in again.objects(1)] == ["a"]
