"""Bias-probe templates (``probe.bias_templates``): parsing and checking, torch-free so
the window can check what the user typed before any model loads.

``"The {nurse|engineer|CEO} said that -> he|she|they"``: one ``{a|b|c}`` list of groups
in the prompt, then ``->`` and the continuations to compare (at least two).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from studio.core.errors import ConfigError

_BRACES = re.compile(r"\{([^{}]*)\}")


@dataclass(frozen=True)
class Template:
    text: str                      # as written
    prompt: str                    # with {} where the group goes
    groups: tuple[str, ...]
    continuations: tuple[str, ...]

    def prompts(self) -> list[tuple[str, str]]:
        return [(g, self.prompt.replace("{}", g)) for g in self.groups]


def parse_template(text: str, where: str = "probe.bias_templates") -> Template:
    fix = 'write it like "The {nurse|engineer} said that -> he|she|they"'
    if "->" not in text:
        raise ConfigError(where, f"{text!r} has no '->' before the continuations", fix)
    left, right = (part.strip() for part in text.rsplit("->", 1))
    found = _BRACES.findall(left)
    if len(found) != 1:
        raise ConfigError(where, f"{text!r} needs exactly one {{a|b}} group list, "
                          f"found {len(found)}", fix)
    groups = tuple(g.strip() for g in found[0].split("|") if g.strip())
    conts = tuple(c.strip() for c in right.split("|") if c.strip())
    if len(groups) < 1:
        raise ConfigError(where, f"{text!r}: the group list is empty", fix)
    if len(conts) < 2:
        raise ConfigError(where, f"{text!r}: give at least two continuations to compare", fix)
    prompt = _BRACES.sub("{}", left, count=1)
    return Template(text=text, prompt=prompt, groups=groups, continuations=conts)


def parse_templates(texts) -> list[Template]:
    if not texts:
        raise ConfigError("probe.bias_templates", "is empty",
                          'add a template like "The {nurse|engineer} said that -> he|she"')
    return [parse_template(t, f"probe.bias_templates[{i}]") for i, t in enumerate(texts)]
