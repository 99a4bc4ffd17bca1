"""The studio's SQLite store: schema and migrations, records and actions with exact undo/redo, versions,
effort, durability."""

from __future__ import annotations

import json
import sqlite3

import pytest

from samstream.errors import InvalidInputError, UnknownObjectError
from samstream.studio.effort import effort_rows
from samstream.studio.store import SCHEMA_VERSION, ConflictError, FrameChange, NotFoundError, Store
from samstream.studio.store.schema import MIGRATIONS
from samstream.video.saved import EncodedFrameState

RLE = {"size": [48, 64], "counts": "x"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_store(tmp_path, clock=None) -> Store:
    store = Store(tmp_path / "s.sqlite3", clock=clock or Clock(), idle_gap=30.0)
    store.videos.add("clip.mp4", "media/clip.mp4", "file", 10, 48, 64, 24.0)
    return store


def change(obj_id: int, frame: int, tag: str, prompts=None) -> FrameChange:
    """A change whose RLE and state carry ``tag``, so that each record can be told apart."""
    return FrameChange(obj_id, frame, {"size": [48, 64], "counts": tag}, "prompt" if prompts else "propagated",
                       0.5, prompts, EncodedFrameState(False, None, tag.encode()))


def current(store: Store) -> dict[tuple[int, int], str]:
    return {(m.obj_id, m.frame): m.rle["counts"] for m in store.tracks.masks(1)}


def test_schema_is_versioned_in_wal_mode(tmp_path):
    store = make_store(tmp_path)
    assert store.schema_version == SCHEMA_VERSION == 5
    mode = sqlite3.connect(tmp_path / "s.sqlite3").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    store.close()
    db = sqlite3.connect(tmp_path / "s.sqlite3")
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(InvalidInputError, match="newer"):
        Store(tmp_path / "s.sqlite3")


def test_object_versions_and_stale_edits(tmp_path):
    store = make_store(tmp_path)
    obj, video_version = store.videos.create_object(1, None, "cat", "animal", "#f00")
    assert (obj.obj_id, obj.version, video_version) == (1, 0, 1)
    other, _ = store.videos.create_object(1, None, "dog", "", "")
    assert store.videos.update_object(1, 1, {"name": "tiger"}, expect=0).version == 1
    assert store.videos.update_object(1, 2, {"name": "wolf"}, expect=0).version == 1  # another object: no conflict
    with pytest.raises(ConflictError, match="changed meanwhile") as err:
        store.videos.update_object(1, 1, {"name": "lion"}, expect=0)
    assert err.value.current == 1 and err.value.obj_id == 1
    assert store.videos.object(1, 1).name == "tiger"  # the refused edit changed nothing
    with pytest.raises(InvalidInputError, match="already has"):
        store.videos.create_object(1, 1, "again", "", "")
    with pytest.raises(NotFoundError):
        store.videos.get(9)
    with pytest.raises(UnknownObjectError):
        store.videos.object(1, 7)
    with pytest.raises(InvalidInputError, match="status"):
        store.videos.set_review(1, 1, "great", "", "", None)


def test_undo_and_redo_repoint_exactly_the_changed_frames(tmp_path):
    store = make_store(tmp_path)
    store.videos.create_object(1, None, "a", "", "")
    store.tracks.record_action(1, None, "prompt", [1], {"frame": 0}, [change(1, 0, "p0", [{"points": [[1, 1]]}])], 1)
    store.tracks.record_action(1, None, "propagate", [1], {}, [change(1, f, f"t{f}") for f in range(1, 5)])
    store.tracks.record_action(1, None, "prompt", [1], {"frame": 2}, [change(1, 2, "fix", [{"points": [[2, 2]]}])], 1)
    assert current(store) == {(1, 0): "p0", (1, 1): "t1", (1, 2): "fix", (1, 3): "t3", (1, 4): "t4"}

    action, moves = store.tracks.step_back(1, None, undo=True)
    assert action.kind == "prompt" and [(o, f) for o, f, _ in moves] == [(1, 2)]
    assert current(store)[(1, 2)] == "t2"  # the tracked mask is back, not an empty one
    action, moves = store.tracks.step_back(1, None, undo=True)
    assert action.kind == "propagate" and sorted(f for _, f, _ in moves) == [1, 2, 3, 4]
    assert current(store) == {(1, 0): "p0"}
    action, _ = store.tracks.step_back(1, None, undo=False)  # redo: the most recently undone first
    assert action.kind == "propagate" and current(store)[(1, 3)] == "t3"
    _, (move,) = store.tracks.step_back(1, None, undo=False)
    assert current(store)[(1, 2)] == "fix"
    state = store.tracks.record_state(move[2])
    assert state == EncodedFrameState(False, None, b"fix")  # the exact state comes back with the mask
    assert store.tracks.step_back(1, None, undo=False) == (None, [])

    store.tracks.step_back(1, None, undo=True)
    store.tracks.record_action(1, None, "clear", [1], {"frame": 0}, [change(1, 0, "c0")])  # a new action ...
    assert store.tracks.step_back(1, None, undo=False) == (None, [])  # ... drops the redo stack


def test_undo_never_takes_back_someone_elses_later_work(tmp_path):
    store = make_store(tmp_path)
    store.videos.create_object(1, None, "a", "", "")
    store.videos.create_object(1, None, "b", "", "")
    store.tracks.record_action(1, "ann", "propagate", [1], {}, [change(1, f, f"a{f}") for f in range(3)])
    store.tracks.record_action(1, "rev", "prompt", [1], {"frame": 1}, [change(1, 1, "r1", [{}])])
    store.tracks.record_action(1, "rev", "prompt", [2], {"frame": 1}, [change(2, 1, "b1", [{}])])
    with pytest.raises(ConflictError, match="frame 1 of object 1 was changed after"):
        store.tracks.step_back(1, "ann", undo=True)
    assert current(store)[(1, 1)] == "r1"  # the refused undo changed nothing
    action, _ = store.tracks.step_back(1, "rev", undo=True)  # each person undoes their own latest action
    assert action.obj_ids == [2]
    store.tracks.step_back(1, "rev", undo=True)
    action, _ = store.tracks.step_back(1, "ann", undo=True)
    assert action.kind == "propagate" and current(store) == {}


def test_an_edit_of_an_accepted_automatic_masklet_unreviews_it_and_makes_it_manual(tmp_path):
    store = make_store(tmp_path)
    store.videos.create_object(1, None, "a", "", "", origin="auto")
    store.videos.set_review(1, 1, "accepted", "kim", "ok", None)
    store.tracks.record_action(1, None, "prompt", [1], {"frame": 0}, [change(1, 0, "p", [{}])], 1)
    obj = store.videos.object(1, 1)
    assert (obj.review_status, obj.origin) == ("unreviewed", "manual")
    assert [r.status for r in store.videos.reviews(1, 1)] == ["accepted"]  # the history stays


def test_effort_counts_clicks_frames_and_active_time(tmp_path):
    clock = Clock()
    store = make_store(tmp_path, clock)
    store.videos.create_object(1, None, "a", "", "")
    clock.now += 5  # 5 s after creating the object: counted
    store.tracks.record_action(1, None, "prompt", [1], {"frame": 0}, [change(1, 0, "p", [{}])], clicks=2)
    clock.now += 100  # an idle gap over 30 s: not counted
    store.tracks.record_action(1, None, "prompt", [1], {"frame": 4}, [change(1, 4, "b", [{}])], clicks=1)
    clock.now += 10
    store.tracks.record_action(1, None, "clear", [1], {"frame": 4}, [change(1, 4, "t")])
    (effort,) = effort_rows(store, 1)
    assert effort == {"obj_id": 1, "clicks": 3, "prompted_frames": 1, "edited_frames": 2, "active_seconds": 15.0}


def test_committed_changes_survive_reopening_and_running_propagations_become_interrupted(tmp_path):
    store = make_store(tmp_path)
    store.videos.create_object(1, None, "a", "", "")
    with store.db.transaction() as db:
        action, _ = store.tracks.begin(db, 1, None, "propagate", [1], {})
        pid = store.tracks.start_propagation(db, 1, action, 0, -1, "forward", 10, {"obj_ids": [1], "legs": []})
    store.tracks.propagation_step(1, pid, action, [change(1, 2, "abc")], 1, {"obj_ids": [1], "legs": [{"next": 3}]})
    # no close(): the process "dies" here
    again = Store(tmp_path / "s.sqlite3")
    prop = again.tracks.latest_propagation(1)
    assert (prop.status, prop.frames_done, prop.plan["legs"]) == ("interrupted", 1, [{"next": 3}])
    assert current(again) == {(1, 2): "abc"}
    assert [o.name for o in again.videos.objects(1)] == ["a"]


def test_a_data_dir_of_schema_2_is_migrated_with_its_masks_prompts_and_reviews(tmp_path):
    path = tmp_path / "studio.sqlite3"
    db = sqlite3.connect(path)
    for version in MIGRATIONS[:2]:
        db.executescript(version[0])
    db.execute("PRAGMA user_version=2")
    db.execute("INSERT INTO videos (name, path, kind, num_frames, height, width, fps, created) "
               "VALUES ('a', 'a', 'folder', 3, 48, 64, 1.0, 0)")
    db.execute("INSERT INTO objects (video_id, obj_id, name, review_status, reviewer, created) "
               "VALUES (1, 1, 'cat', 'accepted', 'kim', 0)")
    edits = [("box", {"box": [1, 1, 9, 9]}), ("points", {"points": [[3, 3]], "labels": [0], "clear_old": False})]
    for kind, payload in edits:
        db.execute("INSERT INTO edits (video_id, obj_id, frame, kind, payload, created) VALUES (1, 1, 0, ?, ?, 0)",
                   (kind, json.dumps(payload)))
    for frame, source in ((0, "prompt"), (1, "propagated")):
        db.execute("INSERT INTO masks (video_id, obj_id, frame, rle, source) VALUES (1, 1, ?, ?, ?)",
                   (frame, json.dumps({**RLE, "counts": f"m{frame}"}), source))
    db.commit()
    db.close()
    store = Store(path)
    assert store.schema_version == SCHEMA_VERSION
    masks = {m.frame: m for m in store.tracks.masks(1)}
    assert {f: m.rle["counts"] for f, m in masks.items()} == {0: "m0", 1: "m1"}
    assert masks[0].prompts == [{"points": None, "labels": None, "box": [1, 1, 9, 9], "mask": None},
                                {"points": [[3, 3]], "labels": [0], "box": None, "mask": None}]
    assert masks[1].prompts is None
    assert masks[1].method is None  # made before samstream recorded the method: not guessed
    assert store.videos.get(1).method == "sam2"  # the only method there was
    (frame0,) = [f for f in store.tracks.frames_of(1) if f.frame == 0]
    assert frame0.entry is None and frame0.reverse is None  # no state yet: made when a session is built
    assert [a.state for a in store.tracks.actions(1)] == ["migrated", "migrated"]  # effort history, not undoable
    assert store.tracks.step_back(1, None, undo=True) == (None, [])
    assert [r.status for r in store.videos.reviews(1, 1)] == ["accepted"]
    store.close()
