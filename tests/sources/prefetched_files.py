"""Small prefetched users files for the tests: a mixed one and a damaged one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def file_user(user_id: str, username: str, followers: int) -> dict[str, Any]:
    return {
        "id": user_id,
        "username": username,
        "name": username.title(),
        "verified": True,
        "verified_type": "blue",
        "public_metrics": {"followers_count": followers, "following_count": 3},
        "entities": {"url": {"urls": [{"expanded_url": f"https://{username}.example"}]}},
    }


def users_file(path: Path) -> Path:
    lines = [
        json.dumps(file_user("1", "Ann", 10)),
        "",
        json.dumps({"data": file_user("2", "Bob", 20)}),
        "   ",
        "not json",
        json.dumps(
            {
                "data": [file_user("3", "Cy", 30), {"id": "", "username": "NoId"}],
                "errors": [{"value": "Dee", "title": "Forbidden", "detail": "suspended"}],
            }
        ),
        json.dumps({"username": "NoIdAtAll"}),
        json.dumps(file_user("11", "ann", 11)),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def damaged_file(path: Path) -> Path:
    lines = [
        json.dumps(file_user("1", "Ann", 10)),
        '{"id":"4","username":"Dan","name":"Dan D","descr',  # truncated: only Dan's line
        "",
        "this is not json",
        json.dumps({"note": "valid JSON, no user"}),
        '{"id":"5","username":"Eve","name":"Eve',  # truncated, but a later line answers Eve
        json.dumps(file_user("5", "Eve", 50)),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
