"""``studio`` — fine-tune from the terminal with the same engine as the window.

A user error prints one line naming the field or file and the fix and exits 2;
a traceback appears only with ``--debug``.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import traceback
from pathlib import Path

from studio import __version__
from studio.config import families
from studio.core import units
from studio.core.errors import StudioError

EXIT_USER_ERROR = 2
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="studio", description="Fine-Tuning Studio: fine-tune pre-trained generative "
                                   "models on your own files.")
    p.add_argument("--version", action="version", version=f"studio {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    t = sub.add_parser("train", help="train from a TOML config",
                       description="Train from a TOML config. Overrides like train.lr=1e-4 "
                                   "change single settings. Ctrl-C stops cleanly with a "
                                   "checkpoint; `studio resume RUN_DIR` continues.")
    t.add_argument("config", help="run config or project file (.toml)")
    t.add_argument("overrides", nargs="*", metavar="section.key=value")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.add_argument("--trial", type=int, metavar="N",
                   help="quick trial: stop after N steps with samples, a checkpoint and a "
                        "verdict (does the loss fall?); `studio resume RUN` continues the "
                        "same run")
    t.add_argument("--nproc", type=int, default=1, metavar="N",
                   help="data-parallel processes on this machine (launches torchrun; one per "
                        "GPU, or gloo processes on the CPU)")

    r = sub.add_parser("resume", help="continue a stopped or interrupted run")
    r.add_argument("run_dir")
    r.add_argument("overrides", nargs="*", metavar="section.key=value",
                   help="e.g. train.max_steps=2000 to train further")
    r.add_argument("--quiet", action="store_true")
    r.add_argument("--trial", type=int, metavar="N",
                   help="train N more steps, then stop with samples and a verdict")
    r.add_argument("--nproc", type=int, default=1, metavar="N",
                   help="data-parallel processes (may differ from the original run)")

    ls = sub.add_parser("runs", help="list past runs with their status")
    ls.add_argument("runs_dir", nargs="?", default=None,
                    help="folder of runs (default: ./runs or $STUDIO_RUNS_DIR)")

    s = sub.add_parser("sample", help="generate from a run's weights")
    s.add_argument("run_dir")
    s.add_argument("--prompt", action="append", help="prompt (repeatable); default: the "
                                                     "run's prompts")
    s.add_argument("--max-new-tokens", type=int)
    s.add_argument("--temperature", type=float)
    s.add_argument("--top-k", type=int)
    s.add_argument("--top-p", type=float)
    s.add_argument("--seed", type=int)
    s.add_argument("--weights", default="best",
                   help="best validation weights (default), latest, or a checkpoint name")

    e = sub.add_parser("export", help="export a run as a Hugging Face model folder")
    e.add_argument("run_dir")
    e.add_argument("out_dir", nargs="?", help="default: RUN_DIR/export")
    e.add_argument("--weights", default="best",
                   help="best (default), latest, or a checkpoint name like step_000300")
    e.add_argument("--allow-unchanged", action="store_true",
                   help="export even when the chosen weights are the base model unchanged "
                        "(the run's best validation loss was at step 0)")
    e.add_argument("--format", action="append",
                   choices=tuple(dict.fromkeys(k for sp in families.all_specs()
                                               for k, _ in sp.export_formats)),
                   help="full: a complete model folder (LoRA merged in); adapter: a PEFT "
                        "LoRA adapter folder; text_to_image: diffusers_lora, kohya. "
                        "Repeatable; default: the family's usual (full; text_to_image: "
                        "diffusers_lora and kohya)")

    i = sub.add_parser("inspect", help="show a model's layer groups with parameter counts")
    i.add_argument("model", nargs="?", help='"starter:text", a local folder or a hub id '
                                            "(default: the config's model)")
    i.add_argument("overrides", nargs="*", metavar="section.key=value",
                   help="e.g. freeze.preset=gradual train.batch_size=4")
    i.add_argument("--config", help="show the freeze plan and memory of this run config")
    i.add_argument("--family", choices=families.names(),
                   help="default: the config's run.family, else read from the model folder")

    g = sub.add_parser("gui", help="open the studio window")
    g.add_argument("project", nargs="?", help="project file (.toml); default: the demo")

    k = sub.add_parser("cluster", help="write a config + torchrun / accelerate / SLURM "
                                       "launch scripts for a cluster")
    k.add_argument("config")
    k.add_argument("out_dir")
    k.add_argument("overrides", nargs="*", metavar="section.key=value")
    k.add_argument("--nodes", type=int, default=1)
    k.add_argument("--gpus-per-node", type=int, default=8)

    lf = sub.add_parser("lr-find", help="learning-rate range test: suggest a train.lr",
                        description="Train a few hundred steps with the rate growing "
                                    "exponentially, plot the loss, suggest the rate where it "
                                    "falls fastest. The weights are put back; nothing is "
                                    "written unless --json is given.")
    lf.add_argument("config")
    lf.add_argument("overrides", nargs="*", metavar="section.key=value")
    lf.add_argument("--steps", type=int, default=100, help="steps of the test (default 100)")
    lf.add_argument("--start", type=float, default=1e-7, help="first rate (default 1e-7)")
    lf.add_argument("--end", type=float, default=1.0, help="last rate (default 1)")
    lf.add_argument("--json", metavar="FILE", help="write every point and the suggestion")

    pr = sub.add_parser("probe", help="bias probe (text runs and models) and caption balance "
                                      "report (image / audio datasets)")
    prs = pr.add_subparsers(dest="probe", metavar="PROBE", required=True)
    pb = prs.add_parser("bias", help="log-probabilities of chosen continuations of templated "
                                     "prompts, before and after fine-tuning",
                        description="TARGET is a run folder (base model before, the run's best "
                                    "weights after) or a model (starter:text, a folder, a hub "
                                    "id) scored alone. Templates: the run's "
                                    "probe.bias_templates, or --template.")
    pb.add_argument("target")
    pb.add_argument("--template", action="append", metavar='"The {a|b} said -> he|she"',
                    help="a template (repeatable); default: the run's probe.bias_templates")
    pb.add_argument("--json", metavar="FILE", help="write every score")
    pl = prs.add_parser("balance", help="image / audio datasets: the words their captions "
                                        "use and how named groups of words compare",
                        description="SOURCE is a run config / project (.toml: its data.paths "
                                    "and probe.balance_groups) or a folder of files with "
                                    "same-name .txt captions.")
    pl.add_argument("source")
    pl.add_argument("--group", action="append", metavar='"man|woman|person"',
                    help="a group of words to compare (repeatable); default: the config's "
                         "probe.balance_groups")
    pl.add_argument("--top", type=int, default=20, help="most frequent words shown")
    pl.add_argument("--json", metavar="FILE", help="write the report")

    q = sub.add_parser("queue", help="queue runs for an overnight session and run them")
    qs = q.add_subparsers(dest="queue_cmd", metavar="ACTION", required=True)
    qa = qs.add_parser("add", help="queue a config (a snapshot is taken now)")
    qa.add_argument("config")
    qa.add_argument("overrides", nargs="*", metavar="section.key=value")
    qs.add_parser("list", help="the queue with each item's state")
    qr = qs.add_parser("run", help="train every pending item, one after another (a failed "
                                   "run is marked and the queue goes on)")
    qr.add_argument("--quiet", action="store_true", help="no progress bars")
    qd = qs.add_parser("remove", help="remove an item")
    qd.add_argument("id", type=int)
    for qp in (qa, qs.choices["list"], qr, qd):
        qp.add_argument("--queue", metavar="FILE",
                        help="queue file (default: RUNS/queue.json, RUNS = ./runs or "
                             "$STUDIO_RUNS_DIR)")
    sw = sub.add_parser("sweep", help="queue a small grid: train.lr=1e-4,3e-4 "
                                      "train.batch_size=4,8 freeze.preset=none,head_only",
                        description="Every combination of the values is queued as its own "
                                    "run (named after its values); --run trains them now and "
                                    "prints the comparison table.")
    sw.add_argument("config")
    sw.add_argument("axes", nargs="+", metavar="section.key=v1,v2")
    sw.add_argument("--run", action="store_true", help="run the queue now")
    sw.add_argument("--quiet", action="store_true")
    sw.add_argument("--queue", metavar="FILE")
    cp = sub.add_parser("compare", help="best validation loss, reference drift, time and peak "
                                        "memory of runs, side by side")
    cp.add_argument("run_dirs", nargs="+")

    from studio.cli.caption import add_parser as add_caption_parser

    add_caption_parser(sub)

    c = sub.add_parser("config", help="print a commented default config")
    c.add_argument("--family", default="text", choices=families.names())

    d = sub.add_parser("doctor", help="system check: GPU, driver and CUDA versions, free GPU "
                                      "memory and disk, with advice")
    d.add_argument("--runs-dir", help="runs folder whose free disk to check "
                                      "(default: ./runs or $STUDIO_RUNS_DIR)")

    sub.add_parser("self-test", help="check this install trains: two steps of every "
                                     "family's starter on its demo (studio self-test --help)")
    return p


def _install_sigint(control) -> None:
    """First Ctrl-C: stop cleanly with a checkpoint. Second: abort now."""
    state = {"hits": 0}

    def handler(signum, frame):  # noqa: ARG001
        state["hits"] += 1
        if state["hits"] == 1:
            print("\nStopping after this step and saving a checkpoint "
                  "(press Ctrl-C again to abort)...", file=sys.stderr, flush=True)
            control.request_stop()
        else:
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)
    if hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, lambda s, f: control.request_stop())


def _launch_torchrun(args, resume: bool) -> int:
    """Re-run this command under torchrun with N processes (DistributedDataParallel)."""
    import subprocess

    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           f"--nproc_per_node={args.nproc}", "-m", "studio"]
    if args.debug:
        cmd.append("--debug")
    cmd += ["resume", args.run_dir] if resume else ["train", args.config]
    cmd += list(args.overrides) + (["--quiet"] if args.quiet else [])
    print("launching: " + " ".join(cmd[1:]), file=sys.stderr, flush=True)
    return subprocess.call(cmd)  # torchrun forwards Ctrl-C to every process


def _train(args, resume: bool) -> int:
    if args.nproc < 1:
        from studio.core.errors import ConfigError
        raise ConfigError("--nproc", "must be at least 1")
    trial = getattr(args, "trial", None)
    if trial is not None and (trial < 1 or args.nproc > 1):
        from studio.core.errors import ConfigError
        raise ConfigError("--trial", "must be at least 1 step, in one process",
                          "e.g. --trial 20 without --nproc")
    if args.nproc > 1 and "WORLD_SIZE" not in os.environ:
        return _launch_torchrun(args, resume)
    from studio.config import load_config
    from studio.core.control import RunControl
    from studio.core.sinks import StdoutSink
    from studio.engine import run

    control = RunControl()
    _install_sigint(control)
    sink = None if args.quiet or int(os.environ.get("RANK", "0")) != 0 else StdoutSink()
    if trial:
        from studio.core.trial import trial_engine, verdict
        run = trial_engine(trial, run)
    if resume:
        result = run(None, sink, control, resume=args.run_dir, overrides=tuple(args.overrides))
    else:
        cfg = load_config(args.config, tuple(args.overrides))
        with _project_lock(cfg):
            result = run(cfg, sink, control)
    if args.quiet and int(os.environ.get("RANK", "0")) == 0:
        print(result.run_dir)
    if trial:
        v = verdict(run.last.losses)
        print((v.text if v else "trial: too few steps logged for a verdict")
              + (f"\ncontinue the same run:  studio resume {result.run_dir}"
                 if result.state == "stopped" else ""))
    return 0 if result.state in ("completed", "stopped") else EXIT_FAILED


def _project_lock(cfg):
    """A project file trains in one process at a time (the window takes the same lock)."""
    import contextlib

    if not cfg.run.project or int(os.environ.get("RANK", "0")) != 0:
        return contextlib.nullcontext()
    from studio.runs.lock import ProjectLock
    return ProjectLock(cfg.run.project, "studio train (command line)")


def _runs(args) -> int:
    from studio.core.paths import default_runs_dir
    from studio.runs import list_runs

    root = Path(args.runs_dir) if args.runs_dir else default_runs_dir()
    runs = list_runs(root)
    if not runs:
        print(f"No runs in {root}.")
        return 0
    print(f"{'RUN':<40} {'STATE':<12} {'STEP':>11} {'BEST VAL':>9}  NOTE")
    for r in runs:
        best = f"{r.best_val_loss:.4f}" if isinstance(r.best_val_loss, (int, float)) else "-"
        note = "resume with: studio resume " + str(r.path) if r.resumable and \
            r.state != "stopped" else r.message
        print(f"{r.id:<40} {r.state:<12} {f'{r.step}/{r.total_steps}':>11} {best:>9}  {note}")
    return 0


def _sample(args) -> int:
    import dataclasses

    from studio.engine.restore import load_run_model

    r = load_run_model(args.run_dir, args.weights)
    scfg = r.cfg.sample
    changes = {k: v for k, v in dict(max_new_tokens=args.max_new_tokens,
                                     temperature=args.temperature, top_k=args.top_k,
                                     top_p=args.top_p, seed=args.seed).items() if v is not None}
    scfg = dataclasses.replace(scfg, **changes)
    prompts = tuple(args.prompt) if args.prompt else scfg.prompts
    print(f"# weights: {r.weights_dir}")
    for s in r.family.sample(r.loaded, scfg, step=-1, prompts=prompts):
        print(f"--- [{s.index}] seed {s.seed}\n{s.prompt}{s.text}")
    return 0


def _export(args) -> int:
    from studio.engine.restore import export_formats_of, export_run
    from studio.runs import RunFolder

    out = Path(args.out_dir) if args.out_dir else RunFolder(args.run_dir).export_dir
    fmts = args.format or list(export_formats_of(args.run_dir))
    for fmt in fmts:
        export_run(args.run_dir, out, weights=args.weights, fmt=fmt,
                   allow_unchanged=args.allow_unchanged)
    from studio.config import load_config
    family = load_config(RunFolder(args.run_dir).config_path).run.family
    how = ("peft.PeftModel.from_pretrained(base_model, folder)" if fmts == ["adapter"]
           else families.get(family).export_loader)
    print(f"Exported ({', '.join(fmts)}) to {out} — load with {how}")
    return 0


def _inspect(args) -> int:
    from studio.config import RunConfig, apply_overrides, load_config
    from studio.config.schema import DataConfig
    from studio.models import freeze as fz
    from studio.models.base import get_family
    from studio.models.inspect import load_model

    if (args.model and not args.config and args.model.endswith(".toml")
            and Path(args.model).is_file()):
        # `studio inspect project.toml` means the project (its model, plan and data)
        args.config, args.model = args.model, None
    if args.config:
        cfg = load_config(args.config, tuple(args.overrides))
    else:
        cfg = apply_overrides(RunConfig(data=DataConfig(paths=("-",))), tuple(args.overrides))
    from studio.config.families import family_of_folder
    source = args.model or cfg.model.source
    family = args.family or (cfg.run.family if args.config else
                             family_of_folder(source) or cfg.run.family)
    if not args.config:  # the family's own defaults (text-to-image: LoRA on attention)
        import dataclasses

        base = families.default_config(family)
        cfg = apply_overrides(dataclasses.replace(base, data=dataclasses.replace(
            base.data, paths=("-",))), tuple(args.overrides))
    loaded, groups = load_model(source, family)  # the Model pane's inspector too
    states = fz.resolve_plan(groups, cfg.freeze)
    fz.apply_plan(loaded.model, states, cfg.freeze)  # LoRA adapters counted for real
    total = sum(p.numel() for p in loaded.model.parameters())
    print(f"{args.model or cfg.model.source}: {type(loaded.model).__name__}, "
          f"{total:,} parameters")
    print(f"  {'GROUP':<14} {'PARAMETERS':>12}  {'MODE':<7} {'LR x':>6} {'FROM STEP':>9}")
    for st in states:
        g = st.group
        note = f"  ({g.note})" if g.note else ""
        print(f"  {g.name:<14} {g.count:>12,}  {st.mode:<7} {st.lr_scale:>6.3g} "
              f"{st.start_step:>9}{note}")
    extra = fz.family_shape(get_family(family), loaded)  # a captioner: image + caption
    block, per_example = fz.positions({**fz.model_shape(loaded.model), **extra}, cfg.data)
    est = fz.estimate_for(loaded.model, states, optimizer=cfg.train.optimizer,
                          momentum=cfg.train.momentum, batch=cfg.train.batch_size,
                          block=block, shape=extra)
    mib = units.memory
    print(f"  trainable {est.trainable_params:,} of {est.total_params:,} parameters once every "
          f"group has started; estimated training memory {mib(est.total)}\n"
          f"  (weights {mib(est.weights)}, gradients {mib(est.gradients)}, optimizer "
          f"{mib(est.optimizer)}, activations {mib(est.activations)} at batch "
          f"{cfg.train.batch_size} x {per_example}, fp32)")
    return 0


def _cluster(args) -> int:
    from studio.config import load_config
    from studio.config.cluster import export_cluster

    cfg = load_config(args.config, tuple(args.overrides))
    for p in export_cluster(cfg, args.out_dir, nodes=args.nodes,
                            gpus_per_node=args.gpus_per_node):
        print(p)
    return 0


def _lr_find(args) -> int:
    from studio.config import load_config
    from studio.core.control import RunControl
    from studio.engine.lr_finder import find_lr, save_result, text_plot

    cfg = load_config(args.config, tuple(args.overrides))
    control = RunControl()
    _install_sigint(control)

    def progress(i: int, lr: float, loss: float, smooth: float) -> None:
        if sys.stderr.isatty():
            print(f"\rlr-find step {i + 1}/{args.steps}  lr {lr:.2e}  loss {smooth:.4f}",
                  end="", file=sys.stderr, flush=True)

    result = find_lr(cfg, steps=args.steps, start_lr=args.start, end_lr=args.end,
                     progress=progress, control=control)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    print(text_plot(result))
    print(f"{len(result.lrs)} steps ({result.reason}); lowest smoothed loss at lr "
          f"{result.min_loss_lr:.2e}" if result.min_loss_lr else f"{result.reason}: too few "
          "steps for a suggestion")
    if result.suggestion:
        print(f"suggested learning rate: {result.suggestion:.2e} (steepest descent)\n"
              f"apply it:  studio train {args.config} train.lr={result.suggestion:.2e}")
    if args.json:
        save_result(result, args.json)
        print(f"points written to {args.json}")
    return 0 if result.suggestion else EXIT_FAILED


def _probe(args) -> int:
    if args.probe == "balance":
        return _balance(args)
    from studio.engine.bias_probe import probe_run_or_model, to_json

    report = probe_run_or_model(args.target, tuple(args.template or ()))
    what = (f"before: {report.before_label}\nafter:  {report.after_label}"
            if report.after_label else f"model: {report.before_label}")
    print(f"{what}\nshare = probability among the continuations; gap = first minus second "
          "(0: even; + leans to the first)\n")
    print(report.table())
    if args.json:
        to_json(report, args.json)
        print(f"\nscores written to {args.json}")
    return 0


def _balance(args) -> int:
    import json

    from studio.config import load_config
    from studio.config.io import resolve_path
    from studio.config.schema import ProbeConfig
    from studio.data.balance import balance_report

    source = Path(args.source)
    if source.suffix == ".toml":
        cfg = load_config(source)
        paths = [str(resolve_path(cfg, p)) for p in cfg.data.paths]
        groups = args.group or cfg.probe.balance_groups
    elif source.is_dir():
        paths, groups = [str(source)], args.group or ProbeConfig().balance_groups
    else:
        raise StudioError(f"{source}: not a config (.toml) or a folder",
                          "give a run config or the dataset folder")
    report = balance_report(paths, groups, top=args.top)
    print(report.text())
    if args.json:
        Path(args.json).write_text(json.dumps(report.to_dict(), indent=1), encoding="utf-8")
        print(f"\nreport written to {args.json}")
    return 0


def _queue_file(args) -> Path:
    from studio.core.paths import default_runs_dir

    return Path(args.queue) if getattr(args, "queue", None) else default_runs_dir() / "queue.json"


def _run_queue(queue, quiet: bool) -> int:
    from studio.core.control import RunControl
    from studio.core.sinks import StdoutSink
    from studio.engine.queue import run_queue
    from studio.runs.queue import compare_runs, comparison_table

    control = RunControl()
    _install_sigint(control)

    def sink_for(item):
        print(f"=== queue item {item['id']}: {item['name']} "
              f"{' '.join(item['overrides'])}", flush=True)
        return None if quiet else StdoutSink()

    def report(item):
        print(f"=== item {item['id']} {item['state']}"
              + (f": {item['message']}" if item["message"] else ""), flush=True)

    done = run_queue(queue, sink_for, control, on_item=report)
    dirs = [i["run_dir"] for i in done if i.get("run_dir")]
    if dirs:
        print("\n" + comparison_table(compare_runs(dirs)))
    failed = [i for i in done if i["state"] == "failed"]
    left = sum(1 for i in queue.items if i["state"] == "pending")
    print(f"\n{len(done)} run(s): {len(failed)} failed" + (f", {left} still pending" if left
                                                         else ""))
    return EXIT_FAILED if failed else 0


def _queue(args) -> int:
    from studio.config import load_config
    from studio.runs.queue import RunQueue

    queue = RunQueue(_queue_file(args))
    if args.queue_cmd == "add":
        item = queue.add(load_config(args.config), tuple(args.overrides), source=args.config)
        print(f"queued #{item['id']} {item['name']} ({queue.path}); run with: studio queue run")
    elif args.queue_cmd == "remove":
        queue.remove(args.id)
        print(f"removed #{args.id}")
    elif args.queue_cmd == "run":
        return _run_queue(queue, args.quiet)
    else:
        if not queue.items:
            print(f"The queue {queue.path} is empty.")
        for i in queue.items:
            note = i["run_dir"] or " ".join(i["overrides"])
            print(f"#{i['id']:<3} {i['state']:<10} {i['name']:<36} {note}"
                  + (f"  ({i['message']})" if i["message"] else ""))
    return 0


def _sweep(args) -> int:
    from studio.config import load_config
    from studio.runs.queue import RunQueue

    queue = RunQueue(_queue_file(args))
    items = queue.add_sweep(load_config(args.config), args.axes, source=args.config)
    for i in items:
        print(f"queued #{i['id']} {i['name']}: {' '.join(i['overrides'])}")
    if args.run:
        return _run_queue(queue, args.quiet)
    print(f"{len(items)} runs queued in {queue.path}; run them with: studio queue run")
    return 0


def _compare(args) -> int:
    from studio.runs.queue import compare_runs, comparison_table

    for d in args.run_dirs:
        if not (Path(d) / "config.toml").is_file():
            raise StudioError(f"{d}: not a run folder", "give folders listed by `studio runs`")
    print(comparison_table(compare_runs(args.run_dirs)))
    return 0


def _config(args) -> int:
    import dataclasses

    from studio.config import config_to_dict, dumps_toml
    from studio.config.io import SECTIONS

    data = config_to_dict(families.default_config(args.family))
    for section, values in data.items():  # only the knobs this family reads
        cls = SECTIONS.get(section)
        meta = {f.name: f.metadata for f in dataclasses.fields(cls)} if cls else {}
        for key in [k for k in values if k in meta]:
            if not families.knob_applies(args.family, f"{section}.{key}",
                                         meta[key].get("families")):
                del values[key]
    print(dumps_toml(data, comments=True), end="")
    return 0


def _doctor(args) -> int:
    from studio.engine import sysinfo

    facts = sysinfo.probe(args.runs_dir)
    findings = sysinfo.advise(facts)
    print(sysinfo.format_report(facts, findings))
    return 0 if sysinfo.overall(findings) != "problem" else EXIT_FAILED


def _caption(args) -> int:
    from studio.cli.caption import run

    return run(args)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command is None:
        _parser().print_help()
        return 0
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        if args.command in ("train", "resume"):
            return _train(args, resume=args.command == "resume")
        if args.command == "gui":  # normally dispatched by studio.launcher before we get here
            print("error: the window is started by `studio gui` (python -m studio gui)",
                  file=sys.stderr)
            return EXIT_USER_ERROR
        if args.command == "self-test":  # normally dispatched by studio.launcher
            from studio.selftest import main as selftest_main
            return selftest_main([])
        return {"runs": _runs, "sample": _sample, "export": _export, "inspect": _inspect,
                "config": _config, "cluster": _cluster, "doctor": _doctor,
                "lr-find": _lr_find, "probe": _probe, "queue": _queue, "sweep": _sweep,
                "compare": _compare, "caption": _caption}[args.command](args)
    except StudioError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("\naborted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - a bug: say so plainly, details with --debug
        if args.debug:
            traceback.print_exc()
        else:
            print(f"error: {type(exc).__name__}: {exc} (run with --debug for the traceback)",
                  file=sys.stderr)
        return EXIT_FAILED
