"""Export a run for a cluster: the config plus ready-to-run launch commands.

The CLI is the seam to bigger machines: the same ``studio train cfg.toml`` runs under
torchrun or accelerate with DistributedDataParallel, or FSDP (``train.parallel = "fsdp"``)
for models too big for one GPU. This writes a self-contained folder:

  config.toml         the run config with absolute data paths
  launch_torchrun.sh  torchrun on one or more nodes
  launch_accelerate.sh  the same through `accelerate launch`
  slurm.sbatch        a SLURM job script template (one task per node, torchrun inside)
  README.md           what to edit and how to run it
"""

from __future__ import annotations

import os
import shlex
from dataclasses import replace
from pathlib import Path

from studio.config.io import config_to_dict, dumps_toml, resolve_path
from studio.config.schema import RunConfig


def _abs_config(cfg: RunConfig) -> RunConfig:
    data = replace(cfg.data, paths=tuple(str(resolve_path(cfg, p).resolve())
                                         for p in cfg.data.paths),
                   exclude=tuple(str(resolve_path(cfg, p).resolve()) for p in cfg.data.exclude))
    return replace(cfg, data=data)


def export_cluster(cfg: RunConfig, out_dir: str | os.PathLike, *, nodes: int = 1,
                   gpus_per_node: int = 8, python: str = "python") -> list[Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cfg_path = out / "config.toml"
    cfg_path.write_text(dumps_toml(config_to_dict(_abs_config(cfg)), comments=True),
                        encoding="utf-8")
    q = shlex.quote
    world = nodes * gpus_per_node
    eff = cfg.train.batch_size * cfg.train.grad_accum
    header = (f"# {cfg.run.name}: {nodes} node(s) x {gpus_per_node} GPU(s) = {world} processes.\n"
              f"# Global batch per optimizer step = batch_size {cfg.train.batch_size} x "
              f"grad_accum {cfg.train.grad_accum} x {world} processes = {eff * world}.\n"
              f"# Strategy: train.parallel = {cfg.train.parallel} ("
              + ("weights, gradients and optimizer state sharded across the processes"
                 if cfg.train.parallel == "fsdp" else "a whole model copy per process")
              + ").\n"
              "# Only rank 0 writes the run folder; checkpoints resume with any process count.\n")
    torchrun = out / "launch_torchrun.sh"
    torchrun.write_text(
        "#!/usr/bin/env bash\n" + header + "set -euo pipefail\n"
        'HERE="$(cd "$(dirname "$0")" && pwd)"\n'
        f'NNODES="${{NNODES:-{nodes}}}"\nNODE_RANK="${{NODE_RANK:-0}}"\n'
        'MASTER_ADDR="${MASTER_ADDR:-127.0.0.1}"\nMASTER_PORT="${MASTER_PORT:-29500}"\n'
        f"{q(python)} -m torch.distributed.run --nnodes \"$NNODES\" --node_rank \"$NODE_RANK\" "
        f"--nproc_per_node {gpus_per_node} --master_addr \"$MASTER_ADDR\" "
        "--master_port \"$MASTER_PORT\" -m studio train \"$HERE/config.toml\" \"$@\"\n",
        encoding="utf-8")
    accelerate = out / "launch_accelerate.sh"
    accelerate.write_text(
        "#!/usr/bin/env bash\n" + header + "set -euo pipefail\n"
        'HERE="$(cd "$(dirname "$0")" && pwd)"\n'
        f"accelerate launch --multi_gpu --num_machines {nodes} --num_processes {world} "
        "--machine_rank \"${NODE_RANK:-0}\" --main_process_ip \"${MASTER_ADDR:-127.0.0.1}\" "
        "--main_process_port \"${MASTER_PORT:-29500}\" -m studio train "
        "\"$HERE/config.toml\" \"$@\"\n", encoding="utf-8")
    slurm = out / "slurm.sbatch"
    slurm.write_text(
        "#!/usr/bin/env bash\n" + header +
        f"#SBATCH --job-name={q(cfg.run.name)}\n#SBATCH --nodes={nodes}\n"
        f"#SBATCH --ntasks-per-node=1\n#SBATCH --gpus-per-node={gpus_per_node}\n"
        "#SBATCH --cpus-per-task=16\n#SBATCH --time=24:00:00\n"
        "#SBATCH --output=%x-%j.out\n# Edit the partition / account lines for your cluster:\n"
        "##SBATCH --partition=gpu\n##SBATCH --account=myproject\n\nset -euo pipefail\n"
        'HERE="${SLURM_SUBMIT_DIR:-$(pwd)}"\n'
        "MASTER_ADDR=$(scontrol show hostnames \"$SLURM_JOB_NODELIST\" | head -n 1)\n"
        "srun " + f"{q(python)} -m torch.distributed.run --nnodes \"$SLURM_NNODES\" "
        f"--nproc_per_node {gpus_per_node} --rdzv_backend c10d "
        "--rdzv_endpoint \"$MASTER_ADDR:29500\" --rdzv_id \"$SLURM_JOB_ID\" "
        "-m studio train \"$HERE/config.toml\"\n", encoding="utf-8")
    for p in (torchrun, accelerate, slurm):
        p.chmod(0o755)
    readme = out / "README.md"
    readme.write_text(
        f"# {cfg.run.name} on a cluster\n\n"
        "Install the studio on every node (`pip install -e .` in a clone), make the data paths in "
        "`config.toml` reachable from every node (a shared filesystem), then:\n\n"
        f"- one machine, {gpus_per_node} GPUs: `./launch_torchrun.sh`\n"
        f"- {nodes} machines: on each, `NNODES={nodes} NODE_RANK=<0..{nodes - 1}> "
        "MASTER_ADDR=<first node> ./launch_torchrun.sh`\n"
        "- with accelerate: `./launch_accelerate.sh` (same variables)\n"
        "- SLURM: `sbatch slurm.sbatch` (edit the partition and account lines first)\n\n"
        f"Parallel strategy: `train.parallel = \"{cfg.train.parallel}\"` in config.toml (ddp: a "
        "whole model per GPU, fastest; fsdp: weights, gradients and optimizer state sharded, "
        "for models that do not fit one GPU).\n\n"
        "Overrides work as usual: `./launch_torchrun.sh train.max_steps=5000`. "
        "Resume a run, with any number of processes: "
        "`python -m torch.distributed.run --nproc_per_node N -m studio resume RUN_DIR`.\n",
        encoding="utf-8")
    return [cfg_path, torchrun, accelerate, slurm, readme]
