"""Routing recommendations as messages of ``<prefix>routing``, for an auto-assigner.

Key ``<tenant>/<ticket>`` (a complaint without a ticket: its complaint id), so every
recommendation of one ticket lands on one partition in order; value the
:class:`schemas.routing.RecommendationDocument` JSON, exactly what
``GET /v1/tickets/{id}/recommendation`` answers; header ``cxpulse.recommendation_id``
(deterministic: a consumer dedupes on it after a crash replay).
"""

from __future__ import annotations

from schemas.routing import RecommendationDocument, RoutingRecommendation
from sinks.kafka_sink import Encoded


def routing_key(rec: RoutingRecommendation) -> bytes:
    return f"{rec.tenant_id}/{rec.ticket_id or rec.subject_id}".encode()


def encode_recommendation(rec: RoutingRecommendation) -> Encoded:
    return (
        routing_key(rec),
        RecommendationDocument.of(rec).model_dump_json().encode(),
        [
            ("cxpulse.recommendation_id", str(rec.recommendation_id).encode()),
            ("cxpulse.subject_type", rec.subject_type.encode()),
        ],
    )
