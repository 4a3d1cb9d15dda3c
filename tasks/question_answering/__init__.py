"""Extractive question answering: answer spans from a context, or "no answer" (SQuAD 1.1 / 2.0)."""

from tasks.question_answering.task import QuestionAnswerer, train_question_answerer

__all__ = ["QuestionAnswerer", "train_question_answerer"]
