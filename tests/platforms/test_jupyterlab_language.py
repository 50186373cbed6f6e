"""JupyterLab in Chinese: the `lab` extra brings the zh-CN language pack, JupyterLab's server lists it, and
README.zh.md's instructions name what JupyterLab shows and reads (the menu entry, the settings key)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SETTINGS = Path(sys.prefix, "share", "jupyter", "lab", "schemas", "@jupyterlab", "translation-extension")


def test_the_language_pack_is_installed_and_jupyterlab_offers_it():
    translation = pytest.importorskip("jupyterlab_server.translation_utils")
    packs, _ = translation.get_language_packs("zh_CN")
    assert "zh_CN" in packs, "pip install -e '.[lab]' installs jupyterlab-language-pack-zh-CN"
    readme = (REPO / "README.zh.md").read_text()
    assert packs["zh_CN"]["nativeName"] in readme, "README.zh.md names the menu entry as JupyterLab shows it"


def test_the_readme_sets_the_key_jupyterlab_reads():
    schema = json.loads((SETTINGS / "plugin.json").read_text())
    assert "locale" in schema["properties"]
    readme = (REPO / "README.zh.md").read_text()
    setting = re.search(r"`(\{\"locale\": \"zh_CN\"\})`", readme)
    assert setting and json.loads(setting.group(1)) == {"locale": "zh_CN"}
    assert "@jupyterlab/translation-extension/plugin.jupyterlab-settings" in readme
    classroom = (REPO / "docs" / "classroom.md").read_text()
    assert '{"@jupyterlab/translation-extension:plugin": {"locale": "zh_CN"}}' in classroom
