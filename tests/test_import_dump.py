"""``cql import --from-dir``: saved responses go through the same mapping and writers.

The dump is assembled from the recorded responses of test_import_recorded.py, arranged the
way docs/import.md tells users to save them (one folder per resource; list pages and single
records mixed), and run through the real command in a subprocess.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent / "import_responses"
ROOT = Path(__file__).resolve().parents[1]
LAYOUT = {
    "spaces": ["spaces-1.json", "spaces-2.json"],
    "pages": ["eng-pages-1.json", "eng-pages-2.json", "personal-pages.json", "page-65571.json",
              "page-65602.json", "page-65700.json", "page-65710.json", "page-65720.json",
              "page-294913.json"],
    "blogposts": ["eng-blogposts.json", "blogpost-131073.json"],
    "whiteboards": ["whiteboard-98305.json"],
    "databases": ["database-98306.json"],
    "embeds": ["embed-98307.json"],
    "folders": ["folder-98308.json"],
    "attachments": ["attachments.json"],
    "footer-comments": ["footer-comments.json"],
    "inline-comments": ["inline-comments.json"],
    "users": ["users-bulk.json"],
}
ORPHAN = {"id": "98400", "type": "whiteboard", "status": "current", "title": "Loose sketch",
          "authorId": "5b6d7f20e6dba529eefdbad9", "createdAt": "2024-01-20T10:00:00.000Z",
          "version": {"number": 1, "createdAt": "2024-01-20T10:00:00.000Z"}}


def _dump(root: Path) -> Path:
    for folder, files in LAYOUT.items():
        (root / folder).mkdir(parents=True)
        for name in files:
            shutil.copyfile(HERE / name, root / folder / name)
    (root / "whiteboards" / "orphan.json").write_text(json.dumps(ORPHAN), encoding="utf-8")
    (root / "pages" / "truncated.json").write_text('{"results": [', encoding="utf-8")
    return root


def _cql(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "index.cli.main", *args], capture_output=True,
                          text=True, env=env, timeout=120)


def _lines(path: Path) -> dict[str, dict]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return {row.get("id", row.get("key", row.get("account_id"))): row for row in rows}


def test_from_dir_gives_the_site_a_live_import_gives(tmp_path: Path) -> None:
    dump = _dump(tmp_path / "dump")
    out = tmp_path / "site"
    done = _cql("import", "--from-dir", str(dump), "--out", str(out))
    assert done.returncode == 1, done.stderr  # bad records were reported
    got = _lines(out / "content.jsonl")
    expected = _lines(HERE / "expected" / "content.jsonl")
    # A dump has no version history: the edited comment's creator is its last editor.
    edited = expected.pop("163843")
    edited = {k: v for k, v in edited.items() if k not in ("lastmodified", "contributors")}
    edited.update(creator="081a9155b3ef015294feec88", created="2024-06-04T12:00:00.000Z")
    assert got.pop("163843") == edited
    # Attachment labels come from their own endpoint, which this dump did not save.
    del expected["229377"]["labels"]
    assert got == expected
    assert _lines(out / "spaces.jsonl") == _lines(HERE / "expected" / "spaces.jsonl")
    assert _lines(out / "users.jsonl") == _lines(HERE / "expected" / "users.jsonl")
    reported = {line for line in done.stderr.splitlines() if line.startswith("skipped: ")}
    assert "skipped: whiteboard 98400: missing spaceId (and no parent that has one)" in reported
    assert any(line.startswith("skipped: pages/truncated.json: not a JSON response")
               for line in reported)
    assert "skipped: page 65700: body: cannot be parsed as storage format" in "\n".join(reported)
    assert "Traceback" not in done.stderr


def test_from_dir_rerun_applies_deletions(tmp_path: Path) -> None:
    dump = _dump(tmp_path / "dump")
    out = tmp_path / "site"
    _cql("import", "--from-dir", str(dump), "--out", str(out))
    (dump / "attachments" / "attachments.json").unlink()
    done = _cql("import", "--from-dir", str(dump), "--out", str(out))
    got = _lines(out / "content.jsonl")
    assert "229377" not in got and "229378" not in got
    assert "163845" not in got  # the comment on the deleted attachment goes with it
    assert "65602" in got
    assert "3 deleted" in done.stdout


def test_from_dir_errors_are_one_line(tmp_path: Path) -> None:
    done = _cql("import", "--from-dir", str(tmp_path / "nope"), "--out", str(tmp_path / "s"))
    assert done.returncode == 1
    assert done.stderr.strip() == f"error: --from-dir: no such directory: {tmp_path / 'nope'}"
    (tmp_path / "empty").mkdir()
    done = _cql("import", "--from-dir", str(tmp_path / "empty"), "--out", str(tmp_path / "s"))
    assert done.stderr.startswith("error: --from-dir ") and "no resource folders" in done.stderr
    assert not (tmp_path / "s").exists()
