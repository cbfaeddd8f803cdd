"""The dataset browser's state (Qt-free): items, include/exclude through the project,
stats, problems, split preview, selection, progress."""

from __future__ import annotations

import dataclasses

import pytest

from studio.data.scan import ERROR, WARNING, ScanItem, split_preview
from studio.data.text import _split_indices
from studio.state.dataset import DatasetState
from studio.state.project import Project


def text(name: str, tokens: int = 100, docs: int = 1, **kw) -> ScanItem:
    return ScanItem(path=f"/d/{name}", kind="text", size=tokens * 4, tokens=tokens,
                    documents=docs, snippet="x", **kw)


@pytest.fixture
def state():
    project = Project()
    st = DatasetState(project, split=split_preview)
    seen: list[str] = []
    st.subscribe(seen.append)
    st.seen = seen
    return st


def fill(st: DatasetState) -> None:
    st.begin_scan()
    st.add_items([text(f"t{i}.txt") for i in range(8)], done=8, total=12)
    st.add_items([
        ScanItem(path="/d/a.flac", kind="audio", size=1000, duration=2.5),
        ScanItem(path="/d/b.png", kind="image", size=500, width=64, height=64),
        ScanItem(path="/d/bad.png", kind="image", size=10, problem="unreadable image (x)",
                 severity=ERROR),
        text("dup.txt", problem="duplicate of t0.txt", severity=WARNING),
    ], done=12, total=12)
    st.finish_scan()


def test_scan_lifecycle_and_progress(state):
    state.begin_scan()
    assert state.scanning and state.items == [] and state.progress_text == "Listing files…"
    state.add_items([text("a.txt")], done=1, total=3)
    assert state.progress_text == "Scanning 1 of 3 files…"
    state.finish_scan(cancelled=True)
    assert not state.scanning and state.progress_text == "Scan cancelled after 1 of 3 files"
    assert state.seen[:2] == ["reset", "scan"] and "items" in state.seen and "progress" in state.seen


def test_stats_and_problems(state):
    fill(state)
    s = state.stats
    assert s.counts == {"text": 9, "image": 2, "audio": 1}
    # a text project: the audio file and the usable image are not included (never read)
    assert s.files == 12 and s.included == 9 and s.errors == 1 and s.warnings == 1
    assert s.tokens == 900 and s.documents == 9 and s.duration == pytest.approx(2.5)
    assert s.total_size == 9 * 400 and s.unused == {"audio": 1, "image": 1}
    assert [it.path for it in state.problems] == ["/d/bad.png", "/d/dup.txt"]
    line = state.summary()
    assert "9 text files, 2 images, 1 audio file" in line and "≈900 tokens" in line and "1 unusable" in line
    assert "9 included · 1 audio file not used by this family · 1 image not used" in line
    state.project.replace_section("run", family="image")   # counted again, no rescan
    assert state.stats.included == 1 and state.stats.unused == {"text": 9, "audio": 1}


def test_include_exclude_writes_through_to_the_project(state):
    fill(state)
    project = state.project
    state.set_included("/d/t3.txt", False)
    assert "/d/t3.txt" in project.excluded and project.dirty
    assert not state.is_included("/d/t3.txt") and "included" in state.seen
    assert state.stats.tokens == 800 and state.stats.excluded == 1
    state.set_included_many(["/d/t3.txt", "/d/t4.txt"], True)
    assert project.excluded == set()
    # and the other way round: a project change shows in the state
    project.set_excluded("/d/a.flac", True)
    assert state.stats.duration == 0.0
    # excluded files survive a save and load of the project
    project.set_excluded("/d/t1.txt", True)
    assert "/d/t1.txt" in project.to_toml()


def test_split_preview_follows_the_engine_and_the_project(state):
    fill(state)
    project = state.project
    project.replace_section("data", val_fraction=0.25, split_seed=7)
    assert "split" in state.seen
    sp = state.split()
    # 9 usable, included text documents (t0..t7 and dup.txt), in scan order
    train, val = _split_indices(9, 0.25, 7)
    assert (sp.train, sp.val, sp.seed) == (len(train), len(val), 7)
    order = [f"/d/t{i}.txt" for i in range(8)] + ["/d/dup.txt"]
    assert sorted(p for p, r in sp.roles.items() if r == "validation") == sorted(
        order[i] for i in val)
    assert state.role("/d/b.png") == ""  # the text family does not train on images
    state.set_split_seed(8)
    assert project.config.data.split_seed == 8 and state.split().seed == 8
    state.set_included(order[val[0]], False)
    assert state.split().documents == 8


def test_split_counts_records_of_a_jsonl_file(state):
    state.begin_scan()
    state.add_items([text("a.jsonl", docs=10), text("b.txt")])
    state.finish_scan()
    state.project.replace_section("data", val_fraction=0.5, split_seed=0)
    sp = state.split()
    _, val = _split_indices(11, 0.5, 0)
    assert sp.documents == 11 and sp.val == len(val)
    in_a = sum(1 for i in val if i < 10)  # records 0..9 are a.jsonl's, 10 is b.txt
    assert state.role("/d/a.jsonl") == f"{in_a} of 10 records validation"
    assert state.role("/d/b.txt") == ("validation" if 10 in val else "train")


def test_single_document_splits_by_block(state):
    state.begin_scan()
    state.add_items([text("only.txt")])
    state.finish_scan()
    sp = state.split()
    assert sp.by_block and "blocks" in sp.describe()


def test_selection_and_captions(state):
    fill(state)
    state.select("/d/b.png")
    assert state.selected_item.path == "/d/b.png" and state.seen[-1] == "selection"
    state.update_caption("/d/b.png", "a small picture", "/d/b.txt")
    assert state.item("/d/b.png").caption == "a small picture" and state.seen[-1] == "item"
    state.begin_scan()
    assert state.selected is None


def test_rescanned_file_replaces_its_row(state):
    state.begin_scan()
    state.add_items([text("a.txt", tokens=5)])
    state.add_items([dataclasses.replace(text("a.txt"), tokens=50)])
    assert len(state.items) == 1 and state.item("/d/a.txt").tokens == 50


def test_close_stops_listening(state):
    state.close()
    before = len(state.seen)
    state.project.set_excluded("/d/x", True)
    assert len(state.seen) == before


class HeldJobs:
    """A runner that holds each job until the test delivers it (a worker thread's
    results arriving later on the GUI thread)."""

    def __init__(self) -> None:
        self.jobs: list[dict] = []

    def __call__(self, fn, *args, done=None, error=None, progress=None, **kwargs):
        import threading

        job = {"fn": fn, "args": args, "done": done, "error": error, "progress": progress,
               "cancel": threading.Event(), "running": True}

        class Handle:
            running = property(lambda _s: job["running"])
            cancelled = property(lambda _s: job["cancel"].is_set())

            def cancel(self):
                job["cancel"].set()

        job["handle"] = Handle()
        self.jobs.append(job)
        return job["handle"]

    def finish(self, job, result) -> None:
        job["running"] = False
        job["done"](result)


def test_the_state_runs_the_scan_and_drops_a_replaced_scans_reports():
    project = Project()
    run = HeldJobs()
    st = DatasetState(project, split=split_preview, scan=object(), run=run)
    seen: list[str] = []
    st.subscribe(seen.append)
    assert not st.needs_rescan or st.rescan()  # no paths: nothing to run
    assert run.jobs == [] and not st.scanning

    project.add_dataset_path("/d")
    assert st.needs_rescan and st.rescan()
    first = run.jobs[-1]
    assert first["args"][0] == ["/d"] and st.scanning and st.scan_running
    first["progress"](([text("a.txt")], 1, 3))
    assert [it.path for it in st.items] == ["/d/a.txt"] and st.done == 1

    st.cancel_scan()  # the user presses Cancel: the job is told, the view says so
    assert first["cancel"].is_set() and st.scan_cancelling and "cancelling" in seen
    assert not st.rescan()  # nothing changed: no new scan
    assert st.rescan(force=True)  # Rescan: a new job; the first one's late reports drop
    second = run.jobs[-1]
    first["progress"](([text("late.txt")], 2, 3))
    assert st.items == []
    second["progress"](([text("b.txt"), text("c.txt")], 2, 2))
    run.finish(second, False)
    assert not st.scanning and not st.scan_running and seen[-1] == "scanned"
    assert [it.path for it in st.items] == ["/d/b.txt", "/d/c.txt"]
    assert st.split().documents == 2


def test_a_failed_scan_says_why():
    project = Project()
    project.add_dataset_path("/d")
    run = HeldJobs()
    st = DatasetState(project, scan=object(), run=run)
    st.rescan()
    job = run.jobs[-1]
    job["running"] = False
    job["error"](OSError("disk gone"))
    assert not st.scanning and st.progress_text == "Scan failed: disk gone"
