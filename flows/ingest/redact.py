"""Personal data masked out of free text at ingest (GDPR/RODO data minimisation).

E-mail addresses, phone numbers, payment card numbers and IBANs become the short,
stable masks of :data:`schemas.events.REDACTION_MASKS`. Masking is a pure function of
the text, so a replay rewrites the same rows. Which payload fields are free text is the
schema's knowledge (:data:`schemas.events.FREE_TEXT_FIELDS`); this module only masks
them.

It runs on every event with free text, so each kind is first found by one C-speed
regex scan and only its few candidates are validated in Python: the IBAN checksum and
Luhn (``python-stdnum``), numbering plans (``phonenumbers``). Validation is what keeps
order, ticket and invoice numbers, dates, amounts, versions and postcodes unmasked.
Every pattern is linear: no nested unbounded repetition, so hostile text cannot make a
scan quadratic.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Iterable

from phonenumbers import Leniency, PhoneNumberMatcher
from stdnum import iban, luhn

from schemas.events import FREE_TEXT_FIELDS, REDACTION_MASKS, Event
from schemas.transport import Accepted

# Regions whose national formats (no "+") are recognised; international numbers
# ("+44 …", "0049 …") are recognised whatever the region.
PHONE_REGIONS: tuple[str, ...] = ("PL", "DE", "GB", "US")

# ---- e-mail ---------------------------------------------------------------------------

_LOCAL = r"[\w.!#$%&'*+/=?^`{|}~-]"
# The local part starts where no local-part character precedes it and is consumed
# possessively (it cannot contain "@"), so each position is tried once: linear. Labels
# are possessive too; only the label count backtracks (a trailing full stop).
_EMAIL = re.compile(
    rf"(?<!{_LOCAL}){_LOCAL}++@(?:[^\W_](?:[\w-]{{0,62}}+)\.)+[^\W\d_]{{2,63}}+(?![\w-])"
)

# ---- IBAN -----------------------------------------------------------------------------

# Country code, check digits, then 11..30 letters/digits, optionally grouped by single
# spaces, dashes or dots. Greedy, so it may swallow a following capitalised word; the
# candidate is then shortened group by group until the checksum holds.
_IBAN = re.compile(r"(?<!\w)[A-Z]{2}\d\d(?:[ .-]?[A-Z\d]){11,30}(?!\w)", re.IGNORECASE)
_IBAN_SEPARATORS = frozenset(" .-")
# A Polish account number (NRB) is an IBAN without its "PL", and is how Poles write it.
_NRB = re.compile(r"(?<!\w)\d\d(?:[ .-]?\d{4}){6}(?!\w)")

# ---- payment cards --------------------------------------------------------------------

# 14..19 digits unbroken, grouped 4-4-4-x, or 4-6-4/5 (Diners, Amex) by one kind of
# separator (space, dash, dot); not glued to a longer number, a word or an id ("ORD-",
# "/"). No amount or version has 14 digits, so a comma or full stop next to one is
# punctuation. 13 digits (old Visa cards, no longer issued) are left out: they are
# EAN-13 product codes and ISBNs far more often.
_CARD = re.compile(
    r"(?<![\w/-])"
    r"(?:\d{14,19}|\d{4}([ .-])\d{4}\1\d{4}\1\d{2,7}|\d{4}([ .-])\d{6}\2\d{4,5})"
    r"(?![\w/]|-\d)"
)
# First digits of the card schemes (Visa 4, Mastercard 2/5, Amex/Diners/JCB 3,
# Discover/Maestro/UnionPay 6): a number starting 0, 1, 7, 8 or 9 is no card.
_CARD_FIRST = frozenset("23456")

# ---- phone numbers --------------------------------------------------------------------

# A digit run of 7+ digits with single separators, an optional "+" or "(". Not glued to a
# word, an id ("#", "-", "/") or a version ("."); bounded length, so a hostile run of
# digits costs linear time. phonenumbers then judges each candidate (an amount such as
# "123 456 789,00" is no validly grouped number).
_PHONE = re.compile(r"(?<![\w+#№/.-])(?:\+|\(\+?)?\d(?:[ ./-]?\(?\d\)?){6,24}(?![\w]|[./-]\d)")
_MIN_PHONE_DIGITS = 7
_DATE = re.compile(r"\d{1,4}([./-])\d{1,2}\1\d{1,4}")
# What the words just before a number say it is (lower case, word starts). A phone word
# lets through any valid number; an id word (orders, tickets, invoices, cases, parcels)
# keeps a national-format number unmasked; the nearer word wins.
_PHONE_WORDS = re.compile(
    r"\b(?:tel|phone|call|mobile|cell|fax|sms|whatsapp|text me|reach|contact|kontakt|"
    r"dzwo|zadzwo|komórk|komork|oddzwo|handy|ruf|anruf|rückruf|ruckruf|erreichbar|"
    r"festnetz|mobil)"
)
_ID_WORDS = re.compile(
    r"(?:#|№|\b(?:order|ticket|invoice|case\b|cases\b|ref\b|ref\.|reference|tracking|"
    r"parcel|shipment|contract|customer no|account no|id\b|zamówi|zamowi|faktur|zgłosz|"
    r"zglosz|spraw(?:a|y|ie|ę|ą)\b|przesył|przesyl|paczk|umow|bestell|auftrag|rechnung|"
    r"vorgang|sendung|kundennummer|vertrag|referenz|nr\.? zam|no\.|nr\.))"
)
_CONTEXT_CHARS = 32
# phonenumbers matcher runs one text may cost (30..130 µs each); see _mask_phones
MATCHER_CALLS = 32

# The gates before the number scans: 7 digits with at most two separators between two;
# every phone number the scans can find has such a run, and every IBAN, account and card
# number a run of 10 (each scan costs ~4 µs per 100 characters, a text with a phone
# number only then skips three).
_NUMBERS = re.compile(r"\d(?:[^\w@]{0,2}\d){6}")
_LONG_NUMBERS = re.compile(r"\d(?:[^\w@]{0,2}\d){9}")


def mask_text(text: str) -> str:
    """``text`` with e-mail addresses, IBANs, card and phone numbers masked.

    E-mail first (an address may hold digits), then IBANs (which hold card-length
    digit runs), then cards, then phones.
    """
    if "@" in text:
        text = _EMAIL.sub(REDACTION_MASKS["email"], text)
    if _NUMBERS.search(text) is None:  # most texts: no run of 7+ digits, nothing to judge
        return text
    if _LONG_NUMBERS.search(text) is not None:
        text = _IBAN.sub(_iban_mask, text)
        text = _NRB.sub(_nrb_mask, text)
        text = _CARD.sub(_card_mask, text)
    return _mask_phones(text)


def _ascii_digits(s: str) -> str:
    """The decimal digits of ``s`` as ASCII (Arabic-Indic, full-width ... included)."""
    return "".join(str(unicodedata.decimal(c)) for c in s if c.isdecimal())


def _iban_compact(s: str) -> str:
    """An IBAN candidate upper-cased, its digits ASCII, its separators dropped."""
    return "".join(
        str(unicodedata.decimal(c)) if c.isdecimal() else c for c in s if c not in _IBAN_SEPARATORS
    ).upper()


def _iban_mask(m: re.Match[str]) -> str:
    """The mask over the longest checksum-valid prefix (whole groups), the rest kept."""
    found = m.group()
    cuts = [len(found)]
    cuts += [i for i in range(len(found) - 1, 3, -1) if found[i] in _IBAN_SEPARATORS]
    for cut in cuts:
        if iban.is_valid(_iban_compact(found[:cut])):
            return REDACTION_MASKS["iban"] + found[cut:]
    return found


def _nrb_mask(m: re.Match[str]) -> str:
    return REDACTION_MASKS["iban"] if iban.is_valid("PL" + _ascii_digits(m.group())) else m.group()


def _card_mask(m: re.Match[str]) -> str:
    digits = _ascii_digits(m.group())
    if 14 <= len(digits) <= 19 and digits[0] in _CARD_FIRST and luhn.is_valid(digits):
        return REDACTION_MASKS["card"]
    return m.group()


def _mask_phones(text: str) -> str:
    """Valid phone numbers masked; past :data:`MATCHER_CALLS` every remaining candidate
    that no cheap rule clears is masked unjudged (fail closed), so a text full of
    numbers costs a few milliseconds at most, not a pipeline stall."""
    spans: list[tuple[int, int]] = []
    calls_left = MATCHER_CALLS
    for cand in _PHONE.finditer(text):
        raw = cand.group()
        digits = _ascii_digits(raw)
        if len(digits) < _MIN_PHONE_DIGITS or _DATE.fullmatch(raw):
            continue
        international = raw.startswith(("+", "(+", "00"))
        said = None if international else _context(text, cand.start())
        if said == "id":
            continue
        regions = PHONE_REGIONS[:1] if international else _regions(digits)
        if not regions:
            continue
        if calls_left <= 0:
            spans.append(cand.span())
            continue
        # A number written internationally or after a phone word is judged on validity
        # alone. Otherwise it must also be grouped as its country formats it
        # (STRICT_GROUPING): "2024-004512" is a valid US number by its digits, but no
        # one writes one that way.
        strict = not international and said is None
        calls_left -= len(regions)
        spans.extend(_phone_spans(raw, cand.start(), regions, strict))
    if not spans:
        return text
    out: list[str] = []
    at = 0
    for start, end in _merged(spans):
        out.append(text[at:start])
        out.append(REDACTION_MASKS["phone"])
        at = end
    out.append(text[at:])
    return "".join(out)


def _phone_spans(
    raw: str, offset: int, regions: tuple[str, ...], strict: bool
) -> list[tuple[int, int]]:
    """Where the valid phone numbers of one candidate are, as positions in the text."""
    leniency = Leniency.STRICT_GROUPING if strict else Leniency.VALID
    spans: list[tuple[int, int]] = []
    for region in regions:
        for found in PhoneNumberMatcher(raw, region, leniency=leniency):
            if not _DATE.fullmatch(found.raw_string):
                spans.append((offset + found.start, offset + found.end))
        if spans and spans[0][1] - spans[0][0] == len(raw):
            break  # the whole candidate is one number: no other region can add to it
    return spans


def _regions(digits: str) -> tuple[str, ...]:
    """The regions whose national numbers can have this many digits (the matcher costs
    30..130 µs a region, so only those are asked). National formats: Poland 9 digits,
    no trunk prefix; the US 10, or 11 after a "1"; Great Britain and Germany a leading
    "0" (a German number without its area code is a local one, too ambiguous to judge).
    A longer run (two numbers one after the other?) asks them all.
    """
    n = len(digits)
    if n > 13:
        return PHONE_REGIONS
    out: list[str] = []
    if n == 9 and digits[0] != "0":
        out.append("PL")
    if digits[0] == "0":
        out.append("DE")
        if n in (10, 11):
            out.append("GB")
    if n == 10 or (n == 11 and digits[0] == "1"):
        out.append("US")
    return tuple(out)


def _context(text: str, offset: int) -> str | None:
    """ "phone", "id" or None: what the nearest keyword just before ``offset`` says."""
    before = text[max(0, offset - _CONTEXT_CHARS) : offset].lower()
    phone = max((m.end() for m in _PHONE_WORDS.finditer(before)), default=-1)
    ident = max((m.end() for m in _ID_WORDS.finditer(before)), default=-1)
    if phone < 0 and ident < 0:
        return None
    return "phone" if phone > ident else "id"


def _merged(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


# ---- events ---------------------------------------------------------------------------


def redact_event(event: Event) -> Event:
    """``event`` with its free-text fields masked; the same object when nothing changed."""
    fields = FREE_TEXT_FIELDS.get(event.event_type)
    if not fields:
        return event
    payload = event.payload
    changed: dict[str, str] = {}
    for name in fields:
        value = getattr(payload, name)
        if value:
            masked = mask_text(value)
            if masked != value:
                changed[name] = masked
    if not changed:
        return event
    return event.model_copy(update={"payload": payload.model_copy(update=changed)})


def redact_batch(items: list[Accepted]) -> list[Accepted]:
    """A poll's accepted events with free text masked (the ingest flow's step)."""
    out: list[Accepted] = []
    for item in items:
        event = redact_event(item.event)
        out.append(item if event is item.event else dataclasses.replace(item, event=event))
    return out
