"""An erased client leaves the KB state: ticket texts per shard and the tenant's clusters
(members, titles, vectors), and the suggestions built on its tickets are re-published
without them (or withdrawn), under the same ids."""

from __future__ import annotations

import pickle

from flows.kb.clusters import TITLE_CANDIDATES, KbChange, KbClusters, KbConfig, ResolvedTicket
from schemas.events import Event
from schemas.ids import stable_id
from tests.unit.helpers import T0_MS, at, make_event, uid

CFG = KbConfig()
GONE = "client-gone-7q"  # the erased data subject (tenant t1)
KEPT = "client-kept-3w"
SECRET = "Quxbramble"  # a word only the erased client's texts hold

RESET = [
    "Password reset email never arrives, checked spam folder. Resent the reset email.",
    "The password reset email does not arrive in my inbox. Resent the password reset email.",
    "No password reset email received after several tries. Resent reset email, it arrived.",
    "Reset password email not arriving at all. Password reset email resent successfully.",
    "Password reset mail never arrives for our user. Resent the reset email to the user.",
    "Password reset email missing again today. Resent the password reset email.",
    "Still no password reset email in the inbox. Reset email resent, user confirmed.",
]
GONE_TEXT = f"{SECRET} password reset email never arrives. Resent the reset email to {SECRET}."


def rt(ticket: str, text: str, i: int, client: str, tenant: str = "t1") -> ResolvedTicket:
    subject = text.split(".")[0]
    return ResolvedTicket(tenant, ticket, "login", subject, text, T0_MS + i * 60_000, client)


def feed(kc: KbClusters, tickets: list[ResolvedTicket]) -> list[KbChange]:
    out: list[KbChange] = []
    for t in tickets:
        out += kc.on_resolved(t)
    return out


def absent(state: object, *needles: str) -> None:
    blob = pickle.dumps(state)
    for needle in needles:
        assert needle.encode() not in blob, f"{needle!r} is still in the state"


# ---- TicketTexts -------------------------------------------------------------------------


def created(ticket: str, client: str, subject: str, tenant: str = "t1") -> Event:
    payload = {
        "ticket_id": ticket,
        "client_id": client,
        "channel": "email",
        "queue": "support",
        "priority": "normal",
        "category": "login",
        "subject": subject,
        "description": f"{subject}, please help.",
        "region": "eu",
    }
    return make_event("ticket.created", payload, occurred_at=at(0), tenant=tenant)


def resolved(ticket: str, tenant: str = "t1", minutes: int = 30) -> Event:
    payload = {
        "ticket_id": ticket,
        "agent_id": "ag-1",
        "category": "login",
        "resolution_code": "resent",
        "resolution_text": "Resent the reset email.",
    }
    return make_event("ticket.resolved", payload, occurred_at=at(minutes * 60), tenant=tenant)


def test_ticket_texts_forget_the_clients_texts_and_markers_only() -> None:
    from flows.kb.clusters import TicketTexts

    tt = TicketTexts(CFG)
    tt.on_event(created("tk-gone-open", GONE, f"{SECRET} cannot log in"))
    tt.on_event(created("tk-gone-done", GONE, f"{SECRET} reset mail"))
    [joined] = tt.on_event(resolved("tk-gone-done"))
    assert joined.client_id == GONE  # the join carries the client along
    tt.on_event(created("tk-kept", KEPT, "Reset mail missing"))
    tt.on_event(created("tk-other-tenant", GONE, "Other tenant's text", tenant="t2"))

    assert tt.forget_client("t1", GONE) == 2

    absent(tt, SECRET, "tk-gone-open", "tk-gone-done")
    [kept] = tt.on_event(resolved("tk-kept"))  # another client's text still joins
    assert (kept.client_id, kept.subject) == (KEPT, "Reset mail missing")
    [other] = tt.on_event(resolved("tk-other-tenant", tenant="t2"))  # the same id elsewhere
    assert (other.client_id, other.subject) == (GONE, "Other tenant's text")
    assert tt.forget_client("t1", GONE) == 0  # nothing left to forget


def test_ticket_texts_ignore_the_clients_events_that_the_erasure_overtook() -> None:
    # the exchanges keep order per key only: the erasure may reach a shard first
    from flows.kb.clusters import TicketTexts

    tt = TicketTexts(CFG)
    tt.on_event(created("tk-gone-a", GONE, f"{SECRET} cannot log in"))
    tt.forget_client("t1", GONE)
    assert tt.on_event(resolved("tk-gone-a")) == []  # a forgotten ticket's resolution
    assert tt.on_event(created("tk-gone-b", GONE, f"{SECRET} again")) == []  # overtaken
    assert tt.on_event(resolved("tk-gone-b")) == []
    absent(tt, GONE, SECRET, "tk-gone-a", "tk-gone-b")  # digests only
    tt.on_event(created("tk-gone-c", GONE, "Other tenant", tenant="t2"))
    [other] = tt.on_event(resolved("tk-gone-c", tenant="t2"))  # another tenant's: as ever
    assert other.client_id == GONE


# ---- KbClusters ----------------------------------------------------------------------------


def test_a_suggestion_is_republished_without_the_clients_tickets_same_id() -> None:
    kc = KbClusters("t1", CFG)
    tickets = [rt("tk-gone-0", GONE_TEXT, 0, GONE)]
    tickets += [rt(f"tk-kept-{j}", RESET[j], j + 1, KEPT) for j in range(4)]
    changes = feed(kc, tickets)
    before = changes[-1].suggestion
    assert (before.size, before.status) == (5, "open")
    assert before.suggestion_id == stable_id("kb_suggestion", "t1", "tk-gone-0")  # its seed

    [change] = kc.forget_client(GONE, T0_MS + 60 * 60_000)

    after = change.suggestion
    assert not change.opened  # no second alert
    assert after.suggestion_id == before.suggestion_id  # the seed's id stays
    assert after.version == before.version + 1
    assert (after.size, after.status) == (4, "open")
    assert after.ticket_ids == [f"tk-kept-{j}" for j in range(4)]
    assert SECRET not in after.title
    assert 0 < after.confidence <= before.confidence
    absent(kc, GONE, SECRET, "tk-gone-0")
    # the cluster still works: a similar ticket joins it, as the next version
    [grown] = kc.on_resolved(rt("tk-kept-5", RESET[5], 10, KEPT))
    assert grown.suggestion.suggestion_id == before.suggestion_id
    assert (grown.suggestion.size, grown.suggestion.version) == (5, after.version + 1)


def test_a_suggestion_below_min_size_is_withdrawn_and_its_cluster_dissolved() -> None:
    kc = KbClusters("t1", CFG)
    tickets = [rt("tk-kept-0", RESET[0], 0, KEPT), rt("tk-gone-1", GONE_TEXT, 1, GONE)]
    tickets.append(rt("tk-kept-2", RESET[2], 2, KEPT))
    [opened] = feed(kc, tickets)
    assert opened.opened

    [change] = kc.forget_client(GONE, T0_MS + 60 * 60_000)

    row = change.suggestion
    assert row.suggestion_id == opened.suggestion.suggestion_id
    assert (row.status, row.covered_by, row.version) == ("withdrawn", None, 2)
    assert (row.size, row.ticket_ids) == (2, ["tk-kept-0", "tk-kept-2"])
    assert kc.suggestions() == []  # the cluster is gone
    absent(kc, GONE, SECRET, "tk-gone-1")
    # similar tickets later seed a new cluster: a new suggestion, never the withdrawn one
    more = feed(kc, [rt(f"tk-new-{j}", RESET[3 + j], 10 + j, KEPT) for j in range(3)])
    assert [c.suggestion.suggestion_id for c in more] == [
        stable_id("kb_suggestion", "t1", "tk-new-0")
    ]


def test_a_cluster_of_the_clients_tickets_only_vanishes_without_a_row() -> None:
    kc = KbClusters("t1", CFG)
    feed(kc, [rt(f"tk-gone-{j}", f"{SECRET} {RESET[j]}", j, GONE) for j in range(3)])
    feed(
        kc,
        [
            rt(f"tk-kept-{j}", "Router wifi keeps disconnecting. Updated firmware.", 5 + j, KEPT)
            for j in range(2)
        ],
    )
    assert len(kc.suggestions()) == 1

    assert kc.forget_client(GONE, T0_MS + 60 * 60_000) == []

    assert kc.suggestions() == []
    assert kc.cluster_count == 1  # the other client's cluster stays
    absent(kc, GONE, SECRET, "tk-gone-0", "tk-gone-1", "tk-gone-2")


def test_unpublished_clusters_and_later_members_forget_the_client_too() -> None:
    # a member beyond the title candidates (no stored vector) and a singleton of its own
    kc = KbClusters("t1", CFG)
    tickets = [rt(f"tk-kept-{j}", RESET[j], j, KEPT) for j in range(TITLE_CANDIDATES)]
    tickets.append(rt("tk-gone-late", GONE_TEXT, 20, GONE))
    tickets.append(
        rt("tk-gone-alone", f"{SECRET} invoice total looks odd. Explained it.", 21, GONE)
    )
    feed(kc, tickets)
    [before] = kc.suggestions()
    assert "tk-gone-late" in before.ticket_ids

    [change] = kc.forget_client(GONE, T0_MS + 60 * 60_000)

    assert change.suggestion.size == TITLE_CANDIDATES
    assert "tk-gone-late" not in change.suggestion.ticket_ids
    assert kc.cluster_count == 1
    absent(kc, GONE, SECRET, "tk-gone-late", "tk-gone-alone")


def test_erasing_nothing_changes_nothing() -> None:
    kc = KbClusters("t1", CFG)
    feed(kc, [rt(f"tk-kept-{j}", RESET[j], j, KEPT) for j in range(3)])
    before = pickle.dumps(kc)
    assert kc.forget_client("client-unknown", T0_MS) == []
    assert pickle.dumps(kc) == before


def test_the_erasure_reaches_the_clusters_through_the_logic() -> None:
    from flows.config import FlowConfig
    from flows.kb.stateful import KbClustersLogic, KbItem

    logic = KbClustersLogic(FlowConfig(), None)
    tickets = [rt("tk-gone-0", GONE_TEXT, 0, GONE)]
    tickets += [rt(f"tk-kept-{j}", RESET[j], j + 1, KEPT) for j in range(3)]
    for t in tickets:
        logic.on_item(KbItem(t.resolved_at_ms, f"t/{t.ticket_id}", 0, t))
    erasure = make_event(
        "client.erasure_requested",
        {"erasure_id": str(uid("erasure")), "client_id": GONE},
        occurred_at=at(3600),
    )
    [row] = logic.on_item(KbItem(T0_MS + 3_600_000, f"a/{erasure.event_id}", 0, erasure))
    assert "tk-gone-0" not in row.ticket_ids  # type: ignore[union-attr]
    absent(logic.state, GONE, SECRET, "tk-gone-0")
