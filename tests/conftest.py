"""Shared test configuration: Hypothesis profiles.

``ci`` (the default) is sized so that the property tests run in well under a minute on the
2-core CI machine; ``long`` is for hunting bugs locally (``HYPOTHESIS_PROFILE=long pytest
tests/test_cql_properties.py``). Deadlines are off in both: the first examples pay for
Lark's grammar build and CI machines stall now and then, which says nothing about the
code under test.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "long",
    max_examples=5_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
