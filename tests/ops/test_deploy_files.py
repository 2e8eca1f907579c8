"""``deploy/compose.yaml`` and ``deploy/Dockerfile``, checked without a Docker engine (there
is none on this machine): the compose file against the Compose Specification's JSON schema
(vendored in ``deploy/vendor/``), both files parsed and held to what deploy/README.md
promises — slim and non-root, probes on ``/readyz``, no secrets written into them."""

from __future__ import annotations

import copy
import fnmatch
import hashlib
import io
import json
import re
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from dockerfile_parse import DockerfileParser

from chronik.cli import build_parser
from chronik.settings import SETTINGS_MODELS, env_names

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
PACKAGES = ("chronik", "timeline", "search", "notify", "connectors")
SECRET_NAME = re.compile(r"PASSWORD|TOKEN|SECRET|_KEY$|CREDENTIAL", re.I)
INTERPOLATED = re.compile(r"^\$\{[A-Z0-9_]+(:?[-?][^}]*)?\}$")


def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((DEPLOY / "compose.yaml").read_text("utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def schema_errors(document: dict[str, Any]) -> list[str]:
    schema = json.loads((DEPLOY / "vendor" / "compose-spec.json").read_text("utf-8"))
    validator = jsonschema.validators.validator_for(schema)
    validator.check_schema(schema)
    return sorted(f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
                  for e in validator(schema).iter_errors(document))


# ---------------------------------------------------------------------- compose
def test_compose_file_follows_the_compose_spec() -> None:
    assert schema_errors(compose()) == []


@pytest.mark.parametrize("mistake", [
    lambda c: c["services"]["chronik"]["healthcheck"].update(interval=15),
    lambda c: c["services"]["chronik"].update(restart_policy="always"),
    lambda c: c["services"]["worker"]["depends_on"]["chronik"].update(condition="ready"),
    lambda c: c["services"]["postgres"].update(ports="5432"),
], ids=["number-as-duration", "unknown-key", "bad-condition", "ports-not-a-list"])
def test_the_schema_check_catches_mistakes(mistake: Any) -> None:
    broken = copy.deepcopy(compose())
    mistake(broken)
    assert schema_errors(broken) != []


def test_the_vendored_schema_is_the_pinned_one() -> None:
    pin = (DEPLOY / "vendor" / "COMPOSE_SPEC_VERSION").read_text("utf-8")
    (recorded,) = re.findall(r"^sha256 ([0-9a-f]{64})  compose-spec.json$", pin, re.M)
    actual = hashlib.sha256((DEPLOY / "vendor" / "compose-spec.json").read_bytes()).hexdigest()
    assert actual == recorded
    assert (DEPLOY / "vendor" / "LICENSE.compose-spec").is_file()


def test_compose_wires_the_scale_profile() -> None:
    services = compose()["services"]
    assert set(services) == {"postgres", "opensearch", "chronik", "worker"}
    parser = build_parser()
    for name, command in (("chronik", "serve"), ("worker", "worker")):
        service = services[name]
        assert service["command"] == [command]
        assert parser.parse_args(service["command"]).command == command  # a real subcommand
        env = service["environment"]
        assert env["CHRONIK_DATABASE_URL"].startswith("postgresql://chronik:")
        assert env["CHRONIK_DATABASE_URL"].endswith("@postgres:5432/chronik")
        assert env["CHRONIK_SEARCH_URL"] == "http://opensearch:9200"
        assert env["CHRONIK_SEARCH_ENGINE"] == "opensearch"
        assert service["volumes"] == [f"chronik-data:{env['CHRONIK_DATA_DIR']}"]
        assert service["read_only"] is True and service["cap_drop"] == ["ALL"]
        assert "no-new-privileges:true" in service["security_opt"]
    chronik, worker = services["chronik"], services["worker"]
    assert chronik["environment"]["CHRONIK_NOTIFY_WORKER"] == "false"  # the worker sends
    assert "/readyz" in " ".join(chronik["healthcheck"]["test"])
    assert chronik["depends_on"] == {"postgres": {"condition": "service_healthy"},
                                     "opensearch": {"condition": "service_healthy"}}
    assert worker["depends_on"] == {"chronik": {"condition": "service_healthy"}}
    assert worker["healthcheck"] == {"disable": True}  # no HTTP server to probe
    assert all(port.startswith("127.0.0.1:") for port in chronik["ports"])
    for name in ("postgres", "opensearch"):
        assert "ports" not in services[name], f"{name} must not be published"
        assert services[name]["networks"] == ["backend"]
        assert services[name]["healthcheck"]["test"]
    assert compose()["networks"]["backend"]["internal"] is True
    search_env = services["opensearch"]["environment"]
    assert search_env["discovery.type"] == "single-node"
    assert search_env["DISABLE_SECURITY_PLUGIN"] == "true"


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    return dict(env) if isinstance(env, dict) else dict(v.split("=", 1) for v in env)


def test_compose_holds_no_secrets() -> None:
    """Passwords and tokens come from .env / chronik.env (``${…}``), never from the file."""
    for name, service in compose()["services"].items():
        for key, val in _environment(service).items():
            if SECRET_NAME.search(key):
                assert INTERPOLATED.match(str(val)), f"{name}: {key} is written into the file"
        url = _environment(service).get("CHRONIK_DATABASE_URL")
        if url is not None:
            password = url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
            assert INTERPOLATED.match(password), f"{name}: database password in the URL"
    postgres = compose()["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"]
    assert postgres.startswith("${POSTGRES_PASSWORD:?"), "required, never a default"


# ---------------------------------------------------------------------- Dockerfile
def dockerfile() -> DockerfileParser:
    return DockerfileParser(fileobj=io.BytesIO((DEPLOY / "Dockerfile").read_bytes()))


def stages(parser: DockerfileParser) -> list[list[dict[str, Any]]]:
    out: list[list[dict[str, Any]]] = []
    for instruction in parser.structure:
        if instruction["instruction"] == "FROM":
            out.append([])
        if out and instruction["instruction"] != "COMMENT":
            out[-1].append(instruction)
    return out


def test_dockerfile_builds_in_stages_on_slim_python() -> None:
    parser = dockerfile()
    assert parser.is_multistage
    assert all(re.fullmatch(r"python:3\.11-slim(-\w+)?", image)
               for image in parser.parent_images), parser.parent_images


def test_the_final_image_runs_as_a_non_root_user() -> None:
    final = stages(dockerfile())[-1]
    users = [i["value"].strip() for i in final if i["instruction"] == "USER"]
    assert users, "the final stage sets no USER (it would run as root)"
    user = users[-1].split(":", 1)[0]
    assert user not in ("root", "0") and (not user.isdigit() or int(user) >= 1000)
    last = max(i["startline"] for i in final if i["instruction"] == "USER")
    assert not [i for i in final if i["instruction"] == "RUN" and i["startline"] > last]


def test_the_final_image_has_no_build_tools_and_no_installer() -> None:
    final = stages(dockerfile())[-1]
    runs = " ".join(i["value"] for i in final if i["instruction"] == "RUN")
    for tool in ("apt-get install", "apk add", "gcc", "build-essential", "pip install"):
        assert tool not in runs
    assert "pip uninstall" in runs  # the base image's pip leaves too
    copies = [i["value"] for i in final if i["instruction"] in ("COPY", "ADD")]
    assert copies and all(c.startswith("--from=build ") for c in copies), copies


def test_the_image_probes_readiness_and_keeps_data_in_a_volume() -> None:
    parser = dockerfile()
    final = stages(parser)[-1]
    (health,) = [i["value"] for i in final if i["instruction"] == "HEALTHCHECK"]
    assert "/readyz" in health and "--timeout=" in health
    (volume,) = [json.loads(i["value"]) for i in final if i["instruction"] == "VOLUME"]
    assert parser.envs["CHRONIK_DATA_DIR"] in volume
    (entrypoint,) = [json.loads(i["value"]) for i in final if i["instruction"] == "ENTRYPOINT"]
    (cmd,) = [json.loads(i["value"]) for i in final if i["instruction"] == "CMD"]
    assert entrypoint == ["chronik"]
    assert build_parser().parse_args(cmd).command == "serve"


def test_the_dockerfile_holds_no_secrets() -> None:
    parser = dockerfile()
    for instruction in parser.structure:
        if instruction["instruction"] in ("ENV", "ARG", "LABEL"):
            for key in re.findall(r"([A-Za-z_][\w.]*)=", instruction["value"]):
                assert not SECRET_NAME.search(key), f"{key} in {instruction['instruction']}"
        if instruction["instruction"] in ("COPY", "ADD"):
            assert ".env" not in instruction["value"] and "secret" not in instruction["value"]


def test_what_the_build_copies_exists_and_passes_the_dockerignore() -> None:
    build = stages(dockerfile())[0]
    sources = [part for i in build if i["instruction"] == "COPY"
               for part in i["value"].split()[:-1]]
    assert set(PACKAGES) <= set(sources)
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text("utf-8").splitlines()
    let_in = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    for source in sources:
        assert (ROOT / source).exists(), source
        assert source in let_in, f"{source} is left out of the build context"


def test_an_installed_chronik_has_every_file_it_needs() -> None:
    """The image (and a systemd install) run Chronik from a built wheel: every non-Python
    file of our packages must be in the wheel's package data, or the console loses its CSS
    and JavaScript outside a source checkout."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    patterns = pyproject["tool"]["setuptools"]["package-data"]["*"]
    missing = sorted(
        str(path.relative_to(ROOT)) for package in PACKAGES
        for path in (ROOT / package).rglob("*")
        if path.is_file() and path.suffix not in (".py", ".pyc", ".pyi")
        and "__pycache__" not in path.parts
        and not any(fnmatch.fnmatch(path.name, p) for p in patterns))
    assert missing == [], "add their patterns to [tool.setuptools.package-data] in pyproject"


def test_every_setting_the_deploy_files_name_exists() -> None:
    """A misspelt variable is silently ignored by the settings (``extra="ignore"``)."""
    known = {name for model in SETTINGS_MODELS for name in env_names(model)}
    named: set[str] = set()
    for service in compose()["services"].values():
        named |= {k for k in _environment(service) if k.startswith("CHRONIK_")}
    for path in (DEPLOY / "chronik.env.example", *sorted((DEPLOY / "systemd").glob("*.service")),
                 DEPLOY / "Dockerfile"):
        named |= set(re.findall(r"\b(CHRONIK_[A-Z0-9_]+)=", path.read_text("utf-8")))
    assert named <= known, sorted(named - known)
    assert {"CHRONIK_DATA_DIR", "CHRONIK_SEARCH_URL", "CHRONIK_NOTIFY_WORKER",
            "CHRONIK_METRICS_TOKEN", "CHRONIK_DATABASE_URL"} <= named
