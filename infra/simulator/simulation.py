"""The public event source: :class:`Simulator` and the run that wires it together.

A pure generator: no Kafka, no clock, no sleeping. The CLI paces and sends; keeping
those apart lets tests replay hours of traffic in milliseconds and lets benchmarks run
faster than real time. One seed always yields the same byte-identical stream, so a
failing pipeline run can be reproduced exactly.
"""

from __future__ import annotations

from collections.abc import Iterator

from infra.simulator.config import SimConfig, story_client_at_risk
from infra.simulator.engine import Event, Stream
from infra.simulator.stories import Stories
from infra.simulator.timeline import DAY, HOUR, MIN
from infra.simulator.vocabulary import COMPLAINT_RATIO, SERVICE_RATIO, SESSION_RATIO, SHIFT_MS

_TENANT_NAMES = ("acme", "globex", "initech")


class Simulator:
    """Deterministic event source: ``Simulator(cfg).events()`` yields envelope dicts.

    Every call to :meth:`events` starts a fresh run from ``config.start`` with the same
    seed, so two iterators over one simulator (or two simulators with equal configs)
    produce identical streams. The stream is infinite; the caller decides when to stop.
    """

    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = config or SimConfig()
        n = self.config.tenants
        self.tenant_ids: tuple[str, ...] = _TENANT_NAMES[:n] + tuple(
            f"t{i}" for i in range(len(_TENANT_NAMES) + 1, n + 1)
        )

    @property
    def at_risk_clients(self) -> dict[str, str]:
        """Tenant -> id of the client the "sliding into risk" story follows.

        Empty when that story is off, or with fewer than two clients per tenant (the
        story then has no random traffic left to hide the client from).
        """
        cfg = self.config
        if not story_client_at_risk(cfg):
            return {}
        return {name: f"client-{name}-1" for name in self.tenant_ids}

    def events(self) -> Iterator[Event]:
        """Yield JSON-serialisable envelopes in non-decreasing ``occurred_at`` order."""
        return _Run(self.config, self.tenant_ids).run()


class _Run(Stories):
    """One run: every tenant's streams, agents, clients and stories seeded, in order."""

    def _seed_schedule(self) -> None:
        rng, cfg, t0 = self.rng, self.cfg, self.now
        rate = cfg.tickets_per_hour
        day0 = t0 - t0 % DAY
        for ten in self.tenants:
            for per_hour, spawn in (
                (rate, self._ticket_created),
                (rate * SESSION_RATIO, self._session_queued),
                (rate * SERVICE_RATIO, self._service_requested),
                (rate * COMPLAINT_RATIO, self._complaint_created),
            ):
                stream = Stream(ten, per_hour, spawn)
                self.push(self._next_arrival(t0, stream.per_ms), self._arrival, stream)
            kb_every = cfg.kb_article_every_h * HOUR
            self.push(t0 + int(rng.uniform(0.05, 1.0) * kb_every), self._kb_article, ten)
            for i, client in enumerate(ten.clients):  # spread: updates trickle, not burst
                at = t0 + rng.randrange(DAY)
                if i not in ten.scripted:
                    self.push(at, self._client_health, client)
            for ag in ten.agents:
                for day in (day0 - DAY, day0):
                    login = day + ag.shift_h * HOUR
                    if login <= t0 < login + SHIFT_MS:  # start mid-shift: log in at once
                        ag.shift_day = day
                        self.push(t0, self._agent_login, ag)
                        break
                else:
                    ag.shift_day = day0 if t0 < day0 + ag.shift_h * HOUR else day0 + DAY
                    self.push(
                        ag.shift_day + ag.shift_h * HOUR + rng.randrange(15 * MIN),
                        self._agent_login,
                        ag,
                    )
            self._seed_stories(ten)
