"""Score and rank: a 0..100 composite per company with a pack's weights, a band from the
pack's thresholds, and the ranked emerging-companies list, per workspace, pack and day."""

from __future__ import annotations

import uuid
from datetime import date
from typing import TYPE_CHECKING, Any

from agent_warehouse import settings
from agent_warehouse.db import run_script

if TYPE_CHECKING:
    from agent_warehouse.db import Connection


class UnknownPack(LookupError):
    """The scoring pack named does not exist."""

    def __init__(self, pack_id: str) -> None:
        super().__init__(f"unknown scoring pack {pack_id!r}")
        self.pack_id = pack_id


class UnknownWorkspace(LookupError):
    """The workspace has no row in signals.workspace_packs."""

    def __init__(self, workspace_id: str) -> None:
        super().__init__(f"unknown workspace {workspace_id!r}: not registered in signals.workspace_packs")
        self.workspace_id = workspace_id


def parse_workspace(workspace_id: str) -> str:
    """The canonical text of a workspace uuid; ValueError if it is not one."""
    return str(uuid.UUID(str(workspace_id)))


def resolve_pack(conn: Connection, workspace_id: str | None, pack_id: str | None = None) -> str:
    """The pack_id given, else the workspace's pack, else the default pack.

    Raises UnknownPack naming a pack that does not exist, and UnknownWorkspace for a
    workspace the signal job does not know.
    """
    (given, workspace_pack, default_pack, known), = run_script(
        conn, "signals/resolve_pack.sql", {"pack_id": pack_id, "workspace_id": workspace_id})
    if workspace_id is not None and not known:
        raise UnknownWorkspace(workspace_id)
    if pack_id is not None:
        if given is None:
            raise UnknownPack(pack_id)
        return given
    if workspace_pack is not None:
        return workspace_pack
    if default_pack is None:
        raise UnknownPack("<default>")
    return default_pack


def known_workspaces(conn: Connection) -> list[str]:
    """Every workspace with a row in signals.workspace_packs."""
    return [row[0] for row in run_script(conn, "signals/workspaces.sql", {})]


def register_workspace(conn: Connection, workspace_id: str, pack_id: str | None = None) -> None:
    """Make a workspace known to the signal job, optionally with its own pack."""
    run_script(conn, "signals/register_workspace.sql",
               {"workspace_id": parse_workspace(workspace_id), "pack_id": pack_id})


def score_day(conn: Connection, day: date, workspace_id: str, pack_id: str,
              top_n: int | None = None) -> dict[str, Any]:
    """Score every company with features on ``day`` and store the ranked list (one transaction)."""
    params = {"day": day, "workspace_id": workspace_id, "pack_id": pack_id,
              "top_n": top_n or settings.current().signals_top_n}
    (scored, ranked), = run_script(conn, "signals/score_day.sql", params)
    return {"workspace_id": workspace_id, "pack_id": pack_id, "day": day.isoformat(),
            "companies_scored": int(scored), "ranked_count": int(ranked)}


def emerging(conn: Connection, day: date, workspace_id: str, pack_id: str, limit: int = 100) -> list[dict[str, Any]]:
    """The stored ranked list: rank, company, composite, band."""
    rows = run_script(conn, "signals/emerging_list.sql",
                      {"day": day, "workspace_id": workspace_id, "pack_id": pack_id, "limit": limit})
    return [{"rank": r[0], "company": r[1], "composite": float(r[2]), "band": r[3]} for r in rows]


def format_table(ranked: list[dict[str, Any]]) -> str:
    from tabulate import tabulate

    return tabulate([(r["rank"], r["company"], r["composite"], r["band"]) for r in ranked],
                    headers=["rank", "company", "composite", "band"], floatfmt=".2f")
