"""Validate quiz data: every question has exactly one correct answer and every answer explains."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

QUIZ_DIR = Path(__file__).resolve().parents[2] / "docs" / "assets" / "quizzes"


def problems(path: Path) -> list[str]:
    """Everything wrong with one quiz file, each message naming the file and the question."""
    where = path.name
    try:
        quiz: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        return [f"{where}: not readable JSON ({err})"]
    found: list[str] = []
    if not isinstance(quiz, dict) or quiz.get("name") != path.stem:
        found.append(f"{where}: 'name' must equal the file name without .json ({path.stem!r})")
        if not isinstance(quiz, dict):
            return found
    questions = quiz.get("questions")
    if not isinstance(questions, list) or not questions:
        return [*found, f"{where}: 'questions' must be a non-empty list"]
    seen: set[str] = set()
    for number, question in enumerate(questions, start=1):
        qid = question.get("id") if isinstance(question, dict) else None
        label = f"{where}: question {number} ({qid!r})"
        if not isinstance(qid, str) or not qid or qid in seen:
            found.append(f"{label}: 'id' must be a unique non-empty string")
        seen.add(str(qid))
        if not isinstance(question, dict) or not str(question.get("question", "")).strip():
            found.append(f"{label}: 'question' text is missing")
            continue
        answers = question.get("answers")
        if not isinstance(answers, list) or len(answers) < 2:
            found.append(f"{label}: needs at least two answers")
            continue
        correct = [a for a in answers if isinstance(a, dict) and a.get("correct") is True]
        if len(correct) != 1:
            found.append(
                f"{label}: has {len(correct)} correct answers; exactly one must be correct"
            )
        for index, answer in enumerate(answers, start=1):
            if not isinstance(answer, dict) or not str(answer.get("text", "")).strip():
                found.append(f"{label}: answer {index} has no 'text'")
            elif not str(answer.get("explanation", "")).strip():
                found.append(f"{label}: answer {index} has no 'explanation'")
            elif not isinstance(answer.get("correct"), bool):
                found.append(f"{label}: answer {index} needs 'correct': true or false")
    return found
