"""The curves' overfitting banner and reference (forgetting) curve; the LR finder and
bias probe panes. Rendered offscreen; PNGs go to $STUDIO_SHOTS when set."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from studio.core import events as ev
from studio.state.run_history import RunHistory

pytest.importorskip("pyqtgraph")


def _shot(widget, name: str) -> None:
    folder = os.environ.get("STUDIO_SHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        widget.grab().save(str(Path(folder) / name))


def _overfitting_history(h: RunHistory) -> None:
    for s in range(1, 41):
        h.feed(ev.StepLogged(step=s, epoch=0.0, loss=4.0 / (1 + 0.1 * s) + 0.5, lr=1e-3,
                             grad_norm=1.0, throughput=900.0, throughput_unit="tok",
                             elapsed_s=s, eta_s=0, total_steps=40))
        if s % 5 == 0:
            val = 3.0 + 0.002 * (s - 20) ** 2
            h.feed(ev.EvalLogged(s, val, float(np.exp(val)), 3.0, s == 20,
                                 metrics={"ref_loss": 3.4 + 0.02 * s}))
    h.feed(ev.OverfitWarning(step=40, evaluations=3, val_from=3.2, val_to=3.8,
                             train_from=1.6, train_to=1.3))


def test_curves_show_the_reference_curve_and_the_overfitting_banner(qtbot):
    from studio.qt.panes.curves import CurvesPane

    h = RunHistory()
    pane = CurvesPane(h)
    pane.resize(900, 560)
    qtbot.addWidget(pane)
    pane.show()
    qtbot.waitExposed(pane)
    assert not pane.banner.isVisible()
    _overfitting_history(h)
    pane.refresh()
    x, y = pane.ref.getData()
    assert x.tolist() == [5, 10, 15, 20, 25, 30, 35, 40]
    np.testing.assert_allclose(y, [3.4 + 0.02 * s for s in x])
    assert pane.banner.isVisible()
    text = pane.banner.text()
    assert "Overfitting" in text and "3 evaluations" in text and "step 20" in text
    assert "reference 3." in pane.readout_text(20)
    qtbot.wait(50)
    _shot(pane, "curves_overfitting.png")
    h.reset(label="next")
    pane.refresh()
    assert not pane.banner.isVisible()
    assert len(pane.ref.getData()[0] if pane.ref.getData()[0] is not None else []) == 0


class FakeFind:
    """find_lr's contract, instantly: a falling-then-exploding curve."""

    def __init__(self):
        self.calls = []

    def __call__(self, cfg, *, steps, start_lr, end_lr, progress, control):
        from studio.engine.lr_finder import LRFindResult, suggest

        self.calls.append((steps, start_lr, end_lr))
        r = LRFindResult()
        ema = 0.0
        for i in range(steps):
            if control.stop_requested:
                r.reason = "stopped"
                break
            lr = start_lr * (end_lr / start_lr) ** (i / (steps - 1))
            x = np.log10(lr)
            loss = 5.0 - 2.5 / (1 + np.exp(-(x + 3) * 3)) + (30 * (lr - 0.05) if lr > 0.05
                                                              else 0.0)
            ema = 0.9 * ema + 0.1 * loss
            sm = ema / (1 - 0.9 ** (i + 1))
            r.lrs.append(lr)
            r.losses.append(float(loss))
            r.smoothed.append(float(sm))
            progress(i, lr, float(loss), float(sm))
        r.suggestion, r.min_loss_lr = suggest(r.lrs, r.smoothed)
        return r


def test_lr_finder_dialog_runs_plots_and_applies_with_one_click(qtbot, tmp_path):
    from studio.config import RunConfig
    from studio.qt.panes.lr_finder import LRFinderDialog
    from studio.state.project import Project

    project = Project(RunConfig())
    fake = FakeFind()
    dlg = LRFinderDialog(project.config, lambda lr: project.replace_section("train", lr=lr),
                         find_fn=fake)
    qtbot.addWidget(dlg)
    dlg.show()
    qtbot.waitExposed(dlg)
    assert not dlg.use_button.isEnabled()
    dlg.steps.setValue(120)
    with qtbot.waitSignal(dlg.done_running, timeout=10_000):
        dlg.run_button.click()
    assert fake.calls == [(120, pytest.approx(1e-7), pytest.approx(1.0))]
    s = dlg.state
    assert s.status == "done" and len(s.lrs) == 120
    x, y = dlg.smooth.getData()
    assert len(x) == 120  # (log-x: pyqtgraph holds log10 of the rates)
    np.testing.assert_allclose(y, s.smoothed)
    assert dlg.marker.isVisible()
    assert dlg.marker.value() == pytest.approx(np.log10(s.suggestion))
    assert dlg.use_button.isEnabled() and f"{s.suggestion:.2e}" in dlg.use_button.text()
    assert "Suggested learning rate" in dlg.summary.text()
    qtbot.wait(50)
    _shot(dlg, "lr_finder.png")
    dlg.use_button.click()
    assert project.config.train.lr == pytest.approx(float(f"{s.suggestion:.2e}"))
    assert project.dirty


def test_lr_finder_dialog_reports_errors(qtbot):
    from studio.config import RunConfig
    from studio.core.errors import ConfigError
    from studio.qt.panes.lr_finder import LRFinderDialog

    def broken(cfg, **kw):
        raise ConfigError("data.paths", "is empty", "add a text file")

    dlg = LRFinderDialog(RunConfig(), lambda lr: None, find_fn=broken)
    qtbot.addWidget(dlg)
    with qtbot.waitSignal(dlg.done_running, timeout=10_000):
        dlg.start()
    assert dlg.state.status == "failed"
    assert "data.paths: is empty" in dlg.summary.text()
    assert not dlg.use_button.isEnabled() and dlg.run_button.text() == "Run"


def test_window_opens_the_lr_finder_and_the_rate_lands_in_settings(make_window, qtbot,
                                                                     dialogs, text_folder):
    win = make_window()
    assert win.act_lr_find.isEnabled()
    assert win.tools.open_lr_finder() is None  # no data yet: one warning naming the field
    assert dialogs.titles("warning") == ["Cannot find a learning rate"]
    assert "Training files" in dialogs.calls[0][2]
    win.add_paths([text_folder])
    dlg = win.tools.open_lr_finder()
    assert dlg is not None and dlg.isVisible()
    dlg.find_fn = FakeFind()
    with qtbot.waitSignal(dlg.done_running, timeout=10_000):
        dlg.start()
    dlg.use_button.click()
    assert win.project.config.train.lr == pytest.approx(float(f"{dlg.state.suggestion:.2e}"))
    dlg.close()


def _fake_report(target, templates):
    from studio.config.bias_templates import parse_templates
    from studio.engine.bias_probe import BiasReport, gap, shares

    rep = BiasReport(before_label="base starter:text", after_label="run-1 (best)")
    for t in parse_templates(templates):
        for k, (group, prompt) in enumerate(t.prompts()):
            before = {c: -2.0 - 0.1 * j for j, c in enumerate(t.continuations)}
            after = {c: -2.0 + (0.8 if (j == 0) == (k % 2 == 0) else -0.8)
                     for j, c in enumerate(t.continuations)}
            rep.rows.append({"template": t.text, "group": group, "prompt": prompt,
                             "before": before, "before_shares": shares(before),
                             "before_gap": gap(before), "after": after,
                             "after_shares": shares(after), "after_gap": gap(after)})
    return rep


def test_bias_probe_dialog_table_chart_and_templates_saved(qtbot):
    from studio.config import RunConfig
    from studio.qt.panes.probes import BiasProbeDialog
    from studio.state.probes import BiasProbeState
    from studio.state.project import Project

    project = Project(RunConfig())
    calls = []

    def fake(target, templates):
        calls.append((target, templates))
        return _fake_report(target, templates)

    state = BiasProbeState(project.config.probe.bias_templates, "/runs/run-1")
    dlg = BiasProbeDialog(state, lambda t: project.replace_section("probe", bias_templates=t),
                          probe_fn=fake)
    qtbot.addWidget(dlg)
    dlg.show()
    qtbot.waitExposed(dlg)
    assert dlg.editor.toPlainText().splitlines() == list(project.config.probe.bias_templates)
    dlg.editor.setPlainText("The {nurse|engineer|CEO} said that -> he|she|they\n"
                            "My {mother|father} works as a -> nurse|engineer")
    with qtbot.waitSignal(dlg.done_running, timeout=10_000):
        dlg.run_button.click()
    assert calls[0][0] == "/runs/run-1" and len(calls[0][1]) == 2
    # the templates are the project's now (saved with it)
    assert project.config.probe.bias_templates == calls[0][1]
    assert dlg.table.rowCount() == 5
    assert dlg.table.item(0, 0).text() == "The nurse said that"
    assert "he " in dlg.table.item(0, 1).text() and "→" in dlg.table.item(0, 1).text()
    rows = state.rows()
    assert dlg.table.item(0, 3).text() == f"{rows[0]['after_gap']:+.2f}"
    heights = dlg.bars_after.opts["height"]
    assert list(heights) == pytest.approx([r["after_gap"] for r in rows])
    assert list(dlg.bars_before.opts["height"]) == pytest.approx([r["before_gap"]
                                                                  for r in rows])
    assert "Largest change" in dlg.summary.text()
    qtbot.wait(50)
    _shot(dlg, "bias_probe.png")
    # a bad template is explained, nothing runs, the project keeps its templates
    dlg.editor.setPlainText("no groups here -> a|b")
    dlg.run_button.click()
    assert state.status == "failed" and "exactly one" in dlg.summary.text()
    assert len(calls) == 1 and len(project.config.probe.bias_templates) == 2


def test_window_bias_probe_targets_the_last_run(make_window, qtbot):
    win = make_window()
    win.session.run_dir = "/runs/last"
    dlg = win.tools.open_bias_probe()
    assert dlg.state.target == "/runs/last"
    assert dlg.state.templates == win.project.config.probe.bias_templates
    dlg.close()


def test_balance_dialog_for_image_projects(make_window, qtbot, tmp_path):
    from tests.test_probes import _captioned_folder

    folder = _captioned_folder(tmp_path / "imgs")
    win = make_window()
    win.project.replace_section("run", family="image")
    win.project.replace_section("model", source="starter:image")
    win.add_paths([folder])
    dlg = win.tools.open_bias_probe()
    qtbot.addWidget(dlg)
    assert dlg.windowTitle() == "Dataset balance report"
    assert dlg.groups_table.rowCount() == 2
    assert dlg.groups_table.item(0, 1).text().startswith("man 4")
    assert "never appears" in dlg.groups_table.item(0, 2).text()
    assert list(dlg.bars.opts["height"])[0] == 4
    assert "7 image/audio files, 6 with a caption" in dlg.summary.text()
    dlg.editor.setPlainText("cat|dog\nman|woman")
    dlg.run_button.click()
    assert win.project.config.probe.balance_groups == ("cat|dog", "man|woman")
    qtbot.wait(50)
    _shot(dlg, "balance_report.png")
    dlg.close()


def test_window_quick_trial_then_continue(make_window, qtbot, fake_engine, tmp_path,
                                          text_folder, dialogs):
    engine = fake_engine(steps=12, delay=0.01, eval_every=0, sample_every=0,
                         run_dir=str(tmp_path / "run-1"))
    win = make_window(engine_fn=engine)
    win.add_paths([text_folder])
    with qtbot.waitSignal(win.host.run_ended, timeout=10_000):
        win.try_steps(5)
    assert win.session.state == "stopped"
    assert win.host.engine_fn is engine  # the trial wrapper was for that run only
    assert win.gallery.steps[-1] == 5    # samples at the trial's end
    v = win.trial_verdict
    assert v is not None and v.fell and "trial of 5 steps" in v.text
    assert win.trial_box is not None and "continue" in win.trial_box.text().lower()
    qtbot.wait(50)
    _shot(win.trial_box, "trial_box.png")
    assert any("trial of 5 steps" in line.text for line in win.session.log)
    with qtbot.waitSignal(win.host.run_ended, timeout=10_000):
        win.continue_trial()
    assert engine.calls[-1]["resume"] == str(tmp_path / "run-1")
    assert win.session.state == "completed" and win.session.step == 12


# -- queue ---------------------------------------------------------------------------------

def _fake_run_folder(root, name, best, drift, seconds):
    import json as _json

    d = root / name
    d.mkdir(parents=True)
    (d / "config.toml").write_text("")
    (d / "status.json").write_text(_json.dumps({"state": "completed", "best_val_loss": best,
                                                "best_step": 40, "step": 60}))
    lines = [{"event": "EvalLogged", "step": 0, "val_loss": 5.0, "metrics": {"ref_loss": 4.0}},
             {"event": "StepLogged", "step": 60, "loss": 3.0, "elapsed_s": seconds,
              "gpu_mem_bytes": 0},
             {"event": "EvalLogged", "step": 60, "val_loss": best,
              "metrics": {"ref_loss": 4.0 + drift}}]
    (d / "metrics.jsonl").write_text("".join(_json.dumps(x) + "\n" for x in lines))
    return str(d)


def test_window_queue_grid_runs_past_a_failure(make_window, qtbot, fake_engine, tmp_path,
                                               text_folder, dialogs):
    engine = fake_engine(steps=6, eval_every=0, sample_every=0,
                         run_dir=str(tmp_path / "fake-run"))
    seen = []

    def engine_fn(cfg, sink, control=None, *, resume=None):
        seen.append((cfg.run.name, cfg.train.lr, cfg.train.batch_size))
        if cfg.train.lr == 2e-3:
            raise RuntimeError("planted failure")
        return engine(cfg, sink, control, resume=resume)

    win = make_window(engine_fn=engine_fn)
    win.add_paths([text_folder])
    pane = win.queue_pane
    assert win.docks["queue"].widget() is pane
    pane.lrs.setText("1e-3, 2e-3, 3e-3")
    pane.sweep_button.click()
    assert [i["state"] for i in win.queue_state.items] == ["pending"] * 3
    assert pane.table.rowCount() == 3 and pane.table.item(1, 2).text() == "lr=2e-3"
    pane.add_button.click()   # the project as it is
    assert len(win.queue_state.items) == 4
    pane.run_button.click()
    qtbot.waitUntil(lambda: not win.queue_state.running and not win.host.running,
                    timeout=20_000)
    qtbot.wait(50)
    states = [i["state"] for i in win.queue_state.items]
    assert states == ["completed", "failed", "completed", "completed"]
    assert [s[1] for s in seen] == [1e-3, 2e-3, 3e-3, win.project.config.train.lr]
    assert "planted failure" in win.queue_state.items[1]["message"]
    assert pane.table.item(1, 3).text() == "failed"
    assert "1 failed" in pane.note.text()
    if win.error_dialog is not None:
        win.error_dialog.close()


def test_queue_pane_compares_and_overlays(qtbot, tmp_path):
    from studio.config import RunConfig
    from studio.qt.panes.queue import QueuePane
    from studio.state.queue import QueueState

    state = QueueState(tmp_path / "queue.json")
    cfg = RunConfig(data=RunConfig().data.__class__(paths=(str(tmp_path),)))
    items = state.add_sweep(cfg, ["train.lr=1e-4,3e-4,1e-3"])
    for item, (best, drift, secs) in zip(items, [(3.91, 0.12, 65), (3.62, 0.31, 64),
                                                 (3.95, 0.88, 66)]):
        d = _fake_run_folder(tmp_path / "runs", item["name"], best, drift, secs)
        state.queue.mark(item["id"], "completed", run_dir=d)
    state.refresh()
    pane = QueuePane(state)
    pane.resize(860, 300)
    qtbot.addWidget(pane)
    pane.show()
    qtbot.waitExposed(pane)
    assert pane.table.item(1, 4).text() == "3.6200" and pane.table.item(1, 4).font().bold()
    assert pane.table.item(2, 5).text() == "+0.8800"
    assert pane.table.item(0, 6).text() == "1:05" and pane.table.item(0, 7).text() == "n/a"
    with qtbot.waitSignal(pane.overlay_requested) as got:
        pane.overlay_button.click()
    assert len(got.args[0]) == 3
    _shot(pane, "queue_pane.png")
