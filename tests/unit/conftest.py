"""Unit tests see the settings' defaults, whatever FRAUD_* variables the shell or other tests set.

FRAUD_REFERENCE_DATA stays: it only says where the reference dataset lies.
"""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _default_settings_environment(monkeypatch):
    for name in [name for name in os.environ if name.startswith("FRAUD_") and name != "FRAUD_REFERENCE_DATA"]:
        monkeypatch.delenv(name)
