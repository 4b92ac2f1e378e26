"""Settings and sources files: validated on load, with messages that say where."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from config.loader import ConfigError, build_settings, load_settings, load_sources, parse_source_settings
from connectors.base import setting


@dataclass
class WikiSettings:
    url: str = setting(label="API URL")
    namespaces: list[str] = setting(default_factory=lambda: ["0"])
    password: str = setting("", secret=True)
    max_pages: int = setting(100)


def settings_class(kind):
    if kind != "wiki":
        raise KeyError(f"unknown connector kind {kind!r} (known kinds: wiki)")
    return WikiSettings


def write(tmp_path, text, name="sources.toml"):
    path = tmp_path / name
    path.write_text(text, "utf-8")
    return path


GOOD = """
[[source]]
id = "gcwiki"
kind = "wiki"
agency = "records"
schedule = "0 2 * * *"
[source.settings]
url = "https://wiki.example/api.php"
password = "env:WIKI_PASS"
"""


def test_defaults_load_and_environment_overrides(tmp_path):
    settings = load_settings(
        env={
            "SAVOIR_WEB_PORT": "9090",
            "SAVOIR_HTTP_OBEY_ROBOTS": "false",
            "SAVOIR_STORE_DATA_DIR": str(tmp_path),
        }
    )
    assert settings.web.port == 9090 and settings.http.obey_robots is False
    assert settings.database_url == f"sqlite:///{tmp_path / 'savoir.db'}"
    assert settings.http.min_delay >= 1.0  # polite by default


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"web": {"port": "eighty"}}, "[web]: field 'port': expected a whole number"),
        ({"web": {"prot": 80}}, "[web]: unknown field 'prot'"),
        ({"webb": {}}, "unknown section [webb]"),
        ({"crawler": {"batch_size": 0}}, "'batch_size' must be at least 1"),
    ],
)
def test_bad_settings_name_the_section_and_field(data, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        build_settings(data, env={}, source="my.toml")


def test_settings_file_errors_name_the_file(tmp_path):
    bad = write(tmp_path, "[web\nport = 1", "settings.toml")
    with pytest.raises(ConfigError, match="settings.toml: not valid TOML"):
        load_settings(bad, env={})
    with pytest.raises(ConfigError, match="nowhere.toml: file not found"):
        load_settings(tmp_path / "nowhere.toml", env={})


def test_sources_load_with_secrets_from_the_environment(tmp_path):
    path = write(tmp_path, GOOD)
    (source,) = load_sources(path, settings_class=settings_class, env={"WIKI_PASS": "s3cret"})
    options = parse_source_settings(source, WikiSettings, env={"WIKI_PASS": "s3cret"})
    assert options.password == "s3cret" and options.namespaces == ["0"]
    override = parse_source_settings(source, WikiSettings, env={"SAVOIR_SOURCE_GCWIKI_PASSWORD": "other"})
    assert override.password == "other"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            GOOD.replace('kind = "wiki"', 'kind = "wikki"'),
            "source 'gcwiki': field 'kind': unknown connector kind 'wikki'",
        ),
        (GOOD.replace('agency = "records"\n', ""), "source 'gcwiki': field 'agency' is required"),
        (GOOD.replace('"0 2 * * *"', '"at dawn"'), "field 'schedule'"),
        (GOOD.replace('"0 2 * * *"', '"99 2 * * *"'), "bad cron expression"),
        (
            GOOD.replace('url = "https://wiki.example/api.php"\n', ""),
            r"\[source.settings\]: field 'url' is required",
        ),
        (GOOD.replace("url =", "ulr ="), "unknown field 'ulr'"),
        (GOOD.replace('id = "gcwiki"', 'id = "gc wiki"'), "field 'id'"),
        (GOOD + GOOD, "another source already uses this id"),
        (
            GOOD.replace('password = "env:WIKI_PASS"', 'password = "env:NOPE"'),
            "environment variable NOPE is not set",
        ),
        (
            GOOD.replace("max_pages", "x").replace("url =", 'max_pages = "many"\nurl ='),
            "field 'max_pages': expected a whole number",
        ),
    ],
)
def test_bad_sources_name_file_source_and_field(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as caught:
        load_sources(path, settings_class=settings_class, env={"WIKI_PASS": "x"})
    assert str(path) in str(caught.value)
    assert "\n" not in str(caught.value)
