"""How question answering chooses its encoder: backbone="auto" (pretrained for the user's data, from scratch
for the built-in set), a Hugging Face checkpoint's span head, and the learning rate and epochs each needs."""

import math
import warnings

from tasks.question_answering import data as qa_data
from toolkit import hf_checkpoints

# backbone="auto" on the user's data: the encoder measured on real SQuAD 2.0 questions (five folds of
# articles: F1 50.71 +- 3.68 beside always answering nothing 49.91).
PRETRAINED_DEFAULT = "hf://sentence-transformers/all-MiniLM-L6-v2"
PRETRAINED_STEPS = 800  # optimizer steps epochs=None aims at when fine-tuning a pretrained encoder


class AutoBackbone:
    """Mixed into `QuestionAnswerer`: resolves backbone="auto" (kept as `backbone_`) and the budget it sets."""

    def _chosen_backbone(self):
        if isinstance(self.backbone, str) and self.backbone == "auto":
            return getattr(self, "backbone_", None) or "auto"
        return self.backbone

    def _span_head_given(self):
        """True when the backbone is a Hugging Face question-answering checkpoint (its span head is reused)."""
        backbone = self._chosen_backbone()
        return (
            self._uses_preset()
            and hf_checkpoints.is_hf_folder(backbone)
            and hf_checkpoints.span_head(backbone) is not None
        )

    def _choose_backbone(self, data):
        """Resolves backbone="auto" (kept as `backbone_`): the from-scratch transformer for the built-in set,
        the pretrained MiniLM for the user's data. A from-scratch encoder on the user's data is said to be
        a poor choice before any training starts, not after it."""
        auto = isinstance(self.backbone, str) and self.backbone == "auto"
        built_in = isinstance(data, str) and data == qa_data.DEFAULT_DATA
        self.backbone_ = ("transformer" if built_in else PRETRAINED_DEFAULT) if auto else None
        if auto:
            why = "the built-in set" if built_in else "pretrained, downloaded on first use; backbone= to choose"
            self.say(f"Backbone: {self.backbone_} ({why}).")
        elif not built_in and self._chosen_backbone() in self.accepted_backbones():
            warnings.warn(
                f"backbone={self._chosen_backbone()!r} trains an encoder from scratch. On real questions (a few thousand "
                "SQuAD 2.0 questions) that measured no better than always answering "
                "nothing; it learns the built-in generated set. For real data pass a pretrained encoder "
                f"(backbone='auto' downloads {PRETRAINED_DEFAULT}; or a local preset or Hugging Face folder).",
                stacklevel=4,
            )

    def _default_learning_rate(self):
        # Measured on MiniLM and 1,000 SQuAD 2.0 questions: 5e-5 (BERT-base's rate)
        # left it answering nothing after 3 epochs; 1.5e-4 with the cosine schedule learned spans.
        return 1.5e-4 if self._pretrained_backbone() else 1e-3

    def _default_epochs(self, train_examples):
        """For a pretrained encoder about `PRETRAINED_STEPS` optimizer steps, 2 to 10 epochs: 2 on a large set
        (BERT's SQuAD recipe), 10 on a thousand questions, where 4 epochs left the spans half learned
        (has-answer F1 on all-answered test questions 43 after 10 epochs)."""
        if not self._pretrained_backbone():
            return super()._default_epochs(train_examples)
        steps = math.ceil(train_examples / self._global_batch_size()) if train_examples else PRETRAINED_STEPS
        return min(10, max(2, math.ceil(PRETRAINED_STEPS / steps)))
