"""The README's promises match the code: every setting documented, the two commands real."""

from pathlib import Path

from schemas.ingest.readers import CSV_COLUMNS
from schemas.settings import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_every_setting_is_in_the_configuration_table() -> None:
    missing = [ENV_PREFIX + name.upper() for name in Settings.model_fields
               if f"`{ENV_PREFIX}{name.upper()}`" not in README]
    assert not missing


def test_the_two_commands_exist_and_ci_calls_the_test_command() -> None:
    for script in ("scripts/run.sh", "scripts/test.sh"):
        assert f"`{script}`" in README
        assert (ROOT / script).stat().st_mode & 0o111, f"{script} is not executable"
    assert "scripts/test.sh" in (ROOT / ".ci" / "run").read_text()


def test_csv_columns_are_documented() -> None:
    for column in CSV_COLUMNS:
        assert f"`{column}`" in README, column
