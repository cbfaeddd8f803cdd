"""The curves pane is a view of a RunHistory: tested through curve.getData(), not pixels."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt

from studio.core import events as ev
from studio.state.run_history import RunHistory

pg = pytest.importorskip("pyqtgraph")


def step(s: int, loss: float, lr: float = 1e-3) -> ev.StepLogged:
    return ev.StepLogged(step=s, epoch=0.0, loss=loss, lr=lr, grad_norm=1.0,
                         throughput=1000.0 + s, throughput_unit="tok", elapsed_s=s, eta_s=0,
                         total_steps=100)


@pytest.fixture
def pane(qtbot):
    from studio.qt.panes.curves import CurvesPane

    history = RunHistory(smoothing=0.9)
    p = CurvesPane(history)
    p.resize(900, 520)
    qtbot.addWidget(p)
    p.show()
    qtbot.waitExposed(p)
    return p


def feed(history: RunHistory, n: int = 20) -> None:
    for s in range(1, n + 1):
        history.feed(step(s, 4.0 / s + 1.0, lr=1e-3 * s / n))
        if s % 5 == 0:
            history.feed(ev.EvalLogged(s, 4.0 / s + 1.2, float(np.exp(4.0 / s + 1.2)),
                                       1.0, True))


def settle(pane, qtbot, last_step: float) -> None:
    """Let the loss plot auto-range and the other plots follow its step range (the
    displayed data is clipped to the view)."""
    qtbot.waitUntil(lambda: all(p.vb.viewRange()[0][1] >= last_step for p in pane.plots),
                    timeout=3000)


def test_items_show_the_history_buffers(pane, qtbot):
    h = pane.history
    feed(h)
    pane.refresh()
    settle(pane, qtbot, 20)
    x, y = pane.raw.getData()
    assert x.tolist() == list(range(1, 21))
    np.testing.assert_allclose(y, h.train.column("loss"))
    np.testing.assert_allclose(pane.ema.getData()[1], h.train.column("ema"))
    assert pane.ema.getData()[1][0] == pytest.approx(5.0)  # bias-corrected: starts at the loss
    vx, vy = pane.val.getData()
    assert vx.tolist() == [5, 10, 15, 20]
    np.testing.assert_allclose(vy, [4.0 / s + 1.2 for s in (5, 10, 15, 20)])
    np.testing.assert_allclose(pane.ppl.getData()[1], np.exp(vy))
    np.testing.assert_allclose(pane.lr.getData()[1], h.train.column("lr"))
    np.testing.assert_allclose(pane.speed.getData()[1], h.train.column("throughput"))
    assert pane.stack.currentWidget() is pane.plots_area


def test_the_timer_redraws_from_growing_buffers(pane, qtbot):
    assert pane.stack.currentWidget() is pane.hint  # empty state first
    feed(pane.history, 10)
    qtbot.waitUntil(lambda: pane.raw.getData()[0] is not None
                    and len(pane.raw.getData()[0]) == 10, timeout=3000)
    for s in range(11, 400):
        pane.history.feed(step(s, 1.0))
    qtbot.waitUntil(lambda: pane.raw.getOriginalDataset()[0][-1] == 399, timeout=3000)
    for item in (pane.raw, pane.ema, pane.val, pane.lr, pane.speed):
        assert item.opts["autoDownsample"] and item.opts["downsampleMethod"] == "peak"
        assert item.opts["clipToView"]


def test_smoothing_control_recomputes_the_ema(pane, qtbot):
    feed(pane.history)
    pane.smoothing.setValue(0.0)
    pane.refresh()
    settle(pane, qtbot, 20)
    np.testing.assert_allclose(pane.ema.getData()[1], pane.history.train.column("loss"))


def test_log_scale_toggle(pane, qtbot):
    feed(pane.history)
    pane.refresh()
    settle(pane, qtbot, 20)
    pane.log_scale.setChecked(True)
    assert pane.loss_plot.ctrl.logYCheck.isChecked()
    _, y = pane.ema.getData()
    np.testing.assert_allclose(y, np.log10(pane.history.train.column("ema")))
    pane.set_log_scale(False)
    assert not pane.log_scale.isChecked()
    np.testing.assert_allclose(pane.ema.getData()[1], pane.history.train.column("ema"))


def test_unfreeze_events_are_vertical_markers(pane):
    feed(pane.history)
    pane.history.feed(ev.UnfreezeApplied(12, ("block 1",)))
    pane.refresh()
    assert len(pane._unfreeze_lines) == len(pane.plots)
    assert {line.value() for line in pane._unfreeze_lines} == {12}
    pane.history.reset()
    pane.refresh()
    assert pane._unfreeze_lines == []


def test_a_past_run_is_overlaid_and_cleared(pane, qtbot):
    feed(pane.history)
    other = RunHistory(label="older")
    for s in range(1, 31):
        other.feed(step(s, 3.0))
    pane.add_overlay(other)
    settle(pane, qtbot, 30)
    items = pane.overlay_items(0)
    x, y = items[0].getData()
    assert x.tolist() == list(range(1, 31))
    np.testing.assert_allclose(y, other.train.column("ema"))
    assert pane.overlays == [other] and pane.clear_overlays_button.isEnabled()
    pane.clear_overlays()
    assert pane.overlays == [] and items[0].getViewBox() is None


def test_hover_readout_and_click_emits_the_step(pane, qtbot):
    feed(pane.history)
    pane.refresh()
    text = pane.readout_text(10.4)
    assert "step 10" in text and "loss 1.4000" in text and "val 1.6000 @ 10" in text
    # all plots share the loss plot's step range
    settle(pane, qtbot, 20)
    ranges = {tuple(np.round(p.vb.viewRange()[0], 6)) for p in pane.plots}
    assert len(ranges) == 1
    vb = pane.loss_plot.vb
    scene_pos = vb.mapViewToScene(QPointF(7.0, 2.0))
    view_pos = pane.view.mapFromScene(scene_pos)
    with qtbot.waitSignal(pane.step_clicked, timeout=3000) as clicked:
        qtbot.mouseClick(pane.view.viewport(), Qt.MouseButton.LeftButton, pos=view_pos)
    assert clicked.args == [7]


def test_sample_marker_follows_the_gallery_step(pane):
    pane.set_sample_marker(40)
    assert all(line.isVisible() and line.value() == 40 for line in pane._sample_markers)
    pane.set_sample_marker(None)
    assert not any(line.isVisible() for line in pane._sample_markers)


def test_the_step_axis_spans_the_run_and_value_axes_move_only_when_needed(pane, qtbot):
    h = pane.history
    feed(h, 10)  # total_steps is 100 in these events
    pane.refresh()
    x0, x1 = pane.loss_plot.vb.viewRange()[0]
    assert x0 <= 0 and 100 <= x1 < 110  # the whole run, not just the data so far
    y_before = pane.loss_plot.vb.viewRange()[1]
    h.feed(step(11, 1.5))  # inside the current value range: the axis stays put
    pane.refresh()
    assert pane.loss_plot.vb.viewRange()[1] == y_before
    h.feed(step(12, 0.2))  # below it: the range grows to show it
    pane.refresh()
    lo, hi = pane.loss_plot.vb.viewRange()[1]
    assert lo < 0.2 < hi
    lr_lo, lr_hi = pane.lr_plot.vb.viewRange()[1]
    assert lr_lo == 0 and lr_hi > h.train.column("lr").max()  # rates are read against zero


def test_zooming_stops_following_and_whole_run_restores(pane, qtbot):
    feed(pane.history, 20)
    pane.refresh()
    assert not pane.fit_button.isEnabled()
    vb = pane.loss_plot.vb
    vb.setXRange(5, 10, padding=0)
    vb.sigRangeChangedManually.emit([True, False])  # what a wheel zoom or drag emits
    assert pane.fit_button.isEnabled()
    pane.history.feed(step(21, 1.0))
    pane.refresh()
    assert vb.viewRange()[0] == [5, 10]  # the user's view is kept
    assert pane.ppl_plot.vb.viewRange()[0] == [5, 10]  # and shared
    pane.fit_button.click()
    assert vb.viewRange()[0][1] >= 100 and not pane.fit_button.isEnabled()


def test_perplexity_plot_says_when_the_loss_has_none(pane, qtbot):
    """A diffusion run's evaluations carry no perplexity: the plot's title says so."""
    h = pane.history
    feed(h, 5)
    pane.refresh()
    assert pane.ppl_plot.titleLabel.text == "Perplexity"
    from studio.qt.panes.curves import CurvesPane

    other = CurvesPane(RunHistory(smoothing=0.9))
    qtbot.addWidget(other)
    other.show()
    for s in range(1, 6):
        other.history.feed(step(s, 0.1))
    other.history.feed(ev.EvalLogged(5, 0.09, None, 0.09, True))
    other.refresh()
    assert other.ppl_plot.titleLabel.text == "Perplexity — none for this model's loss"


def test_legend_sits_beside_the_loss_plot_and_names_every_curve(pane, qtbot):
    """The legend used to float over the curves, hiding the forgetting curve's label."""
    h = pane.history
    feed(h)
    pane.refresh()
    past = RunHistory(label="2026-12-01-a-much-longer-past-run-name")
    for s in range(1, 301):
        past.feed(ev.StepLogged(step=s, epoch=0.0, loss=3.0, lr=1e-3, grad_norm=1.0,
                                throughput=1.0, throughput_unit="tok", elapsed_s=s, eta_s=0,
                                total_steps=300))
    pane.add_overlay(past)
    qtbot.wait(50)
    names = [label.text for _sample, label in pane.legend.items]
    assert names[:4] == ["train (raw)", "train (smoothed)", "validation",
                         "reference (forgetting)"]
    assert len(names) == 6 and all(len(n) < 45 for n in names[4:])
    legend = pane.legend.sceneBoundingRect()
    assert not legend.intersects(pane.loss_plot.vb.sceneBoundingRect())
    # the longer past run runs off the right edge; this run keeps the whole width
    settle(pane, qtbot, 20)
    assert pane.loss_plot.vb.viewRange()[0][1] < 150


def test_short_plots_keep_their_rows_and_scroll_rather_than_overlap(pane, qtbot):
    """In a short dock (a 1024 x 640 window) the three rows of plots (the third: scores
    and sample statistics) keep their least heights and the pane scrolls; before, each
    plot was squeezed to its axes and its value labels drawn over one another."""
    from studio.qt.panes.curves import LABEL_GAP_PX, ROW_MIN_HEIGHTS

    h = pane.history
    for s in range(1, 41):
        h.feed(step(s, 4.0 / s + 1.0, lr=6e-4 * min(1.0, s / 10)))
        if s % 10 == 0:
            h.feed(ev.EvalLogged(s, 4.0 / s + 1.2, float(np.exp(4.0 / s + 1.2)), 1.0, True,
                                 metrics={"bleu4": s / 100, "cider_d": s / 10}))
    pane.resize(600, 230)
    pane.refresh()
    qtbot.waitUntil(lambda: pane.extra_plot.scene() is not None, timeout=3000)
    qtbot.wait(200)
    rows = {pane.loss_plot: 0, pane.ppl_plot: 1, pane.lr_plot: 1, pane.speed_plot: 1,
            pane.extra_plot: 2}
    for plot, row in rows.items():
        assert plot.height() >= ROW_MIN_HEIGHTS[row] - 1, plot.titleLabel.text
        assert plot.vb.height() >= 40, plot.titleLabel.text  # room for a curve
    assert pane.view.height() >= sum(ROW_MIN_HEIGHTS)
    assert pane.plots_area.verticalScrollBar().maximum() > 0  # scrolls, never squeezes
    # the value axes: a label per LABEL_GAP_PX at most (pyqtgraph's own spacing put four
    # "2.0e-04" labels in 48 px)
    for plot in rows:
        axis = plot.getAxis("left")
        lo, hi = plot.vb.viewRange()[1]
        size = plot.vb.height()
        labels = [v for v in axis.tickValues(lo, hi, size)[0][1] if lo <= v <= hi]
        assert 1 <= len(labels) <= size / LABEL_GAP_PX + 1, (plot.titleLabel.text, labels)
    # the step axis is named once (the top plot), not under every row
    assert pane.loss_plot.getAxis("bottom").labelText == "step"
    assert pane.ppl_plot.getAxis("bottom").labelText == ""


def test_a_reset_drops_the_last_runs_extra_metrics_and_their_row(pane, qtbot):
    """Another project (or a new run): a MIDI run's "in key" / "repeated bars" row and
    legend do not stay under the next run, which may have other statistics or none."""
    from studio.qt.panes.curves import ROW_MIN_HEIGHTS

    h = pane.history
    feed(h, 10)
    h.feed(ev.EvalLogged(10, 1.5, 4.0, 1.5, True, metrics={"in_key": 0.8, "repeated_bars": 0.1}))
    pane.refresh()
    qtbot.waitUntil(lambda: pane.extra_plot.scene() is not None, timeout=3000)
    assert len(pane.extra_legend.items) == 2
    h.reset()
    qtbot.wait(50)
    assert pane.extra_plot.scene() is None and pane.extra_legend.items == []
    assert pane.view.minimumHeight() < sum(ROW_MIN_HEIGHTS)
    feed(h, 10)  # a run with other statistics gets a row of its own again
    h.feed(ev.EvalLogged(10, 1.5, 4.0, 1.5, True, metrics={"bleu4": 0.3}))
    pane.refresh()
    qtbot.waitUntil(lambda: pane.extra_plot.scene() is not None, timeout=3000)
    assert [label.text for _, label in pane.extra_legend.items] == ["bleu4"]
