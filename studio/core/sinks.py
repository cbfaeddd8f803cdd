"""Where events go. The GUI is just another sink (see ``studio.qt.engine_host``)."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import IO, Protocol, runtime_checkable

from studio.core import events as ev
from studio.core import units


@runtime_checkable
class EventSink(Protocol):
    def emit(self, event: object) -> None: ...


class ListSink:
    """Keeps every event; for tests."""

    def __init__(self) -> None:
        self.events: list[object] = []
        self._lock = threading.Lock()

    def emit(self, event: object) -> None:
        with self._lock:
            self.events.append(event)

    def of(self, kind: type) -> list:
        with self._lock:
            return [e for e in self.events if isinstance(e, kind)]


class FanOutSink:
    """Sends each event to every sink; one failing sink does not starve the others."""

    def __init__(self, *sinks: EventSink) -> None:
        self.sinks = [s for s in sinks if s is not None]

    def emit(self, event: object) -> None:
        errors = []
        for sink in self.sinks:
            try:
                sink.emit(event)
            except Exception as exc:  # noqa: BLE001 - reported after all sinks ran
                errors.append(exc)
        if errors:
            raise errors[0]


event_to_dict = ev.to_dict  # the one encoding; ``ev.from_dict`` reads it back


class JsonlSink:
    """One JSON line per event, flushed per line (a reader skips a torn last line)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._fh = open(self.path, "a", encoding="utf-8")
        self._lock = threading.Lock()

    def emit(self, event: object) -> None:
        line = json.dumps(event_to_dict(event), default=str)
        with self._lock:
            self._fh.write(line + "\n")
            self._fh.flush()

    def close(self) -> None:
        self._fh.close()


class StdoutSink:
    """A terminal progress bar (step, loss, throughput, ETA) plus one line per notable event."""

    def __init__(self, stream: IO[str] | None = None, width: int = 28) -> None:
        self.stream = stream or sys.stdout
        self.width = width
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._bar_open = False
        self._last_plain_step = -1

    def _line(self, text: str) -> None:
        if self._bar_open:
            self.stream.write("\n")
            self._bar_open = False
        self.stream.write(text + "\n")
        self.stream.flush()

    def emit(self, event: object) -> None:
        if isinstance(event, ev.StepLogged):
            frac = min(1.0, event.step / max(1, event.total_steps))
            filled = int(frac * self.width)
            bar = "#" * filled + "-" * (self.width - filled)
            text = (
                f"[{bar}] step {event.step}/{event.total_steps}  loss {event.loss:.4f}  "
                f"lr {event.lr:.2e}  {units.rate(event.throughput)} {event.throughput_unit}/s  "
                f"ETA {units.clock(event.eta_s)}"
            )
            if self.tty:
                self.stream.write("\r" + text)
                self.stream.flush()
                self._bar_open = True
            else:
                self._line(text)
        elif isinstance(event, ev.RunStarted):
            verb = "Resuming" if event.resumed else "Starting"
            self._line(
                f"{verb} run {event.run_id} on {event.device} ({event.precision}); "
                f"{event.trainable_params:,}/{event.total_params:,} parameters train; "
                f"{event.train_examples} train / {event.val_examples} validation examples; "
                f"steps {event.start_step}..{event.total_steps}"
            )
        elif isinstance(event, ev.EvalLogged):
            ppl = f"  perplexity {event.perplexity:.2f}" if event.perplexity is not None else ""
            best = "  (best)" if event.is_best else ""
            ref = event.metrics.get("ref_loss")
            ref = f"  reference loss {ref:.4f}" if ref is not None else ""
            # a family's own scores (captioning: BLEU-4, CIDEr-D)
            ref += "".join(f"  {k} {v:.4f}" for k, v in event.metrics.items() if k != "ref_loss")
            self._line(f"eval @ step {event.step}: val loss {event.val_loss:.4f}{ppl}{best}{ref}")
        elif isinstance(event, ev.SampleReady):
            for s in event.samples:
                if s.kind == "text":
                    body = (s.prompt + s.text).replace("\n", " ⏎ ")
                    self._line(f"sample @ step {event.step} #{s.index}: {body[:300]}")
                else:  # a caption sample also says what was generated and what is true
                    said = f'  "{s.text}"' if s.text else ""
                    if s.meta.get("reference"):
                        said += f' (true: "{s.meta["reference"]}")'
                    self._line(f"sample @ step {event.step} #{s.index}: {s.path}{said}")
        elif isinstance(event, ev.CheckpointSaved):
            self._line(f"checkpoint ({event.reason}) @ step {event.step}: {event.path}")
        elif isinstance(event, ev.UnfreezeApplied):
            self._line(f"unfreeze @ step {event.step}: {', '.join(event.groups)}")
        elif isinstance(event, ev.LogMessage):
            self._line(f"{event.level}: {event.text}")
        elif isinstance(event, ev.RunPaused):
            self._line(f"paused at step {event.step} ({event.reason})")
        elif isinstance(event, ev.RunResumed):
            self._line(f"resumed at step {event.step}")
        elif isinstance(event, ev.RunFinished):
            best = (
                f"; best val loss {event.best_val_loss:.4f} at step {event.best_step}"
                if event.best_val_loss is not None else ""
            )
            self._line(f"finished ({event.reason}) at step {event.step}{best}. Run folder: {event.run_dir}")
        elif isinstance(event, ev.RunFailed):
            self._line(f"FAILED at step {event.step}: {event.message}")
