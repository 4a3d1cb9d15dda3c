"""Token windows over long contexts, and answer spans mapped between characters and tokens.

KerasHub's tokenizers return ids but no character offsets, which extractive question answering needs
(an answer is a character span of the context). `span_tokenizer` gives each preset's kind its offsets:
- WordPiece (BERT, DistilBERT, MiniLM, ELECTRA; learned vocabularies): `SpanTokenizer` splits the text
  into words and punctuation itself, keeping where each word is, and lets the KerasHub tokenizer (the
  preset's own vocabulary and case rules) split each word into pieces; a piece's span is its part of
  the word where the pieces spell the word, else the whole word.
- Byte-level BPE (RoBERTa): `BytePairSpans`, Hugging Face `tokenizers` built on the preset's vocabulary
  and merges, which reports each token's offsets.
- SentencePiece (ALBERT, DeBERTa-v3, XLM-RoBERTa): `SentencePieceSpans`, the `sentencepiece` library on
  the preset's model, which reports each piece's byte offsets.

A context longer than the model's `max_length` is read through overlapping windows
`[CLS] question [SEP] context part [SEP]`, `doc_stride` context tokens apart (BERT's run_squad
layout). An answer is labelled in each window that holds all of it; other windows point at [CLS]
("no answer here"). An unanswerable SQuAD 2.0 question's window holding its plausible answer may also come
a second time, labelled with that span (the span head then learns from every question what it is about:
Hu et al.'s Read + Verify, 2018; [CLS] still learns "no answer" from the first copy). At
prediction the best span over all windows of a question wins.
"""

import collections
import unicodedata

import numpy as np
import regex

from toolkit.errors import ToolkitError

# BERT's basic tokenizer: ASCII punctuation, Unicode punctuation and CJK ideographs are words of their own.
_PUNCTUATION = r"!-/:-@\[-`{-~\p{P}"
_CJK = r"\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}"
_WORD = regex.compile(rf"[{_PUNCTUATION}]|[{_CJK}]|[^\s{_PUNCTUATION}{_CJK}]+")
CHUNK = 256  # texts tokenised per call of the KerasHub tokenizer

Window = collections.namedtuple(
    "Window", ["example", "token_ids", "segment_ids", "context_offset", "token_starts", "token_ends", "start", "end"]
)


def special_ids(tokenizer, vocabulary):
    """{"cls", "sep", "pad"} ids of a KerasHub tokenizer: its cls / sep tokens (BERT, ALBERT), else its
    start / end tokens (RoBERTa's <s> and </s>), else "[CLS]" / "[SEP]" / "[PAD]" in `vocabulary`."""
    found = {}
    for name, attributes, token in (
        ("cls", ("cls_token_id", "start_token_id"), "[CLS]"),
        ("sep", ("sep_token_id", "end_token_id"), "[SEP]"),
        ("pad", ("pad_token_id",), "[PAD]"),
    ):
        ids = [getattr(tokenizer, a, None) for a in attributes]
        ids = [i for i in ids if i is not None]
        if ids:
            found[name] = int(ids[0])
        elif token in vocabulary:
            found[name] = int(tokenizer.token_to_id(token))
        else:
            raise ToolkitError(
                f"The tokenizer has no {name} token (no {' or '.join(attributes)}, no {token} in its vocabulary).",
                expected="a preset tokenizer with classification, separator and padding tokens (BERT's [CLS], "
                "[SEP], [PAD]; RoBERTa's <s>, </s>, <pad>)",
                fix="use a BERT-, RoBERTa- or ALBERT-family preset, or a from-scratch backbone",
            )
    return found


def span_tokenizer(tokenizer):
    """The span tokenizer for a KerasHub tokenizer (see the module's docstring), or a clear error.

    Returns:
        (span tokenizer, state): `state` is what `from_state` rebuilds it from (kept with a run).
    """
    import keras_hub

    if isinstance(tokenizer, keras_hub.tokenizers.WordPieceTokenizer):
        vocabulary = list(tokenizer.get_vocabulary())
        state = {"kind": "wordpiece", "vocabulary": vocabulary, "lowercase": bool(tokenizer.lowercase),
                 "strip_accents": bool(tokenizer.strip_accents)}  # fmt: skip
    elif isinstance(tokenizer, keras_hub.tokenizers.BytePairTokenizer):
        vocabulary = dict(tokenizer.vocabulary)
        state = {"kind": "bpe", "vocabulary": vocabulary, "merges": list(tokenizer.merges)}
    elif isinstance(tokenizer, keras_hub.tokenizers.SentencePieceTokenizer):
        import base64

        vocabulary = list(tokenizer.get_vocabulary())
        state = {"kind": "sentencepiece", "proto": base64.b64encode(bytes(tokenizer.proto)).decode("ascii")}
    else:
        raise ToolkitError(
            f"The preset's tokenizer is a {type(tokenizer).__name__}.",
            expected="a WordPiece (BERT, DistilBERT, MiniLM, ELECTRA), byte-level BPE (RoBERTa) or SentencePiece "
            "(ALBERT, DeBERTa-v3) tokenizer: question answering maps answers to tokens through their offsets",
            fix="choose one of those presets, or a from-scratch backbone ('transformer', 'bilstm')",
        )
    state["specials"] = special_ids(tokenizer, vocabulary)
    return from_state(state), state


def from_state(state):
    """The span tokenizer `span_tokenizer` described by `state`."""
    kind = state["kind"]
    if kind == "wordpiece":
        import keras_hub

        tokenizer = keras_hub.tokenizers.WordPieceTokenizer(
            state["vocabulary"], lowercase=state["lowercase"], strip_accents=state["strip_accents"]
        )
        return SpanTokenizer(tokenizer, state.get("specials"))
    if kind == "bpe":
        return BytePairSpans(state["vocabulary"], state["merges"], state["specials"])
    if kind == "sentencepiece":
        import base64

        return SentencePieceSpans(base64.b64decode(state["proto"]), state["specials"])
    raise ValueError(f"unknown span tokenizer kind {kind!r}")


class BytePairSpans:
    """Text -> byte-level BPE ids with each token's character span (RoBERTa's tokenizer), through Hugging
    Face `tokenizers`, which tracks offsets through its byte-level pre-tokenizer (GPT-2's word split).

    Examples:
        >>> pieces = ["<s>", "</s>", "<pad>", ".", "a", "e", "h", "m", "n", "o", "r", "s", "N", "T", "Ġ"]
        >>> merges = ["T h", "Th e", "Ġ N", "ĠN o", "ĠNo r", "ĠNor m", "ĠNorm a", "ĠNorma n", "ĠNorman s"]
        >>> pieces += [m.replace(" ", "") for m in merges]
        >>> tokens = BytePairSpans({p: i for i, p in enumerate(pieces)}, merges, {"cls": 0, "sep": 1, "pad": 2})
        >>> ids, starts, ends = tokens(["The Normans."])[0]
        >>> [pieces[i] for i in ids], starts.tolist(), ends.tolist()
        (['The', 'ĠNormans', '.'], [0, 4, 11], [3, 11, 12])
    """

    def __init__(self, vocabulary, merges, specials):
        import tokenizers
        from tokenizers import models, pre_tokenizers, processors

        pairs = [tuple(m.split(" ")) for m in merges if not m.lstrip().startswith("#version")]
        self.tokenizer = tokenizers.Tokenizer(models.BPE(vocab=dict(vocabulary), merges=pairs))
        self.tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        # Offsets without the leading space a token like "ĠNormans" carries.
        self.tokenizer.post_processor = processors.ByteLevel(trim_offsets=True)
        self.cls, self.sep, self.pad = specials["cls"], specials["sep"], specials["pad"]

    def __call__(self, texts):
        """[(ids, starts, ends)] per text, as `SpanTokenizer` gives them."""
        results = []
        for first in range(0, len(texts), CHUNK):
            for encoding in self.tokenizer.encode_batch(list(texts[first : first + CHUNK]), add_special_tokens=False):
                offsets = np.array(encoding.offsets, np.int32).reshape(-1, 2)
                results.append((np.array(encoding.ids, np.int32), offsets[:, 0], offsets[:, 1]))
        return results


class SentencePieceSpans:
    """Text -> SentencePiece ids with each piece's character span (ALBERT, DeBERTa-v3, XLM-RoBERTa), through
    the `sentencepiece` library, which reports each piece's byte offsets in the text."""

    def __init__(self, proto, specials):
        import sentencepiece

        self.processor = sentencepiece.SentencePieceProcessor(model_proto=bytes(proto))
        self.cls, self.sep, self.pad = specials["cls"], specials["sep"], specials["pad"]

    def __call__(self, texts):
        """[(ids, starts, ends)] per text, as `SpanTokenizer` gives them."""
        results = []
        for text in texts:
            encoded = self.processor.encode(text, return_type="proto")
            # Byte offsets -> character offsets; a piece's span leaves out the space it stands for ("▁").
            chars = np.zeros(len(text.encode("utf-8")) + 1, np.int32)
            at = 0
            for k, c in enumerate(text):
                width = len(c.encode("utf-8"))
                chars[at : at + width] = k
                at += width
            chars[at] = len(text)
            ids, starts, ends = [], [], []
            for piece in encoded.pieces:
                start, end = int(chars[piece.begin]), int(chars[piece.end])
                while start < end and text[start].isspace():
                    start += 1
                ids.append(piece.id)
                starts.append(start)
                ends.append(end)
            results.append((np.array(ids, np.int32), np.array(starts, np.int32), np.array(ends, np.int32)))
        return results


class SpanTokenizer:
    """Text -> WordPiece ids with each token's character span.

    Args:
        tokenizer: a `keras_hub.tokenizers.WordPieceTokenizer` (BERT, DistilBERT, MiniLM, ELECTRA presets, or
            one built on a learned vocabulary).
        specials: {"cls", "sep", "pad"} ids (`special_ids`); None: "[CLS]", "[SEP]", "[PAD]".

    Examples:
        >>> import keras_hub
        >>> vocabulary = ["[PAD]", "[CLS]", "[SEP]", "[UNK]", "the", "norman", "##s", "came", "."]
        >>> tokens = SpanTokenizer(keras_hub.tokenizers.WordPieceTokenizer(vocabulary, lowercase=True))
        >>> ids, starts, ends = tokens(["The Normans came."])[0]
        >>> ids.tolist(), starts.tolist(), ends.tolist()
        ([4, 5, 6, 7, 8], [0, 4, 10, 12, 16], [3, 10, 11, 16, 17])
    """

    def __init__(self, tokenizer, specials=None):
        self.tokenizer = tokenizer
        self.vocabulary = tokenizer.get_vocabulary()
        self.suffix = tokenizer.suffix_indicator
        self.unknown = tokenizer.token_to_id(tokenizer.oov_token)
        specials = specials or special_ids(tokenizer, self.vocabulary)
        self.cls, self.sep, self.pad = specials["cls"], specials["sep"], specials["pad"]

    def _normal(self, word):
        if self.tokenizer.lowercase:
            word = word.lower()
        if self.tokenizer.strip_accents:
            word = "".join(c for c in unicodedata.normalize("NFD", word) if unicodedata.category(c) != "Mn")
        return word

    def __call__(self, texts):
        """[(ids, starts, ends)] per text: int32 arrays, one entry a token; [starts, ends) in characters."""
        results = []
        for first in range(0, len(texts), CHUNK):
            chunk = texts[first : first + CHUNK]
            spans = [[(m.start(), m.end()) for m in _WORD.finditer(text)] for text in chunk]
            words = [text[s:e] for text, text_spans in zip(chunk, spans) for s, e in text_spans]
            pieces = self.tokenizer(words) if words else []
            pieces = pieces.to_list() if hasattr(pieces, "to_list") else pieces
            pieces = [np.asarray(p).tolist() for p in pieces]
            k = 0
            for text, text_spans in zip(chunk, spans):
                ids, starts, ends = [], [], []
                for s, e in text_spans:
                    word_ids = pieces[k] or [self.unknown]
                    k += 1
                    ids.extend(word_ids)
                    for ps, pe in self._piece_spans(text[s:e], word_ids):
                        starts.append(s + ps)
                        ends.append(s + pe)
                results.append((np.array(ids, np.int32), np.array(starts, np.int32), np.array(ends, np.int32)))
        return results

    def _piece_spans(self, word, ids):
        strings = [self.vocabulary[i] for i in ids]
        strings = [s[len(self.suffix) :] if i and s.startswith(self.suffix) else s for i, s in enumerate(strings)]
        normal = self._normal(word)
        if len(ids) > 1 and len(normal) == len(word) and "".join(strings) == normal:
            spans, at = [], 0
            for s in strings:
                spans.append((at, at + len(s)))
                at += len(s)
            return spans
        return [(0, len(word))] * len(ids)


def answer_tokens(starts, ends, char_start, char_end):
    """(first token, last token) of the context tokens covering characters [char_start, char_end), or None.

    Examples:
        >>> answer_tokens(np.array([0, 4, 10]), np.array([3, 10, 11]), 4, 11)
        (1, 2)
    """
    inside = np.nonzero((ends > char_start) & (starts < char_end))[0]
    if len(inside) == 0:
        return None
    return int(inside[0]), int(inside[-1])


def check_question_length(tokens, max_length, question_id):
    """The room a window has for context after a question of `tokens` tokens; an error when there is none.

    Examples:
        >>> check_question_length(10, 64, "q1")
        51
    """
    room = max_length - tokens - 3
    if room < 1:
        raise ToolkitError(
            f"Question {question_id!r} has {tokens} tokens, which leave no room for context in a "
            f"window of max_length={max_length}.",
            expected=f"questions of fewer than {max_length - 3} tokens",
            fix="shorten the question, or pass a larger max_length",
        )
    return room


def windows(example, question_ids, context, tokenizer, max_length, doc_stride, answer=None, question_id=None):
    """The windows of one question over its context.

    Args:
        example: the question's index (kept in each window).
        question_ids: the question's token ids.
        context: (ids, starts, ends) of the context.
        tokenizer: the `SpanTokenizer` (its [CLS], [SEP]).
        max_length: tokens a window holds.
        doc_stride: context tokens between the starts of consecutive windows.
        answer: (first token, last token) of the answer in the context, or None (no answer).
        question_id: named in the error when the question leaves no room for context.

    Returns:
        A list of `Window`s; `start` / `end` are the answer's positions in the window, 0 ([CLS]) when
        the window does not hold all of it.

    Examples:
        >>> tokens = collections.namedtuple("T", "cls sep")(1, 2)
        >>> context = (np.arange(10, 20), np.arange(10), np.arange(1, 11))
        >>> ws = windows(0, [5, 6], context, tokens, max_length=9, doc_stride=2, answer=(3, 4))
        >>> [(w.token_ids.tolist(), w.start, w.end) for w in ws]  # doctest: +NORMALIZE_WHITESPACE
        [([1, 5, 6, 2, 10, 11, 12, 13, 2], 0, 0), ([1, 5, 6, 2, 12, 13, 14, 15, 2], 5, 6),
         ([1, 5, 6, 2, 14, 15, 16, 17, 2], 0, 0), ([1, 5, 6, 2, 16, 17, 18, 19, 2], 0, 0)]
    """
    ids, starts, ends = context
    room = check_question_length(len(question_ids), max_length, question_id)
    head = [tokenizer.cls, *question_ids, tokenizer.sep]
    offset = len(head)
    step = max(1, min(doc_stride, room))
    result, first = [], 0
    while True:
        length = min(room, len(ids) - first)
        token_ids = np.array([*head, *ids[first : first + length], tokenizer.sep], np.int32)
        segment_ids = np.array([0] * offset + [1] * (length + 1), np.int32)
        start = end = 0
        if answer is not None and first <= answer[0] and answer[1] < first + length:
            start, end = offset + answer[0] - first, offset + answer[1] - first
        result.append(
            Window(example, token_ids, segment_ids, offset, starts[first : first + length],
                   ends[first : first + length], start, end)
        )  # fmt: skip
        if first + length >= len(ids):
            return result
        first += step


def question_windows(questions, tokenizer, max_length, doc_stride, first_index=0, labelled=True, plausible=False):
    """Windows of many questions (tokenised in chunks; a context shared by several is tokenised once).

    `plausible` (the task's `plausible_answers`): an unanswerable question's windows that hold its plausible answer come twice, labelled
    [CLS] and labelled with that span (a half-and-half target).

    Returns:
        The `Window`s of every question, in question order (each names its question by index, from
        `first_index`).
    """
    unique = list(dict.fromkeys(q.context for q in questions))
    context_tokens = dict(zip(unique, tokenizer(unique)))
    question_tokens = tokenizer([q.question for q in questions])
    result = []
    for k, (q, (question_ids, _, _)) in enumerate(zip(questions, question_tokens)):
        context = context_tokens[q.context]
        answer = None
        if labelled and q.answers:
            answer = answer_tokens(context[1], context[2], q.starts[0], q.starts[0] + len(q.answers[0]))
        window_args = (first_index + k, question_ids.tolist(), context, tokenizer, max_length, doc_stride)
        result.extend(windows(*window_args, answer, q.id))
        if labelled and plausible and not q.answers and q.plausible:
            # Each window holding the plausible answer twice: once "no answer" ([CLS]), once the span, a
            # half-and-half target that trains the span head on every question and keeps [CLS] saying
            # "no answer" (the span alone left [CLS] unable to: has-answer F1 1.45 on a held-out article).
            text, start = q.plausible
            span = answer_tokens(context[1], context[2], start, start + len(text))
            result.extend(w for w in windows(*window_args, span, q.id) if w.start > 0)
    return result


def best_answers(questions, windows_, start_logits, end_logits, max_answer_length):
    """Per question, the best span over all its windows, and how much likelier "no answer" is.

    Args:
        questions: the questions (their contexts give the answer texts).
        windows_: their windows (each names its question by index into `questions`).
        start_logits, end_logits: the model's logits per window, (windows, window length).
        max_answer_length: longest answer in tokens.

    Returns:
        Per question a dict: "text", "start", "end" (characters), "score" (the span's probability within
        its window, start times end), "no_answer_score" (the least [CLS] score over the windows minus the
        best span's score: above the task's threshold means "no answer") and "no_answer_probability".
    """
    best = [None] * len(questions)
    null = [np.inf] * len(questions)
    null_probability = [0.0] * len(questions)
    for w, s, e in zip(windows_, start_logits, end_logits):
        n = len(w.token_starts)
        s_context = s[w.context_offset : w.context_offset + n]
        e_context = e[w.context_offset : w.context_offset + n]
        scores = s_context[:, None] + e_context[None, :]
        band = np.triu(np.ones((n, n), bool)) & ~np.triu(np.ones((n, n), bool), max_answer_length)
        scores = np.where(band, scores, -np.inf)
        i, j = np.unravel_index(np.argmax(scores), scores.shape)
        window_null = float(s[0] + e[0])
        p_start, p_end = _softmax(s[: len(w.token_ids)]), _softmax(e[: len(w.token_ids)])
        if window_null < null[w.example]:
            null[w.example] = window_null
            null_probability[w.example] = float(p_start[0] * p_end[0])
        if np.isfinite(scores[i, j]) and (best[w.example] is None or scores[i, j] > best[w.example][0]):
            probability = float(p_start[w.context_offset + i] * p_end[w.context_offset + j])
            best[w.example] = (float(scores[i, j]), int(w.token_starts[i]), int(w.token_ends[j]), probability)
    answers = []
    for q, found, null_score, null_p in zip(questions, best, null, null_probability):
        score, start, end, probability = found if found is not None else (-np.inf, 0, 0, 0.0)
        answers.append(
            {
                "text": q.context[start:end],
                "start": start,
                "end": end,
                "score": probability,
                "no_answer_score": float(null_score - score) if found is not None else float("inf"),
                "no_answer_probability": null_p,
            }
        )
    return answers


def _softmax(x):
    x = np.asarray(x, np.float64)
    x = np.exp(x - x.max())
    return x / x.sum()
