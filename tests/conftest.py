import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings

# CI explores the same examples every time (a red build always means a change broke
# something); HYPOTHESIS_PROFILE=explore searches fresh random examples on a laptop.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("explore", max_examples=500)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# the studio's on-disk caches (text tokens, audio codes) start empty in every test session
# and never touch the developer's own ~/.cache
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="studio-test-cache-")

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_text_model(tmp_path_factory) -> Path:
    """A tiny GPT-2 + BPE tokenizer saved with save_pretrained (built once per session)."""
    from tests.tinymodels import make_tiny_text_model
    return make_tiny_text_model(tmp_path_factory.mktemp("tiny-gpt2"))


@pytest.fixture
def tiny_run_config(tmp_path, tiny_text_model):
    """A factory: tiny_run_config(train={...}) -> path of a config TOML for the tiny model."""
    from tests.tinymodels import tiny_config_text, write_text_dataset
    data = write_text_dataset(tmp_path / "data")

    def make(name: str = "run.toml", **sections) -> Path:
        p = tmp_path / name
        p.write_text(tiny_config_text(tiny_text_model, data, tmp_path / "runs", **sections),
                     encoding="utf-8")
        return p

    return make


@pytest.fixture(autouse=True)
def user_data_dir(tmp_path_factory, monkeypatch):
    """The studio's user data folder (unsaved projects' runs, project locks) is per test,
    never the real one."""
    folder = tmp_path_factory.mktemp("userdata")
    monkeypatch.setenv("STUDIO_DATA_DIR", str(folder))
    return folder


# A watchdog below Python: pytest-timeout's thread needs the GIL, so a test deadlocked with
# the GIL held (a C++ wait under a Qt or torch lock) would hang the whole run silently.
# faulthandler's watchdog is a C thread: it prints every thread's stack and exits.
WATCHDOG_S = int(os.environ.get("STUDIO_TEST_WATCHDOG_S", "480"))


@pytest.fixture(autouse=True)
def _watchdog():
    import faulthandler
    import sys

    faulthandler.dump_traceback_later(WATCHDOG_S, exit=True, file=sys.__stderr__)
    yield
    faulthandler.cancel_dump_traceback_later()
