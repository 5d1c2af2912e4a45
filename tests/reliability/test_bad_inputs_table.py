"""Every case of tests/reliability/bad_inputs.py (docs/bad-inputs.md) ends in one clear error, never a
traceback."""

import pytest

from tests.reliability.bad_inputs import CASES, attempt


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.what)
def test_bad_input_gets_one_clear_error(case, tmp_path):
    code, stderr = attempt(case, tmp_path)
    assert code == 2, stderr
    assert case.expected in stderr, stderr
    assert "Traceback" not in stderr
