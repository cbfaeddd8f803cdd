"""The training loop, readable top to bottom.

build model -> (freeze plan: later) -> optimizer over param groups -> for each optimizer
step: forward/backward under autocast, accumulate, clip, step, schedule -> log (floats
pulled off the GPU only on log steps) -> every N: evaluate, sample, checkpoint -> check
RunControl. Everything observable goes out as one event to the sink.
"""

from __future__ import annotations

import dataclasses
import math
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from studio.config import RunConfig, families, load_config, save_config
from studio.config.io import resolve_path
from studio.core import events as ev
from studio.core.control import RunControl
from studio.core.errors import ConfigError, RunError, StudioError
from studio.core.sinks import EventSink, FanOutSink, event_to_dict
from studio.engine import checkpoint as ck
from studio.engine import dist as dd
from studio.engine.device import gpu_memory_bytes, pick_device, pick_precision, tune_cpu_allocator
from studio.engine.optim import build_optimizer, lr_multiplier
from studio.models import freeze as fz
from studio.models.base import Loaded, get_family
from studio.runs.store import RunFolder

_ACTIVE = {"runs": 0}


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


class _FolderSink:
    """Every event also goes to the run's metrics.jsonl (append + flush per line)."""

    def __init__(self, folder: RunFolder) -> None:
        self.folder = folder

    def emit(self, event: object) -> None:
        try:
            self.folder.append_metric({"t": time.time(), **event_to_dict(event)})
        except OSError:
            pass  # a full disk must not kill training; the checkpoint save reports it


class _RankFolder(RunFolder):
    """What a non-zero rank sees of the run folder: it reads checkpoints, writes nothing
    (only rank 0 writes the run folder, samples and checkpoints)."""

    def write_status(self, state: str, **fields) -> None:  # noqa: ARG002
        pass

    def update_status(self, **fields) -> None:  # noqa: ARG002
        pass

    def set_status_fields(self, **fields) -> None:  # noqa: ARG002
        pass

    def start_heartbeat(self, interval: float = 0) -> None:  # noqa: ARG002
        pass

    def append_metric(self, record: dict) -> None:  # noqa: ARG002
        pass

    def truncate_metrics_after(self, step: int) -> int:  # noqa: ARG002
        return 0


class _NullSink:
    def emit(self, event: object) -> None:  # noqa: ARG002
        pass


def _absolute_config(cfg: RunConfig) -> RunConfig:
    """Make the config self-contained: paths made absolute, so config.toml is what ran."""
    data = dataclasses.replace(cfg.data, paths=tuple(str(resolve_path(cfg, p).resolve())
                                                     for p in cfg.data.paths),
                               exclude=tuple(str(resolve_path(cfg, p).resolve())
                                             for p in cfg.data.exclude))
    runs_dir = str(resolve_path(cfg, cfg.run.runs_dir).resolve())
    model = cfg.model
    src = resolve_path(cfg, model.source)
    if not model.source.startswith("starter:") and src.exists():
        model = dataclasses.replace(model, source=str(src.resolve()))
    return dataclasses.replace(cfg, data=data, model=model,
                               run=dataclasses.replace(cfg.run, runs_dir=runs_dir))


def _set_dropout(model: nn.Module, p: float) -> None:
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.p = p
    for key in ("resid_pdrop", "embd_pdrop", "attn_pdrop", "dropout", "attention_dropout",
                "hidden_dropout"):
        if hasattr(model.config, key):
            setattr(model.config, key, p)
    # Some architectures (Llama, Qwen) read attention dropout from a module attribute.
    for m in model.modules():
        if hasattr(m, "attention_dropout") and isinstance(m.attention_dropout, float):
            m.attention_dropout = p


def _enable_checkpointing(model: nn.Module) -> bool:
    for name in ("gradient_checkpointing_enable", "enable_gradient_checkpointing"):
        fn = getattr(model, name, None)
        if fn is not None:
            try:
                fn()
            except (ValueError, NotImplementedError, AttributeError):
                return False
            return True
    return False


def run(cfg: RunConfig, sink: EventSink | None = None, control: RunControl | None = None, *,
        resume: str | Path | None = None, overrides: tuple[str, ...] = ()) -> RunResult:
    """Train a run to completion, stop or failure. Blocking: GUIs call it from a worker.

    ``resume`` continues the run in that folder from its latest checkpoint (``cfg`` may
    then be None: the folder's config.toml is used, with ``overrides`` applied).
    On an error, emits RunFailed, marks the run failed and re-raises.
    """
    control = control or RunControl()
    user_sink = sink
    folder: RunFolder | None = None
    trainer = None
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
            cfg = _absolute_config(cfg)
            d = dd.from_env(cfg.train.device)
            # rank 0 creates the folder; every rank learns where it is
            path = d.share(str(RunFolder.create(cfg.run.runs_dir, cfg.run.name).path)
                           if d.main else None)
            folder = RunFolder(path)
        if d.main:
            save_config(cfg, folder.config_path, comments=False)
            sink_all = FanOutSink(_FolderSink(folder), *([user_sink] if user_sink else []))
        else:
            folder, sink_all = _RankFolder(folder.path), _NullSink()
        trainer = _Trainer(cfg, folder, sink_all, control, resume is not None, d)
        return trainer.train()
    except BaseException as exc:
        step = trainer.step if trainer is not None else 0
        if isinstance(exc, KeyboardInterrupt):
            message = "interrupted"
        elif isinstance(exc, StudioError):
            message = str(exc)
        else:
            message = f"{type(exc).__name__}: {exc}"
        tb = traceback.format_exc()
        if d.enabled and not isinstance(exc, StudioError):
            message = (f"a training process failed (rank {d.rank} of {d.world}): {message}"
                       if "Connection" not in message and "peer" not in message else
                       f"another training process died (seen by rank {d.rank}): {message}")
        if folder is not None and folder.path.exists():
            try:
                folder.write_status("failed", message=message, step=step)
            except OSError:
                pass
        failed = ev.RunFailed(step=step, message=message, traceback=tb,
                              run_dir=str(folder.path) if folder else "")
        targets = [_FolderSink(folder)] if folder and folder.path.exists() and d.main else []
        targets += [user_sink] if user_sink and d.main else []
        for s in targets:
            try:
                s.emit(failed)
            except Exception:  # noqa: BLE001 - the original error matters more
                pass
        raise
    finally:
        _ACTIVE["runs"] -= 1
        if folder is not None:
            folder.close()
        dd.shutdown(d)


class _Trainer:
    def __init__(self, cfg: RunConfig, folder: RunFolder, sink: EventSink, control: RunControl,
                 resumed: bool, dist: dd.Dist | None = None) -> None:
        self.cfg, self.folder, self.sink, self.control = cfg, folder, sink, control
        self.resumed = resumed
        self.dist = dist or dd.Dist()
        self.step = 0
        self.train_model: nn.Module | None = None  # the DDP wrapper when distributed

    # -- helpers ----------------------------------------------------------------------
    def log(self, text: str, level: str = "info") -> None:
        self.sink.emit(ev.LogMessage(level, text))

    def evaluate(self, data=None) -> float:
        """Mean validation loss per token, under no_grad, in eval mode (dropout off).
        Out of memory here halves the evaluation batch and starts the evaluation again.
        ``data``: another set shaped like the validation split (the forgetting probe's)."""
        model, data = self.loaded.model, (self.data if data is None else data)
        bs = getattr(self, "eval_bs", None) or self.bs
        while True:
            n_batches = math.ceil(data.n_val / bs)
            if self.cfg.eval.max_batches:
                n_batches = min(n_batches, self.cfg.eval.max_batches)
            model.eval()
            total = torch.zeros((), device=self.device)
            count = 0
            try:
                with torch.no_grad():
                    for b in range(n_batches):
                        batch = data.val_batch(b, bs).to(self.device, non_blocking=True)
                        with self.precision.autocast(self.device):
                            loss = self.family.val_loss(self.loaded, batch, b)
                        total += loss.float() * len(batch)
                        count += len(batch)
                break
            except torch.OutOfMemoryError:
                self._free_memory()
                if bs <= 1:
                    raise RunError("out of memory while evaluating one example",
                                   "lower data.block_size / image size or freeze more") from None
                bs = max(1, bs // 2)
                self.log(f"out of memory while evaluating: evaluation batch halved to {bs}",
                         "warning")
            finally:
                model.train()
        self.eval_bs = bs
        return float(total / max(1, count))  # one sync point per evaluation

    def _epoch_order(self, epoch: int) -> torch.Tensor:
        if epoch != self._perm_epoch:
            g = torch.Generator().manual_seed(self.cfg.train.seed * 100_003 + epoch)
            self._perm = torch.randperm(self.data.n_train, generator=g)
            self._perm_epoch = epoch
        return self._perm

    def next_batch(self) -> torch.Tensor:
        """The next micro-batch. Epochs are seeded permutations and the data position is
        the number of examples consumed, so resuming (even with a different micro-batch
        size after an out-of-memory fit) needs nothing else."""
        n = self.data.n_train
        want = self.bs * self.dist.world  # N processes: a global micro-batch, a slice each
        parts, taken, pos = [], 0, self.pos
        while taken < want:  # a batch that crosses an epoch end is topped up from the next
            epoch, off = divmod(pos, n)  # epoch's order, so every step sees a full batch
            chunk = self._epoch_order(epoch)[off:off + want - taken]
            parts.append(chunk)
            taken += len(chunk)
            pos += len(chunk)
        glob = torch.cat(parts)
        idx = glob[self.dist.rank * self.bs:(self.dist.rank + 1) * self.bs]
        # the seed makes per-example randomness (augmentation) a function of the position
        batch = self.data.train_batch(idx, self.cfg.train.seed * 1_000_003 + self.pos
                                      + self.dist.rank * self.bs)
        self.pos += len(glob)
        return batch

    def do_sample(self, step: int) -> None:
        if not self.dist.main:
            if self.dist.fsdp:  # every rank takes part in a sharded model's forward passes
                import tempfile
                with tempfile.TemporaryDirectory() as tmp:
                    self.family.sample(self.loaded, self.cfg.sample, step, Path(tmp))
            return
        out_dir = self.folder.sample_dir(step)
        samples = self.family.sample(self.loaded, self.cfg.sample, step, out_dir)
        self.sink.emit(ev.SampleReady(step=step, samples=tuple(samples)))

    def state_dict(self) -> dict:
        return {"step": self.step, "pos": self.pos, "batch_size": self.bs,
                "grad_accum": self.accum, "total_steps": self.total_steps,
                "best_val_loss": self.best_val,
                "best_step": self.best_step, "evals_since_best": self.evals_since_best,
                "last_val_loss": self.last_val, "elapsed_s": self.elapsed(),
                "tokens_seen": self.items_seen, "saved_at": time.time(),
                "active_groups": [s.group.name for s in self.groups if s.active],
                "probes": self.probes.state()}

    def save(self, reason: str) -> None:
        if self.last_ckpt_step == self.step and reason != "manual":
            return  # this exact state is already on disk
        self.last_ckpt_step = self.step
        if not self.dist.main:  # rank 0 writes; the others wait until it is on disk
            if self.dist.fsdp:  # ... after helping gather the sharded state
                ck.save_checkpoint(self.folder.checkpoint_dir(self.step), self.loaded.model,
                                   self.optimizer, self.scaler, {}, write_files=False)
            self.dist.barrier()
            return
        path = ck.save_checkpoint(self.folder.checkpoint_dir(self.step), self.loaded.model,
                                  self.optimizer, self.scaler, self.state_dict())
        ck.prune(self.folder.checkpoints(), self.cfg.checkpoint.keep_last)
        self.folder.update_status(last_checkpoint=str(path), step=self.step)
        self.sink.emit(ev.CheckpointSaved(step=self.step, path=str(path), reason=reason))
        self.dist.barrier()

    def elapsed(self) -> float:
        return self.elapsed_before + (time.perf_counter() - self.t_start) - self.paused_s

    def run_eval(self) -> bool:
        """Evaluate; return True when early stopping says stop."""
        if self.data.n_val == 0:
            return False
        if not self.dist.main and not self.dist.fsdp:
            return False  # rank 0 evaluates; the decision is shared by the caller
        val = self.dist.share(self.evaluate()) if self.dist.fsdp else self.evaluate()
        if not self.dist.main:  # FSDP: every rank takes part, in rank 0's order
            if self.best_val is None or val < self.best_val:
                self.best_val = val
                if self.cfg.eval.keep_best or self.cfg.eval.early_stopping_patience:
                    ck.save_weights_dir(self.folder.best_dir, self.loaded.model, {},
                                        write_files=False)
            self.probes.eval_metrics(self.evaluate)
            return False
        self.last_val = val
        is_best = self.best_val is None or val < self.best_val
        if is_best:
            self.best_val, self.best_step, self.evals_since_best = val, self.step, 0
            if self.cfg.eval.keep_best or self.cfg.eval.early_stopping_patience:
                ck.save_weights_dir(self.folder.best_dir, self.loaded.model,
                                    {"step": self.step, "val_loss": val})
        else:
            self.evals_since_best += 1
        self.folder.update_status(best_val_loss=self.best_val, best_step=self.best_step)
        # text: per token; audio: per code (MusicGen's loss is the mean over codebooks), so
        # exp(loss) is how many codes it is choosing among, out of the codebook size
        ppl = math.exp(min(val, 50.0)) if families.get(self.family.name).has_perplexity else None
        self.sink.emit(ev.EvalLogged(step=self.step, val_loss=val, perplexity=ppl,
                                     best_val_loss=self.best_val, is_best=is_best,
                                     metrics=self.probes.eval_metrics(self.evaluate)))
        patience = self.cfg.eval.early_stopping_patience
        overfit = self.probes.after_eval(self.step, val)
        if overfit is not None:  # the overfitting alarm (a banner on the curves)
            self.sink.emit(overfit)
            self.log(f"overfitting: the validation loss rose for {overfit.evaluations} "
                     f"evaluations ({overfit.val_from:.4f} -> {overfit.val_to:.4f}) while the "
                     f"training loss fell ({overfit.train_from:.4f} -> {overfit.train_to:.4f})"
                     + ("" if patience else "; turn on eval.early_stopping_patience to stop "
                        "here, or export the best weights (step "
                        f"{self.best_step})"), "warning")
            if patience:
                self.early_stop_why = (f"early stopping: overfitting (best validation loss "
                                       f"{self.best_val:.4f} at step {self.best_step}; "
                                       "export uses those weights)")
                return True
        return bool(patience) and self.evals_since_best >= patience

    def wait_if_paused(self, reason: str = "user", message: str = "") -> None:
        if not self.control.paused or self.control.stop_requested:
            return
        t0 = time.perf_counter()
        self.folder.write_status("paused", step=self.step, message=message)
        self.sink.emit(ev.RunPaused(step=self.step, reason=reason, message=message))
        while self.control.paused and not self.control.stop_requested:
            self.serve_requests()  # the model stays loaded: sample or save while paused
            self.control.wait_while_paused(0.05)
        self.paused_s += time.perf_counter() - t0
        self.folder.write_status("running", step=self.step, message="")
        self.sink.emit(ev.RunResumed(step=self.step))

    def train_step(self, opt, scaler) -> tuple[torch.Tensor, int]:
        """One optimizer step over ``accum`` micro-batches; returns (loss tensor, items)."""
        t = self.cfg.train
        loss_sum = torch.zeros((), device=self.device)
        items = 0
        from contextlib import nullcontext

        loaded = self.loaded
        if self.train_model is not None:
            loaded = Loaded(model=self.train_model, extras=self.loaded.extras)
        try:
            for k in range(self.accum):
                batch = self.next_batch()
                if self.device.type == "cuda":
                    batch = batch.pin_memory()  # async host-to-device copy
                batch = batch.to(self.device, non_blocking=True)
                # DDP: all-reduce gradients once per optimizer step, on the last micro-batch
                sync = (self.train_model.no_sync() if self.train_model is not None
                        and k < self.accum - 1 else nullcontext())
                if self.dist.fsdp:  # FSDP: reduce-scatter gradients on the last micro-batch
                    self.loaded.model.set_requires_gradient_sync(k == self.accum - 1)
                with sync:
                    with self.precision.autocast(self.device):
                        loss = self.family.loss(loaded, batch) / self.accum
                    (scaler.scale(loss) if scaler else loss).backward()
                loss_sum += loss.detach()
                items += self.data.items_in(batch)
            if scaler:
                scaler.unscale_(opt)
            self.grad_norm = (dd.full(torch.nn.utils.clip_grad_norm_(self.trainable, t.grad_clip))
                              if t.grad_clip > 0 else None)
            if scaler:
                scaler.step(opt)
                scaler.update()
            else:
                opt.step()
        finally:
            opt.zero_grad(set_to_none=True)
        return loss_sum, items

    def _free_memory(self) -> None:
        import gc
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def apply_fit(self, action: str) -> bool:
        """Make the next step fit in memory; return False when this action cannot help."""
        t = self.cfg.train
        if action == "halve_batch":
            if self.bs <= 1:
                return False
            self.bs, self.accum = max(1, self.bs // 2), self.accum * 2
            self.log(f"out of memory: micro-batch halved to {self.bs}, gradient accumulation "
                     f"doubled to {self.accum} (the effective batch stays "
                     f"{self.bs * self.accum})", "warning")
            train = dataclasses.replace(t, batch_size=self.bs, grad_accum=self.accum)
        elif action == "gradient_checkpointing":
            if t.gradient_checkpointing or not _enable_checkpointing(self.loaded.model):
                return False
            self.log("out of memory: gradient checkpointing turned on", "warning")
            train = dataclasses.replace(t, gradient_checkpointing=True)
        else:
            return False
        # the run's config.toml follows, so a resume continues with what fits
        self.cfg = dataclasses.replace(self.cfg, train=train)
        save_config(self.cfg, self.folder.config_path)
        return True

    def handle_oom(self) -> bool:
        """Out of memory inside a step. Return True to retry the step, False to stop."""
        self._free_memory()
        t = self.cfg.train
        if self.dist.enabled:
            raise RunError(f"out of memory at step {self.step} with a micro-batch of {self.bs} "
                           f"per process", "lower train.batch_size (raise train.grad_accum to "
                           "keep the effective batch) or turn on train.gradient_checkpointing, "
                           "then `studio resume`")
        choices = ("halve the micro-batch (the effective batch is kept through "
                   "accumulation), turn on gradient checkpointing, or freeze more layers")
        if t.on_oom == "auto_fit":
            for action in ("halve_batch", "gradient_checkpointing"):
                if self.apply_fit(action):
                    return True
        msg = (f"out of memory at step {self.step} with a micro-batch of {self.bs}: "
               f"{choices}")
        if not self.control.interactive:
            self.log(msg + "; then `studio resume` (e.g. train.batch_size="
                     f"{max(1, self.bs // 2)} train.grad_accum={self.accum * 2})", "error")
            self.stop_reason_message = msg
            return False
        self.log(msg, "error")
        self.control.pause()
        self.wait_if_paused(reason="out_of_memory", message=msg)
        if self.control.stop_requested:
            return False
        for action in self.control.take_fit_actions():
            self.apply_fit(action)
        return True

    def apply_lr_factor(self, factor: float) -> None:
        train = dataclasses.replace(self.cfg.train, lr=self.cfg.train.lr * factor)
        self.cfg = dataclasses.replace(self.cfg, train=train)
        save_config(self.cfg, self.folder.config_path)
        self.log(f"learning rate set to {train.lr:g} (x{factor:g})")

    def handle_divergence(self, loss_val: float) -> bool:
        """A NaN/inf loss: go back to the last good checkpoint. Return True to go on
        (after the user lowered the rate in the GUI), False to stop."""
        msg = (f"the training loss became {loss_val} at step {self.step}: the learning rate "
               "is probably too high")
        latest = self.folder.latest_checkpoint()
        if latest is None:
            raise RunError(msg + " (before the first checkpoint)",
                           "lower train.lr (or turn on train.grad_clip) and start again")
        st = ck.load_checkpoint(latest, self.loaded.model, self.optimizer, self.scaler)
        self.step, self.pos = int(st["step"]), int(st["pos"])
        self.last_ckpt_step = self.step
        self.folder.truncate_metrics_after(self.step)
        back = f"; weights restored from {latest.name} (step {self.step})"
        if not self.control.interactive:
            self.log(msg + back + f". Lower the rate and resume: studio resume "
                     f"{self.folder.path} train.lr={self.cfg.train.lr / 4:g}", "error")
            self.stop_reason_message = msg
            return False
        self.log(msg + back + ". Lower the learning rate, then resume.", "error")
        self.control.pause()
        self.wait_if_paused(reason="diverged", message=msg + back)
        if self.control.stop_requested:
            return False
        return True

    def activate_due(self, emit: bool = True, only: list[str] | None = None) -> None:
        """Start training every group whose start step has come (canonical order);
        ``only``: just these (a resume restores the groups the checkpoint trained)."""
        due = [s for s in fz.trainable_at(self.groups, self.step) if not s.active
               and (only is None or s.group.name in only)]
        if not due:
            return
        model, t = self.loaded.model, self.cfg.train
        for st in due:
            pgroups = fz.activate(model, st, self.optimizer, t.weight_decay, self.step)
            if self.optimizer is None:
                for g in pgroups:
                    g["lr"] = 0.0
                self.optimizer = build_optimizer(t, pgroups)
        self.trainable = [p for p in model.parameters() if p.requires_grad]
        if self.dist.enabled and not self.dist.fsdp:
            # DDP fixes its gradient buckets at construction: rebuild it when groups join
            from torch.nn.parallel import DistributedDataParallel as DDP
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.train_model = DDP(model, device_ids=ids)
        if emit:
            names = tuple(s.group.name for s in due)
            self.sink.emit(ev.UnfreezeApplied(step=self.step, groups=names))
            n = sum(p.numel() for s in due for p in
                    (dict(model.named_parameters())[k] for k in s.params))
            self.log(f"unfroze {', '.join(names)} at step {self.step} ({n:,} parameters)")

    def serve_requests(self) -> bool:
        served = False
        if self.control.take_sample_request():
            self.do_sample(self.step)
            served = True
        if self.control.take_save_request():
            self.save("manual")
            served = True
        return served

    # -- the run ---------------------------------------------------------------------
    def train(self) -> RunResult:
        cfg, t = self.cfg, self.cfg.train
        folder = self.folder
        folder.write_status("starting", name=cfg.run.name, family=cfg.run.family, step=0,
                            message="loading the model and data")
        folder.start_heartbeat()
        if self.dist.main:
            ck.clean_temp(folder.checkpoints_dir)
        torch.manual_seed(t.seed)

        # 1. model and data
        self.device = pick_device(t.device)
        if self.dist.enabled and self.device.type == "cuda":
            self.device = torch.device("cuda", self.dist.local_rank)
        if self.device.type == "cpu":
            tune_cpu_allocator()
        self.precision = pick_precision(t.precision, self.device)
        self.family = get_family(cfg.run.family)
        self.loaded = self.family.load(cfg.model.source, self.device, torch.float32,
                                       revision=cfg.model.revision,
                                       trust_remote_code=cfg.model.trust_remote_code)
        model = self.loaded.model
        if t.dropout >= 0:
            _set_dropout(model, t.dropout)
        if t.gradient_checkpointing and not _enable_checkpointing(model):
            self.log("this model does not support gradient checkpointing; training without",
                     "warning")
        model.train()
        self.data = self.family.datasets(self.loaded, cfg, resolve=Path)
        self.log(self.data.summary)
        from studio.engine.probes import RunProbes
        self.probes = RunProbes(cfg, self.family, self.loaded, self.data, self.log)
        for sk in self.data.skipped[:20]:
            self.log(f"skipped {sk.path}: {sk.reason}", "warning")
        if len(self.data.skipped) > 20:
            self.log(f"... and {len(self.data.skipped) - 20} more skipped files", "warning")

        # 2. the freeze plan: which groups train, how, at what rate, from which step
        self.groups = fz.resolve_plan(self.family.layer_groups(self.loaded), cfg.freeze)
        fz.apply_plan(model, self.groups, cfg.freeze)
        if not any(s.mode != "frozen" and s.params for s in self.groups):
            raise ConfigError("freeze", "the plan freezes every layer group: nothing would train",
                              "set at least one group to full or lora")
        if not fz.trainable_at(self.groups, 0):
            first = min(s.start_step for s in self.groups if s.mode != "frozen" and s.params)
            raise ConfigError("freeze.groups", f"no group trains before step {first}",
                              "let at least one group start at step 0")
        if self.dist.enabled and t.parallel == "fsdp":
            units = dd.shard(model)
            self.dist.fsdp = True
            self.log(f"FSDP: weights, gradients and optimizer state sharded across "
                     f"{self.dist.world} processes ({units} units)")
        elif t.parallel == "fsdp":
            self.log("train.parallel = fsdp only matters with several processes "
                     "(--nproc N); this one-process run trains the whole model", "warning")
        self.optimizer = None  # built when the first group activates (optimizer state only
        #                        ever exists for parameters that train)
        self.scaler = torch.amp.GradScaler("cuda") if self.precision.use_scaler else None
        self.micro_per_epoch = max(1, math.ceil(self.data.n_train / t.batch_size))
        self.total_steps = t.max_steps or max(1, math.ceil(t.epochs * self.micro_per_epoch
                                                           / t.grad_accum))
        self._perm_epoch = -1
        self.pos = 0                      # examples consumed: the data position
        self.bs, self.accum = t.batch_size, t.grad_accum  # an OOM fit may change them
        self.best_val: float | None = None
        self.best_step: int | None = None
        self.last_val: float | None = None
        self.evals_since_best = 0
        self.items_seen = 0
        self.elapsed_before = 0.0
        self.last_ckpt_step = -1

        # 3. resume: the whole program state from the latest checkpoint
        if self.resumed:
            latest = folder.latest_checkpoint()
            if latest is None:
                raise RunError(f"{folder.path}: this run has no checkpoint to resume from",
                               "start it again with `studio train`")
            saved = ck.read_state(latest)
            self.step = int(saved["step"])
            # the groups training when it was saved (a group due at exactly this step joins
            # at the next step, as it would have without the interruption)
            self.activate_due(emit=False, only=saved.get("active_groups"))
            st = ck.load_checkpoint(latest, model, self.optimizer, self.scaler)
            self.step, self.pos = int(st["step"]), int(st["pos"])
            self.last_ckpt_step = self.step
            if not t.max_steps and st.get("total_steps"):
                self.total_steps = int(st["total_steps"])
            self.best_val, self.best_step = st.get("best_val_loss"), st.get("best_step")
            self.last_val = st.get("last_val_loss")
            self.evals_since_best = int(st.get("evals_since_best", 0))
            self.items_seen = int(st.get("tokens_seen", 0))
            self.probes.load(st.get("probes"))
            self.elapsed_before = float(st.get("elapsed_s", 0.0))
            self.folder.truncate_metrics_after(self.step)
            self.log(f"resumed from {latest.name} (step {self.step})")

        if not self.resumed:
            self.activate_due(emit=False)
        n_total = sum(p.numel() for p in model.parameters())
        named = dict(model.named_parameters())
        n_train = sum(named[n].numel() for st in self.groups if st.mode != "frozen"
                      for n in st.params)
        folder.write_status("running", step=self.step, total_steps=self.total_steps, message="")
        self.sink.emit(ev.RunStarted(
            run_dir=str(folder.path), run_id=folder.id, family=self.family.name,
            device=str(self.device), precision=self.precision.name,
            total_steps=self.total_steps, start_step=self.step, trainable_params=n_train,
            total_params=n_total, train_examples=self.data.n_train,
            val_examples=self.data.n_val, resumed=self.resumed))

        self.t_start = time.perf_counter()
        self.paused_s = 0.0
        if self.step == 0:
            # the starting point: how good the base model already is on this data
            if self.cfg.eval.every:
                self.run_eval()
            self.do_sample(0)
        reason = self._loop()

        # 4. the end: final evaluation, samples and checkpoint, honest status
        if reason not in ("stopped", "diverged"):
            if self.last_eval_step != self.step:
                self.run_eval()
            if self.last_sample_step != self.step:
                self.do_sample(self.step)
        if self.probes.summary():
            self.log(self.probes.summary())
            self.folder.update_status(ref_loss_start=self.probes.ref_start,
                                      ref_loss_last=self.probes.ref_last)
        if reason != "diverged":  # a diverged state is never saved over the good one
            self.save("stop" if reason == "stopped" else "final")
        state = "stopped" if reason in ("stopped", "diverged") else "completed"
        folder.write_status(state, step=self.step,
                            message=getattr(self, "stop_reason_message", "") or reason,
                            best_val_loss=self.best_val, best_step=self.best_step)
        self.sink.emit(ev.RunFinished(step=self.step, reason=reason,
                                      best_val_loss=self.best_val, best_step=self.best_step,
                                      run_dir=str(folder.path)))
        return RunResult(str(folder.path), state, self.step, self.best_val, self.best_step,
                         self.last_val)

    def _loop(self) -> str:
        cfg, t = self.cfg, self.cfg.train
        scaler = self.scaler
        self.last_eval_step = self.last_sample_step = -1
        log_t0, log_items, log_step0 = time.perf_counter(), 0, self.step
        paused_at_log = self.paused_s
        step_time_ema: float | None = None

        while self.step < self.total_steps:
            # every process must agree to stop at the same step (one tiny all-reduce)
            if self.dist.any(self.control.stop_requested, self.device):
                self.control.request_stop()
                return "stopped"
            self.wait_if_paused()
            if self.control.stop_requested:
                return "stopped"

            # gradual unfreezing: groups whose start step has come join the optimizer now
            self.activate_due()
            opt = self.optimizer

            # one optimizer step = grad_accum micro-batches
            factor = self.control.take_lr_factor()
            if factor is not None:
                self.apply_lr_factor(factor)
                t = self.cfg.train
            base_lr = t.lr * lr_multiplier(self.step, self.total_steps, t)
            for g in opt.param_groups:
                g["lr"] = fz.group_lr(base_lr, g, self.step, cfg.freeze.unfreeze_warmup_steps)
            pos0 = self.pos
            try:
                loss_sum, items = self.train_step(opt, scaler)
            except torch.OutOfMemoryError:
                self.pos = pos0  # retry the same examples
                if self.handle_oom():
                    continue
                return "stopped"
            log_items += items * self.dist.world
            self.step += 1

            # log: the only per-step CPU-GPU sync point, and only every log_every steps
            if self.step % t.log_every == 0 or self.step == self.total_steps:
                loss_val = float(self.dist.mean(loss_sum))
                self.probes.watch.add_train(loss_val)
                if not math.isfinite(loss_val):
                    if self.handle_divergence(loss_val):
                        log_t0, log_items, log_step0 = time.perf_counter(), 0, self.step
                        continue
                    return "diverged"
                now = time.perf_counter()
                dt = max(1e-9, now - log_t0 - (self.paused_s - paused_at_log))
                paused_at_log = self.paused_s
                per_step = dt / max(1, self.step - log_step0)
                step_time_ema = per_step if step_time_ema is None else (
                    0.8 * step_time_ema + 0.2 * per_step)
                self.items_seen += log_items
                self.sink.emit(ev.StepLogged(
                    step=self.step, epoch=self.pos / self.data.n_train, loss=loss_val,
                    lr=base_lr,
                    grad_norm=float(self.grad_norm) if self.grad_norm is not None
                    else float("nan"),
                    throughput=log_items / dt, throughput_unit=self.family.throughput_unit,
                    elapsed_s=self.elapsed(), eta_s=step_time_ema * (self.total_steps - self.step),
                    total_steps=self.total_steps, gpu_mem_bytes=gpu_memory_bytes(self.device)))
                self.folder.set_status_fields(step=self.step)
                # bookkeeping (emit, status) counts toward the next interval's throughput
                log_t0, log_items, log_step0 = now, 0, self.step

            stop_early = False
            side_t0 = time.perf_counter()
            busy = False
            if cfg.eval.every and self.step % cfg.eval.every == 0:
                stop_early = self.dist.any(self.run_eval(), self.device)
                self.last_eval_step = self.step
                busy = True
            if cfg.sample.every and self.step % cfg.sample.every == 0:
                self.do_sample(self.step)
                self.last_sample_step = self.step
                busy = True
            if cfg.checkpoint.every and self.step % cfg.checkpoint.every == 0:
                self.save("interval")
                busy = True
            busy = self.serve_requests() or busy
            if stop_early:
                self.log(getattr(self, "early_stop_why", "") or
                         f"early stopping: no better validation loss in "
                         f"{cfg.eval.early_stopping_patience} evaluations")
                return "early_stopping"
            # evaluation / sampling / checkpoint time is not training throughput
            if busy:
                log_t0 += time.perf_counter() - side_t0
        return "completed"
