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
