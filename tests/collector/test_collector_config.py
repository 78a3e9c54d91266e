"""collector/ is correct by construction: no container engine runs here, so the files are checked as data.

The collector merges `--config` files as confmap does (maps merge key by key, lists and scalars replace);
`_merge` does the same so the Logfire overlay is checked as the collector would see it.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from inline_snapshot import snapshot

from majordomo_otel.cli import build_parser

REPO = Path(__file__).resolve().parents[2]
COLLECTOR = REPO / "collector"
SECTIONS = ("receivers", "processors", "exporters")
#: component types each file may use, all present in otelcol-contrib (otlp_grpc/otlp_http since v0.144)
KNOWN_TYPES = {
    "receivers": {"otlp"},
    "processors": {"memory_limiter", "batch"},
    "exporters": {"otlp_grpc", "otlp_http", "debug"},
}
ENV_REF = re.compile(r"\$\{([^}]*)\}")
ENV_REF_OK = re.compile(r"^env:[A-Z_][A-Z0-9_]*(:-[^}]*)?$")


def _load(name: str) -> Any:
    return yaml.safe_load((COLLECTOR / name).read_text())


def _merge(base: Any, overlay: Any) -> Any:
    if isinstance(base, dict) and isinstance(overlay, dict):
        return {k: _merge(base[k], overlay[k]) if k in base and k in overlay else overlay.get(k, base.get(k))
                for k in base | overlay}  # fmt: skip
    return overlay


CONFIGS = {
    "otelcol.yaml": lambda: _load("otelcol.yaml"),
    "otelcol.yaml + otelcol.logfire.yaml": lambda: _merge(_load("otelcol.yaml"), _load("otelcol.logfire.yaml")),
}


@pytest.fixture(params=list(CONFIGS))
def config(request: pytest.FixtureRequest) -> dict[str, Any]:
    return CONFIGS[request.param]()


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


def test_pipelines_name_only_defined_components(config: dict[str, Any]) -> None:
    undefined = {
        (name, section, component)
        for name, pipeline in config["service"]["pipelines"].items()
        for section in SECTIONS
        for component in pipeline[section]
        if component not in (config.get(section) or {})
    }
    assert undefined == set()


def test_every_defined_component_is_used(config: dict[str, Any]) -> None:
    pipelines = config["service"]["pipelines"].values()
    unused = {
        (section, component)
        for section in SECTIONS
        for component in config[section]
        if not any(component in p[section] for p in pipelines)
    }
    assert unused == set()


def test_component_types_exist_in_otelcol_contrib(config: dict[str, Any]) -> None:
    unknown = {
        (section, component)
        for section in SECTIONS
        for component in config[section]
        if component.split("/", 1)[0] not in KNOWN_TYPES[section]
    }
    assert unknown == set()


def test_memory_limiter_first_and_batch_last(config: dict[str, Any]) -> None:
    processors = {name: p["processors"] for name, p in config["service"]["pipelines"].items()}
    assert processors == {"traces": ["memory_limiter", "batch"], "metrics": ["memory_limiter", "batch"]}


def test_memory_limiter_settings_are_in_range() -> None:
    """The collector refuses percentages outside (0, 100] and a spike limit at or above the limit."""
    limiter = _load("otelcol.yaml")["processors"]["memory_limiter"]
    assert 0 < limiter["spike_limit_percentage"] < limiter["limit_percentage"] <= 100


def test_otlp_receiver_listens_on_4317_grpc_and_4318_http() -> None:
    assert _load("otelcol.yaml")["receivers"] == {
        "otlp": {"protocols": {"grpc": {"endpoint": "0.0.0.0:4317"}, "http": {"endpoint": "0.0.0.0:4318"}}}
    }


def test_exporters_without_logfire() -> None:
    config = _load("otelcol.yaml")
    assert config["exporters"] == snapshot(
        {"otlp_grpc/jaeger": {"endpoint": "jaeger:4317", "tls": {"insecure": True}}, "debug": {"verbosity": "basic"}}
    )
    assert {n: p["exporters"] for n, p in config["service"]["pipelines"].items()} == snapshot(
        {"traces": ["otlp_grpc/jaeger", "debug"], "metrics": ["debug"]}
    )


def test_base_config_needs_no_environment() -> None:
    """Runs without a Logfire token: no `${...}` reference at all."""
    assert [s for s in _strings(_load("otelcol.yaml")) if ENV_REF.search(s)] == []


def test_logfire_overlay_exports_both_signals_with_the_token_from_the_environment() -> None:
    merged = CONFIGS["otelcol.yaml + otelcol.logfire.yaml"]()
    assert merged["exporters"]["otlp_http/logfire"] == snapshot(
        {
            "endpoint": "${env:LOGFIRE_OTLP_ENDPOINT:-https://logfire-us.pydantic.dev}",
            "headers": {"Authorization": "${env:LOGFIRE_TOKEN}"},
            "compression": "gzip",
        }
    )
    assert {n: p["exporters"] for n, p in merged["service"]["pipelines"].items()} == snapshot(
        {"traces": ["otlp_grpc/jaeger", "debug", "otlp_http/logfire"], "metrics": ["debug", "otlp_http/logfire"]}
    )
    assert merged["receivers"] == _load("otelcol.yaml")["receivers"]


def test_env_references_use_the_env_provider_and_are_documented() -> None:
    refs = [m for name in CONFIGS for s in _strings(CONFIGS[name]()) for m in ENV_REF.findall(s)]
    assert [r for r in refs if not ENV_REF_OK.match(r)] == []
    names = sorted({r.split(":")[1] for r in refs})
    assert names == ["LOGFIRE_OTLP_ENDPOINT", "LOGFIRE_TOKEN"]
    readme = (COLLECTOR / "README.md").read_text()
    assert [n for n in names if n not in readme] == []


# -- compose -------------------------------------------------------------------------------------------------


def _merge_compose(base: Any, overlay: Any, key: str = "") -> Any:
    """Compose's own override rules: maps merge; `volumes` merge by container path; `ports` add up; else replace."""
    if isinstance(base, dict) and isinstance(overlay, dict):
        return {k: _merge_compose(base[k], overlay[k], k) if k in base and k in overlay else overlay.get(k, base.get(k))
                for k in base | overlay}  # fmt: skip
    if key == "volumes" and isinstance(base, list) and isinstance(overlay, list):
        by_target = {spec.split(":")[1]: spec for spec in [*base, *overlay]}
        return list(by_target.values())
    if key == "ports" and isinstance(base, list) and isinstance(overlay, list):
        return [*base, *overlay]
    return overlay


def _compose(*names: str) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for name in names:
        merged = _merge_compose(merged, _load(name))
    return merged


def _mounts(service: dict[str, Any]) -> dict[str, Path]:
    """container path → host path of the service's bind mounts (named volumes left out)."""
    result = {}
    for spec in service.get("volumes", []):
        source, target = spec.split(":")[:2]
        if source.startswith("."):
            result[target] = (COLLECTOR / source).resolve()
    return result


def test_compose_services() -> None:
    compose = _compose("compose.yaml")
    assert sorted(compose["services"]) == ["collector", "gateway", "jaeger", "postgres", "sim"]
    assert compose["services"]["jaeger"]["ports"] == ["16686:16686"]
    assert compose["services"]["collector"]["ports"] == ["4317:4317", "4318:4318"]


@pytest.mark.parametrize("files", [("compose.yaml",), ("compose.yaml", "compose.logfire.yaml")])
def test_collector_reads_only_mounted_config_files_that_exist(files: tuple[str, ...]) -> None:
    collector = _compose(*files)["services"]["collector"]
    mounts = _mounts(collector)
    configs = [arg.removeprefix("--config=") for arg in collector["command"]]
    assert [c for c in configs if c not in mounts] == []
    assert [str(p) for p in mounts.values() if not p.is_file()] == []
    assert [p.name for p in mounts.values()] == [
        "otelcol.yaml",
        *(["otelcol.logfire.yaml"] if len(files) == 2 else []),
    ]


def test_logfire_compose_overlay_requires_the_token() -> None:
    env = _compose("compose.yaml", "compose.logfire.yaml")["services"]["collector"]["environment"]
    assert env["LOGFIRE_TOKEN"].startswith("${LOGFIRE_TOKEN:?")


def test_gateway_service_is_built_from_the_repo_and_points_at_postgres_and_the_collector() -> None:
    services = _compose("compose.yaml")["services"]
    gateway = services["gateway"]
    context = (COLLECTOR / gateway["build"]["context"]).resolve()
    assert context == REPO
    assert (context / gateway["build"]["dockerfile"]).is_file()
    pg = services["postgres"]["environment"]
    env = gateway["environment"]
    assert env["MAJORDOMO_DATABASE_URL"] == (
        f"postgresql://{pg['POSTGRES_USER']}:{pg['POSTGRES_PASSWORD']}@postgres:5432/{pg['POSTGRES_DB']}"
    )
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://collector:4318"
    assert gateway["depends_on"]["postgres"] == {"condition": "service_healthy"}


def test_jaeger_exporter_targets_the_jaeger_service() -> None:
    host = _load("otelcol.yaml")["exporters"]["otlp_grpc/jaeger"]["endpoint"].split(":")[0]
    assert host in _compose("compose.yaml")["services"]


# -- Dockerfile ----------------------------------------------------------------------------------------------


def _dockerfile() -> list[tuple[str, str]]:
    text = (COLLECTOR / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def test_dockerfile_copies_files_that_exist() -> None:
    sources = [s for op, args in _dockerfile() if op == "COPY" for s in shlex.split(args)[:-1]]
    assert sources == ["pyproject.toml", "README.md", "src"]
    assert [s for s in sources if not (REPO / s).exists()] == []


def test_dockerfile_installs_existing_extras() -> None:
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    runs = " ".join(args for op, args in _dockerfile() if op == "RUN")
    wanted = re.search(r'pip install "\.\[([a-z,]+)\]"', runs)
    assert wanted is not None
    assert [e for e in wanted.group(1).split(",") if e not in extras] == []


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(lambda: yaml.safe_load([a for op, a in _dockerfile() if op == "CMD"][-1]), id="Dockerfile CMD"),
        pytest.param(lambda: _compose("compose.yaml")["services"]["sim"]["command"], id="compose sim command"),
    ],
)
def test_container_commands_parse_with_the_real_cli(argv: Any) -> None:
    command = argv()
    assert command[0] == "majordomo"
    args = build_parser().parse_args(command[1:])
    assert args.host == "0.0.0.0"


def test_dockerignore_keeps_only_what_the_build_copies() -> None:
    lines = (COLLECTOR / "Dockerfile.dockerignore").read_text().splitlines()
    rules = [line for line in lines if line and not line.startswith("#")]
    assert rules[0] == "*"
    assert sorted(r.removeprefix("!").rstrip("/") for r in rules if r.startswith("!")) == [
        "README.md",
        "pyproject.toml",
        "src",
    ]
