"""``studio self-test``: prove an install trains every model family, with the product's own code.

For each family (text, image, audio) it takes the shipped starter (``starter:<family>``) and
the shipped demo project of that family (resources/demo/*.toml, found by its ``run.family``),
trains two steps through ``studio.engine.loop.run`` in a throwaway folder, checks that the
losses are finite and that the final sample was written, and prints one summary per family.
It returns 0 when every family passed, or 1 naming each family that failed and the missing
piece (e.g. "audio: torchaudio is missing from this install"). ``make test-package`` runs it
inside the built bundle; ``studio self-test --gui`` also checks that the window constructs
(offscreen).

Qt-free: the GUI check is passed in by the launcher (studio.launcher), which may import Qt.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from studio.config.families import names as family_names
from studio.core.errors import StudioError

# Two steps prove the forward pass, the backward pass and an optimizer update; the settings
# below shrink each demo project to what those two steps and one sample need, identically for
# every family (a key a family does not use is ignored by it).
SELFTEST_STEPS = 2
_SHRINK = ("train.batch_size=2", "train.warmup_steps=0", 'train.schedule="constant"',
           "train.grad_accum=1", "eval.max_batches=1", 'eval.reference="off"',
           "eval.early_stopping_patience=0", "checkpoint.keep_last=1",
           "sample.max_new_tokens=16", "sample.num_images=1", "sample.inference_steps=2",
           "sample.audio_seconds=0.5", "sample.midi_bars=2", "sample.midi_free=1")
REINSTALL = "reinstall Fine-Tuning Studio"
MISSING_FIX = (f"{REINSTALL} from a complete installer; from source: "
               "pip install -r requirements.txt")


class SelfTestError(Exception):
    """A self-test step failed; the message says which and what to do."""


@dataclass
class FamilyResult:
    """One family's two training steps and its final sample."""
    family: str
    ok: bool = False
    error: str = ""
    losses: list[float] = field(default_factory=list)
    sample: str = ""          # the generated text, or the sample file's path (image, audio)
    sample_dir: str = ""
    run_dir: str = ""
    seconds: float = 0.0


@dataclass
class SelfTestResult:
    ok: bool
    lines: list[str] = field(default_factory=list)
    families: dict[str, FamilyResult] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def failed(self) -> list[FamilyResult]:
        return [f for f in self.families.values() if not f.ok]


def demo_projects() -> dict[str, Path]:
    """family -> the shipped demo project that trains it (the first by name if several)."""
    from studio.core.paths import resources_dir

    found: dict[str, Path] = {}
    for path in sorted((resources_dir() / "demo").glob("*.toml")):
        try:
            family = tomllib.loads(path.read_text("utf-8")).get("run", {}).get("family")
        except (OSError, ValueError):
            continue  # a broken demo shows up as "missing" for its family below
        if isinstance(family, str):
            found.setdefault(family, path)
    return found


def _starter(family: str) -> Path:
    from studio.core.paths import starters_dir

    starter = starters_dir() / family
    if not starter.is_dir() or not any(starter.iterdir()):
        raise SelfTestError(
            f"the {family} starter is missing: {starter} does not exist or is empty. The "
            f"install is incomplete: {REINSTALL} (or set STUDIO_RESOURCES to the folder that "
            "holds starters/ and demo/).")
    return starter


def _demo(family: str, demos: dict[str, Path]) -> Path:
    if family not in demos:
        from studio.core.paths import resources_dir

        raise SelfTestError(
            f"no demo project for the {family} family in {resources_dir() / 'demo'}. The "
            f"install is incomplete: {REINSTALL}.")
    return demos[family]


def _family_config(family: str, demo: Path, work: Path, steps: int, device: str):
    """The demo project on the shipped starter, shrunk to ``steps`` steps and one sample."""
    from studio.config.io import load_config

    def q(value: str) -> str:  # a TOML string (paths may hold backslashes on Windows)
        return json.dumps(value)

    cfg = load_config(demo, [
        f"run.name={q('self-test-' + family)}", f"run.runs_dir={q(str(work / 'runs'))}",
        f"model.source={q('starter:' + family)}",
        # a fresh codes cache: the audio path must decode and encode for real, not hit
        # codes that an earlier run left in the user's cache
        f"data.codes_cache={q(str(work / 'codes'))}",
        f"data.latents_cache={q(str(work / 'latents'))}",  # text-to-image: the VAE runs
        f"train.max_steps={steps}", f"train.device={q(device)}",
        f"eval.every={steps}", f"sample.every={steps}", f"checkpoint.every={steps}",
        *_SHRINK])
    # one prompt is enough to prove sampling (the demos carry two or three)
    return dataclasses.replace(cfg, sample=dataclasses.replace(
        cfg.sample, prompts=cfg.sample.prompts[:1]))


def _missing_piece(exc: BaseException | None) -> str | None:
    """'torchaudio is missing from this install' when a package did not import."""
    while exc is not None:
        if isinstance(exc, ModuleNotFoundError) and exc.name:
            return f"{exc.name.split('.')[0]} is missing from this install"
        exc = exc.__cause__ or exc.__context__
    return None


def _train_family(family: str, demos: dict[str, Path], work: Path, steps: int,
                  device: str) -> tuple[FamilyResult, list[str]]:
    """Two steps and a sample of one family; raises on failure."""
    from studio.core import events as ev
    from studio.core.sinks import ListSink
    from studio.engine.loop import run

    res = FamilyResult(family)
    _starter(family)
    cfg = _family_config(family, _demo(family, demos), work, steps, device)
    sink = ListSink()
    t = time.perf_counter()
    result = run(cfg, sink)
    res.seconds = time.perf_counter() - t
    res.run_dir = result.run_dir
    if result.state != "completed":
        raise SelfTestError(f"the training run ended as {result.state!r}, not completed "
                            f"(see {result.run_dir}/metrics.jsonl)")
    res.losses = [e.loss for e in sink.of(ev.StepLogged)]
    if len(res.losses) != steps or not all(math.isfinite(x) for x in res.losses):
        raise SelfTestError(f"expected {steps} finite training losses, got {res.losses}")

    last = [s for e in sink.of(ev.SampleReady) if e.step == steps for s in e.samples]
    if not last:
        raise SelfTestError(f"no sample was generated at step {steps}")
    sample_dir = Path(result.run_dir) / "samples" / f"step_{steps:06d}"
    if not (sample_dir / "index.json").is_file():
        raise SelfTestError(f"the sample was not written to {sample_dir}")
    first = last[0]
    if first.path and not Path(first.path).is_file():
        raise SelfTestError(f"the sample file {first.path} was not written")
    res.sample = first.path or first.prompt + first.text
    res.sample_dir = str(sample_dir)
    res.ok = True

    started = sink.of(ev.RunStarted)[0]
    shown = (Path(first.path).name if first.path else repr(res.sample.strip()[:60]))
    lines = [f"  {family:<8}{steps} steps on {started.device} in {res.seconds:.1f} s "
             f"({started.total_params:,} parameters), loss {res.losses[0]:.3f} -> "
             f"{res.losses[-1]:.3f}",
             f"  {'':<8}sample {shown}"]
    return res, lines


def _run_family(family: str, demos: dict[str, Path], work: Path, steps: int, device: str,
                say: Callable[[str], None]) -> FamilyResult:
    """One family, its failure caught and worded (the other families still run)."""
    try:
        res, lines = _train_family(family, demos, work, steps, device)
    except Exception as exc:  # noqa: BLE001 - any failure is this family's: say what broke
        error = missing = _missing_piece(exc)
        if error is None and isinstance(exc, (SelfTestError, StudioError)):
            error = str(exc)
        elif error is None:  # a bug or a broken install: the traceback helps a report
            import traceback

            say(traceback.format_exc())
            error = f"{type(exc).__name__}: {exc}"
        fix = f" (this build was made without it: {MISSING_FIX})" if missing else ""
        say(f"  {family:<8}FAILED: {error}{fix}")
        return FamilyResult(family, error=error)
    for line in lines:
        say(line)
    return res


def _import_torch(say: Callable[[str], None]) -> None:
    t = time.perf_counter()
    try:
        import torch
    except Exception as exc:  # noqa: BLE001 - an install without a working torch
        raise SelfTestError(f"PyTorch does not import ({type(exc).__name__}: {exc}); "
                            f"{REINSTALL}") from exc
    build = (f"CUDA {torch.version.cuda}" if torch.version.cuda else
             f"ROCm {torch.version.hip}" if getattr(torch.version, "hip", None) else "CPU")
    say(f"  torch   {torch.__version__} ({build} build), imported in "
        f"{time.perf_counter() - t:.1f} s")


def run_selftest(steps: int = SELFTEST_STEPS, device: str = "auto",
                 work_dir: str | Path | None = None,
                 gui_check: Callable[[], str] | None = None,
                 echo: Callable[[str], None] = print,
                 families: tuple[str, ...] | None = None) -> SelfTestResult:
    """Run the self-test; every line of the summary goes to ``echo`` as it happens.
    ``families``: default every registered family (studio.config.families)."""
    families = families or family_names()
    res = SelfTestResult(ok=False)
    t0 = time.perf_counter()

    def say(line: str) -> None:
        res.lines.append(line)
        echo(line)

    tmp = None
    try:
        from studio import __version__
        from studio.core.paths import resources_dir

        say(f"Fine-Tuning Studio {__version__} self-test "
            f"({'bundle' if getattr(sys, 'frozen', False) else 'source'}, Python "
            f"{sys.version.split()[0]}, {sys.platform}): {', '.join(families)}")
        say(f"  resources {resources_dir()}")
        _import_torch(say)
        if work_dir is None:
            tmp = tempfile.TemporaryDirectory(prefix="studio-selftest-")
            work_dir = tmp.name
        demos = demo_projects()
        for family in families:
            res.families[family] = _run_family(family, demos, Path(work_dir), steps, device,
                                               say)

        if gui_check is not None:  # the window, when asked (the launcher passes a Qt check in)
            t = time.perf_counter()
            what = gui_check()
            say(f"  window  {what} in {time.perf_counter() - t:.1f} s")

        res.seconds = time.perf_counter() - t0
        res.ok = not res.failed
        if res.ok:
            say(f"self-test passed in {res.seconds:.1f} s: {', '.join(families)} each "
                f"trained {steps} steps and wrote a sample")
        else:
            say("self-test FAILED: " + "; ".join(f"{f.family}: {f.error}" for f in res.failed))
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
                                description="Check that this install trains every model "
                                            f"family ({', '.join(family_names())}): each shipped "
                                            "starter trains a few steps on its demo project "
                                            "and writes a sample.")
    p.add_argument("--steps", type=int, default=SELFTEST_STEPS)
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    p.add_argument("--family", action="append", choices=family_names(), dest="families",
                   help="test only this family (repeatable); default: every family")
    p.add_argument("--keep", metavar="DIR", help="keep the run folders under DIR")
    p.add_argument("--gui", action="store_true",
                   help="also construct the main window offscreen and close it")
    args = p.parse_args(argv)
    if args.steps < 1:
        print("error: --steps: must be at least 1", file=sys.stderr)
        return 2
    res = run_selftest(steps=args.steps, device=args.device, work_dir=args.keep,
                       gui_check=gui_check if args.gui else None,
                       families=tuple(args.families or ()))
    return 0 if res.ok else 1
