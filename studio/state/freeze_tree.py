"""The layer tree's state (Qt-free, no torch): which layer groups train, how (full / LoRA /
frozen), at what rate and from which optimizer step — a view of the project's ``freeze``
section (``FreezeConfig``) over one model's layer groups.

The config is the single source of truth. The tree reads the plan the engine will run by
resolving the config exactly as ``studio.models.freeze.resolve_plan`` does (preset, then
explicit ``groups`` entries, then ``default_mode``; discriminative rates on top), and every
edit produces a new ``FreezeConfig``, written back with ``project.replace_section``.

Written configs stay small and readable:

* a preset button writes ``preset`` (+ ``gradual_every``) and clears the entries;
* an edit touches only the edited group's entry: it is removed when the group is back to
  what the preset gives, otherwise it states the group's whole plan
  (``{name = "block.3", mode = "frozen"}`` — a frozen entry carries no rate or step);
* untouched entries are kept verbatim and in place, so project -> tree -> project is
  the identity.

Rates: the tree shows each group's *effective* multiplier of ``train.lr`` (its own
``lr_scale`` x the discriminative factor ``lr_first_ratio ** ((n-1-i)/(n-1))``, as the
engine applies it). Setting an effective value stores ``lr_scale = value / factor``
(4 significant digits). The discriminative helper sets ``lr_first_ratio`` and resets the
groups' own multipliers to 1, so the rates are exactly the geometric spread (fastai's
``slice(lo, hi)``).

The presets, the discriminative factor and the run length are the engine's own functions
from ``studio.config.freeze_plan`` (torch-free, so both sides import the same code).

Changes announced (``subscribe(cb)`` gets ``cb(what)``): ``"plan"`` after every change of
the freeze config (an edit here, or the project's config changed elsewhere).
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Sequence

# The engine's own formulas (one torch-free copy; re-exported for the layer tree pane).
from studio.config.freeze_plan import (  # noqa: F401
    HEAD_NAMES,
    discriminative_factor,
    is_lora_target,
    preset_plan,
    run_length,
)
from studio.config.schema import FREEZE_MODES, FreezeConfig, GroupPlan
from studio.state.observable import Observable

MODE_TITLES = {"full": "Full", "lora": "LoRA", "frozen": "Frozen"}
PRESET_TITLES = {"none": "Everything", "head_only": "Head only",
                 "gradual": "Gradual (top-down)", "lower_half_frozen": "Lower half frozen"}
# Titles of the parent nodes that gather numbered groups ("block.0", "block.1", ...).
PARENT_TITLES = {"block": "Transformer blocks", "down": "Down blocks", "up": "Up blocks",
                 "decoder_block": "Decoder blocks", "encoder_block": "Encoder blocks"}
ROOT_KEY = "*"


# -- the groups -------------------------------------------------------------------------------

@dataclass(frozen=True)
class GroupInfo:
    """One layer group as the tree needs it. ``lora_per_rank``: trainable LoRA parameters
    per unit of rank (the sum of in + out features over the group's linear / conv layers);
    ``lora_exact`` says whether it was counted on the real model or estimated."""

    name: str
    title: str = ""
    count: int = 0
    note: str = ""
    lora_per_rank: int | None = None
    lora_exact: bool = False
    lora_modules: tuple[tuple[str, int], ...] = ()
    """(module name, LoRA parameters per unit of rank) of each adaptable layer, when
    counted on the real model: ``freeze.lora_targets`` may narrow LoRA to some of them."""

    def lora_units(self, targets: Sequence[str] = ()) -> int:
        """LoRA parameters per unit of rank for the layers ``targets`` selects."""
        if self.lora_modules:
            return sum(n for m, n in self.lora_modules if is_lora_target(m, targets))
        return self.lora_per_rank or 0

    @property
    def has_params(self) -> bool:
        return self.count > 0

    @property
    def tied(self) -> bool:
        """A head whose weights are the embeddings': it has nothing of its own to train."""
        return not self.has_params and "tied" in self.note

    @property
    def lora_possible(self) -> bool:
        return self.has_params and (self.lora_per_rank is None or self.lora_per_rank > 0)

    @classmethod
    def of(cls, g: Any) -> "GroupInfo":
        """From a GroupInfo, a LayerGroup-like object, a dict or a (name, title, count, note)
        tuple."""
        if isinstance(g, GroupInfo):
            return g
        if isinstance(g, dict):
            return cls(**{k: v for k, v in g.items() if k in _INFO_FIELDS})
        if isinstance(g, (tuple, list)):
            return cls(*g)
        return cls(name=g.name, title=getattr(g, "title", "") or g.name,
                   count=int(getattr(g, "count", 0)), note=getattr(g, "note", "") or "")


_INFO_FIELDS = {f.name for f in dataclasses.fields(GroupInfo)}


def approx_lora_per_rank(name: str, count: int, d_model: int, vocab: int = 0) -> int | None:
    """LoRA parameters per unit of rank when the real layers are not known: a transformer
    block has four linear layers summing to 16·d in + out (attention q/k/v + out, MLP
    up 4d + down), an untied head d + vocab; embeddings and norms have no linear layers.
    None where there is no good guess (count the real model with ``describe_model``)."""
    if count <= 0:
        return 0
    if name in ("embeddings", "final_norm") or name.endswith("norm"):
        return 0
    if d_model <= 0:
        return None
    if re.fullmatch(r"(block|layer|decoder_block|encoder_block)\.\d+", name):
        return 16 * d_model
    if name in ("lm_head", "head"):
        return d_model + (vocab or count // max(1, d_model))
    return None


def preset_plans(groups: Sequence[GroupInfo], preset: str, every: int) -> dict[str, GroupPlan]:
    """Plans per group name for a named preset: the engine's own rule."""
    return preset_plan(groups, preset, every)


def spread(n: int, ratio: float) -> list[float]:
    return [discriminative_factor(i, n, ratio) for i in range(n)]


def _sig(x: float, digits: int = 4) -> float:
    return float(f"{x:.{digits}g}")


def _same(a: GroupPlan, b: GroupPlan) -> bool:
    """Same behaviour in the engine (a frozen group's rate and start do not matter)."""
    if a.mode != b.mode:
        return False
    return a.mode == "frozen" or (math.isclose(a.lr_scale, b.lr_scale, rel_tol=1e-9)
                                  and a.start_step == b.start_step)


def _tidy(p: GroupPlan) -> GroupPlan:
    return GroupPlan(p.name, "frozen") if p.mode == "frozen" else p


# -- the tree ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class GroupRow:
    """One group's resolved plan, as the engine will run it."""

    info: GroupInfo
    index: int
    mode: str
    own_lr: float          # the group's lr_scale
    lr_scale: float        # effective: own_lr x the discriminative factor
    start_step: int
    explicit: bool         # has an entry in freeze.groups

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def title(self) -> str:
        return self.info.title or self.info.name

    @property
    def trains(self) -> bool:
        return self.mode != "frozen" and self.info.has_params


@dataclass
class Node:
    """A row of the tree: a group (``group`` set) or a parent gathering groups."""

    key: str
    title: str
    group: str | None = None
    children: list["Node"] = field(default_factory=list)

    @property
    def is_group(self) -> bool:
        return self.group is not None

    def walk(self) -> Iterator["Node"]:
        yield self
        for c in self.children:
            yield from c.walk()

    def members(self) -> list[str]:
        return [n.group for n in self.walk() if n.group is not None]


def build_nodes(groups: Sequence[GroupInfo]) -> list[Node]:
    """Top-level rows: "All layers" over everything, with runs of numbered groups
    (block.0, block.1, ...) gathered under a parent ("Transformer blocks")."""
    leaves: list[Node] = []
    i = 0
    while i < len(groups):
        m = re.fullmatch(r"(.+)\.(\d+)", groups[i].name)
        j = i + 1
        if m:
            while j < len(groups) and re.fullmatch(re.escape(m.group(1)) + r"\.\d+",
                                                   groups[j].name):
                j += 1
        if m and j - i >= 2:
            prefix = m.group(1)
            title = PARENT_TITLES.get(prefix, prefix.replace("_", " ").capitalize() + "s")
            leaves.append(Node(f"{prefix}.*", f"{title}",
                               children=[Node(g.name, g.title or g.name, g.name)
                                         for g in groups[i:j]]))
            i = j
        else:
            leaves.append(Node(groups[i].name, groups[i].title or groups[i].name,
                               groups[i].name))
            i += 1
    if len(groups) > 1:
        return [Node(ROOT_KEY, "All layers", children=leaves)]
    return leaves


class FreezeTree(Observable):
    """The freeze plan of one model, editable group by group.

    ``FreezeTree(groups, config)`` holds a config of its own; ``FreezeTree(groups,
    project=project)`` reads ``project.config.freeze``, writes every edit back with
    ``project.replace_section("freeze", ...)`` and follows changes made elsewhere
    (``detach()`` stops that).
    """

    def __init__(self, groups: Iterable[Any], config: FreezeConfig | None = None, *,
                 project: Any = None) -> None:
        super().__init__()
        self.groups: list[GroupInfo] = [GroupInfo.of(g) for g in groups]
        self._by_name = {g.name: i for i, g in enumerate(self.groups)}
        self.nodes: list[Node] = build_nodes(self.groups)
        self._node_by_key = {n.key: n for top in self.nodes for n in top.walk()}
        self.project = project
        self._remembered: dict[str, GroupPlan] = {}  # last trainable plan of a frozen group
        self._unsubscribe: Callable[[], None] | None = None
        if project is not None:
            self._fc = project.config.freeze
            self._unsubscribe = project.subscribe(self._on_project)
        else:
            self._fc = config or FreezeConfig()
        self._rows = self._resolve()

    # -- reading ---------------------------------------------------------------------------
    @property
    def config(self) -> FreezeConfig:
        return self._fc

    def to_config(self) -> FreezeConfig:
        return self._fc

    def rows(self) -> list[GroupRow]:
        return list(self._rows)

    def row(self, name: str) -> GroupRow:
        return self._rows[self._by_name[name]]

    def node(self, key: str) -> Node:
        return self._node_by_key[key]

    def walk(self) -> Iterator[Node]:
        for top in self.nodes:
            yield from top.walk()

    def checkable(self, key: str) -> bool:
        return bool(self._check_members(key))

    def _check_members(self, key: str) -> list[str]:
        return [n for n in self.node(key).members() if self.row(n).info.has_params]

    def check_state(self, key: str) -> str | None:
        """"checked" (trains), "unchecked", "partial" (a parent with both), or None where
        there is nothing to tick (a tied head)."""
        members = self._check_members(key)
        if not members:
            return None
        trains = [self.row(n).trains for n in members]
        return "checked" if all(trains) else "unchecked" if not any(trains) else "partial"

    def mode_of(self, key: str) -> str | None:
        """The mode of a group, or the common mode of a parent's groups (None if mixed)."""
        modes = {self.row(n).mode for n in self._check_members(key)}
        return modes.pop() if len(modes) == 1 else None

    def tied_to(self, name: str) -> GroupRow | None:
        """For a tied head: the group whose weights it shares (the first group, as the
        engine and the presets assume)."""
        return self._rows[0] if self.row(name).info.tied and self._rows else None

    def unknown_entries(self) -> list[str]:
        """Names in freeze.groups that this model does not have (the engine refuses them)."""
        return [gp.name for gp in self._fc.groups if gp.name not in self._by_name]

    def _counts(self, r: GroupRow, run_steps: int | None) -> bool:
        """Whether a group ever trains in a run of ``run_steps`` (None: however long)."""
        return r.mode != "frozen" and (run_steps is None or r.start_step < run_steps)

    def never_starts(self, run_steps: int | None) -> list[GroupRow]:
        """Groups set to train that start only after the run has ended."""
        if run_steps is None:
            return []
        return [r for r in self._rows if r.trains and r.start_step >= run_steps]

    def trainable_params(self, run_steps: int | None = None) -> tuple[int, bool]:
        """Parameters that train once every group has started (within ``run_steps`` when
        given), and whether that is an estimate (LoRA counted without the real layers)."""
        total, approx = 0, False
        for r in self._rows:
            if not self._counts(r, run_steps):
                continue
            if r.mode == "full":
                total += r.info.count
            elif r.mode == "lora" and r.info.has_params:
                # unknown adapter sizes count as 0 and make the total an estimate
                total += r.info.lora_units(self._fc.lora_targets) * self._fc.lora_rank
                approx = approx or not r.info.lora_exact
        return total, approx

    def lora_params(self, run_steps: int | None = None) -> int:
        """Adapter parameters added to the model by the LoRA groups."""
        return sum(r.info.lora_units(self._fc.lora_targets) * self._fc.lora_rank
                   for r in self._rows
                   if r.mode == "lora" and r.info.has_params and self._counts(r, run_steps))

    @property
    def total_params(self) -> int:
        return sum(g.count for g in self.groups)

    def frozen_below_blocks(self, run_steps: int | None = None) -> int:
        """Blocks below the lowest one that trains keep no activations for backward
        (the same rule as ``studio.models.freeze.estimate_for``)."""
        blocks = [r for r in self._rows if r.name.startswith("block.")]
        if any(r.name == "embeddings" and self._counts(r, run_steps) for r in self._rows):
            return 0
        return next((k for k, r in enumerate(blocks) if self._counts(r, run_steps)),
                    len(blocks))

    def problems(self) -> list[str]:
        """What the engine would refuse, in its words, before the user presses Train."""
        out = []
        unknown = self.unknown_entries()
        if unknown:
            out.append(f"freeze.groups names {', '.join(unknown)}, which this model does "
                       "not have")
        live = [r for r in self._rows if r.trains]
        if not live:
            out.append("Nothing trains: tick at least one group")
        elif min(r.start_step for r in live) > 0:
            first = min(r.start_step for r in live)
            out.append(f"No group trains before step {first}: let at least one start at "
                       "step 0")
        return out

    def last_start(self) -> int:
        return max((r.start_step for r in self._rows if r.trains), default=0)

    # -- editing -----------------------------------------------------------------------------
    def set_trains(self, key: str, trains: bool) -> None:
        """Tick (trains) or untick (frozen) a group, or every group under a parent."""
        changes = {}
        for n in self._check_members(key):
            r = self.row(n)
            if trains and r.mode == "frozen":
                changes[n] = self._thawed(n)
            elif not trains and r.mode != "frozen":
                changes[n] = GroupPlan(n, "frozen")
        self._write(changes)

    def set_mode(self, key: str, mode: str) -> None:
        """Set a group's mode; on a parent, every group under it (LoRA where the group has
        linear layers; the others are frozen, the usual LoRA recipe)."""
        if mode not in FREEZE_MODES:
            raise ValueError(f"unknown mode {mode!r}")
        node = self.node(key)
        if node.is_group and mode == "lora" and not self.row(key).info.lora_possible:
            raise ValueError(f"{node.title} has no linear or conv layers for LoRA")
        changes = {}
        for n in self._check_members(key):
            r = self.row(n)
            m = mode if mode != "lora" or r.info.lora_possible else "frozen"
            if m == r.mode:
                continue
            if m == "frozen":
                changes[n] = GroupPlan(n, "frozen")
            else:
                base = self._thawed(n) if r.mode == "frozen" else self._plan_of(r)
                changes[n] = dataclasses.replace(base, mode=m)
        fc = self._fc
        if key == ROOT_KEY and fc.preset == "none":
            # one mode for the whole model and no preset: say it once, as default_mode
            # (groups that cannot take LoRA get a "frozen" entry each)
            fc = dataclasses.replace(fc, default_mode=mode)
        self._write(changes, fc)

    def set_lr(self, name: str, effective: float) -> None:
        """Set a group's effective rate multiplier (own lr_scale x discriminative factor)."""
        r = self.row(name)
        factor = self._factor(r.index)
        own = min(100.0, max(1e-6, _sig(effective / factor)))
        if r.mode == "frozen" or math.isclose(own, r.own_lr, rel_tol=1e-9):
            return
        self._write({name: dataclasses.replace(self._plan_of(r), lr_scale=own)})

    def set_start_step(self, name: str, step: int) -> None:
        r = self.row(name)
        step = max(0, int(step))
        if r.mode == "frozen" or step == r.start_step:
            return
        self._write({name: dataclasses.replace(self._plan_of(r), start_step=step)})

    def apply_preset(self, preset: str, every: int | None = None) -> None:
        """Start over from a preset: its plan, full where it trains, no entries (a group's
        own rate multiplier other than 1 is kept)."""
        every = every or self._fc.gradual_every
        plans = preset_plans(self.groups, preset, every)
        entries = []
        for r in self._rows:
            base = plans.get(r.name, GroupPlan(r.name, "full"))
            if base.mode != "frozen" and not math.isclose(r.own_lr, 1.0):
                entries.append(dataclasses.replace(base, lr_scale=r.own_lr))
        self._remembered.clear()
        self._commit(dataclasses.replace(self._fc, preset=preset, gradual_every=every,
                                         default_mode="full", groups=tuple(entries)))

    def set_gradual_every(self, every: int) -> None:
        self._commit(dataclasses.replace(self._fc, gradual_every=max(1, int(every))))

    def set_discriminative(self, ratio: float) -> None:
        """Rates from ``ratio`` x lr (first group) to 1 x lr (last), geometric; the groups'
        own multipliers go back to 1. ``ratio`` 1 turns it off."""
        ratio = min(1.0, max(1e-6, _sig(ratio)))
        entries = []
        for gp in self._fc.groups:
            gp = dataclasses.replace(gp, lr_scale=1.0)
            if gp.name in self._by_name and _same(gp, self._base(gp.name)):
                continue
            entries.append(_tidy(gp))
        self._commit(dataclasses.replace(self._fc, lr_first_ratio=ratio, groups=tuple(entries)))

    def set_lora(self, rank: int | None = None, alpha: float | None = None,
                 dropout: float | None = None) -> None:
        values = {k: v for k, v in (("lora_rank", rank), ("lora_alpha", alpha),
                                    ("lora_dropout", dropout)) if v is not None}
        self._commit(dataclasses.replace(self._fc, **values))

    def set_unfreeze_warmup(self, steps: int) -> None:
        self._commit(dataclasses.replace(self._fc, unfreeze_warmup_steps=max(0, int(steps))))

    def remove_unknown(self) -> None:
        self._commit(dataclasses.replace(self._fc, groups=tuple(
            gp for gp in self._fc.groups if gp.name in self._by_name)))

    def set_config(self, fc: FreezeConfig) -> None:
        """Replace the whole plan (e.g. the project's config changed)."""
        self._commit(fc)

    def detach(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    # -- internals -----------------------------------------------------------------------------
    def _factor(self, index: int) -> float:
        return discriminative_factor(index, len(self.groups), self._fc.lr_first_ratio)

    def _presets(self) -> dict[str, GroupPlan]:
        return preset_plans(self.groups, self._fc.preset, self._fc.gradual_every)

    def _base(self, name: str, presets: dict[str, GroupPlan] | None = None) -> GroupPlan:
        presets = self._presets() if presets is None else presets
        return presets.get(name, GroupPlan(name, self._fc.default_mode))

    def _plan_of(self, r: GroupRow) -> GroupPlan:
        return GroupPlan(r.name, r.mode, r.own_lr, r.start_step)

    def _thawed(self, name: str) -> GroupPlan:
        """The plan of a frozen group when it is ticked again: as it was before it was
        frozen here, else as the preset would train it, else full from step 0 (LoRA only
        where the group has layers for it)."""
        if name in self._remembered:
            plan = self._remembered[name]
        else:
            plan = self._base(name)
            if plan.mode == "frozen":
                mode = self._fc.default_mode if self._fc.default_mode != "frozen" else "full"
                plan = GroupPlan(name, mode)
        if plan.mode == "lora" and not self.row(name).info.lora_possible:
            plan = dataclasses.replace(plan, mode="full")
        return plan

    def _resolve(self) -> list[GroupRow]:
        presets = self._presets()
        entries = {gp.name: gp for gp in self._fc.groups}
        rows = []
        for i, g in enumerate(self.groups):
            gp = entries.get(g.name) or self._base(g.name, presets)
            rows.append(GroupRow(g, i, gp.mode, gp.lr_scale, gp.lr_scale * self._factor(i),
                                 gp.start_step, g.name in entries))
        return rows

    def _write(self, changes: dict[str, GroupPlan], fc: FreezeConfig | None = None) -> None:
        """Apply per-group plans to ``fc`` (default: the current config): each edited entry
        is replaced in place, dropped when the preset already gives that plan, or inserted
        in tree order."""
        fc = self._fc if fc is None else fc
        presets = preset_plans(self.groups, fc.preset, fc.gradual_every)
        for name, plan in changes.items():
            r = self.row(name)
            if plan.mode == "frozen" and r.mode != "frozen":
                self._remembered[name] = self._plan_of(r)
            elif plan.mode != "frozen":
                self._remembered.pop(name, None)
        entries = list(fc.groups)
        for name, plan in changes.items():
            plan = _tidy(plan)
            keep = not _same(plan, presets.get(name, GroupPlan(name, fc.default_mode)))
            at = next((k for k, gp in enumerate(entries) if gp.name == name), None)
            if at is not None:
                if keep:
                    entries[at] = plan
                else:
                    del entries[at]
            elif keep:
                order = self._by_name[name]
                pos = next((k for k, gp in enumerate(entries)
                            if self._by_name.get(gp.name, -1) > order), len(entries))
                entries.insert(pos, plan)
        if fc.default_mode != self._fc.default_mode:
            # a new default can make earlier entries say what it now says: drop those
            entries = [gp for gp in entries
                       if not _same(_tidy(gp), presets.get(gp.name,
                                                           GroupPlan(gp.name, fc.default_mode)))]
        self._commit(dataclasses.replace(fc, groups=tuple(entries)))

    def _commit(self, fc: FreezeConfig) -> None:
        if fc == self._fc:
            return
        self._fc = fc
        self._rows = self._resolve()
        if self.project is not None and self.project.config.freeze != fc:
            self.project.replace_section("freeze", **{f.name: getattr(fc, f.name)
                                                      for f in dataclasses.fields(fc)})
        self.changed("plan")

    def _on_project(self, what: str) -> None:
        fc = self.project.config.freeze
        if fc != self._fc:
            self._fc = fc
            self._remembered.clear()
            self._rows = self._resolve()
            self.changed("plan")
