"""Root test configuration: Hypothesis profiles shared by every layer."""

import os

from hypothesis import HealthCheck, settings

# "ci" is bounded so `make test` stays within its time budget on a 2-core box; "thorough" is for
# hunting (HYPOTHESIS_PROFILE=thorough). Deadlines are off: timing belongs in bench/, not in tests.
settings.register_profile("ci", max_examples=100, deadline=None, print_blob=True)
settings.register_profile("dev", max_examples=50, deadline=None)
settings.register_profile(
    "thorough", max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
