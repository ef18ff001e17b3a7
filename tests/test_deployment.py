"""The deployment files stay honest: compose services run the same `aims` commands as the docs."""

from __future__ import annotations

import re
import tomllib

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


def test_compose_scales_workers_and_api_replicas_behind_one_published_door():
    services = yaml.safe_load((repo_root() / "docker-compose.yml").read_text())["services"]
    assert services["worker"]["deploy"]["replicas"] == "${AIMS_WORKER_REPLICAS:-2}"
    assert services["api"]["deploy"]["replicas"] == "${AIMS_API_REPLICAS:-2}"
    assert "ports" not in services["api"] and "ports" not in services["worker"]  # replicas can't share a port
    assert services["proxy"]["ports"] == ["8000:8000"]
    caddyfile = (repo_root() / "deploy" / "Caddyfile").read_text()
    assert "dynamic a api 8000" in caddyfile and "lb_policy round_robin" in caddyfile
    assert "respond /metrics 404" in caddyfile
    assert services["proxy"]["volumes"][0].startswith("./deploy/Caddyfile:")
    # Temporal is reachable from the host only: its frontend would let anyone send commands.
    assert services["temporal"]["ports"] == ["127.0.0.1:7233:7233"]
    assert services["temporal-ui"]["ports"] == ["127.0.0.1:8233:8080"]
    for name, service in services.items():
        for port in service.get("ports", []):
            assert name in ("proxy", "oauth2-proxy") or port.startswith("127.0.0.1:"), (name, port)


def test_compose_shows_single_sign_on_as_an_optional_profile():
    services = yaml.safe_load((repo_root() / "docker-compose.yml").read_text())["services"]
    assert services["oauth2-proxy"]["profiles"] == ["sso"]
    assert services["api-sso"]["environment"]["AIMS_TRUSTED_EMAIL_HEADER"] == "X-Forwarded-Email"
    assert "--upstream=http://api-sso:8000" in services["oauth2-proxy"]["command"]
    assert "profiles" not in services["api"]  # the plain API does not trust the header
    # The header is believed only from the proxy's fixed address, and api-sso has no port of its own.
    proxy_address = services["oauth2-proxy"]["networks"]["sso"]["ipv4_address"]
    assert services["api-sso"]["environment"]["AIMS_TRUSTED_PROXIES"] == proxy_address
    assert "sso" in services["api-sso"]["networks"] and "ports" not in services["api-sso"]


def test_compose_needs_the_secrets_and_pins_every_image():
    compose = yaml.safe_load((repo_root() / "docker-compose.yml").read_text())
    environment = compose["services"]["api"]["environment"]
    assert environment["AIMS_PAYLOAD_KEYS"].startswith("${AIMS_PAYLOAD_KEYS:?")
    assert environment["AIMS_SECRET_KEY"].startswith("${AIMS_SECRET_KEY:?")
    assert environment["AIMS_SIGNING_KEY_FILE"] == "/run/secrets/aims_signing_key"
    for name in ("migrate", "worker", "api", "api-sso"):
        assert compose["services"][name]["secrets"] == ["aims_signing_key"], name
    assert "aims_signing_key" in compose["secrets"]
    for name, service in compose["services"].items():
        if "build" in service:
            continue
        assert re.search(r":v?\d+\.\d+(\.\d+)?$", service["image"]), (name, service["image"])
    ui = compose["services"]["temporal-ui"]["environment"]
    assert ui["TEMPORAL_CODEC_ENDPOINT"].endswith("/codec")
    dockerfile = (repo_root() / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11\.\d+-slim$", dockerfile, re.M)


def test_the_locks_pin_exactly_what_pyproject_asks_for_with_hashes():
    project = tomllib.loads((repo_root() / "pyproject.toml").read_text())["project"]
    runtime, test = project["dependencies"], project["optional-dependencies"]["test"]
    pip = (repo_root() / "requirements-pip.lock").read_text()
    assert re.match(r"pip==\d+\.\d+(\.\d+)?( \\\n    --hash=sha256:[0-9a-f]{64})+\n$", pip), pip
    for lock, wanted in (("requirements.lock", runtime), ("requirements-dev.lock", runtime + test)):
        text = (repo_root() / lock).read_text()
        pinned = dict(re.findall(r"^([a-z0-9._-]+)==(\S+)", text, re.M))
        for requirement in wanted:
            name, version = re.sub(r"\[.*\]", "", requirement.split(";")[0]).strip().split("==")  # no extras, no marker
            assert pinned.get(name.lower()) == version, (lock, requirement)
        packages = re.split(r"\n(?=[a-z0-9])", text.split("\n", 1)[1] if text.startswith("#") else text)
        assert all("--hash=sha256:" in block for block in packages if "==" in block), lock


def test_dockerfile_installs_the_package_and_serves_the_api():
    dockerfile = (repo_root() / "Dockerfile").read_text()
    assert "pip install --no-cache-dir --require-hashes -r requirements-pip.lock" in dockerfile
    assert "pip install --no-cache-dir --require-hashes -r requirements.lock" in dockerfile
    assert "pip install --no-cache-dir --no-deps ." in dockerfile
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
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True and "new" in command["usage_hint"]
    events = manifest["settings"]["event_subscriptions"]
    assert events["request_url"].endswith("/slack/events") and events["bot_events"] == ["app_home_opened"]


def test_the_image_installs_every_template_and_static_file():
    """The image installs aims as a package (not from the source tree): every template, static
    file and e-mail template must be in its package data, or a page fails only in production."""
    import fnmatch
    import tomllib

    package_data = tomllib.loads((repo_root() / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    shipped = [f"{package}/{pattern}" for package, patterns in package_data.items() for pattern in patterns]
    for folder in ("api/web/templates", "api/web/static", "notifications/email/templates", "aims/policy"):
        for path in (repo_root() / folder).rglob("*"):
            name = path.relative_to(repo_root()).as_posix()
            if path.is_file() and "__pycache__" not in name and not name.endswith(".py"):
                assert any(fnmatch.fnmatch(name, pattern) and name.count("/") == pattern.count("/")
                           for pattern in shipped), f"{name} is not in pyproject's package-data"  # fmt: skip
