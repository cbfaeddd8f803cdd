"""The Model pane's state (Qt-free, no torch): the source shown, the summary at once, the
layer groups from an injected inspector run off the GUI thread (here: held until the test
delivers), a superseded load's result dropped, the hub download's progress and messages."""

from __future__ import annotations

from dataclasses import dataclass, field

from studio.models.base import LayerGroup  # plain dataclasses (no torch)
from studio.models.inspect import Inspection, ModelSummary
from studio.state.model_source import ModelSource, run_now
from studio.state.project import Project
from tests.test_state_dataset import HeldJobs


class DownloadCancelled(Exception):
    pass


class HubProblem(Exception):
    pass


@dataclass
class FakeInspector:
    """What ``studio.models.inspect`` offers, answering from a dict of folders."""

    folders: dict = field(default_factory=lambda: {"starter:text": "/s/text",
                                                   "starter:image": "/s/image"})
    DownloadCancelled = DownloadCancelled
    HubProblem = HubProblem
    loads: list = field(default_factory=list)

    def local_folder(self, source, revision=""):
        return self.folders.get(source)

    def is_model_folder(self, folder):
        return folder in self.folders.values()

    def read_model_summary(self, folder):
        if folder == "/broken":
            raise ValueError("not a safetensors file")
        return ModelSummary(folder=folder, architecture="FakeModel", parameters=100)

    def inspect_model(self, source, family, revision="", trust_remote_code=False):
        self.loads.append((source, family))
        return Inspection(source=source, family=family, parameters=100, model_class="Fake",
                          groups=[LayerGroup("embed", "Embeddings", ["e.weight"], count=60),
                                  LayerGroup("head", "LM head", ["h.weight"], count=40)])

    def download_model(self, repo, revision="", *, report, cancel):
        report({"bytes": 5, "bytes_total": 10, "files": 1, "files_total": 2})
        if repo == "offline/x":
            raise HubProblem("You are offline")
        self.folders[repo] = f"/hub/{repo}"
        return f"/hub/{repo}"

    def list_starters(self):
        return sorted(s for s in self.folders if s.startswith("starter:"))


def make(run=run_now, download=run_now):
    project = Project()
    st = ModelSource(project, FakeInspector(), run_inspection=run, run_download=download)
    seen: list[str] = []
    st.subscribe(seen.append)
    return st, seen


def test_summary_at_once_layer_groups_only_when_visible():
    run = HeldJobs()
    st, seen = make(run)
    st.visible = False
    st.refresh()
    assert st.source == "starter:text" and st.summary.folder == "/s/text"
    assert st.inspection is None and "when this pane is shown" in st.status
    assert run.jobs == []  # a hidden pane costs no model load
    st.set_visible(True)
    assert st.loading is True and "Loading the model" in st.status
    run.finish(run.jobs[-1], run.jobs[-1]["fn"](*run.jobs[-1]["args"]))
    assert [g.name for g in st.inspection.groups] == ["embed", "head"]
    assert "2 groups" in st.status and seen.count("inspection") == 1 and not st.loading


def test_a_superseded_load_is_cancelled_and_its_result_dropped():
    run = HeldJobs()
    st, seen = make(run)
    st.refresh()
    first = run.jobs[-1]
    st.project.set_model_source("starter:image")  # switch while the first load runs
    assert first["cancel"].is_set() and st.source == "starter:image"
    second = run.jobs[-1]
    assert second["args"][:2] == ("starter:image", "image")  # the family followed
    run.finish(first, FakeInspector().inspect_model("starter:text", "text"))
    assert st.inspection is None  # the old load's answer is not shown
    run.finish(second, FakeInspector().inspect_model("starter:image", "image"))
    assert st.inspection.source == "starter:image"


def test_errors_and_missing_models_are_said_plainly():
    st, _ = make()
    st.inspector.inspect_model = lambda *a: (_ for _ in ()).throw(OSError("bad weights"))
    st.refresh()
    assert st.inspection is None and st.status == "Cannot load the model's layers: bad weights"
    st.inspector.folders["starter:text"] = "/broken"
    st.refresh(force=True)
    assert st.status.startswith("Cannot read this model: not a safetensors")
    st.project.set_model_source("someone/not-downloaded")
    assert st.summary is None and "not downloaded yet" in st.status


def test_folder_choice_and_hub_download_write_the_project():
    st, seen = make()
    st.refresh()
    assert not st.use_folder("/nowhere") and st.message_is_error
    assert "not a model folder" in st.message and st.project.model_source == "starter:text"
    assert st.use_folder("/s/image") and st.project.model_source == "/s/image"

    st.download("")
    assert st.message == "Type a hub id first, e.g. gpt2." and st.message_is_error
    st.download("offline/x")
    assert st.message == "You are offline" and "download-failed" in seen
    assert not st.downloading and st.progress is None
    st.download("me/model")
    assert st.project.model_source == "me/model" and st.folder == "/hub/me/model"
    assert "is in the Hugging Face cache" in st.message and "downloaded" in seen


def test_a_download_reports_progress_and_cancels():
    held = HeldJobs()
    st, seen = make(download=held)
    st.refresh()
    st.download("me/big")
    job = held.jobs[-1]
    assert st.downloading and st.download_repo == "me/big"
    job["progress"]({"bytes": 1, "bytes_total": 4, "files": 0, "files_total": 3})
    assert st.progress["bytes_total"] == 4 and seen[-1] == "download"
    st.cancel_download()
    assert job["cancel"].is_set() and st.cancelling
    job["running"] = False
    job["error"](DownloadCancelled())
    assert "Download cancelled" in st.message and not st.message_is_error
    assert st.project.model_source == "starter:text"


def test_closing_cancels_what_runs_and_stops_listening():
    run = HeldJobs()
    st, seen = make(run)
    st.refresh()
    st.close()
    assert run.jobs[-1]["cancel"].is_set()
    n = len(seen)
    st.project.set_model_source("starter:image")
    assert len(seen) == n
