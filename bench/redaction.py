"""What redaction at ingest costs: µs per ticket text and per event.

Texts: the tickets of the KB labelled sets (real support wording, subject + description +
resolution, ~330 characters), as written (no personal data: the common case) and signed
with an e-mail address, phone, card or IBAN each (``bench.kb_quality.signature``); plus
a worst case, a 20,000-character text full of phone numbers. Events: simulated traffic
through ``redact_batch``, the ingest step (most events carry no text). Best of
``--repeat`` runs, single thread, in CPU time of this process (the machine may be shared).

    python -m bench.redaction
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import partial

from bench.kb_quality import DATA, SETS, TICKET_TEXT_FIELDS, personalised
from flows.ingest.redact import mask_text, redact_batch
from flows.kb.quality import LabelledTicket, load_eval_set
from infra.simulator import SimConfig, Simulator
from schemas.events import FREE_TEXT_FIELDS, parse_event
from schemas.transport import Accepted


def _best(fn: Callable[[], object], repeat: int) -> float:
    """CPU seconds of the fastest of ``repeat`` calls."""
    times = []
    for _ in range(repeat):
        started = time.process_time()
        fn()
        times.append(time.process_time() - started)
    return min(times)


def _texts(tickets: Sequence[LabelledTicket]) -> list[str]:
    return ["\n".join(getattr(t, f) for f in TICKET_TEXT_FIELDS) for t in tickets]


def _mask_all(texts: Sequence[str]) -> None:
    for text in texts:
        mask_text(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=50_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    tickets = [t for f in SETS.values() for t in load_eval_set(DATA / f).tickets]
    plain = _texts(tickets)
    signed = _texts(personalised(tickets, 1.0))
    changed = sum(mask_text(t) != t for t in signed)
    hostile = ["tel. 600 123 456, " * 1_100]
    print(f"{'texts':<44} {'n':>6} {'chars':>6} {'µs/text':>9}")
    for name, texts in (
        ("ticket texts as written (no personal data)", plain),
        (f"signed with personal data ({changed} masked)", signed),
        ("worst case: 20k chars of phone numbers", hostile),
    ):
        secs = _best(partial(_mask_all, texts), args.repeat)
        chars = sum(map(len, texts)) // len(texts)
        print(f"{name:<44} {len(texts):>6} {chars:>6} {secs / len(texts) * 1e6:>9.1f}")

    sim = Simulator(SimConfig(seed=3, start=datetime(2026, 3, 2, tzinfo=UTC)))
    events = []
    for i, doc in enumerate(sim.events()):
        if i >= args.events:
            break
        events.append(Accepted(parse_event(json.dumps(doc)), 0, i, doc_time(doc)))
    secs = _best(lambda: redact_batch(events), args.repeat)
    with_text = sum(1 for a in events if a.event.event_type in FREE_TEXT_FIELDS)
    print(
        f"\nsimulated events through redact_batch: {len(events)} "
        f"({with_text} with free text): {secs / len(events) * 1e6:.2f} µs/event"
    )


def doc_time(doc: dict[str, object]) -> datetime:
    return datetime.fromisoformat(str(doc["occurred_at"]))


if __name__ == "__main__":
    main()
