"""Data parallel on this CPU: two gloo processes under torchrun."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from studio.config import load_config
from studio.core.sinks import ListSink
from studio.engine import run
from studio.runs import list_runs, read_metrics, read_status

ROOT = Path(__file__).resolve().parent.parent
QUIET = {"eval": {"every": 0}, "sample": {"every": 0}}


def studio(*args) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "studio", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


def step_losses(run_dir) -> dict[int, float]:
    return {r["step"]: r["loss"] for r in read_metrics(run_dir) if r["event"] == "StepLogged"}


def test_two_processes_match_one_with_the_same_global_batch(tiny_run_config, tmp_path):
    common = {"max_steps": 4, "dropout": 0.0, "grad_accum": 2}
    single = tiny_run_config("single.toml", train={**common, "batch_size": 8},
                             checkpoint={"every": 2}, **QUIET)
    ddp = tiny_run_config("ddp.toml", train={**common, "batch_size": 4},
                          checkpoint={"every": 2}, **QUIET)
    sink = ListSink()
    one = run(load_config(single), sink)
    res = studio("train", str(ddp), "--nproc", "2", "--quiet")
    assert res.returncode == 0, res.stderr[-3000:]
    runs = [r for r in list_runs(tmp_path / "runs") if r.path != Path(one.run_dir)]
    assert len(runs) == 1  # only rank 0 created a run folder
    two = runs[0]
    assert read_status(two.path)["state"] == "completed"
    a, b = step_losses(one.run_dir), step_losses(two.path)
    assert sorted(a) == sorted(b) == [1, 2, 3, 4]
    torch.testing.assert_close(torch.tensor([b[s] for s in a]), torch.tensor([a[s] for s in a]),
                               rtol=1e-4, atol=1e-5)
    # the same checkpoint format: a distributed run resumes in one process
    res2 = run(None, ListSink(), resume=two.path, overrides=("train.max_steps=5",))
    assert res2.state == "completed" and res2.step == 5


def test_fsdp_matches_one_process_under_a_freeze_plan_with_lora(tiny_run_config, tmp_path):
    """FSDP (weights, gradients and optimizer state sharded over 2 gloo processes) gives the
    single-process losses, evaluates and samples on every rank, and writes the
    single-process checkpoint format: the sharded run resumes in one process."""
    # frozen embeddings, LoRA on block 0, block 1 joining (full) at step 2
    plan = {"default_mode": "frozen", "lora_rank": 4,
            "groups": [{"name": "block.0", "mode": "lora"},
                       {"name": "block.1", "mode": "full", "start_step": 2},
                       {"name": "final_norm", "mode": "full"}]}
    common = {"max_steps": 4, "dropout": 0.0, "grad_accum": 2}
    rest = {"eval": {"every": 2}, "sample": {"every": 4, "max_new_tokens": 4},
            "checkpoint": {"every": 2}, "freeze": plan}
    single = tiny_run_config("single.toml", train={**common, "batch_size": 8}, **rest)
    fsdp = tiny_run_config("fsdp.toml", train={**common, "batch_size": 4, "parallel": "fsdp"},
                           **rest)
    one = run(load_config(single), ListSink())
    res = studio("train", str(fsdp), "--nproc", "2", "--quiet")
    assert res.returncode == 0, res.stderr[-3000:]
    (two,) = [r for r in list_runs(tmp_path / "runs") if r.path != Path(one.run_dir)]
    assert read_status(two.path)["state"] == "completed"
    log = [r.get("text", "") for r in read_metrics(two.path) if r["event"] == "LogMessage"]
    assert any("FSDP" in line and "2 processes" in line for line in log), log
    a, b = step_losses(one.run_dir), step_losses(two.path)
    assert sorted(a) == sorted(b) == [1, 2, 3, 4]
    torch.testing.assert_close(torch.tensor([b[s] for s in a]), torch.tensor([a[s] for s in a]),
                               rtol=1e-4, atol=1e-5)
    val = {r["step"]: r["val_loss"] for r in read_metrics(two.path) if r["event"] == "EvalLogged"}
    assert sorted(val) == [0, 2, 4]
    # the forgetting probe's reference loss, evaluated by every rank of the sharded model
    ref = [r["metrics"]["ref_loss"] for r in read_metrics(two.path) if r["event"] == "EvalLogged"]
    assert len(ref) == 3 and all(math.isfinite(x) for x in ref)
    assert (two.path / "samples").is_dir() and (two.path / "best").is_dir()
    res2 = run(None, ListSink(), resume=two.path, overrides=("train.max_steps=5",))
    assert res2.state == "completed" and res2.step == 5


def test_a_killed_rank_fails_the_run_cleanly(tiny_run_config, tmp_path):
    cfg = tiny_run_config(train={"max_steps": 100000, "batch_size": 2},
                          checkpoint={"every": 5}, **QUIET)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
           "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "studio", "train", str(cfg), "--nproc", "2"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    deadline = time.time() + 300
    for line in proc.stdout:
        if "checkpoint (interval) @ step 5" in line:
            break
        assert time.time() < deadline
    # find the two worker processes (children of torchrun) and kill rank 1
    out = subprocess.run(["ps", "-o", "pid=,args=", "--ppid",
                          str(_torchrun_pid(proc.pid))], capture_output=True, text=True).stdout
    workers = [int(line.split()[0]) for line in out.splitlines() if "studio" in line]
    assert len(workers) == 2, out
    os.kill(max(workers), signal.SIGKILL)
    try:
        proc.wait(120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    assert proc.returncode != 0
    (info,) = list_runs(tmp_path / "runs")
    status = read_status(info.path)
    # never "running" forever, never "completed"; a message when rank 0 could say it
    assert status["state"] in ("failed", "interrupted", "stopped"), status
    if status["state"] == "failed":
        assert status["message"]
    assert info.resumable or status["state"] == "stopped"
    # nothing lost beyond the last checkpoint: it resumes in one process
    res = run(None, ListSink(), resume=info.path,
              overrides=(f"train.max_steps={info.step + 1 if info.step else 6}",))
    assert res.state == "completed"


def _torchrun_pid(cli_pid: int) -> int:
    """The studio CLI runs torchrun as a child; return torchrun's pid."""
    for _ in range(50):
        out = subprocess.run(["ps", "-o", "pid=,args=", "--ppid", str(cli_pid)],
                             capture_output=True, text=True).stdout
        for line in out.splitlines():
            if "torch.distributed.run" in line:
                return int(line.split()[0])
        time.sleep(0.1)
    raise AssertionError("torchrun not found")


def test_cluster_export_writes_config_and_launch_scripts(tiny_run_config, tmp_path):
    import subprocess as sp

    from studio.cli.main import main
    out = tmp_path / "cluster"
    assert main(["cluster", str(tiny_run_config()), str(out), "train.batch_size=2",
                 "--nodes", "2", "--gpus-per-node", "4"]) == 0
    cfg = load_config(out / "config.toml")
    assert cfg.train.batch_size == 2 and all(p.startswith("/") for p in cfg.data.paths)
    torchrun = (out / "launch_torchrun.sh").read_text()
    assert "--nproc_per_node 4" in torchrun and "-m studio train" in torchrun
    assert "= 8 processes" in torchrun and "global batch" in torchrun.lower()
    slurm = (out / "slurm.sbatch").read_text()
    assert "#SBATCH --nodes=2" in slurm and "--gpus-per-node=4" in slurm
    assert "num_processes 8" in (out / "launch_accelerate.sh").read_text()
    for name in ("launch_torchrun.sh", "launch_accelerate.sh", "slurm.sbatch"):
        assert sp.run(["bash", "-n", str(out / name)]).returncode == 0
