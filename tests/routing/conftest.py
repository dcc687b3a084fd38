from __future__ import annotations

import pytest

from tests.routing.floor import Floor


@pytest.fixture
def floor() -> Floor:
    return Floor()
