"""Domain tests are pure: every test here is a unit test and needs no service."""

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/unit/domain" in str(item.path):
            item.add_marker(pytest.mark.unit)
