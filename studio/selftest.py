"""``studio self-test``: prove an install works, with the product's own code.

Loads the shipped text starter through the real loader, trains a few steps on the shipped
demo text through ``studio.engine.loop.run`` (a throwaway run folder), checks that the loss
is finite and a sample was written, prints a summary and returns 0 — or 1 with a message
that says what is broken and what to do. ``make test-package`` runs it inside the built
bundle; ``studio self-test --gui`` also checks that the window constructs (offscreen).

Qt-free: the GUI check is passed in by the launcher (studio.launcher), which may import Qt.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from studio.core.errors import StudioError


class SelfTestError(Exception):
    """A self-test step failed; the message says which and what to do."""


@dataclass
class SelfTestResult:
    ok: bool
    lines: list[str] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    sample_text: str = ""
    sample_dir: str = ""
    run_dir: str = ""
    seconds: float = 0.0


def _check_resources() -> tuple[Path, Path]:
    from studio.core.paths import resources_dir, starters_dir

    starter = starters_dir() / "text"
    demo = resources_dir() / "demo" / "sonnets.txt"
    for path, what in ((starter / "config.json", "the text starter"),
                       (demo, "the demo text")):
        if not path.is_file():
            raise SelfTestError(
                f"{what} is missing: {path} does not exist. The install is incomplete: "
                "reinstall Fine-Tuning Studio (or set STUDIO_RESOURCES to the folder that "
                "holds starters/ and demo/).")
    return starter, demo


def run_selftest(steps: int = 3, device: str = "auto", work_dir: str | Path | None = None,
                 gui_check: Callable[[], str] | None = None,
                 echo: Callable[[str], None] = print) -> SelfTestResult:
    """Run the self-test; every line of the summary goes to ``echo`` as it happens."""
    res = SelfTestResult(ok=False)
    t0 = time.perf_counter()

    def say(line: str) -> None:
        res.lines.append(line)
        echo(line)

    tmp = None
    try:
        from studio import __version__
        say(f"Fine-Tuning Studio {__version__} self-test "
            f"({'bundle' if getattr(sys, 'frozen', False) else 'source'}, Python "
            f"{sys.version.split()[0]}, {sys.platform})")
        starter, demo = _check_resources()
        say(f"  resources     {starter.parent.parent}")

        t = time.perf_counter()
        try:
            import torch
        except Exception as exc:  # noqa: BLE001 - an install without a working torch
            raise SelfTestError(f"PyTorch does not import ({type(exc).__name__}: {exc}); "
                                "reinstall Fine-Tuning Studio") from exc
        build = (f"CUDA {torch.version.cuda}" if torch.version.cuda else
                 f"ROCm {torch.version.hip}" if getattr(torch.version, "hip", None) else "CPU")
        say(f"  torch         {torch.__version__} ({build} build), imported in "
            f"{time.perf_counter() - t:.1f} s")

        # 1. the starter, through the family's real loader
        from studio.engine.device import pick_device
        from studio.models.base import get_family

        dev = pick_device(device)
        t = time.perf_counter()
        loaded = get_family("text").load("starter:text", str(dev))
        n_params = sum(p.numel() for p in loaded.model.parameters())
        say(f"  starter:text  {type(loaded.model).__name__}, {n_params:,} parameters, loaded "
            f"on {dev.type} in {time.perf_counter() - t:.1f} s")
        del loaded

        # 2. a few steps through the engine on the demo text
        from studio.config.schema import (
            CheckpointConfig,
            DataConfig,
            EvalConfig,
            ModelConfig,
            RunConfig,
            RunSection,
            SampleConfig,
            TrainConfig,
        )
        from studio.core import events as ev
        from studio.core.sinks import ListSink
        from studio.engine.loop import run

        if work_dir is None:
            tmp = tempfile.TemporaryDirectory(prefix="studio-selftest-")
            work_dir = tmp.name
        cfg = RunConfig(
            run=RunSection(name="self-test", runs_dir=str(Path(work_dir) / "runs"),
                           family="text"),
            model=ModelConfig(source="starter:text"),
            data=DataConfig(paths=(str(demo),), block_size=64, val_fraction=0.1),
            train=TrainConfig(lr=1e-3, batch_size=4, max_steps=steps, warmup_steps=0,
                              schedule="constant", device=device, seed=0),
            eval=EvalConfig(every=steps, max_batches=2),
            sample=SampleConfig(every=steps, prompts=("Shall I compare thee",),
                                max_new_tokens=16, seed=1),
            checkpoint=CheckpointConfig(every=steps, keep_last=1),
        )
        sink = ListSink()
        t = time.perf_counter()
        result = run(cfg, sink)
        res.run_dir = result.run_dir
        if result.state != "completed":
            raise SelfTestError(f"the training run ended as {result.state!r}, not completed "
                                f"(see {result.run_dir}/metrics.jsonl)")
        res.losses = [e.loss for e in sink.of(ev.StepLogged)]
        if len(res.losses) != steps or not all(math.isfinite(x) for x in res.losses):
            raise SelfTestError(f"expected {steps} finite training losses, got {res.losses}")
        say(f"  training      {steps} steps in {time.perf_counter() - t:.1f} s, loss "
            f"{res.losses[0]:.3f} -> {res.losses[-1]:.3f}")
        evals = sink.of(ev.EvalLogged)
        if evals:
            say(f"  validation    loss {evals[-1].val_loss:.3f} at step {evals[-1].step}")

        # 3. a sample, written to the run folder
        last = [s for e in sink.of(ev.SampleReady) if e.step == steps for s in e.samples]
        if not last:
            raise SelfTestError(f"no sample was generated at step {steps}")
        sample_dir = Path(result.run_dir) / "samples" / f"step_{steps:06d}"
        if not (sample_dir / "index.json").is_file():
            raise SelfTestError(f"the sample was not written to {sample_dir}")
        res.sample_text = last[0].prompt + last[0].text
        res.sample_dir = str(sample_dir)
        say(f"  sample        {res.sample_text.strip()[:70]!r}")

        # 4. the window, when asked (the launcher passes a Qt check in)
        if gui_check is not None:
            t = time.perf_counter()
            what = gui_check()
            say(f"  window        {what} in {time.perf_counter() - t:.1f} s")

        res.ok = True
        res.seconds = time.perf_counter() - t0
        say(f"self-test passed in {res.seconds:.1f} s")
    except (SelfTestError, StudioError) as exc:
        say(f"self-test FAILED: {exc}")
    except Exception as exc:  # noqa: BLE001 - anything else is a broken install: say so
        import traceback

        say(f"self-test FAILED: {type(exc).__name__}: {exc}")
        say(traceback.format_exc())
        say("This is a bug or a broken install: please report it with the lines above.")
    finally:
        if tmp is not None:
            tmp.cleanup()
    res.seconds = time.perf_counter() - t0
    return res


def main(argv: list[str] | None = None, gui_check: Callable[[], str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="studio self-test",
                                description="Check that this install trains: load the text "
                                            "starter, train a few steps on the demo text, "
                                            "write a sample.")
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    p.add_argument("--keep", metavar="DIR", help="keep the run folder under DIR")
    p.add_argument("--gui", action="store_true",
                   help="also construct the main window offscreen and close it")
    args = p.parse_args(argv)
    if args.steps < 1:
        print("error: --steps: must be at least 1", file=sys.stderr)
        return 2
    res = run_selftest(steps=args.steps, device=args.device, work_dir=args.keep,
                       gui_check=gui_check if args.gui else None)
    return 0 if res.ok else 1
