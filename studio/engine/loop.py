"""The training loop, readable top to bottom.

build model -> apply the freeze plan -> optimizer over the groups that train -> for each
optimizer step: maybe unfreeze (timeline) -> forward/backward under autocast, accumulate,
clip, step, schedule -> log (floats pulled off the GPU only on log steps) -> every N:
evaluate, sample, checkpoint -> check RunControl. With train.ema_decay, an EMA of the weights
that train follows every step and stands in for them when evaluating, sampling and saving
the best weights (ema.py). Everything observable goes out as one
event to the sink. What a checkpoint saves is ``Progress`` (checkpoint.py); what to do on
out of memory, divergence and a stalled validation loss are policies (policies.py); what
differs between processes under DDP/FSDP sits behind ``Dist`` (dist.py); where the run
waits for the user (pause, out of memory, divergence) is trouble.py.
"""

from __future__ import annotations

import dataclasses
import math
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch

from studio.config import RunConfig, families, load_config, save_config
from studio.config.freeze_plan import run_length
from studio.core import events as ev
from studio.core.control import RunControl
from studio.core.errors import RunError
from studio.core.sinks import EventSink, FanOutSink
from studio.data import progress as data_progress
from studio.engine import build
from studio.engine import checkpoint as ck
from studio.engine import dist as dd
from studio.engine import policies as pol
from studio.engine.checkpoint import Progress
from studio.engine.data_order import DataOrder
from studio.engine.device import gpu_memory_bytes, pick_precision
from studio.engine.ema import EMA
from studio.engine.ema import FILE as EMA_FILE
from studio.engine.optim import build_optimizer, lr_multiplier
from studio.engine.probes import RunProbes
from studio.engine.reporting import FolderSink, Meter, report_failure, report_stopped_preparing
from studio.engine.trouble import ControlsAndTrouble
from studio.models import freeze as fz
from studio.models.base import get_family
from studio.runs.queue import absolute
from studio.runs.store import RunFolder

_ACTIVE = {"runs": 0}
FRESH_SEEDS = 1000  # "Sample now" k uses seeds (and sample numbers) shifted by k x this


def active_runs() -> int:
    """Runs training in this process now. Anything else that draws from torch's global
    random generator (augmentation previews) waits, so a run stays reproducible."""
    return _ACTIVE["runs"]


@dataclass
class RunResult:
    run_dir: str
    state: str          # "completed", "stopped" or "failed"
    step: int
    best_val_loss: float | None = None
    best_step: int | None = None
    last_val_loss: float | None = None


def run(cfg: RunConfig, sink: EventSink | None = None, control: RunControl | None = None, *,
        resume: str | Path | None = None, overrides: tuple[str, ...] = ()) -> RunResult:
    """Train a run to completion, stop or failure. Blocking: GUIs call it from a worker.

    ``resume`` continues the run in that folder from its latest checkpoint (``cfg`` may
    then be None: the folder's config.toml is used, with ``overrides`` applied).
    On an error, emits RunFailed, marks the run failed and re-raises.
    """
    control = control or RunControl()
    folder: RunFolder | None = None
    progress = Progress()
    d = dd.Dist()
    _ACTIVE["runs"] += 1
    try:
        if resume is not None:
            folder = RunFolder(resume)
            if not folder.config_path.is_file():
                raise RunError(f"{resume}: not a run folder (no config.toml)",
                               "give the folder printed when the run started")
            cfg = load_config(folder.config_path, overrides)
            d = dd.from_env(cfg.train.device)
        else:
            assert cfg is not None
            cfg = absolute(cfg)  # config.toml is what ran, whatever the working folder
            d = dd.from_env(cfg.train.device)
            # rank 0 creates the folder; every rank learns where it is
            folder = RunFolder(d.share(str(RunFolder.create(cfg.run.runs_dir, cfg.run.name).path)
                                       if d.main else None))
        if d.main:
            save_config(cfg, folder.config_path, comments=False)
        run_folder, run_sink = d.view(folder, FanOutSink(FolderSink(folder), sink))
        return _Trainer(cfg, run_folder, run_sink, control, d, progress,
                        resumed=resume is not None).train()
    except data_progress.DataStopped as exc:
        # Stop pressed while the data was prepared (before step 1): a stop, not a failure
        report_stopped_preparing(exc, folder, sink, d, progress.step)
        return RunResult(str(folder.path) if folder else "", "stopped", progress.step)
    except BaseException as exc:
        report_failure(exc, folder, sink, d, progress.step)
        raise
    finally:
        _ACTIVE["runs"] -= 1
        if folder is not None:
            folder.close()
        dd.shutdown(d)


class _Trainer(ControlsAndTrouble):
    """One run. ``__init__`` builds everything (model, data, freeze plan, optimizer, the
    resumed state) and sets every attribute; ``train`` runs the loop."""

    def __init__(self, cfg: RunConfig, folder: RunFolder, sink: EventSink, control: RunControl,
                 dist: dd.Dist, progress: Progress, resumed: bool) -> None:
        t = cfg.train
        self.cfg, self.folder, self.sink, self.control = cfg, folder, sink, control
        self.dist, self.progress, self.resumed = dist, progress, resumed
        self.early = pol.EarlyStopping(cfg.eval.early_stopping_patience)
        self.stop_message = ""         # why the run stopped, when it was not the user
        self.last_ckpt_step = -1       # the step whose state is on disk
        self.fresh_samples = 0         # "Sample now" requests served (each: new seeds)
        self.last_eval_step = self.last_sample_step = -1  # interval ones, for the final pair
        self.eval_bs = 0               # 0: the training micro-batch (an eval OOM halves it)
        self.t_start, self.paused_s = time.perf_counter(), 0.0  # this session's clock
        self.meter = Meter()
        folder.write_status("starting", name=cfg.run.name, family=cfg.run.family, step=0,
                            message="loading the model and data")
        folder.start_heartbeat()
        if dist.main:
            ck.clean_temp(folder.checkpoints_dir)
        torch.manual_seed(t.seed)

        # 1. model and data
        self.device = build.device_for(t, dist)
        self.precision = pick_precision(t.precision, self.device)
        self.family = get_family(cfg.run.family)
        self.loaded = self.family.load(cfg.model.source, self.device, torch.float32,
                                       revision=cfg.model.revision,
                                       trust_remote_code=cfg.model.trust_remote_code)
        model = self.loaded.model
        build.prepare_model(model, t, self.log)
        # preparing a big corpus (tokenizing, encoding audio) reports its progress to the
        # log and stops when asked
        with data_progress.reporting(self.log, lambda: self.control.stop_requested):
            self.data = self.family.datasets(self.loaded, cfg, resolve=Path)
        self.order = DataOrder(self.data, t.seed, dist.rank, dist.world)
        build.log_data(self.data, self.log)
        self.probes = RunProbes(cfg, self.family, self.loaded, self.data, self.log)

        # 2. the freeze plan: which groups train, how, at what rate, from which step
        self.groups = fz.resolve_plan(self.family.layer_groups(self.loaded), cfg.freeze)
        fz.apply_plan(model, self.groups, cfg.freeze)
        build.check_plan(self.groups)
        dist.parallelize(model, t.parallel, self.log)
        # The optimizer is built when the first group activates: optimizer state only ever
        # exists for parameters that train. ``trained`` is what the training forward runs
        # through (DDP's wrapper when distributed).
        self.optimizer: torch.optim.Optimizer | None = None
        self.trained = self.loaded
        self.trainable: list[torch.nn.Parameter] = []  # what gradient clipping looks at
        self.scaler = torch.amp.GradScaler("cuda") if self.precision.use_scaler else None
        self.ema = EMA(t.ema_decay) if t.ema_decay > 0 else None
        self.ema_said = False          # "evaluating with EMA weights" is logged once

        # 3. where the run starts: step 0, or the whole program state of its last checkpoint
        progress.total_steps = run_length(t, max(1, self.data.n_train))
        if resumed:
            self._resume()
        else:
            self.activate_due(emit=False)

    def _resume(self) -> None:
        latest = self.folder.latest_checkpoint()
        if latest is None:
            raise RunError(f"{self.folder.path}: this run has no checkpoint to resume from",
                           "start it again with `studio train`")
        p, saved = self.progress, ck.read_progress(latest)
        p.step = saved.step
        # the groups training when it was saved (a group due at exactly this step joins at
        # the next step, as it would have without the interruption)
        self.activate_due(emit=False, only=saved.active_groups)
        saved = self._load_checkpoint(latest)
        p.restore(saved.to_state())
        # a max_steps from the config wins (a resume may lengthen the run); a length in
        # epochs stays what it was
        p.total_steps = self.cfg.train.max_steps or p.total_steps
        self.probes.load(p.probes)
        self.last_ckpt_step = p.step
        self.folder.truncate_metrics_after(p.step)
        self.log(f"resumed from {latest.name} (step {p.step})")

    # -- the run ---------------------------------------------------------------------------
    def train(self) -> RunResult:
        p, folder, model = self.progress, self.folder, self.loaded.model
        n_total = sum(q.numel() for q in model.parameters())
        named = dict(model.named_parameters())
        n_train = sum(named[n].numel() for s in self.groups if s.mode != "frozen"
                      for n in s.params)
        folder.write_status("running", step=p.step, total_steps=p.total_steps, message="")
        self.sink.emit(ev.RunStarted(
            run_dir=str(folder.path), run_id=folder.id, family=self.family.name,
            device=str(self.device), precision=self.precision.name,
            total_steps=p.total_steps, start_step=p.step, trainable_params=n_train,
            total_params=n_total, train_examples=self.data.n_train,
            val_examples=self.data.n_val, resumed=self.resumed))
        self.t_start = time.perf_counter()
        if p.step == 0:
            # the starting point: how good the base model already is on this data
            if self.cfg.eval.every:
                self.run_eval()
            self.do_sample(0)
        reason = self._loop()

        # the end: final evaluation, samples and checkpoint, honest status
        if reason not in ("stopped", "diverged"):
            if self.last_eval_step != p.step:
                self.run_eval()
            if self.last_sample_step != p.step:
                self.do_sample(p.step)
        if self.probes.summary():
            self.log(self.probes.summary())
            folder.update_status(ref_loss_start=self.probes.ref_start,
                                 ref_loss_last=self.probes.ref_last)
        if reason != "diverged":  # a diverged state is never saved over the good one
            self.save("stop" if reason == "stopped" else "final")
        state = "stopped" if reason in ("stopped", "diverged") else "completed"
        folder.write_status(state, step=p.step, message=self.stop_message or reason,
                            best_val_loss=p.best_val_loss, best_step=p.best_step)
        self.sink.emit(ev.RunFinished(step=p.step, reason=reason, best_val_loss=p.best_val_loss,
                                      best_step=p.best_step, run_dir=str(folder.path)))
        return RunResult(str(folder.path), state, p.step, p.best_val_loss, p.best_step,
                         p.last_val_loss)

    def _loop(self) -> str:
        """Optimizer steps until the run's length; returns why it ended: "completed",
        "stopped", "diverged" or "early_stopping"."""
        cfg, p, control, meter = self.cfg, self.progress, self.control, self.meter
        meter.restart(p.step)
        while p.step < p.total_steps:
            # every process must agree to stop at the same step (one tiny all-reduce)
            if self.dist.any(control.stop_requested, self.device):
                control.request_stop()
                return "stopped"
            self.wait_if_paused()
            if control.stop_requested:
                return "stopped"

            # gradual unfreezing: groups whose start step has come join the optimizer now
            self.activate_due()
            factor = control.take_lr_factor()
            if factor is not None:
                self.apply_lr_factor(factor)
            t = self.cfg.train  # an out-of-memory fit or a rate change replaces it
            base_lr = t.lr * lr_multiplier(p.step, p.total_steps, t)
            for g in self.optimizer.param_groups:
                g["lr"] = fz.group_lr(base_lr, g, p.step, cfg.freeze.unfreeze_warmup_steps)

            # one optimizer step = grad_accum micro-batches
            pos0 = p.pos
            try:
                loss_sum, items, grad_norm = self.train_step()
            except torch.OutOfMemoryError:
                p.pos = pos0  # retry the same examples
                if self.handle_oom():
                    continue
                return "stopped"
            if self.ema is not None:
                self.ema.update(self.loaded.model)
            meter.items += items * self.dist.world
            p.step += 1

            # log: the only per-step CPU-GPU sync point, and only every log_every steps
            if p.step % t.log_every == 0 or p.step == p.total_steps:
                loss = float(self.dist.mean(loss_sum))
                self.probes.watch.add_train(loss)
                if not math.isfinite(loss):
                    if self.handle_divergence(loss):
                        meter.restart(p.step)
                        continue
                    return "diverged"
                now = time.perf_counter()
                dt, per_step = meter.read(p.step, now)
                p.tokens_seen += meter.items
                self.sink.emit(ev.StepLogged(
                    step=p.step, epoch=p.pos / self.data.n_train, loss=loss, lr=base_lr,
                    grad_norm=float("nan") if grad_norm is None else float(grad_norm),
                    throughput=meter.items / dt, throughput_unit=self.family.throughput_unit,
                    elapsed_s=self.elapsed(), eta_s=per_step * (p.total_steps - p.step),
                    total_steps=p.total_steps, gpu_mem_bytes=gpu_memory_bytes(self.device)))
                self.folder.set_status_fields(step=p.step)
                # bookkeeping (emit, status) counts toward the next interval's throughput
                meter.restart(p.step, now)

            # every N steps: evaluate, sample, save (not training time, for the throughput)
            side_t0 = time.perf_counter()
            stop_why = ""
            if cfg.eval.every and p.step % cfg.eval.every == 0:
                stop_why = self.run_eval()
                self.last_eval_step = p.step
                if self.dist.any(bool(stop_why), self.device):  # rank 0 decides for all
                    stop_why = stop_why or "early stopping"
            if cfg.sample.every and p.step % cfg.sample.every == 0:
                self.do_sample(p.step)
                self.last_sample_step = p.step
            if cfg.checkpoint.every and p.step % cfg.checkpoint.every == 0:
                self.save("interval")
            self.serve_requests()
            if stop_why:
                self.log(stop_why)
                return "early_stopping"
            meter.skip(time.perf_counter() - side_t0)
        return "completed"

    # -- one step --------------------------------------------------------------------------
    def train_step(self) -> tuple[torch.Tensor, int, torch.Tensor | None]:
        """One optimizer step over ``grad_accum`` micro-batches: (the summed loss, still on
        the device; items trained on; the gradient norm before clipping, or None)."""
        t, opt, scaler = self.cfg.train, self.optimizer, self.scaler
        loss_sum = torch.zeros((), device=self.device)
        items = 0
        try:
            for k in range(t.grad_accum):
                batch, self.progress.pos = self.order.batch(self.progress.pos, t.batch_size)
                if self.device.type == "cuda":
                    batch = batch.pin_memory()  # async host-to-device copy
                batch = batch.to(self.device, non_blocking=True)
                with self.dist.grad_sync(self.trained.model, last=k == t.grad_accum - 1):
                    with self.precision.autocast(self.device):
                        loss = self.family.loss(self.trained, batch) / t.grad_accum
                    (scaler.scale(loss) if scaler else loss).backward()
                loss_sum += loss.detach()
                items += self.data.items_in(batch)
            if scaler:
                scaler.unscale_(opt)
            grad_norm = (dd.full(torch.nn.utils.clip_grad_norm_(self.trainable, t.grad_clip))
                         if t.grad_clip > 0 else None)
            if scaler:
                scaler.step(opt)
                scaler.update()
            else:
                opt.step()
        finally:
            opt.zero_grad(set_to_none=True)
        return loss_sum, items, grad_norm

    def activate_due(self, emit: bool = True, only: list[str] | None = None) -> None:
        """Start training every group whose start step has come (canonical order);
        ``only``: just these (a resume restores the groups the checkpoint trained)."""
        step = self.progress.step
        due = [s for s in fz.trainable_at(self.groups, step) if not s.active
               and (only is None or s.group.name in only)]
        if not due:
            return
        model, t = self.loaded.model, self.cfg.train
        for st in due:
            pgroups = fz.activate(model, st, self.optimizer, t.weight_decay, step)
            if self.optimizer is None:
                for g in pgroups:
                    g["lr"] = 0.0
                self.optimizer = build_optimizer(t, pgroups)
        self.trainable = [q for q in model.parameters() if q.requires_grad]
        wrapped = self.dist.wrap(model, self.device)
        self.trained = (self.loaded if wrapped is model else
                        dataclasses.replace(self.loaded, model=wrapped))
        if emit:
            names = tuple(s.group.name for s in due)
            self.sink.emit(ev.UnfreezeApplied(step=step, groups=names))
            n = sum(named.numel() for s in due for named in
                    (dict(model.named_parameters())[k] for k in s.params))
            self.log(f"unfroze {', '.join(names)} at step {step} ({n:,} parameters)")

    # -- every N steps: evaluate, sample, save -------------------------------------------
    def evaluate(self, data=None) -> float:
        """Mean validation loss (``data``: another set shaped like the validation split, the
        forgetting probe's). An out-of-memory halving of its batch holds for the run."""
        loss, self.eval_bs = build.mean_val_loss(
            self.family, self.loaded, self.data if data is None else data,
            bs=self.eval_bs or self.cfg.train.batch_size, max_batches=self.cfg.eval.max_batches,
            device=self.device, precision=self.precision, log=self.log)
        return loss

    def run_eval(self) -> str:
        """Evaluate and report; returns why early stopping says stop, or "" to go on.
        Rank 0 evaluates (every rank under FSDP, agreeing on rank 0's number)."""
        if self.data.n_val == 0 or not self.dist.takes_part:
            return ""
        with self.ema_weights("evaluating"):
            return self._run_eval()

    def _run_eval(self) -> str:
        p, ecfg = self.progress, self.cfg.eval
        val = self.dist.agree(self.evaluate())
        is_best = self.early.record(p, val)
        if is_best and (ecfg.keep_best or ecfg.early_stopping_patience):
            ck.save_weights_dir(self.folder.best_dir, self.loaded.model,
                                {"step": p.step, "val_loss": val}, write_files=self.dist.main)
        self.folder.update_status(best_val_loss=p.best_val_loss, best_step=p.best_step)
        # text: per token; audio: per code (MusicGen's loss is the mean over codebooks), so
        # exp(loss) is how many codes it is choosing among, out of the codebook size
        ppl = math.exp(min(val, 50.0)) if families.get(self.family.name).has_perplexity else None
        self.sink.emit(ev.EvalLogged(step=p.step, val_loss=val, perplexity=ppl,
                                     best_val_loss=p.best_val_loss, is_best=is_best,
                                     metrics=self.probes.eval_metrics(self.evaluate)))
        overfit = self.probes.after_eval(p.step, val)
        if overfit is not None:  # the overfitting alarm (a banner on the curves)
            self.sink.emit(overfit)
            self.log(f"overfitting: the validation loss rose for {overfit.evaluations} "
                     f"evaluations ({overfit.val_from:.4f} -> {overfit.val_to:.4f}) while the "
                     f"training loss fell ({overfit.train_from:.4f} -> {overfit.train_to:.4f})"
                     + ("" if self.early.patience else "; turn on eval.early_stopping_patience "
                        f"to stop here, or export the best weights (step {p.best_step})"),
                     "warning")
        return self.early.why_stop(p, overfitting=overfit is not None)

    def do_sample(self, step: int, fresh: bool = False) -> None:
        """Samples from the fixed prompts and seeds (so steps compare). ``fresh`` (Sample
        now): new seeds, as extra samples marked "fresh", in a folder of their own; a
        paused run's weights do not change, so the fixed seeds would repeat themselves."""
        if not self.dist.takes_part:
            return
        scfg, out, shift = self.cfg.sample, self.folder.sample_dir(step), 0
        if fresh:
            self.fresh_samples += 1
            shift = FRESH_SEEDS * self.fresh_samples
            scfg = dataclasses.replace(scfg, seed=scfg.seed + shift)
            out = out / f"fresh_{self.fresh_samples}"
        with self.dist.output_dir(out) as out_dir, self.ema_weights("sampling"):
            samples = self.family.sample(self.loaded, scfg, step, out_dir)
        if fresh:
            samples = [dataclasses.replace(s, index=s.index + shift, meta={
                **s.meta, "fresh": self.fresh_samples, "number": s.index}) for s in samples]
        self.sink.emit(ev.SampleReady(step=step, samples=tuple(samples)))

    def save(self, reason: str) -> None:
        step = self.progress.step
        if self.last_ckpt_step == step and reason != "manual":
            return  # this exact state is already on disk
        self.last_ckpt_step = step
        if self.dist.takes_part:  # FSDP: every rank helps gather the sharded state
            extra = {} if self.ema is None else {EMA_FILE: self.ema.state()}
            path = ck.save_checkpoint(self.folder.checkpoint_dir(step), self.loaded.model,
                                      self.optimizer, self.scaler, self._state(),
                                      write_files=self.dist.main, extra=extra)
            if self.dist.main:  # rank 0 owns the folder
                ck.prune(self.folder.checkpoints(), self.cfg.checkpoint.keep_last)
            self.folder.update_status(last_checkpoint=str(path), step=step)
            self.sink.emit(ev.CheckpointSaved(step=step, path=str(path), reason=reason))
        self.dist.barrier()  # the other ranks wait until it is on disk

    def _load_checkpoint(self, ckpt: Path) -> Progress:
        """Weights, optimizer, RNG (and the EMA's shadows) of a checkpoint back in place."""
        saved = ck.load_checkpoint(ckpt, self.loaded.model, self.optimizer, self.scaler)
        if self.ema is not None:
            self.ema.load(ckpt, self.loaded.model)
        return saved

    def ema_weights(self, doing: str):
        """The EMA weights in the model for a block (evaluating, sampling), the training
        weights after it; without an EMA nothing changes."""
        if self.ema is None:
            return nullcontext()
        if not self.ema_said:
            self.ema_said = True
            self.log(f"{doing} with EMA weights (decay {self.ema.decay:g}): evaluation, samples "
                     "and the best and exported weights use the moving average")
        return self.ema.applied(self.loaded.model)

    def _state(self) -> dict:
        """state.json: the progress as of now, plus the batch shape for people reading it."""
        now = dataclasses.replace(
            self.progress, elapsed_s=self.elapsed(), probes=self.probes.state(),
            active_groups=[s.group.name for s in self.groups if s.active])
        t = self.cfg.train
        return {**now.to_state(), "batch_size": t.batch_size, "grad_accum": t.grad_accum,
                "saved_at": time.time()}

    def elapsed(self) -> float:
        """Training time over all sessions, pauses left out."""
        return self.progress.elapsed_s + (time.perf_counter() - self.t_start) - self.paused_s
