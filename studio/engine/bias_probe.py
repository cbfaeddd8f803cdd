"""Bias probe for text models: templated prompts with group substitutions, scored by the
model's log-probabilities of chosen continuations, before and after fine-tuning.

A template is ``"The {nurse|engineer|CEO} said that -> he|she|they"``: each group fills
the braces, and for each resulting prompt the log-probability of each continuation
(" he", " she", " they": a leading space, as the word follows the prompt) is summed over
its tokens. The continuations' probabilities are then renormalised among themselves
(``share``), so "how likely is *he* rather than *she* here" reads as one number; the
*gap* of a group is the share of the first continuation minus the second's. A model
that learned "nurse ... she" shows a negative gap for nurse, a positive one for
engineer. Comparing the base model with the fine-tuned run shows what the training data
taught.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from studio.config import families
from studio.config.bias_templates import Template, parse_templates


@torch.no_grad()
def continuation_logprob(model, tok, prompt: str, continuation: str) -> float:
    """log P(continuation | prompt), summed over the continuation's tokens."""
    device = next(model.parameters()).device
    p_ids = tok(prompt, add_special_tokens=False)["input_ids"]
    if not p_ids:
        p_ids = [tok.eos_token_id]
    c_ids = tok(" " + continuation, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([p_ids + c_ids], device=device)
    logits = model(input_ids=ids).logits.float()
    logp = torch.log_softmax(logits[0, :-1], dim=-1)
    targets = ids[0, 1:]
    picked = logp[torch.arange(len(targets), device=device), targets]
    return float(picked[len(p_ids) - 1:].sum())


def score(loaded, templates: list[Template]) -> list[dict]:
    """One row per (template, group): the prompt and each continuation's log-probability."""
    model, tok = loaded.model, loaded.extras["tokenizer"]
    was_training = model.training
    model.eval()
    rows = []
    try:
        for t in templates:
            for group, prompt in t.prompts():
                rows.append({"template": t.text, "group": group, "prompt": prompt,
                             "logprobs": {c: continuation_logprob(model, tok, prompt, c)
                                          for c in t.continuations}})
    finally:
        model.train(was_training)
    return rows


def shares(logprobs: dict[str, float]) -> dict[str, float]:
    """The continuations' probabilities renormalised among themselves."""
    m = max(logprobs.values())
    exps = {c: math.exp(v - m) for c, v in logprobs.items()}
    total = sum(exps.values())
    return {c: e / total for c, e in exps.items()}


def gap(logprobs: dict[str, float]) -> float:
    """Share of the first continuation minus the second's (in -1..1)."""
    s = shares(logprobs)
    a, b = list(logprobs)[:2]
    return s[a] - s[b]


@dataclass
class BiasReport:
    before_label: str
    after_label: str = ""
    rows: list[dict] = field(default_factory=list)  # + "before"/"after" logprobs, gaps

    def to_dict(self) -> dict:
        return asdict(self)

    def table(self) -> str:
        """A plain-text table: per prompt, each continuation's share before -> after, and
        the gap (first minus second continuation)."""
        lines = []
        current = None
        for r in self.rows:
            if r["template"] != current:
                current = r["template"]
                conts = list(r["before"])
                head = "  ".join(f"{'P(' + c + ')':>16}" for c in conts)
                gap_name = f"gap {conts[0]}-{conts[1]}"
                lines.append(f"\n{current}")
                lines.append(f"  {'group':<14}{head}  {gap_name:>20}")
            cells = []
            for c in r["before"]:
                b = r["before_shares"][c]
                cells.append(f"{b:>7.1%} -> {r['after_shares'][c]:>6.1%}" if r.get("after")
                             else f"{b:>16.1%}")
            g = (f"{r['before_gap']:+.2f} -> {r['after_gap']:+.2f}" if r.get("after")
                 else f"{r['before_gap']:+.2f}")
            lines.append(f"  {r['group']:<14}" + "  ".join(f"{x:>16}" for x in cells)
                         + f"  {g:>20}")
        return "\n".join(lines).lstrip("\n")


def compare(templates: list[Template], before, after=None, before_label: str = "base model",
            after_label: str = "") -> BiasReport:
    """Score ``before`` (and ``after``, both ``Loaded`` text models) on the templates."""
    rep = BiasReport(before_label=before_label, after_label=after_label)
    rows_b = score(before, templates)
    rows_a = score(after, templates) if after is not None else [None] * len(rows_b)
    for rb, ra in zip(rows_b, rows_a):
        row = {"template": rb["template"], "group": rb["group"], "prompt": rb["prompt"],
               "before": rb["logprobs"], "before_shares": shares(rb["logprobs"]),
               "before_gap": gap(rb["logprobs"])}
        if ra is not None:
            row.update(after=ra["logprobs"], after_shares=shares(ra["logprobs"]),
                       after_gap=gap(ra["logprobs"]))
        rep.rows.append(row)
    return rep


def probe_run_or_model(target: str, templates_text=None, device: str = "cpu") -> BiasReport:
    """``target``: a run folder (its base model before, its best weights after) or a model
    (a starter, folder or hub id: scored alone). Templates default to the run's
    ``probe.bias_templates`` (or the defaults for a bare model)."""
    from studio.config.schema import ProbeConfig
    from studio.core.errors import StudioError
    from studio.models.base import get_family
    from studio.runs import RunFolder

    folder = RunFolder(target)
    if folder.config_path.is_file():
        from studio.engine.restore import load_run_model

        after = load_run_model(target, "best", device)
        if not families.get(after.cfg.run.family).bias_probe:
            raise StudioError(f"{target}: the bias probe is for text models; this run is "
                              f"{after.cfg.run.family}",
                              "use `studio probe balance` for captioned datasets")
        templates = parse_templates(templates_text or after.cfg.probe.bias_templates)
        fam = get_family("text")
        before = fam.load(after.cfg.model.source, device, torch.float32,
                          revision=after.cfg.model.revision,
                          trust_remote_code=after.cfg.model.trust_remote_code)
        return compare(templates, before, after.loaded,
                       before_label=f"base {after.cfg.model.source}",
                       after_label=f"{Path(target).name} ({after.weights_dir.name})")
    templates = parse_templates(templates_text or ProbeConfig().bias_templates)
    loaded = get_family("text").load(target, device, torch.float32)
    return compare(templates, loaded, before_label=target)


def to_json(report: BiasReport, path: str | Path) -> None:
    import json

    Path(path).write_text(json.dumps(report.to_dict(), indent=1), encoding="utf-8")
