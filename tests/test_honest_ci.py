"""Under KAYOU_REQUIRE_SERVICES (CI) nothing passes by being skipped."""

import subprocess
import sys
import textwrap

import pytest

from tests.network import shared_data


def test_missing_real_data_fails_when_services_are_required(monkeypatch, tmp_path):
    monkeypatch.setattr(shared_data, "DATA", tmp_path / "nowhere")
    monkeypatch.delenv("KAYOU_REQUIRE_SERVICES", raising=False)
    with pytest.raises(pytest.skip.Exception):
        shared_data.need_data()
    monkeypatch.setenv("KAYOU_REQUIRE_SERVICES", "1")
    with pytest.raises(pytest.fail.Exception, match="KAYOU_REQUIRE_SERVICES"):
        shared_data.need_data("andorra.osm.pbf")


@pytest.mark.parametrize("module_skip", [False, True])
@pytest.mark.parametrize("required", ["", "1"])
def test_a_skip_is_a_failure_when_services_are_required(tmp_path, required, module_skip):
    root = tmp_path / "t"
    (root / "tests").mkdir(parents=True)
    conftest = (shared_data.Path(__file__).parent / "conftest.py").read_text()
    (root / "tests" / "conftest.py").write_text(conftest)
    (root / "tests" / "test_x.py").write_text(
        textwrap.dedent(
            """
            import pytest

            def test_skips():
                pytest.skip("no service")
            """
        )
    )
    if module_skip:  # a module skipped at import (a missing package)
        (root / "tests" / "test_x.py").write_text('import pytest\npytest.importorskip("nope_x")\n')
    env = {"KAYOU_REQUIRE_SERVICES": required, "PATH": "/usr/bin:/bin"}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    summary = run.stdout.strip().splitlines()[-1]
    if required:
        assert ("1 failed" in summary or "1 error" in summary) and "skipped" not in summary
        assert run.returncode != 0
    else:
        assert summary.startswith("1 skipped") and run.returncode in (0, 5), (
            run.stdout
        )  # 5: none ran
