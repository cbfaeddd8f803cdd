"""Queue and sweeps: grid expansion, snapshots, a queue that goes on past a failed run,
the comparison table, and the CLI (queue add/list/run, sweep --run, compare)."""

from __future__ import annotations

import json

import pytest

from studio.cli.main import main
from studio.config import load_config
from studio.core.errors import ConfigError
from studio.runs.queue import RunQueue, compare_runs, comparison_table, expand_grid


def test_expand_grid():
    grid = expand_grid(["train.lr=1e-4,3e-4", "train.batch_size=4,8",
                        "freeze.preset=none,head_only"])
    assert len(grid) == 8
    assert grid[0] == ("train.lr=1e-4", "train.batch_size=4", "freeze.preset=none")
    assert grid[1] == ("train.lr=1e-4", "train.batch_size=4", "freeze.preset=head_only")
    assert expand_grid([]) == [()]
    for bad in ("lr=1e-4", "train.lr", "train.lr="):
        with pytest.raises(ConfigError):
            expand_grid([bad])


def test_queue_snapshots_validates_and_names(tiny_run_config, tmp_path):
    cfg_path = tiny_run_config()
    q = RunQueue(tmp_path / "q" / "queue.json")
    items = q.add_sweep(load_config(cfg_path), ["train.lr=1e-3,3e-3", "train.batch_size=2"])
    assert [i["name"] for i in items] == ["tiny-lr1e-3-bs2", "tiny-lr3e-3-bs2"]
    snap = load_config(items[1]["config"])
    assert snap.train.lr == 3e-3 and snap.train.batch_size == 2
    assert all(p.startswith("/") for p in snap.data.paths)  # runs from anywhere
    # a bad value is refused when queued, not at 3 a.m.; nothing of the grid is queued
    with pytest.raises(ConfigError, match="train.lr"):
        q.add_sweep(load_config(cfg_path), ["train.lr=1e-3,-1"])
    assert len(RunQueue(q.path).items) == 2
    q.remove(1)
    assert [i["id"] for i in RunQueue(q.path).items] == [2]


def test_queue_goes_on_past_a_failed_run_and_compares(tiny_run_config, tmp_path):
    from studio.engine.queue import run_queue

    cfg = load_config(tiny_run_config(train={"max_steps": 2}, eval={
        "every": 2, "reference_examples": 4}, sample={"every": 0}, checkpoint={"every": 0}))
    q = RunQueue(tmp_path / "queue.json")
    q.add(cfg, ("train.lr=1e-3",))
    q.add(cfg, ("model.source=/no/such/model",))
    q.add(cfg, ("train.lr=1e-2",))
    seen = []
    done = run_queue(q, on_item=seen.append)
    assert [i["state"] for i in done] == ["completed", "failed", "completed"]
    assert "no such model folder" in done[1]["message"]
    assert [i["id"] for i in seen] == [1, 2, 3]
    saved = json.loads(q.path.read_text())["items"]
    assert [i["state"] for i in saved] == ["completed", "failed", "completed"]
    rows = compare_runs([done[0]["run_dir"], done[2]["run_dir"]])
    assert all(r["state"] == "completed" and r["best_val_loss"] > 0 for r in rows)
    assert all(r["ref_drift"] is not None and r["time_s"] > 0 for r in rows)
    assert all(r["peak_gpu_bytes"] is None for r in rows)  # CPU
    table = comparison_table(rows)
    assert "BEST VAL" in table and "REF DRIFT" in table and table.count(" *") == 1
    assert run_queue(q) == []  # nothing pending any more


def test_cli_sweep_run_queue_list_compare(tiny_run_config, tmp_path, capsys):
    cfg = tiny_run_config(train={"max_steps": 1}, eval={"every": 0, "reference": "off"},
                          sample={"every": 0}, checkpoint={"every": 0})
    qf = str(tmp_path / "queue.json")
    assert main(["sweep", str(cfg), "train.lr=1e-3,3e-3", "--queue", qf]) == 0
    assert "2 runs queued" in capsys.readouterr().out
    assert main(["queue", "add", str(cfg), "model.source=/nope", "--queue", qf]) == 0
    assert main(["queue", "list", "--queue", qf]) == 0
    listing = capsys.readouterr().out
    assert listing.count("pending") == 3
    assert main(["queue", "run", "--quiet", "--queue", qf]) == 1  # one failed
    out = capsys.readouterr().out
    assert "item 3 failed" in out and "3 run(s): 1 failed" in out
    assert "BEST VAL" in out and out.count("completed") >= 2
    q = RunQueue(qf)
    dirs = [i["run_dir"] for i in q.items if i["state"] == "completed"]
    assert main(["compare", *dirs]) == 0
    assert capsys.readouterr().out.count("completed") == 2
    assert main(["compare", str(tmp_path)]) == 2
