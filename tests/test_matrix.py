"""The README's capability matrix is what this run observed (see capabilities.py)."""

import pytest
from capabilities import LAST_FIGURES, LAST_RUN, Matrix, difference, readme_matrix
from harness import restricted_to, servers


@pytest.mark.matrix_check
def test_readme_capability_matrix_is_what_the_tests_observed(
    request: pytest.FixtureRequest, capabilities: Matrix
) -> None:
    """Runs last (conftest orders it). A partial run cannot judge the whole table."""
    if restricted_to():
        pytest.skip(f"partial run: the family is restricted to ONLY_SERVERS={restricted_to()}")
    planned = {
        (item.callspec.params["server"], mark.args[0])
        for item in request.session.items
        for mark in item.iter_markers("capability")
        if hasattr(item, "callspec") and "server" in item.callspec.params
    }
    unplanned = [cell for cell in Matrix().missing(servers()) if cell not in planned]
    if unplanned:
        pytest.skip(f"partial run: {len(unplanned)} cells of the matrix have no test selected")
    missing = capabilities.missing(servers())
    assert not missing, f"not observed (did their tests fail?): {missing}"
    observed = capabilities.markdown(servers())
    LAST_RUN.write_text(observed)
    LAST_FIGURES.write_text(capabilities.figures_markdown(servers()))
    committed = readme_matrix()
    assert committed == observed, (
        "README.md's capability matrix differs from what this run observed; if the change is "
        f"intended, `python3 -m tools matrix` copies {LAST_RUN.name} in:\n" + difference(committed, observed)
    )
