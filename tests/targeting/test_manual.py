"""Every YAML example in rules/TARGETING.md is valid: the manual must not teach mistakes."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from adinject.language.schema import PromotionFile, RuleFile
from tests._support.paths import RULES

MANUAL = RULES / "TARGETING.md"
PLACE = [{"unit": "u", "after_paragraph": 1}]


def examples() -> list[str]:
    blocks = re.findall(r"```yaml\n(.*?)```", MANUAL.read_text(encoding="utf-8"), re.S)
    return [part for block in blocks for part in block.split("---\n")]


def as_model(data: dict[str, Any]) -> RuleFile | PromotionFile:
    if set(data) == {"promotions"}:
        return PromotionFile.model_validate(data)
    if set(data) == {"when"}:
        data = {
            "rules": [{"name": "r", "when": data["when"], "place": PLACE}],
            "units": {"u": {"html": "<p></p>"}},
        }
    return RuleFile.model_validate(data)


@pytest.mark.parametrize("text", examples())
def test_every_example_is_valid(text: str) -> None:
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    as_model(data)


def test_there_is_an_example_for_every_key() -> None:
    text = "\n".join(examples())
    for key in (
        "device:",
        "meta:",
        "exclude_meta:",
        "exclude_classes:",
        "words:",
        "schedule:",
        "start:",
        "end:",
        "weekdays:",
        "timezone:",
        "percent:",
        "experiment:",
        "referrer:",
        "domains:",
        "exclude_domains:",
        "query:",
        "variants:",
        "weight:",
        "gpt:",
        "ad_unit:",
        "sizes:",
        "lazy_load:",
        "targeting:",
        "prebid:",
        "bidder:",
        "params:",
        "promotions:",
        "file:",
        "count:",
        "sections:",
        "tags:",
        "bucket_header:",
        "gpt_library_url:",
        "prebid_timeout_ms:",
        "opt_out:",
        "classes:",
        "label:",
        "image:",
        "image_alt:",
        "text:",
        "fetch_margin_percent:",
        "render_margin_percent:",
        "mobile_scaling:",
        "fluid",
    ):
        assert key in text, f"no example uses {key}"
