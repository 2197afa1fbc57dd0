"""Ticket and article text as hashed features for KB clustering.

Text representation (chosen by measurement: ``python -m bench.kb_quality``)
----------------------------------------------------------------------------
Lower-cased, accents stripped; tokens are runs of letters/digits. Dropped: English stop
words (scikit-learn's list) plus helpdesk boilerplate (``DOMAIN_STOP_WORDS``), one-letter
tokens and tokens of 4+ characters holding a digit (order numbers, invoice ids, dates,
amounts vary per ticket and say nothing about the problem; ``401`` or ``2fa`` stay), and
redaction's masks (``[email]``, ``[phone]``, ...: a word shared by every ticket that had an
address would pull unrelated tickets together).
Features are character 4-grams within words (scikit-learn's ``char_wb`` analyzer: words
padded with spaces, shorter words count whole), hashed with scikit-learn's
``murmurhash3_32`` into ``N_FEATURES`` buckets exactly as its stateless
``HashingVectorizer`` does: robust to typos and inflections, no vocabulary, nothing to
download. 4-grams scored as well as 3-5-grams on the labelled sets at half the cost.
Weights are sublinear tf x idf, ``idf = ln((1 + N) / (1 + df)) + 1`` over the tenant's own
resolved tickets so far (this one included), L2-normalised. A ticket's vector is frozen
when it arrives; the idf sharpens as the tenant's history grows. Articles keep their raw
term frequencies and are re-weighted with the current idf whenever the ticket count
reaches a power of two.
"""

from __future__ import annotations

import re

import numpy as np
import numpy.typing as npt
from sklearn.feature_extraction.text import (
    ENGLISH_STOP_WORDS,
    HashingVectorizer,
    strip_accents_unicode,
)
from sklearn.utils import murmurhash3_32

from schemas.events import REDACTION_MASKS

N_FEATURES = 1 << 17  # hashed feature space: one tenant's 4-grams, few collisions
NGRAM_RANGE = (4, 4)
MAX_SUBJECT_CHARS = 300
MAX_DESCRIPTION_CHARS = 2_000
MAX_RESOLUTION_CHARS = 1_000
MAX_TEXT_CHARS = MAX_SUBJECT_CHARS + MAX_DESCRIPTION_CHARS + MAX_RESOLUTION_CHARS + 2
MAX_ARTICLE_CHARS = 3_000

Ids = npt.NDArray[np.int32]
F64 = npt.NDArray[np.float64]

_TOKEN = re.compile(r"[^\W_]+")
# Helpdesk boilerplate: greetings and words every ticket may use, whatever the problem.
DOMAIN_STOP_WORDS = frozenset(
    {
        "hi", "hello", "dear", "thanks", "thank", "please", "regards", "kindly", "asap",
        "urgent", "ticket", "tickets", "customer", "customers", "client", "clients",
        "support", "agent", "agents", "help", "issue", "issues", "problem", "problems",
        "question", "request", "team",
    }
)  # fmt: skip
_STOP_WORDS = frozenset(ENGLISH_STOP_WORDS) | DOMAIN_STOP_WORDS


def _keep(token: str) -> bool:
    return len(token) > 1 and token not in _STOP_WORDS and (len(token) < 4 or token.isalpha())


def _unmasked(text: str) -> str:
    """``text`` without redaction's masks."""
    if "[" in text:
        for mask in REDACTION_MASKS.values():
            text = text.replace(mask, " ")
    return text


def normalise_text(text: str) -> str:
    """The token string n-grams are cut from (see the module docstring for the rules)."""
    low = strip_accents_unicode(_unmasked(text[:MAX_TEXT_CHARS]).lower())
    return " ".join(t for t in _TOKEN.findall(low) if _keep(t))


VECTORIZER = HashingVectorizer(
    analyzer="char_wb",
    ngram_range=NGRAM_RANGE,
    n_features=N_FEATURES,
    alternate_sign=False,
    norm=None,
    preprocessor=normalise_text,
    dtype=np.float64,
)


_ANALYZER = VECTORIZER.build_analyzer()


def term_counts(text: str) -> tuple[Ids, F64]:
    """Hashed n-gram counts of ``text``: sorted unique feature ids and their counts.

    The same numbers as ``VECTORIZER.transform([text])`` (sklearn's analyzer and its
    ``murmurhash3_32`` bucket, ``abs(h) % N_FEATURES``), without building a one-row
    sparse matrix per ticket, which costs more than the hashing itself.
    """
    grams = _ANALYZER(text)
    hashes = np.fromiter([murmurhash3_32(g, 0) for g in grams], dtype=np.int64, count=len(grams))
    idx, counts = np.unique(np.abs(hashes) % N_FEATURES, return_counts=True)
    return idx.astype(np.int32), counts.astype(np.float64)
