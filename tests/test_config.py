"""Config: the example validates, every mistake is one clear line naming file, key and reason."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import pytest

from bridge.config.loader import ConfigError, load_config, resolve_state_url, today
from bridge.config.models import parse_schedule
from connectors.kaiten.config import KaitenConfig
from connectors.tracker.config import TrackerConfig
from connectors.units import Rounding

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "config.example.toml"
TOKENS = {"KAITEN_TOKEN": "kaiten-secret-1", "TRACKER_TOKEN": "tracker-secret-2",
          "CONTRACTING_TOKEN": "contracting-secret-3"}


@pytest.fixture
def tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in TOKENS.items():
        monkeypatch.setenv(key, value)


def edited(tmp_path: Path, old: str, new: str, name: str = "c.toml") -> Path:
    """The example config with one exact substring replaced (the edit must apply)."""
    text = EXAMPLE.read_text()
    assert old in text, f"example config lacks {old!r}"
    path = tmp_path / name
    path.write_text(text.replace(old, new, 1))
    return path


def test_example_config_is_valid_with_the_documented_defaults(tokens: None) -> None:
    loaded = load_config(EXAMPLE)
    cfg = loaded.config
    assert set(cfg.connectors) == {"kaiten", "tracker", "billing"}
    kaiten = cfg.connectors["kaiten"]
    assert isinstance(kaiten, KaitenConfig)
    assert (kaiten.role_id, kaiten.rounding, kaiten.requests_per_second) == \
        (-1, Rounding.NEAREST, 5)
    tracker = cfg.connectors["tracker"]
    assert isinstance(tracker, TrackerConfig)
    assert (tracker.org_id, tracker.workday_hours, tracker.created_lookback_days) == \
        ("7654321", 8, 90)
    route = cfg.route("kaiten-billing")
    assert (route.window_days, route.max_delete_share, route.on_conflict) == (30, 0.2, "report")
    assert route.tasks == {"1001": "prj_aaaa"} and route.filter == {"user_ids": [34, 345]}
    assert loaded.secret("kaiten") == "kaiten-secret-1"
    # a relative SQLite path is relative to the config's folder
    assert loaded.state_url == f"sqlite:///{REPO / 'timebridge.sqlite'}"


def test_minimal_config_takes_defaults(tmp_path: Path) -> None:
    path = tmp_path / "min.toml"
    path.write_text('[connectors.k]\ntype = "kaiten"\nbase_url = "http://x"\ntoken = "t0ken"\n'
                    '[connectors.b]\ntype = "contracting"\nbase_url = "http://y"\ntoken = "t0k"\n'
                    'tenant_id = "tnt"\n[[routes]]\nname = "r"\nsource = "k"\ntarget = "b"\n')
    cfg = load_config(path).config
    route = cfg.routes[0]
    assert route.schedule == "*/15 * * * *" and route.propagate_deletes is True
    assert route.description == "{comment}" and route.default_task is None
    assert cfg.state.url == "sqlite:///timebridge.sqlite"
    assert cfg.connectors["b"].reference_source == "CONTRACTING"


BAD_CASES = [
    # (old, new, key named in the message, words of the reason)
    ('rounding = "nearest"', 'rounding = "round"', "connectors.kaiten.rounding", "nearest"),
    ("window_days = 30", "window_dayz = 30", "routes[0] (kaiten-billing).window_dayz",
     "unknown key (check the spelling; see config.example.toml); did you mean 'window_days'?"),
    ('token_env = "KAITEN_TOKEN"', 'tokn_env = "KAITEN_TOKEN"', "connectors.kaiten.tokn_env",
     "did you mean 'token_env'?"),
    ('url = "sqlite:///timebridge.sqlite"', 'ulr = "sqlite:///timebridge.sqlite"', "state.ulr",
     "did you mean 'url'?"),
    ('type = "kaiten"', 'type = "jira"', "connectors.kaiten", "unknown connector type 'jira'"),
    ('type = "tracker"\n', "", "connectors.tracker", "'type' is missing"),
    ('target = "billing"', 'target = "bill"', "routes[0] (kaiten-billing).target",
     "no connector named 'bill'"),
    ('schedule = "*/15 * * * *"', 'schedule = "61 * * * *"',
     "routes[0] (kaiten-billing).schedule", "not a crontab"),
    ('schedule = "every 10m"', 'schedule = "every ten minutes"',
     "routes[1] (tracker-billing).schedule", "not a crontab"),
    ('tenant_id = "tnt_pfh0haxfpzowht3oi213cqos"', "", "connectors.billing.tenant_id", "missing"),
    ('name = "kaiten-billing"', "", "routes[0].name", "missing"),
    ('token_env = "KAITEN_TOKEN"', 'token_env = "KAITEN_TOKEN"\ntoken = "inline"',
     "connectors.kaiten", "exactly one of token_env, token_file, token"),
    ("user_ids = [34, 345]", 'user_ids = ["a"]', "routes[0] (kaiten-billing).filter.user_ids",
     "integer"),
    ("user_ids = [34, 345]", 'created_by = ["a"]', "routes[0] (kaiten-billing).filter.created_by",
     "not a filter of a kaiten source"),
    ('timezone = "Europe/Moscow"', 'timezone = "Mars/Olympus"', "connectors.tracker.timezone",
     "unknown time zone"),
    ('day_start = "09:00"', 'day_start = "25:99"', "connectors.tracker.day_start", "25:99"),
    ('org_id = "7654321"', "", "connectors.tracker", "exactly one of org_id"),
    ('description = "{comment}"', 'description = "{coment}"',
     "routes[0] (kaiten-billing).description", "unknown field {coment}"),
    ('"1001" = "prj_aaaa"', '"1001" = 42', "routes[0] (kaiten-billing).tasks.1001",
     "must be a string"),
    ('reference_source = "YANDEX_TRACKER"', 'reference_source = "KAITEN"',
     "connectors.tracker.reference_source", "already used"),
    ('name = "tracker-billing"', 'name = "kaiten-billing"', "routes[1] (kaiten-billing).name",
     "used twice"),
    ("max_delete_share = 0.2", "max_delete_share = 1.5",
     "routes[0] (kaiten-billing).max_delete_share", "less than or equal to 1"),
    ('base_url = "https://example.kaiten.ru"', 'base_url = "example.kaiten.ru"',
     "connectors.kaiten.base_url", "http(s) URL"),
    # values that would only fail once running, refused where check --offline sees them
    ('description = "{comment}"', 'description = "{comment:d}"',
     "routes[0] (kaiten-billing).description", "Unknown format code 'd'"),
    ('description = "{comment}"', 'description = "{comment!z}"',
     "routes[0] (kaiten-billing).description", "cannot be filled"),
    ('description = "{comment}"', 'description = "{comment:>999999999}"',
     "routes[0] (kaiten-billing).description", "more than 10000 characters"),
    ('description = "{comment}"', 'description = "{comment:>{author}}"',
     "routes[0] (kaiten-billing).description", "holds a field"),
    ("window_days = 30", "window_days = 100000", "routes[0] (kaiten-billing).window_days",
     "at most 3660 days (ten years)"),
    ('schedule = "every 10m"', 'schedule = "every 1000000000d"',
     "routes[1] (tracker-billing).schedule", "at most 366 days"),
    ("requests_per_second = 5 ", "requests_per_second = inf ",
     "connectors.kaiten.requests_per_second", "finite"),
    ("requests_per_second = 5 ", "requests_per_second = nan ",
     "connectors.kaiten.requests_per_second", "finite"),
    ("requests_per_second = 5 ", "timeout_seconds = inf ",
     "connectors.kaiten.timeout_seconds", "finite"),
    ("requests_per_second = 5 ", "max_duration_hours = inf ",
     "connectors.kaiten.max_duration_hours", "finite"),
    ('tenant_id = "tnt_pfh0haxfpzowht3oi213cqos"',
     'tenant_id = "tnt_pfh0haxfpzowht3oi213cqos"\ntimeout_seconds = inf',
     "connectors.billing.timeout_seconds", "finite"),
]


@pytest.mark.parametrize(("old", "new", "key", "reason"), BAD_CASES,
                         ids=[c[2] + ":" + c[3] for c in BAD_CASES])
def test_bad_config_is_one_line_naming_file_key_and_reason(
    tokens: None, tmp_path: Path, old: str, new: str, key: str, reason: str
) -> None:
    path = edited(tmp_path, old, new)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: {key}:"), message
    assert reason in message


def test_invalid_toml_names_file_and_position(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("[state\nurl = 1\n")
    with pytest.raises(ConfigError, match=re.escape(f"{path}: invalid TOML:") + ".*line 1"):
        load_config(path)


def test_missing_token_variable_is_named(tokens: None, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.delenv("TRACKER_TOKEN")
    with pytest.raises(ConfigError, match=r"connectors\.tracker\.token_env: environment variable "
                                          r"TRACKER_TOKEN is not set"):
        load_config(EXAMPLE)


def test_token_file_is_read_relative_to_the_config(tokens: None, tmp_path: Path) -> None:
    (tmp_path / "kaiten.token").write_text("from-file-token\n")
    path = edited(tmp_path, 'token_env = "KAITEN_TOKEN"', 'token_file = "kaiten.token"')
    assert load_config(path).secret("kaiten") == "from-file-token"
    (tmp_path / "kaiten.token").unlink()
    with pytest.raises(ConfigError, match=r"connectors\.kaiten\.token_file: cannot read"):
        load_config(path)


def test_secrets_never_show_in_a_repr_of_the_config(tokens: None, tmp_path: Path) -> None:
    path = edited(tmp_path, 'token_env = "KAITEN_TOKEN"', 'token = "inline-secret-xyz"')
    loaded = load_config(path)
    assert loaded.secret("kaiten") == "inline-secret-xyz"
    assert "inline-secret-xyz" not in repr(loaded) + str(loaded.config.model_dump())
    for value in TOKENS.values():
        assert value not in repr(loaded)


def test_config_path_falls_back_to_env_then_cwd(tokens: None, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="no config found: give --config PATH"):
        load_config(None)
    monkeypatch.setenv("TIMEBRIDGE_CONFIG", str(EXAMPLE))
    assert load_config(None).path == EXAMPLE
    monkeypatch.delenv("TIMEBRIDGE_CONFIG")
    (tmp_path / "timebridge.toml").write_text(EXAMPLE.read_text())
    assert load_config(None).path.name == "timebridge.toml"


def test_today_is_utc_or_pinned(monkeypatch: pytest.MonkeyPatch) -> None:
    assert abs(today() - date.today()) <= timedelta(days=1)
    monkeypatch.setenv("TIMEBRIDGE_TODAY", "2026-11-25")
    assert today() == date(2026, 11, 25)
    monkeypatch.setenv("TIMEBRIDGE_TODAY", "25.11.2026")
    with pytest.raises(ConfigError, match="TIMEBRIDGE_TODAY: not a date"):
        today()


def test_state_url_resolution(tmp_path: Path) -> None:
    assert resolve_state_url("sqlite:///s.db", tmp_path) == f"sqlite:///{tmp_path / 's.db'}"
    assert resolve_state_url("sqlite:////abs/s.db", tmp_path) == "sqlite:////abs/s.db"
    assert resolve_state_url("postgresql://u@h/db", tmp_path) == "postgresql+psycopg://u@h/db"
    assert resolve_state_url("postgresql+psycopg://u@h/db", tmp_path) == \
        "postgresql+psycopg://u@h/db"


def test_schedules() -> None:
    assert parse_schedule("every 30s").interval == timedelta(seconds=30)
    assert parse_schedule("every 2h").interval == timedelta(hours=2)
    assert parse_schedule("every 366d").interval == timedelta(days=366)
    assert parse_schedule("*/15 * * * *").crontab == "*/15 * * * *"
    for bad in ("every 0s", "every 5 weeks", "* * *", "61 * * * *", "", "every 367d",
                "every 1000000000d", f"every {10**30}s"):
        with pytest.raises(ValueError):
            parse_schedule(bad)


def test_chain_without_direct_route_is_warned(tmp_path: Path) -> None:
    connectors = ('[connectors.k]\ntype = "kaiten"\nbase_url = "http://k"\ntoken = "t0ken"\n'
                  '[connectors.t]\ntype = "tracker"\nbase_url = "http://t"\ntoken = "t0ken"\n'
                  'org_id = "1"\n'
                  '[connectors.b]\ntype = "contracting"\nbase_url = "http://b"\ntoken = "t0ken"\n'
                  'tenant_id = "tnt"\n')
    chain = ('[[routes]]\nname = "k-t"\nsource = "k"\ntarget = "t"\n'
             '[[routes]]\nname = "t-b"\nsource = "t"\ntarget = "b"\n')
    path = tmp_path / "chain.toml"
    path.write_text(connectors + chain)
    warnings = load_config(path).config.chain_warnings()
    assert len(warnings) == 1
    assert "k -> t -> b" in warnings[0] and "add a route k -> b" in warnings[0]
    path.write_text(connectors + chain + '[[routes]]\nname = "k-b"\nsource = "k"\ntarget = "b"\n')
    assert load_config(path).config.chain_warnings() == []
