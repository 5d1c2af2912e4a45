"""Every case of tests/reliability/bad_inputs.py (docs/bad-inputs.md) ends in one clear error (or, for a valid
or handled input, the line that says so), never a traceback; and the document is what the cases print today."""

import pytest

from tests.reliability.bad_inputs import CASES, DOC, render, run_case

_outcomes: dict = {}


def outcome(case):
    """Each case runs once per session: its test and the document's check share the result."""
    if case.what not in _outcomes:
        _outcomes[case.what] = run_case(case)
    return _outcomes[case.what]


def test_case_names_are_unique():
    assert len({case.what for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.what)
def test_bad_input_gets_one_clear_error(case):
    result = outcome(case)
    assert result.code == case.code, result.output
    assert case.expected in result.output, result.output
    assert "Traceback" not in result.output


def test_the_document_is_what_the_cases_print():
    regenerated = render([outcome(case) for case in CASES])
    assert DOC.read_text() == regenerated, ("docs/bad-inputs.md is stale: run "
                                            "`python -m tests.reliability.bad_inputs --out docs/bad-inputs.md`")
