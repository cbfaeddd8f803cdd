"""A stop while the data is being prepared (a large corpus tokenized into the cache before
step 1) ends the run *stopped*, as asked, not failed: its status, its events, the CLI's
exit status; the files tokenized completely stay in the cache for the next run."""

from __future__ import annotations

from studio.config import load_config
from studio.core import events as ev
from studio.core.control import RunControl
from studio.core.sinks import ListSink
from studio.data.progress import DataStopped
from studio.engine import dist as dd
from studio.engine.reporting import report_stopped_preparing
from studio.runs import read_metrics, read_status
from studio.runs.store import RunFolder


class StopWhenTokenizing(ListSink):
    """Presses Stop as soon as the run says it is tokenizing (before step 1)."""

    def __init__(self, control: RunControl) -> None:
        super().__init__()
        self.control = control

    def emit(self, event) -> None:
        super().emit(event)
        if isinstance(event, ev.LogMessage) and event.text.startswith("Tokenizing"):
            self.control.request_stop()


def test_the_stop_report_marks_the_run_stopped(tmp_path):
    folder = RunFolder.create(tmp_path / "runs", "big")
    sink = ListSink()
    report_stopped_preparing(DataStopped(), folder, sink, dd.Dist(), 0)
    status = read_status(folder.path)
    assert status["state"] == "stopped" and "preparing the data" in status["message"]
    finished = [e for e in sink.events if isinstance(e, ev.RunFinished)]
    assert [(e.reason, e.step, e.run_dir) for e in finished] == [("stopped", 0,
                                                                  str(folder.path))]
    assert not any(isinstance(e, ev.RunFailed) for e in sink.events)
    said = [e.text for e in sink.events if isinstance(e, ev.LogMessage)]
    assert said and "cached" in said[0]
    # the run folder's own record says the same (the Runs pane and `studio runs` read it)
    assert any(r.get("event") == "RunFinished" and r.get("reason") == "stopped"
               for r in read_metrics(folder.path))
    folder.close()


def test_stop_while_tokenizing_ends_the_run_stopped_and_keeps_the_cache(
        tiny_run_config, tmp_path, monkeypatch):
    from studio.engine import run

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    # no evaluation, samples or checkpoints before the end: the second run only has to
    # read the cache and take a step
    cfg = load_config(tiny_run_config(train={"max_steps": 1}, eval={"every": 0},
                                      sample={"every": 0}, checkpoint={"every": 0}))
    control = RunControl()
    sink = StopWhenTokenizing(control)
    result = run(cfg, sink, control)
    assert result.state == "stopped" and result.step == 0
    assert read_status(result.run_dir)["state"] == "stopped"
    assert not any(isinstance(e, ev.RunFailed) for e in sink.events)
    assert [e.reason for e in sink.events if isinstance(e, ev.RunFinished)] == ["stopped"]
    # the next run reads the files tokenized before the stop from the cache
    again = ListSink()
    done = run(cfg, again, RunControl())
    assert done.state == "completed"
    assert any(isinstance(e, ev.LogMessage) and "read from the cache" in e.text
               for e in again.events)
