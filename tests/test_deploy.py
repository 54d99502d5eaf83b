"""The deployment files in ``deploy/``, checked without a container engine or systemd.

The Dockerfile is parsed into instructions; the unit files are read with
``configparser``; the compose file, the Kubernetes manifests and the sample configs are
loaded, and the manifests checked against the Kubernetes API's schemas
(``kubernetes-validate``). When ``systemd-analyze`` is installed the units are also
verified by systemd itself; when ``kubectl`` is, ``kubectl kustomize`` builds the kit.
Ports, probes, paths, users, image and secret names are checked to agree with each other
and with the code.
"""

from __future__ import annotations

import configparser
import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import sqlalchemy as sa
import yaml
from apscheduler.triggers.cron import CronTrigger

from bridge.config.loader import load_config
from bridge.config.models import Config

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
CONFIG_IN_CONTAINER = "/etc/timebridge/timebridge.toml"
STATE_DIR = "/var/lib/timebridge"
SECRETISH = re.compile(r"token|secret|passw|api_?key|credential", re.IGNORECASE)


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of deploy/Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text(encoding="utf-8"))
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def unit(name: str) -> configparser.ConfigParser:
    # strict=False: systemd allows a key twice (SystemCallFilter=); the last one is kept.
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read(DEPLOY / name, encoding="utf-8")
    return parser


def test_dockerfile_builds_a_non_root_daemon_image_without_secrets() -> None:
    steps = dockerfile()
    names = [word for word, _ in steps]
    assert [args for word, args in steps if word == "FROM"][-1] == "python:3.11-slim"
    assert any(word == "RUN" and "pip install /src" in args for word, args in steps)
    user = [args for word, args in steps if word == "USER"]
    assert user and user[-1].split(":")[0] not in ("root", "0")
    assert names.index("USER") < names.index("ENTRYPOINT")
    assert json.loads(dict(steps)["ENTRYPOINT"]) == ["timebridge"]
    assert json.loads(dict(steps)["CMD"]) == ["daemon", "--config", CONFIG_IN_CONTAINER]
    assert STATE_DIR in json.loads(dict(steps)["VOLUME"])
    assert dict(steps)["STOPSIGNAL"] == "SIGTERM"
    assert "org.opencontainers.image.title" in dict(steps)["LABEL"]
    for word, args in steps:
        if word in ("ENV", "ARG"):
            names_set = re.findall(r"(\w+)=", args) or [args.split()[0]]
            assert not [n for n in names_set if SECRETISH.search(n)], (word, args)
        if word in ("COPY", "ADD"):
            sources = shlex.split(args)[:-1]
            assert sources and all(s in ("pyproject.toml", "README.md", "bridge", "connectors")
                                   for s in sources), f"{word} {args} may bake in a secret"


def test_dockerignore_keeps_the_context_to_the_package() -> None:
    lines = [line for line in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
             if line and not line.startswith("#")]
    assert lines[0] == "*"
    assert {"!bridge", "!connectors", "!pyproject.toml", "!README.md"} <= set(lines)


def test_daemon_unit_is_hardened_and_stops_with_sigterm() -> None:
    service = unit("timebridge.service")["Service"]
    assert shlex.split(service["ExecStart"])[1:] == ["daemon", "--config", CONFIG_IN_CONTAINER]
    assert service["DynamicUser"] == "yes" and service["User"] not in ("root", "0")
    assert service["StateDirectory"] == "timebridge"
    assert service["EnvironmentFile"] == "-/etc/timebridge/env"
    assert service["Restart"] == "on-failure"
    assert service["RestartPreventExitStatus"] == "2"  # bad config: restarting cannot help
    assert service["KillSignal"] == "SIGTERM" and service["KillMode"] == "mixed"
    assert service["TimeoutStopSec"].endswith("s")
    hardening = {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
                 "PrivateTmp": "yes", "CapabilityBoundingSet": ""}
    for key, value in hardening.items():
        assert service[key] == value, key
    assert unit("timebridge.service")["Install"]["WantedBy"] == "multi-user.target"


def test_sync_timer_runs_a_oneshot_sync_every_15_minutes() -> None:
    service = unit("timebridge-sync.service")["Service"]
    assert service["Type"] == "oneshot"
    assert shlex.split(service["ExecStart"])[1] == "sync"
    daemon = unit("timebridge.service")["Service"]
    for key in ("User", "DynamicUser", "StateDirectory", "EnvironmentFile", "NoNewPrivileges",
                "ProtectSystem"):
        assert service[key] == daemon[key], key  # same user, state and hardening as the daemon
    timer = unit("timebridge-sync.timer")
    assert timer["Timer"]["OnCalendar"] == "*:0/15"
    assert timer["Timer"]["Persistent"] == "true"
    assert timer["Timer"]["Unit"] == "timebridge-sync.service"
    assert timer["Install"]["WantedBy"] == "timers.target"


def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed; the units were only parsed")
    # verify insists that ExecStart exists: point it at this environment's timebridge.
    here = Path(sys.executable).parent / "timebridge"
    if not here.exists():
        pytest.skip(f"no timebridge script at {here} to stand in for /usr/local/bin/timebridge")
    names = ["timebridge.service", "timebridge-sync.service", "timebridge-sync.timer"]
    for name in names:
        text = (DEPLOY / name).read_text(encoding="utf-8")
        (tmp_path / name).write_text(text.replace("/usr/local/bin/timebridge", str(here)))
    result = subprocess.run([analyze, "verify", *(f"./{n}" for n in names)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    # Unknown keys are only warnings (exit 0): any line about our units is a failure.
    ours = [line for line in (result.stdout + result.stderr).splitlines()
            if "timebridge" in line]
    assert result.returncode == 0 and not ours, result.stdout + result.stderr


def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """A compose service's volumes: source by path in the container."""
    return {m.split(":")[1]: m.split(":")[0] for m in service["volumes"]}


def test_compose_mounts_the_config_and_the_state_volume() -> None:
    text = (DEPLOY / "compose.yaml").read_text(encoding="utf-8")
    for line in ("dockerfile: deploy/Dockerfile", f"./timebridge.toml:{CONFIG_IN_CONTAINER}:ro",
                 f"timebridge-state:{STATE_DIR}", "stop_signal: SIGTERM"):
        assert line in text, line
    assert not SECRETISH.search(re.sub(r"#.*", "", text).replace("timebridge.env", ""))
    spec = compose()
    # `up` without a profile starts the one SQLite daemon, as before.
    (name,) = [n for n, s in spec["services"].items() if not s.get("profiles")]
    service = spec["services"][name]
    assert mounts(service)[CONFIG_IN_CONTAINER] == "./timebridge.toml"
    assert mounts(service)[STATE_DIR] in spec["volumes"]
    assert service["stop_grace_period"] == "90s" and service["read_only"] is True


def test_compose_replicas_profile_runs_two_daemons_on_postgres() -> None:
    spec = compose()
    services = spec["services"]
    replica, postgres = services["timebridge-replica"], services["postgres"]
    assert replica["profiles"] == postgres["profiles"] == ["replicas"]
    assert replica["deploy"]["replicas"] == 2
    assert replica["image"] == services["timebridge"]["image"] == IMAGE
    assert mounts(replica) == {CONFIG_IN_CONTAINER: "./timebridge-replicas.toml"}
    assert replica["depends_on"]["postgres"]["condition"] == "service_healthy"
    for key in ("stop_signal", "stop_grace_period", "read_only", "cap_drop", "security_opt"):
        assert replica[key] == services["timebridge"][key], key
    # The healthcheck asks /healthz on the port the replicas' config listens on.
    assert f":{listen_port()}/healthz" in " ".join(replica["healthcheck"]["test"])
    # The database the config names is the one the profile starts.
    url = sa.make_url(replicas_config()["state"]["url"])
    assert (url.host, url.username, url.database) == (
        "postgres", postgres["environment"]["POSTGRES_USER"],
        postgres["environment"]["POSTGRES_DB"])
    assert url.password is None  # PGPASSWORD, from the env file


# --- Kubernetes ----------------------------------------------------------------------------

K8S = DEPLOY / "kubernetes"
K8S_VERSION = "1.30"  # the oldest Kubernetes the manifests are checked against
IMAGE = "timebridge:latest"


def manifest(name: str) -> dict[str, Any]:
    return yaml.safe_load((K8S / name).read_text(encoding="utf-8"))


def replicas_config() -> dict[str, Any]:
    """The config the replicas run: deploy/timebridge-replicas.toml."""
    return tomllib.loads((DEPLOY / "timebridge-replicas.toml").read_text(encoding="utf-8"))


def listen_port() -> int:
    return int(replicas_config()["daemon"]["listen"].rsplit(":", 1)[1])


def pod(kind_file: str) -> dict[str, Any]:
    """The pod spec of the Deployment or of the CronJob's jobs."""
    spec = manifest(kind_file)["spec"]
    if "jobTemplate" in spec:
        spec = spec["jobTemplate"]["spec"]
    return spec["template"]["spec"]


def test_kubernetes_manifests_are_valid_api_objects_and_all_in_the_kustomization() -> None:
    files = sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
    # The daemon by default; the CronJob is the alternative, listed in its place.
    resources = manifest("kustomization.yaml")["resources"]
    assert resources == ["configmap.yaml", "secret.yaml", "deployment.yaml", "service.yaml"]
    assert sorted([*resources, "cronjob.yaml"]) == files
    kinds = {}
    for name in files:
        document = manifest(name)
        kubernetes_validate.validate(document, K8S_VERSION, strict=True)  # raises if not
        kinds[document["kind"]] = name
    assert set(kinds) == {"ConfigMap", "Secret", "Deployment", "Service", "CronJob"}
    kubectl = shutil.which("kubectl")
    if kubectl is not None:  # kustomize builds it offline
        built = subprocess.run([kubectl, "kustomize", str(K8S)], capture_output=True,
                               text=True, timeout=60)
        assert built.returncode == 0, built.stderr
        assert sorted(d["kind"] for d in yaml.safe_load_all(built.stdout)) == sorted(
            kind for kind in kinds if kind != "CronJob")


def test_the_deployment_runs_two_hardened_daemons_probed_on_the_listen_port() -> None:
    deployment = manifest("deployment.yaml")
    spec = deployment["spec"]
    assert spec["replicas"] == 2
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"][
        "labels"].items()
    template = pod("deployment.yaml")
    (container,) = template["containers"]
    assert container["image"] == IMAGE
    assert container["args"] == ["daemon", "--config", CONFIG_IN_CONTAINER]
    (port,) = container["ports"]
    assert port["containerPort"] == listen_port() == 9464  # INTERFACE.md's [daemon] port
    example = tomllib.loads((DEPLOY.parent / "config.example.toml").read_text(encoding="utf-8"))
    if "daemon" in example:  # the documented default listens on the same port
        assert example["daemon"]["listen"].rsplit(":", 1)[1] == str(listen_port())
        if "webhook_secret_env" in example["daemon"]:
            assert example["daemon"]["webhook_secret_env"] == replicas_config()["daemon"][
                "webhook_secret_env"]
    assert replicas_config()["daemon"]["listen"].startswith("0.0.0.0:")  # reachable
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = container[probe]["httpGet"]
        assert get["path"] == path and get["port"] in (port["name"], port["containerPort"])
    # The config: the ConfigMap's file where the image's CMD and the args look for it.
    (config_mount,) = [m for m in container["volumeMounts"] if m["name"] == "config"]
    assert config_mount["mountPath"] == str(Path(CONFIG_IN_CONTAINER).parent)
    assert config_mount["readOnly"] is True
    (volume,) = [v for v in template["volumes"] if v["name"] == "config"]
    assert volume["configMap"]["name"] == manifest("configmap.yaml")["metadata"]["name"]
    assert volume["configMap"]["items"] == [
        {"key": "timebridge.toml", "path": Path(CONFIG_IN_CONTAINER).name}]
    # Secrets from the Secret, as environment variables.
    assert container["envFrom"] == [
        {"secretRef": {"name": manifest("secret.yaml")["metadata"]["name"]}}]
    # Non-root (the image's own user), nothing writable but /tmp, no privileges.
    user = [args for word, args in dockerfile() if word == "USER"][-1].split(":")[0]
    security = template["securityContext"]
    assert security["runAsNonRoot"] is True and str(security["runAsUser"]) == user
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]}}
    assert template["automountServiceAccountToken"] is False
    assert {"cpu", "memory"} <= container["resources"]["requests"].keys()
    assert "memory" in container["resources"]["limits"]
    # Time for the write in flight after SIGTERM, as every other setup here allows.
    grace = template["terminationGracePeriodSeconds"]
    assert f"{grace}s" == compose()["services"]["timebridge"]["stop_grace_period"] \
        == unit("timebridge.service")["Service"]["TimeoutStopSec"]


def test_the_service_sends_webhooks_and_scrapes_to_the_daemon_pods_only() -> None:
    service = manifest("service.yaml")["spec"]
    (port,) = service["ports"]
    (container,) = pod("deployment.yaml")["containers"]
    assert port["port"] == listen_port() and port["targetPort"] == container["ports"][0]["name"]
    labels = manifest("deployment.yaml")["spec"]["template"]["metadata"]["labels"]
    assert service["selector"].items() <= labels.items()
    sync_labels = manifest("cronjob.yaml")["spec"]["jobTemplate"]["spec"]["template"][
        "metadata"]["labels"]
    assert not service["selector"].items() <= sync_labels.items()  # not the sync jobs


def test_the_secret_names_every_variable_of_the_config_and_holds_placeholders_only() -> None:
    config = replicas_config()
    wanted = {c["token_env"] for c in config["connectors"].values()}
    wanted |= {config["daemon"]["webhook_secret_env"], "PGPASSWORD"}  # libpq's password
    secret = manifest("secret.yaml")
    assert secret["stringData"].keys() == wanted
    assert set(secret["stringData"].values()) == {"replace-me"}
    assert all("token" not in c for c in config["connectors"].values())
    url = sa.make_url(config["state"]["url"])
    assert url.get_backend_name() == "postgresql" and url.password is None
    # No secret-looking value anywhere else in the kit.
    for name in ("configmap.yaml", "deployment.yaml", "service.yaml", "cronjob.yaml"):
        assert "replace-me" not in (K8S / name).read_text(encoding="utf-8"), name


def test_the_cronjob_runs_one_sync_at_a_time_like_the_daemon_pods() -> None:
    cronjob = manifest("cronjob.yaml")["spec"]
    assert cronjob["concurrencyPolicy"] == "Forbid"
    CronTrigger.from_crontab(cronjob["schedule"])  # a valid crontab
    job, daemon = pod("cronjob.yaml"), pod("deployment.yaml")
    assert job["restartPolicy"] == "Never"
    (container,), (daemon_container,) = job["containers"], daemon["containers"]
    assert container["args"] == ["sync", "--config", CONFIG_IN_CONTAINER]
    for key in ("image", "envFrom", "securityContext", "volumeMounts"):
        assert container[key] == daemon_container[key], key
    for key in ("securityContext", "volumes", "automountServiceAccountToken",
                "terminationGracePeriodSeconds"):
        assert job[key] == daemon[key], key


def test_the_configmap_holds_the_replicas_config_and_it_loads(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    text = (DEPLOY / "timebridge-replicas.toml").read_text(encoding="utf-8")
    assert manifest("configmap.yaml")["data"]["timebridge.toml"] == text
    raw = tomllib.loads(text)
    for connector in raw["connectors"].values():
        monkeypatch.setenv(connector["token_env"], "t-sample")
    monkeypatch.setenv(raw["daemon"]["webhook_secret_env"], "s-sample")
    path = tmp_path / "timebridge.toml"
    if "daemon" in Config.model_fields:
        path.write_text(text, encoding="utf-8")
    else:
        # [daemon] comes with the daemon's HTTP listener (built on another branch); until
        # the two meet, the rest of the file is loaded. It is the file's last table.
        head, _, _ = text.partition("\n[daemon]")
        path.write_text(head + "\n", encoding="utf-8")
    loaded = load_config(path)
    assert loaded.state_url == raw["state"]["url"]
    assert {r.name for r in loaded.config.routes} == {"kaiten-billing", "tracker-billing"}


def test_sample_config_is_valid_and_keeps_state_in_the_state_directory(
        monkeypatch: pytest.MonkeyPatch) -> None:
    raw = tomllib.loads((DEPLOY / "timebridge.toml").read_text(encoding="utf-8"))
    for connector in raw["connectors"].values():
        assert "token" not in connector, "a token in the sample config"
        monkeypatch.setenv(connector["token_env"], "t-sample")
    loaded = load_config(DEPLOY / "timebridge.toml")
    assert loaded.state_url == f"sqlite:///{STATE_DIR}/timebridge.sqlite"
    assert {r.name for r in loaded.config.routes} == {"kaiten-billing", "tracker-billing"}
