"""What `vidsearch status --check` looks for: SQLite's own check, then vidsearch's invariants."""

from __future__ import annotations

# Each names a problem and counts its cases; a library in good order counts none.
_INVARIANTS = {
    "frames without a video": "SELECT count(*) FROM frames WHERE video_id NOT IN "
    "(SELECT id FROM videos)",
    "frames without a vector": "SELECT count(*) FROM frames WHERE vector IS NULL",
    "videos whose frames are missing from the shortlist bits": "SELECT count(DISTINCT "
    "video_id) FROM frames WHERE video_id NOT IN (SELECT video_id FROM frame_bits)",
    "clips without a video": "SELECT count(*) FROM clips WHERE video_id NOT IN "
    "(SELECT id FROM videos)",
    "ok videos without clips": "SELECT count(*) FROM videos WHERE status = 'ok' AND id "
    "NOT IN (SELECT video_id FROM clips)",
    "clips without a vector": "SELECT count(*) FROM clips WHERE embedding IS NULL",
    "clips missing from the shortlist bits": "SELECT count(*) FROM videos WHERE "
    "status = 'ok' AND id NOT IN (SELECT video_id FROM clip_bits)",
}


def problems(conn) -> list[str]:
    """One line per problem found, empty when there are none."""
    found = [r[0] for r in conn.execute("PRAGMA integrity_check") if r[0] != "ok"]
    for problem, query in _INVARIANTS.items():
        count = conn.execute(query).fetchone()[0]
        if count:
            found.append(f"{count} {problem}")
    return found
