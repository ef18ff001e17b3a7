"""The deployment files stay honest: compose services run the same `aims` commands as the docs."""

from __future__ import annotations

import yaml

from tests.conftest import repo_root


def test_compose_runs_the_documented_commands():
    compose = yaml.safe_load((repo_root() / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "temporal", "temporal-ui", "migrate", "worker", "api"} <= set(services)
    assert services["migrate"]["command"] == ["aims", "migrate"]
    assert services["worker"]["command"] == ["aims", "worker"]
    assert services["api"]["command"][:2] == ["aims", "api"]
    for name in ("migrate", "worker", "api"):
        environment = services[name]["environment"]
        assert environment["AIMS_DATABASE_URL"].startswith("postgresql")
        assert environment["TEMPORAL_ADDRESS"] == "temporal:7233"
        assert services[name]["build"] == "."
    assert services["api"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    # The policy mounted in production is the shipped default unless replaced.
    source = services["api"]["volumes"][0].split(":")[0]
    assert (repo_root() / source).exists()


def test_compose_shows_single_sign_on_as_an_optional_profile():
    services = yaml.safe_load((repo_root() / "docker-compose.yml").read_text())["services"]
    assert services["oauth2-proxy"]["profiles"] == ["sso"]
    assert services["api-sso"]["environment"]["AIMS_TRUSTED_EMAIL_HEADER"] == "X-Forwarded-Email"
    assert "--upstream=http://api-sso:8000" in services["oauth2-proxy"]["command"]
    assert "profiles" not in services["api"]  # the plain API does not trust the header


def test_dockerfile_installs_the_package_and_serves_the_api():
    dockerfile = (repo_root() / "Dockerfile").read_text()
    assert "pip install --no-cache-dir ." in dockerfile
    assert 'CMD ["aims", "api"' in dockerfile
    for package in ("aims", "workflows", "activities", "api", "notifications"):
        assert f"COPY {package} ./{package}" in dockerfile


def test_slack_manifest_points_at_our_endpoints_with_the_scopes_we_use():
    manifest = yaml.safe_load((repo_root() / "slack-app-manifest.yaml").read_text())
    assert manifest["settings"]["interactivity"]["request_url"].endswith("/slack/interactions")
    command = manifest["features"]["slash_commands"][0]
    assert command["command"] == "/aims" and command["url"].endswith("/slack/commands")
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"chat:write", "commands", "users:read", "users:read.email", "im:write", "im:history"} <= scopes
