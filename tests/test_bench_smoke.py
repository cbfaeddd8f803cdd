"""bench/engine_overhead.py runs end to end on a tiny model and reports all three contenders.

No timing assertions: the numbers from a 3-step run on a shared CPU mean nothing; this only
proves the benchmark still works against the current engine, transformers and Trainer.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_engine_overhead_bench_runs_all_three_contenders(tmp_path):
    out = tmp_path / "bench.json"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "engine_overhead.py"), "--steps", "3",
         "--repeats", "1", "--size", "tiny", "--json", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    text = proc.stdout
    lines = text.splitlines()
    for contender in ("engine", "plain", "trainer"):
        # one table row per contender: name, then a tokens/s figure
        rows = [ln for ln in lines if ln.split()[:1] == [contender]]
        assert rows, f"no table row for {contender} in:\n{text}"
        assert float(rows[-1].split()[1].replace(",", "")) > 0
    assert "engine/plain" in text and "engine/Trainer" in text
    assert "target >= 0.97x" in text and "target >= 1.0x" in text
    assert "what each contender syncs" in text

    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["size"] == "tiny" and result["steps"] == 3 and result["repeats"] == 1
    for contender in ("engine", "plain", "trainer"):
        rates = result["tokens_per_s"][contender]
        assert len(rates) == 1 and rates[0] > 0
        assert all(math.isfinite(loss) for loss in result["final_loss"][contender])
    for key in ("engine/plain", "engine/trainer"):
        assert math.isfinite(result["ratios"][key]) and result["ratios"][key] > 0
