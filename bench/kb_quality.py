"""KB suggestions: precision/recall on the labelled sets, and throughput, in one run.

Quality: ``flows.kb.quality.evaluate`` on ``tests/data/kb_eval.jsonl`` and
``kb_eval_near.jsonl`` (near-topic distractors, EN/PL/DE; thresholds and confidence were
tuned on these two) and ``kb_eval_holdout.jsonl``, ``kb_eval_near_holdout.jsonl``
(different problems, held out: never tuned on), with a reliability table of the
suggestions' confidence,
for the fixed order the tests use and as mean/min over ``--orders`` seeded shuffles;
plus the held-out set replayed after ``--warmup`` simulator tickets, so the idf is that of
a tenant with history rather than a cold start.

Redaction: ``--redact on`` (the default, as ingest does with ``CXPULSE_REDACT_TEXT``)
masks the ticket texts (``flows.ingest.redact``) before they are clustered; ``off``
clusters them as written. The labelled sets hold no personal data, so
``--personal-data SHARE`` first signs that share of the tickets the way customers do,
with a distinct e-mail address, phone, card number or IBAN each (seeded): compare
``--redact off`` and ``on`` at the same share.

Throughput: ``--tickets`` synthetic resolved tickets (created + resolved events through
``TicketTexts`` and one tenant's ``KbClusters``) drawn from ``--problems`` generated
problems plus ``--noise`` one-off tickets, so the tenant reaches ``max_clusters`` live
clusters and evicts; ``--articles`` articles are interleaved. Event construction is
outside the timing.

    python -m bench.kb_quality --tickets 20000 --problems 300
    python -m bench.kb_quality --personal-data 0.5 --redact off
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import pickle
import random
import statistics
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path

from stdnum import iban, luhn

from flows.ingest.redact import mask_text
from flows.kb.clusters import KbClusters, KbConfig, TicketTexts
from flows.kb.quality import (
    EvalSet,
    KbQuality,
    LabelledArticle,
    LabelledTicket,
    article_event,
    build_events,
    evaluate,
    load_eval_set,
)
from flows.kb.text import normalise_text
from infra.simulator.vocabulary import BROWSERS, CATEGORIES, INTEGRATIONS, PLANS, PRODUCTS
from schemas.events import FREE_TEXT_FIELDS, Event
from schemas.kb import KbSuggestion

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
SETS = {
    "eval (tuned)": "kb_eval.jsonl",
    "near (tuned)": "kb_eval_near.jsonl",
    "holdout": "kb_eval_holdout.jsonl",
    "near holdout": "kb_eval_near_holdout.jsonl",
}
BINS = (0.0, 0.5, 0.8, 0.9, 0.95, 1.0001)  # confidence bins of the reliability table


# ---- personal data and redaction -------------------------------------------------------

Prepare = Callable[[Sequence[LabelledTicket]], list[LabelledTicket]]
# the ticket texts ingest masks (the labelled tickets name their fields as the events do)
TICKET_TEXT_FIELDS = (*FREE_TEXT_FIELDS["ticket.created"], *FREE_TEXT_FIELDS["ticket.resolved"])
_FIRST = ("anna", "jan", "piotr", "jürgen", "sabine", "john", "emma", "łukasz", "zofia")
_LAST = ("nowak", "kowalski", "müller", "schmidt", "smith", "jones", "wiśniewska", "weber")
_DOMAINS = ("example.pl", "mail.example.com", "example.de", "poczta.example.co.uk")


def _card(rng: random.Random) -> str:
    body = "4" + "".join(rng.choice("0123456789") for _ in range(14))
    digits = body + luhn.calc_check_digit(body)
    return " ".join(digits[i : i + 4] for i in range(0, 16, 4))


def _iban(rng: random.Random) -> str:
    bban = "".join(rng.choice("0123456789") for _ in range(24))
    compact = "PL" + iban.calc_check_digits("PL00" + bban) + bban
    return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))


def signature(rng: random.Random, i: int) -> str:
    """A sign-off with personal data, as customers write them (PL, DE, EN); no words
    about any problem, so only the personal data differs between the runs."""
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    email = f"{first}.{last}{i}@{rng.choice(_DOMAINS)}"
    mobile = f"{rng.randint(100, 999)} {rng.randint(100, 999)}"
    choices = [
        f"Pozdrawiam, {first.title()}. Tel. +48 60{rng.randint(0, 9)} {mobile}, {email}",
        f"Mit freundlichen Grüßen, {first.title()} {last.title()}, Tel. 0171 "
        f"{rng.randint(1_000_000, 9_999_999)}, {email}",
        f"Thanks, {first.title()} ({email}, +44 7911 {rng.randint(100_000, 999_999)})",
        f"{first.title()} {last.title()}, {_card(rng)} / {_iban(rng)}, {email}",
    ]
    return rng.choice(choices)


def personalised(tickets: Sequence[LabelledTicket], share: float) -> list[LabelledTicket]:
    """``share`` of the tickets (seeded by ticket id) signed with personal data."""
    out = []
    for i, t in enumerate(tickets):
        rng = random.Random(t.ticket_id)
        if rng.random() < share:
            t = dataclasses.replace(t, description=f"{t.description}\n{signature(rng, i)}")
        out.append(t)
    return out


def redacted(tickets: Sequence[LabelledTicket]) -> list[LabelledTicket]:
    """The tickets with their texts masked as ingest masks them."""
    return [
        dataclasses.replace(t, **{f: mask_text(getattr(t, f)) for f in TICKET_TEXT_FIELDS})
        for t in tickets
    ]


def preparation(args: argparse.Namespace) -> Prepare:
    """What the run does to every ticket before clustering: sign, then (maybe) redact."""

    def prepare(tickets: Sequence[LabelledTicket]) -> list[LabelledTicket]:
        signed = personalised(tickets, args.personal_data)
        return redacted(signed) if args.redact == "on" else signed

    return prepare


def _prepared(es: EvalSet, prepare: Prepare) -> EvalSet:
    return dataclasses.replace(es, tickets=tuple(prepare(es.tickets)))


# ---- quality ---------------------------------------------------------------------------


def simulator_tickets(n: int, seed: int = 3) -> list[LabelledTicket]:
    """Tickets in the simulator's vocabulary, labelled ``warmup:<category>``."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        cat = rng.choice(CATEGORIES)
        fill = {
            "order": str(rng.randint(10_000, 99_999)),
            "amount": str(rng.randint(5, 500)),
            "invoice": f"INV-{rng.randint(1000, 9999)}",
            "plan": rng.choice(PLANS),
            "days": str(rng.randint(1, 30)),
            "n": str(rng.randint(2, 50)),
            "error": f"E{rng.randint(100, 999)}",
            "browser": rng.choice(BROWSERS),
            "product": rng.choice(PRODUCTS),
            "integration": rng.choice(INTEGRATIONS),
        }
        code, text = cat.resolutions[0] if rng.random() < 0.6 else rng.choice(cat.resolutions)
        out.append(
            LabelledTicket(
                ticket_id=f"warm-{i}",
                label=f"warmup:{cat.name}",
                category=cat.name,
                subject=rng.choice(cat.subjects).format_map(fill),
                description=rng.choice(cat.descriptions).format_map(fill),
                resolution_code=code,
                resolution_text=text,
            )
        )
    return out


def quality_row(name: str, es: EvalSet, cfg: KbConfig, orders: int) -> list[KbQuality]:
    fixed = evaluate(es.tickets, cfg, es.articles)
    runs = [evaluate(es.tickets, cfg, es.articles, order_seed=s) for s in range(orders)]
    _print_row(name, fixed, runs)
    return runs


def _print_row(name: str, fixed: KbQuality, runs: list[KbQuality]) -> None:
    p = [q.precision for q in runs]
    sp = [q.strict_precision for q in runs]
    r = [q.recall for q in runs]
    art_errors = sum(_article_errors(q) for q in runs)
    print(
        f"{name:<22} {fixed.precision:>6.3f} {fixed.recall:>6.3f} "
        f"{fixed.suggestions:>4} {fixed.found:>3}/{fixed.recurring:<3} "
        f"{statistics.mean(p):>6.3f} {min(p):>5.2f} {statistics.mean(sp):>6.3f} {min(sp):>5.2f} "
        f"{sum(q.mixed for q in runs):>5} "
        f"{statistics.mean(r):>6.3f} {min(r):>5.2f} "
        f"{_articles(fixed):>14} {art_errors:>6}",
        flush=True,
    )


def reliability(name: str, runs: Sequence[KbQuality]) -> None:
    """Share of suggestions that are one recurring problem and nothing else (pure true
    positives), per confidence bin, over every run."""
    judged = [j for q in runs for j in q.judged]
    cells = []
    for lo, hi in itertools.pairwise(BINS):
        inside = [ok for conf, ok in judged if lo <= conf < hi]
        share = f"{sum(inside) / len(inside):.2f}" if inside else "-"
        cells.append(f"[{lo:.2f},{min(hi, 1.0):.2f}) {share:>4} of {len(inside):<4}")
    high = [ok for conf, ok in judged if conf >= 0.8]
    rate = sum(high) / len(high) if high else float("nan")
    print(f"{name:<22} " + "  ".join(cells) + f"  | >=0.8: {rate:.2f} of {len(high)}")


def _article_errors(q: KbQuality) -> int:
    return q.covered_before_opened + q.wrong_covers + (q.late_expected - q.late_flipped)


def _articles(q: KbQuality) -> str:
    return (
        f"{q.covered_before_opened}/{q.covered_before_expected} "
        f"{q.late_flipped}/{q.late_expected} {q.wrong_covers}"
    )


def warm_row(es: EvalSet, cfg: KbConfig, warmup: int, orders: int, prepare: Prepare) -> None:
    warm = prepare(simulator_tickets(warmup))
    runs = [
        evaluate(es.tickets, cfg, es.articles, order_seed=s, warmup=warm) for s in range(orders)
    ]
    _print_row("holdout after warm-up", runs[0], runs)


# ---- throughput ------------------------------------------------------------------------


def vocabulary() -> list[str]:
    """Normalised words of both labelled sets: real support vocabulary, ~1,500 words."""
    words: dict[str, None] = {}
    for file in SETS.values():
        es = load_eval_set(DATA / file)
        for t in es.tickets:
            text = f"{t.subject} {t.description} {t.resolution_text}"
            words.update(dict.fromkeys(normalise_text(text).split()))
    return sorted(words)


def _typo(rng: random.Random, w: str) -> str:
    if len(w) > 4 and rng.random() < 0.1:
        i = rng.randrange(len(w) - 1)
        return w[:i] + w[i + 1] + w[i] + w[i + 2 :]
    return w


def synthetic_tickets(n: int, problems: int, noise: float, seed: int = 11) -> list[LabelledTicket]:
    """Tickets of ``problems`` recurring problems plus one-off noise, in real words.

    A problem owns 8 key words and 5 fix words drawn from ``vocabulary()`` (so problems
    share words); a ticket uses 4-6 of them among 8-26 random filler words, with typos.
    """
    rng = random.Random(seed)
    vocab = vocabulary()
    keys = [rng.sample(vocab, 8) for _ in range(problems)]
    fixes = [rng.sample(vocab, 5) for _ in range(problems)]

    def text(k: int, filler: int, words: list[str]) -> str:
        picked = rng.sample(words, k) + rng.sample(vocab, filler)
        rng.shuffle(picked)
        return " ".join(_typo(rng, w) for w in picked)

    out = []
    for i in range(n):
        one_off = rng.random() < noise
        p = rng.randrange(problems)
        key = rng.sample(vocab, 8) if one_off else keys[p]
        fix = rng.sample(vocab, 5) if one_off else fixes[p]
        out.append(
            LabelledTicket(
                ticket_id=f"syn-{i}",
                label=f"noise-{i}" if one_off else f"problem-{p}",
                category=f"cat-{p % 12}",
                subject=text(4, 2, key),
                description=text(6, rng.randint(6, 16), key)
                + f" order {rng.randint(10**5, 10**6)}",
                resolution_code="fixed",
                resolution_text=text(4, rng.randint(2, 8), fix),
            )
        )
    return out


def throughput(args: argparse.Namespace, cfg: KbConfig, prepare: Prepare) -> None:
    tickets = prepare(synthetic_tickets(args.tickets, args.problems, args.noise))
    rng = random.Random(5)
    articles = [
        LabelledArticle(
            article_id=f"kb-{j}",
            covers=None,
            when="after",
            category="general",
            title=t.subject,
            body=t.description,
        )
        for j, t in enumerate(rng.sample(tickets, args.articles))
    ]
    events = build_events(tickets, (), order_seed=1, tenant_id="bench")
    # interleave the articles evenly (same tenant, same clock)
    step = max(1, len(events) // (len(articles) + 1))
    stream: list[Event] = []
    for j, e in enumerate(events):
        stream.append(e)
        if articles and j % step == step - 1 and j // step < len(articles):
            a = articles[j // step]
            stream.append(article_event(a, "bench", e.occurred_at + timedelta(seconds=1)))
    texts = TicketTexts(cfg)
    clusters = KbClusters("bench", cfg)
    final: dict[object, KbSuggestion] = {}
    opened: list[object] = []
    rows = 0
    half = len(stream) // 2
    wall, cpu = time.perf_counter(), time.process_time()
    for j, event in enumerate(stream):
        if j == half:
            half_wall, half_cpu, half_clusters = (
                time.perf_counter(),
                time.process_time(),
                clusters.cluster_count,
            )
        if event.event_type == "kb.article_created":
            changes = clusters.on_article(event)
        else:
            changes = [c for t in texts.on_event(event) for c in clusters.on_resolved(t)]
        rows += len(changes)
        for c in changes:
            final[c.suggestion.suggestion_id] = c.suggestion
            if c.opened:
                opened.append(c.suggestion.suggestion_id)
    end_wall, end_cpu = time.perf_counter(), time.process_time()
    t0 = time.perf_counter()
    blob = pickle.dumps(clusters)
    pickled = time.perf_counter() - t0
    n = args.tickets
    print(
        f"{n} resolved tickets ({args.problems} problems, {args.noise:.0%} one-off, "
        f"{args.articles} articles), max_clusters={cfg.max_clusters}; tickets/s by wall clock "
        "and by CPU time of this process (the machine may be shared)"
    )
    print(
        f"{'wall/s':>8} {'CPU/s':>8} {'2nd half CPU/s':>15} {'clusters':>13} {'opened':>7} "
        f"{'rows':>6} {'P':>5} {'R':>5} {'state MiB':>10} {'pickle ms':>10}"
    )
    p, r = _synthetic_quality(tickets, [final[s] for s in opened], cfg.min_size)
    print(
        f"{n / (end_wall - wall):>8,.0f} {n / (end_cpu - cpu):>8,.0f} "
        f"{n / 2 / (end_cpu - half_cpu):>15,.0f} {half_clusters:>6}->{clusters.cluster_count:<6} "
        f"{len(opened):>7} {rows:>6} {p:>5.2f} {r:>5.2f} {len(blob) / 2**20:>10.1f} "
        f"{pickled * 1000:>10.1f}"
    )
    _ = half_wall


def _synthetic_quality(
    tickets: list[LabelledTicket], opened: list[KbSuggestion], min_size: int
) -> tuple[float, float]:
    """Precision/recall of the synthetic run, judged like ``flows.kb.quality`` (listed
    members only; evicted clusters keep their last row)."""
    label_of = {t.ticket_id: t.label for t in tickets}
    sizes = Counter(t.label for t in tickets)
    recurring = {label for label, k in sizes.items() if k >= min_size}
    credited: set[str] = set()
    for s in opened:
        counts = Counter(label_of[t] for t in s.ticket_ids)
        label = max(counts, key=counts.__getitem__)
        if label in recurring and 2 * counts[label] > len(s.ticket_ids):
            credited.add(label)
    return len(credited) / max(1, len(opened)), len(credited) / max(1, len(recurring))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tickets", type=int, default=20_000)
    ap.add_argument("--problems", type=int, default=300)
    ap.add_argument("--noise", type=float, default=0.25, help="share of one-off tickets")
    ap.add_argument("--articles", type=int, default=50)
    ap.add_argument("--orders", type=int, default=20, help="shuffles for mean/min")
    ap.add_argument("--warmup", type=int, default=1500, help="simulator tickets first")
    ap.add_argument(
        "--redact",
        choices=("on", "off"),
        default="on",
        help="mask the ticket texts as ingest does (CXPULSE_REDACT_TEXT)",
    )
    ap.add_argument(
        "--personal-data",
        type=float,
        default=0.0,
        help="share of tickets signed with an e-mail, phone, card or IBAN first",
    )
    args = ap.parse_args()
    cfg = KbConfig()
    prepare = preparation(args)
    print(
        f"join_threshold={cfg.join_threshold} cover_threshold={cfg.cover_threshold} "
        f"min_size={cfg.min_size} redact={args.redact} personal_data={args.personal_data:g}"
    )
    print(
        f"{'set':<22} {'P':>6} {'R':>6} {'sugg':>4} {'found':>7} "
        f"{'P mean':>6} {'min':>5} {'strict':>6} {'min':>5} {'mixed':>5} "
        f"{'R mean':>6} {'min':>5} {'articles':>14} {'errors':>6}"
    )
    runs: dict[str, list[KbQuality]] = {}
    for name, file in SETS.items():
        es = _prepared(load_eval_set(DATA / file), prepare)
        runs[name] = quality_row(name, es, cfg, args.orders)
    if args.warmup:
        holdout = _prepared(load_eval_set(DATA / SETS["holdout"]), prepare)
        warm_row(holdout, cfg, args.warmup, min(args.orders, 5), prepare)
    print(
        "(P, R: fixed order of the tests; P/strict/R mean and min over the shuffled orders; "
        "strict: no member of another problem; mixed: suggestions mixing labels, all orders; "
        "articles: covered-before opened/expected, late flipped/expected, wrong covers)\n"
    )
    print("reliability: share of pure true positives per confidence bin, all orders")
    tuned = [q for name, qs in runs.items() if "tuned" in name for q in qs]
    held = [q for name, qs in runs.items() if "tuned" not in name for q in qs]
    reliability("tuned sets", tuned)
    reliability("held-out sets", held)
    print()
    if args.tickets:
        throughput(args, cfg, prepare)


if __name__ == "__main__":
    main()
