"""Fault report: inject each fault the studio promises to survive and print survived/total.

    .venv/bin/python bench/faults.py [--keep DIR]

Each fault runs the real engine (a tiny GPT-2 or UNet built from a config) or the real
readers, in this process or in a subprocess that is really killed. A fault "survives" when
no work is lost beyond one checkpoint interval, the state shown is honest, and the user
gets a message naming the problem and the fix.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from studio.config import load_config  # noqa: E402
from studio.core import events as ev  # noqa: E402
from studio.core.sinks import ListSink  # noqa: E402
from studio.engine import run  # noqa: E402
from studio.runs import RunFolder, list_runs, read_metrics  # noqa: E402
from tests.tinymodels import make_tiny_text_model, tiny_config_text, write_text_dataset  # noqa: E402

QUIET = {"eval": {"every": 0}, "sample": {"every": 0}}


class Bench:
    def __init__(self, root: Path):
        self.root = root
        self.model = make_tiny_text_model(root / "model")
        self.data = write_text_dataset(root / "data")
        self.n = 0

    def config(self, **sections) -> Path:
        self.n += 1
        p = self.root / f"cfg{self.n}.toml"
        p.write_text(tiny_config_text(self.model, self.data, self.root / f"runs{self.n}",
                                      **sections), encoding="utf-8")
        return p


def fault_sigkill(b: Bench) -> str:
    cfg = b.config(train={"max_steps": 100000}, checkpoint={"every": 3}, **QUIET)
    proc = subprocess.Popen([sys.executable, "-m", "studio", "train", str(cfg)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    for line in proc.stdout:
        if "checkpoint (interval) @ step 6" in line:
            break
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    (info,) = list_runs(cfg.parent / f"runs{b.n}")
    assert info.state == "interrupted" and info.resumable, info
    logged = max(r["step"] for r in read_metrics(info.path) if r.get("event") == "StepLogged")
    ckpt = int(RunFolder(info.path).latest_checkpoint().name[5:])
    assert logged - ckpt <= 3, (logged, ckpt)  # at most one checkpoint interval lost
    res = run(None, None, resume=info.path, overrides=(f"train.max_steps={ckpt + 2}",))
    steps = [r["step"] for r in read_metrics(info.path) if r.get("event") == "StepLogged"]
    assert res.state == "completed" and steps == list(range(1, ckpt + 3)), steps
    return f"killed near step {logged}; shown interrupted; resumed from step {ckpt}, curve continuous"


def fault_kill_during_save(b: Bench) -> str:
    cfg = b.config(train={"max_steps": 4}, checkpoint={"every": 2}, **QUIET)
    res = run(load_config(cfg), None)
    folder = RunFolder(res.run_dir)
    # what a kill mid-save leaves: a half-written temp folder, never a visible checkpoint
    torn = folder.checkpoints_dir / ".tmp-step_000006-999-1"
    torn.mkdir()
    (torn / "model.safetensors").write_bytes(b"\x00" * 100)
    assert folder.latest_checkpoint().name == "step_000004"
    res2 = run(None, None, resume=res.run_dir, overrides=("train.max_steps=6",))
    assert res2.step == 6 and not torn.exists()
    return "torn save invisible; previous checkpoint loaded; temp folder cleaned"


def fault_full_disk(b: Bench) -> str:
    import studio.engine.checkpoint as ck
    from studio.core.errors import RunError
    cfg = b.config(train={"max_steps": 6}, checkpoint={"every": 2}, **QUIET)
    real = ck.save_file

    def flaky(t, filename, *a, **kw):
        if "step_000004" in str(filename):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(t, filename, *a, **kw)

    ck.save_file = flaky
    try:
        sink = ListSink()
        try:
            run(load_config(cfg), sink)
            raise AssertionError("no error")
        except RunError as exc:
            msg = str(exc)
    finally:
        ck.save_file = real
    assert "disk is full" in msg and "intact" in msg, msg
    folder = RunFolder(sink.of(ev.RunFailed)[0].run_dir)
    assert [p.name for p in folder.checkpoints()] == ["step_000002"]
    assert run(None, None, resume=folder.path).state == "completed"
    return f"message: {msg[:90]}..."


def fault_oom(b: Bench) -> str:
    import torch

    from studio.models.text import TextFamily
    real = TextFamily.loss

    def loss(self, loaded, batch):
        if len(batch) > 2:
            raise torch.OutOfMemoryError("CUDA out of memory (injected)")
        return real(self, loaded, batch)

    TextFamily.loss = loss
    try:
        sink = ListSink()
        res = run(load_config(b.config(train={"max_steps": 3, "batch_size": 8}, **QUIET)), sink)
    finally:
        TextFamily.loss = real
    assert res.state == "completed"
    fits = [e.text for e in sink.of(ev.LogMessage) if "out of memory" in e.text]
    return f"auto-fit: {len(fits)} halvings, effective batch kept; completed"


def fault_nan(b: Bench) -> str:
    from studio.models.text import TextFamily
    real = TextFamily.loss
    poison = {"on": False}

    def loss(self, loaded, batch):
        v = real(self, loaded, batch)
        return v * float("nan") if poison["on"] else v

    class At4:
        def __init__(self):
            self.sink = ListSink()

        def emit(self, e):
            self.sink.emit(e)
            if isinstance(e, ev.StepLogged) and e.step == 4:
                poison["on"] = True

    TextFamily.loss = loss
    try:
        s = At4()
        res = run(load_config(b.config(train={"max_steps": 8}, checkpoint={"every": 2},
                                       **QUIET)), s)
    finally:
        TextFamily.loss = real
    assert res.state == "stopped" and RunFolder(res.run_dir).latest_checkpoint().name == \
        "step_000004"
    res2 = run(None, None, resume=res.run_dir, overrides=("train.lr=0.0005",))
    assert res2.state == "completed"
    return "NaN at step 5 named; step 4 checkpoint kept; resumed at a lower rate"


def fault_torn_metrics(b: Bench) -> str:
    res = run(load_config(b.config(train={"max_steps": 3}, **QUIET)), None)
    path = Path(res.run_dir) / "metrics.jsonl"
    n = len(read_metrics(path))
    with open(path, "ab") as fh:
        fh.write(b'{"event": "StepLogged", "ste')
    assert len(read_metrics(path)) == n
    return f"{n} records read, torn line skipped"


def fault_hostile_text(b: Bench) -> str:
    from studio.data.text import read_text_corpus
    d = b.root / "hostile text ünï"
    d.mkdir()
    (d / "good.txt").write_text("A perfectly fine line of text. " * 20, encoding="utf-8")
    (d / "latin1.txt").write_bytes("caf\xe9 cr\xe8me".encode("latin-1") * 50)
    (d / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 10)
    (d / "empty.md").write_bytes(b"")
    (d / "bad.jsonl").write_text('{"text": "ok line"}\nnot json\n{"other": 1}\n', encoding="utf-8")
    (d / "cols.csv").write_text("title,body\na,b\n", encoding="utf-8")
    (d / "loop").symlink_to(d, target_is_directory=True)
    corpus = read_text_corpus([d])
    reasons = {Path(s.path).name: s.reason for s in corpus.skipped}
    for name in ("latin1.txt", "binary.txt", "empty.md", "cols.csv", "bad.jsonl"):
        assert name in reasons, (name, reasons)
    return f"{len(corpus.documents)} documents, {len(reasons)} files skipped with reasons"


def fault_hostile_images(b: Bench) -> str:
    from studio.core.errors import DataError
    from studio.data.image import read_image
    from tests.make_hostile_images import UNUSABLE, USABLE, make_hostile_images
    files = make_hostile_images(b.root / "hostile images")
    ok = 0
    for name in USABLE:
        assert read_image(files[name]).mode == "RGB"
        ok += 1
    for name, words in UNUSABLE.items():
        try:
            read_image(files[name])
            raise AssertionError(f"{name} was accepted")
        except DataError as exc:
            assert words in str(exc), (name, str(exc))
            ok += 1
    return f"{ok}/{len(USABLE) + len(UNUSABLE)} files read or refused with a reason " \
           "(200 MP PNG and bomb GIFs refused before decoding)"


def fault_hostile_audio(b: Bench) -> str:
    from studio.data.audio import AudioSpec, load_audio_corpus
    from tests.make_hostile_audio import UNUSABLE, USABLE, make_hostile_audio
    d = make_hostile_audio(b.root / "hostile audio ünï")
    corpus = load_audio_corpus(d, AudioSpec(sample_rate=16_000, channels=1, clip_seconds=1.0))
    read = {Path(f.path).name for f in corpus.files}
    assert read == set(USABLE), read
    reasons = {Path(s.path).name: s.reason for s in corpus.skipped}
    for name, words in UNUSABLE.items():
        assert words in reasons.get(name, ""), (name, reasons.get(name))
    return (f"{len(read)} files read and converted to 16 kHz mono ({len(corpus.clips)} clips), "
            f"{len(reasons)} skipped with a reason (8-bit, 96 kHz, 6 channels, mp3 named .wav, "
            "truncated, silent, 50 ms, not audio, empty)")


def fault_big_folder_scan(b: Bench) -> str:
    import threading

    from studio.data import scan
    d = b.root / "ten thousand"
    d.mkdir()
    for i in range(10_000):
        (d / f"f{i:05d}.txt").write_text(f"line {i}\n", encoding="utf-8")
    cancel = threading.Event()
    seen = 0
    t0 = time.perf_counter()
    first = None
    for _ in scan.scan([d], cancel=cancel):
        seen += 1
        if first is None:
            first = time.perf_counter() - t0
        if seen == 2_000:
            cancel.set()
    assert seen < 10_000, seen
    return f"first result after {first:.2f} s; cancelled after {seen} items"


def fault_unsafe_pickle(b: Bench) -> str:
    import torch

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    res = run(load_config(b.config(train={"max_steps": 2}, **QUIET)), None)
    ck = RunFolder(res.run_dir).latest_checkpoint()
    torch.save({"optimizer": Evil()}, ck / "optimizer.pt")
    from studio.core.errors import RunError
    try:
        run(None, None, resume=res.run_dir, overrides=("train.max_steps=3",))
        raise AssertionError("a pickle payload was loaded")
    except RunError as exc:
        assert "damaged" in str(exc)
    except Exception as exc:  # noqa: BLE001
        assert "weights_only" in str(exc) or "Unsupported" in str(exc), exc
    return "optimizer.pt with a code payload refused (torch.load weights_only=True)"


FAULTS = [fault_sigkill, fault_kill_during_save, fault_full_disk, fault_oom, fault_nan,
          fault_torn_metrics, fault_hostile_text, fault_hostile_images, fault_hostile_audio,
          fault_big_folder_scan,
          fault_unsafe_pickle]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", help="work in this folder and keep it")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="studio-faults-"))
    root.mkdir(parents=True, exist_ok=True)
    b = Bench(root)
    results = []
    for fault in FAULTS:
        name = fault.__name__[6:]
        t0 = time.perf_counter()
        try:
            detail = fault(b)
            ok = not detail.startswith("SKIPPED")
        except Exception as exc:  # noqa: BLE001 - a fault that was not survived
            ok, detail = False, f"{type(exc).__name__}: {exc}"
            traceback.print_exc()
        results.append({"fault": name, "survived": ok, "detail": detail,
                        "seconds": round(time.perf_counter() - t0, 1)})
        print(f"{'SURVIVED' if ok else 'LOST    '}  {name:<20} {detail}", flush=True)
    survived = sum(r["survived"] for r in results)
    print(f"\n{survived}/{len(results)} faults survived")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1), encoding="utf-8")
    return 0 if survived == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
