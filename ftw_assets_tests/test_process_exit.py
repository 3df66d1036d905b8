"""process_exit: a process ends with its exit code, after the exit handlers registered later, and
without the interpreter's teardown."""

import subprocess
import sys

SCRIPT = """
import atexit, sys
from pathlib import Path
from ftw_assets import process_exit

out = Path(sys.argv[1])
process_exit.install()
atexit.register(lambda: (out / "later-handler").write_text("ran"))  # a library's, registered after


class Torn:
    def __init__(self, path):
        self.path = path

    def __del__(self, open=open):  # runs when the interpreter tears its modules down (names bound now)
        with open(self.path, "w") as f:
            f.write("ran")


torn = Torn(str(out / "teardown"))
print("unflushed", end="")
try:
    {body}
except SystemExit as exit:
    process_exit.exiting_with(exit.code)
    raise
"""


def _run(tmp_path, body: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", SCRIPT.format(body=body), str(tmp_path)], capture_output=True,
                          text=True, timeout=60)


def test_exit_code_later_handlers_and_output_kept_teardown_skipped(tmp_path):
    done = _run(tmp_path, "sys.exit(3)")
    assert done.returncode == 3 and done.stdout == "unflushed"
    assert (tmp_path / "later-handler").read_text() == "ran"
    assert not (tmp_path / "teardown").exists()


def test_a_message_exit_is_1_and_a_clean_one_0(tmp_path):
    done = _run(tmp_path, "sys.exit('what went wrong')")
    assert done.returncode == 1 and done.stderr.strip() == "what went wrong"
    assert _run(tmp_path, "sys.exit()").returncode == 0


def test_an_uncaught_exception_keeps_pythons_own_ending(tmp_path):
    done = _run(tmp_path, "raise RuntimeError('boom')")
    assert done.returncode == 1 and "RuntimeError: boom" in done.stderr
    assert (tmp_path / "teardown").read_text() == "ran"  # torn down as usual
