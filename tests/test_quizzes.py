"""Quiz data is valid, every lesson page shows its quiz, and bad quiz data is caught by name."""

from pathlib import Path

import pytest

from tests.conftest import ROOT, SNIPPETS
from tests.harness.notebooks import page_for
from tests.harness.quizzes import QUIZ_DIR, problems

FIXTURES = ROOT / "tests" / "fixtures" / "quizzes"


@pytest.mark.parametrize("script", SNIPPETS, ids=lambda p: p.name)
def test_every_lesson_has_a_valid_quiz_on_its_page(script: Path) -> None:
    quiz = QUIZ_DIR / f"{script.stem}.json"
    assert quiz.is_file(), f"lesson without a quiz: add {quiz.relative_to(ROOT)}"
    assert problems(quiz) == []
    page = page_for(script).read_text(encoding="utf-8")
    assert f'data-src="../../assets/quizzes/{quiz.name}"' in page


def test_no_quiz_without_a_lesson() -> None:
    stems = {s.stem for s in SNIPPETS}
    assert {q.stem for q in QUIZ_DIR.glob("*.json")} <= stems


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("two_correct", "two_correct.json: question 1 ('q1'): has 2 correct answers"),
        ("none_correct", "none_correct.json: question 1 ('q1'): has 0 correct answers"),
        (
            "missing_explanation",
            "missing_explanation.json: question 2 ('q2'): answer 2 has no 'explanation'",
        ),
    ],
)
def test_bad_quiz_data_is_reported_with_file_and_question(name: str, message: str) -> None:
    found = problems(FIXTURES / f"{name}.json")
    assert any(message in p for p in found), found
