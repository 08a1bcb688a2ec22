"""CSV uploads: the request body as text and the import loop every CSV import shares."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, TypeVar

from fastapi import Depends, Request

from api.access import audit, visible_patients
from api.deps import DbConn, Staff, client_addr
from api.errors import ApiError
from api.schemas.common import ImportResultOut, RowError
from telehub.care.csv_rows import RowProblem
from telehub.care.episodes import EpisodeRow
from telehub.care.risk import RiskRow


async def csv_text(request: Request) -> str:
    """The request body as text (UTF-8, with or without a byte-order mark)."""
    body = await request.body()
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ApiError(422, "The file is not UTF-8 text (save it as CSV UTF-8).",
                       "not-utf8") from err


CsvBody = Annotated[str, Depends(csv_text)]
R = TypeVar("R", RiskRow, EpisodeRow)


class RowConflict(Exception):
    """A CSV row the database refuses as it stands (the row is listed, the rest imported)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def import_rows(conn: DbConn, staff: Staff, request: Request, what: str,
                good: Sequence[R], bad: Sequence[RowProblem],
                store: Callable[[int, R], bool]) -> ImportResultOut:
    """The import loop both CSV imports share: resolve each good row's patient within the
    caller's teams, `store(patient_id, row)` it (True if it changed anything; RowConflict to
    refuse it), list refused rows with their reason, audit, commit."""
    errors = [RowError(row=p.row, code=p.code, message=p.message) for p in bad]
    patients = visible_patients(conn, staff, [r.nhs_number for r in good])
    imported = unchanged = 0
    touched: set[int] = set()
    for r in good:
        pid = patients.get(r.nhs_number)
        if pid is None:
            errors.append(RowError(row=r.row, code="unknown-patient",
                                   message="No patient with this NHS number in your teams."))
            continue
        try:
            changed = store(pid, r)
        except RowConflict as conflict:
            errors.append(RowError(row=r.row, code=conflict.code, message=conflict.message))
            continue
        if changed:
            imported += 1
            touched.add(pid)
        else:
            unchanged += 1
    audit(conn, staff, "import", what, None, client_addr(request),
          {"rows": len(good) + len(bad), "imported": imported, "patient_ids": sorted(touched)})
    conn.commit()
    errors.sort(key=lambda e: e.row)
    return ImportResultOut(rows=len(good) + len([b for b in bad if b.row > 0]),
                           imported=imported, unchanged=unchanged, errors=errors)

