"""Writing the output folder as a whole, and telling when it is stale."""

from __future__ import annotations

import fcntl
import os

import pytest

from generator.errors import OutputError
from generator.output import MANIFEST, stale_diff, write_output


def tree(directory) -> dict[str, str]:
    return {
        path.relative_to(directory).as_posix(): path.read_text()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


def test_writes_exactly_the_files_and_a_manifest(tmp_path):
    output = tmp_path / "stack"

    write_output({"a/one.yml": "1\n", "two.json": "{}\n"}, output)

    assert tree(output) == {
        MANIFEST: "a/one.yml\ntwo.json\n",
        "a/one.yml": "1\n",
        "two.json": "{}\n",
    }


def test_a_second_render_removes_files_no_longer_rendered(tmp_path):
    output = tmp_path / "stack"
    write_output({"old.yml": "old\n", "kept.yml": "v1\n"}, output)

    write_output({"kept.yml": "v2\n"}, output)

    assert tree(output) == {MANIFEST: "kept.yml\n", "kept.yml": "v2\n"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stack"]


def test_a_folder_with_files_obsgen_did_not_write_is_refused(tmp_path):
    output = tmp_path / "stack"
    output.mkdir()
    (output / "notes.txt").write_text("mine\n")

    with pytest.raises(OutputError, match=r"notes\.txt"):
        write_output({"a.yml": "1\n"}, output)

    assert tree(output) == {"notes.txt": "mine\n"}


def test_a_failed_write_leaves_the_old_output_untouched(tmp_path):
    output = tmp_path / "stack"
    write_output({"a.yml": "good\n"}, output)
    before = tree(output)

    # A file and a folder of the same name cannot both be written.
    with pytest.raises(OutputError, match="cannot write output"):
        write_output({"a.yml": "new\n", "b": "x\n", "b/c.yml": "y\n"}, output)

    assert tree(output) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stack"]


def test_stale_diff_is_empty_when_up_to_date(tmp_path):
    files = {"a.yml": "1\n", "b/c.yml": "2\n"}
    write_output(files, tmp_path / "stack")

    assert stale_diff(files, tmp_path / "stack") == ""


def test_stale_diff_shows_edits_additions_and_removals(tmp_path):
    output = tmp_path / "stack"
    write_output({"edited.yml": "a: 1\n", "gone.yml": "x\n"}, output)
    (output / "edited.yml").write_text("a: 2\n")

    diff = stale_diff({"edited.yml": "a: 1\n", "new.yml": "n\n"}, output)

    assert "--- a/edited.yml\n+++ b/edited.yml\n" in diff
    assert "-a: 2\n+a: 1\n" in diff
    assert "--- /dev/null\n+++ b/new.yml\n" in diff
    assert "--- a/gone.yml\n+++ /dev/null\n" in diff


def test_stale_diff_of_a_missing_folder_lists_every_file(tmp_path):
    diff = stale_diff({"a.yml": "1\n"}, tmp_path / "absent")

    assert "+++ b/a.yml" in diff


def test_the_folder_keeps_its_permissions_across_renders(tmp_path):
    output = tmp_path / "stack"
    write_output({"a.yml": "1\n"}, output)
    output.chmod(0o750)

    write_output({"a.yml": "2\n"}, output)

    assert output.stat().st_mode & 0o777 == 0o750


def test_leftovers_of_a_killed_render_are_cleared_by_the_next(tmp_path):
    output = tmp_path / "stack"
    for leftover in (".stack.obsgen-new", ".stack.obsgen-old"):
        (tmp_path / leftover / "prometheus").mkdir(parents=True)
        (tmp_path / leftover / "prometheus" / "half.yml").write_text("x")

    write_output({"a.yml": "1\n"}, output)

    assert sorted(p.name for p in tmp_path.iterdir()) == ["stack"]


def test_a_second_render_into_the_same_place_at_once_is_refused(tmp_path):
    output = tmp_path / "stack"
    write_output({"a.yml": "1\n"}, output)
    # Another render holds the folder, as write_output itself does.
    handle = os.open(tmp_path, os.O_RDONLY)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        with pytest.raises(OutputError, match="another obsgen render is writing"):
            write_output({"a.yml": "2\n"}, output)
    finally:
        os.close(handle)

    assert (output / "a.yml").read_text() == "1\n"


def test_the_first_stranger_stops_the_search(tmp_path):
    (tmp_path / "stack" / "deep" / "deeper").mkdir(parents=True)
    (tmp_path / "stack" / "deep" / "deeper" / "theirs.txt").write_text("x")

    with pytest.raises(OutputError, match=r"deep/deeper/theirs\.txt"):
        write_output({"a.yml": "1\n"}, tmp_path / "stack")
