"""Threshold rules of the caller's tenant (issue #12): ``POST``, ``GET``, ``DELETE``.

API rules are stored in ClickHouse (``alert_rules``) and each change is published to
the compacted rules topic, which the live-ops flow reads (the flows never read
ClickHouse). Rules of the rules file (``CXPULSE_ALERT_RULES_FILE``) are listed too,
with ``source: "file"``; the API cannot change or delete them (409): edit the file and
restart the flows. Another tenant's rule id is a 404, as an unknown one.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, status
from pydantic import Field

from api.deps import NowDep, ReaderDep, TenantDep, WriteTenantDep, app_state
from api.models import UNAUTHORIZED, ErrorOut, _Out, not_found
from schemas.alert_rules import (
    ID_PATTERN,
    MAX_ID_CHARS,
    MAX_RULES_PER_TENANT,
    Rule,
    RuleChange,
    RuleSpec,
)
from sinks.rule_changes import RuleChangePublisher

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/rules", tags=["alerts"], responses=UNAUTHORIZED)

FileRulesDep = Annotated[dict[str, tuple[Rule, ...]], Depends(app_state("file_rules"))]
RuleChangesDep = Annotated[RuleChangePublisher, Depends(app_state("rule_changes"))]
RuleId = Annotated[
    str, Path(min_length=1, max_length=MAX_ID_CHARS, pattern=ID_PATTERN, description="rule_id")
]


class RuleOut(Rule, _Out):
    """A threshold rule with where it is defined."""

    source: Literal["api", "file"] = Field(
        description="api: POST /v1/rules (deletable); file: the rules file (read-only here)"
    )


class RuleList(_Out):
    items: list[RuleOut]


_UNDELIVERED: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorOut, "description": "Stored, but not delivered to the flows: retry"}
}


def _publish(publisher: RuleChangePublisher, change: RuleChange) -> None:
    try:
        publisher.publish(change)
    except Exception as exc:
        log.exception("rule %s stored but not published", change.rule_id)
        raise HTTPException(
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            detail="the rule change is stored but did not reach the flows; retry the request",
        ) from exc


@router.get("", response_model=RuleList, summary="The tenant's threshold rules")
def list_rules(tenant: TenantDep, reader: ReaderDep, file_rules: FileRulesDep) -> RuleList:
    """Rules of the rules file first (in file order), then API rules by rule id."""
    items = [RuleOut(**r.model_dump(), source="file") for r in file_rules.get(tenant, ())]
    items += [RuleOut(**r.model_dump(), source="api") for r in reader.rules(tenant)]
    return RuleList(items=items)


@router.post(
    "",
    response_model=RuleOut,
    status_code=status.HTTP_201_CREATED,
    summary="Define a threshold rule (a rule with the same rule_id is replaced)",
    responses={
        400: {"model": ErrorOut, "description": "The body is not parseable JSON"},
        409: {
            "model": ErrorOut,
            "description": "The rule id belongs to a rule of the file, or the tenant has "
            f"{MAX_RULES_PER_TENANT} rules already (file and API together)",
        },
        **_UNDELIVERED,
    },
)
def create_rule(
    spec: RuleSpec,
    tenant: WriteTenantDep,
    reader: ReaderDep,
    file_rules: FileRulesDep,
    publisher: RuleChangesDep,
    now: NowDep,
) -> RuleOut:
    rule = spec.for_tenant(tenant)
    if any(r.rule_id == rule.rule_id for r in file_rules.get(tenant, ())):
        raise HTTPException(
            status_code=status.HTTP_409_CONFLICT,
            detail=f"{rule.rule_id} is defined in the rules file; choose another rule_id",
        )
    existing = reader.rules(tenant)
    total = len(file_rules.get(tenant, ())) + len(existing)
    if all(r.rule_id != rule.rule_id for r in existing) and total >= MAX_RULES_PER_TENANT:
        raise HTTPException(
            status_code=status.HTTP_409_CONFLICT,
            detail=f"at most {MAX_RULES_PER_TENANT} rules per tenant (file and API together)",
        )
    at = now()
    version = int(at.timestamp() * 1000)
    reader.record_rule(tenant, rule.rule_id, rule, at, version)
    _publish(
        publisher, RuleChange(tenant_id=tenant, rule_id=rule.rule_id, rule=rule, version=version)
    )
    return RuleOut(**rule.model_dump(), source="api")


@router.delete(
    "/{rule_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete an API rule (its open alert, if any, is resolved by the flow)",
    responses={
        **not_found("The caller's tenant has no such API rule"),
        409: {"model": ErrorOut, "description": "A rule of the rules file: edit the file"},
        **_UNDELIVERED,
    },
)
def delete_rule(
    rule_id: RuleId,
    tenant: WriteTenantDep,
    reader: ReaderDep,
    file_rules: FileRulesDep,
    publisher: RuleChangesDep,
    now: NowDep,
) -> None:
    if any(r.rule_id == rule_id for r in file_rules.get(tenant, ())):
        raise HTTPException(
            status_code=status.HTTP_409_CONFLICT,
            detail=f"{rule_id} is defined in the rules file; the API cannot delete it",
        )
    if reader.rule(tenant, rule_id) is None:  # another tenant's too: it must not show
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="unknown rule")
    at = now()
    version = int(at.timestamp() * 1000)
    reader.record_rule(tenant, rule_id, None, at, version)
    _publish(publisher, RuleChange(tenant_id=tenant, rule_id=rule_id, rule=None, version=version))
