"""The README stays true: its settings table is generated from the gateway's settings, its commands match CI.

Regenerate the table with `python tests/examples/test_readme.py` and paste it between the markers.
"""

from __future__ import annotations

import re
from pathlib import Path

from majordomo_otel.gateway.secret_box import PREVIOUS_ENV, SECRET_ENV, SECRET_FILE_ENV
from majordomo_otel.gateway.settings import settings_table

ROOT = Path(__file__).parents[2]
README = ROOT / "README.md"
BEGIN = "<!-- settings-table: generated from majordomo_otel.gateway.settings.settings_table() -->"
END = "<!-- /settings-table -->"

_GATEWAY_URL_MEANING = "where the gateway is (a comma-separated list is allowed; helpers send to the first)"
_SDK_SPANS_MEANING = "keep the Anthropic SDK's own spans (they repeat `gen_ai.usage.*`: double counting)"
CLIENT_SETTINGS = [
    (
        "MAJORDOMO_GATEWAY_URL",
        "`instrument(gateway_url=...)`",
        "`http://localhost:7680`",
        "client",
        _GATEWAY_URL_MEANING,
    ),
    ("MAJORDOMO_API_KEY", "`instrument(api_key=...)`", "required", "client", "the `mdm_sk_…` key: `X-Majordomo-Key`"),
    ("MAJORDOMO_ANTHROPIC_SDK_SPANS", "`instrument(anthropic_sdk_spans=...)`", "`off`", "client", _SDK_SPANS_MEANING),
]


#: Read from the environment only (secrets have no flag: `ps` would show them).
GATEWAY_SECRETS = [
    (
        SECRET_ENV,
        "unset: stored provider keys unused",
        "encrypts the provider keys stored in the database (16+ characters); "
        "every gateway and `majordomo credentials` need the same",
    ),
    (SECRET_FILE_ENV, "unset", f"a file holding {SECRET_ENV} (for secret mounts)"),
    (PREVIOUS_ENV, "unset", "older secrets, comma-separated, still accepted for decrypting while you rotate"),
    (
        "MAJORDOMO_<PROVIDER>_API_KEY",
        "unset",
        "a provider key the gateway sends for clients that send only their "
        "Majordomo key (`MAJORDOMO_OPENAI_API_KEY`, `MAJORDOMO_GROQ_API_KEY`, …), when none is stored",
    ),
]


def _default(value: str) -> str:
    spelled = {"None": "beside the database", "True": "`on`", "False": "`off`"}
    return spelled.get(value, f"`{value}`")


def _flag(flag: str) -> str:
    extra = " or `--no-auth`" if flag == "--auth" else ""
    return f"`{flag}`{extra} (config key `{flag[2:].replace('-', '_')}`)"


def render_settings_table() -> str:
    lines = ["| environment variable | flag / argument | default | side | meaning |", "|---|---|---|---|---|"]
    lines += [
        f"| `{env}` | {flag} | {default} | {side} | {meaning} |"
        for env, flag, default, side, meaning in CLIENT_SETTINGS
    ]
    lines += [
        f"| `{env}` | {_flag(flag)} | {_default(default)} | gateway | {meaning.replace('|', chr(92) + '|')} |"
        for flag, env, default, meaning in settings_table()
    ]
    lines += [f"| `{env}` | - | {default} | gateway | {meaning} |" for env, default, meaning in GATEWAY_SECRETS]
    return "\n".join(lines)


def _readme_table() -> str:
    text = README.read_text()
    return text.split(BEGIN, 1)[1].split(END, 1)[0].strip()


def test_readme_settings_table_matches_the_settings() -> None:
    assert _readme_table() == render_settings_table()


def test_readme_commands_are_the_ones_ci_runs() -> None:
    """The README's install and test commands, as `.ci/run` spells them (it adds only `python -m`)."""
    readme = README.read_text()
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    install = next(line for line in ci_lines if "pip install" in line and " -e " in line)
    install = install.replace("python -m ", "").replace(" -q", "")
    test = next(line for line in ci_lines if "pytest" in line)
    assert [install in readme, test in readme, test] == [True, True, "python -m pytest -q -n 3"]


def test_readme_links_point_at_files_that_exist() -> None:
    links = re.findall(r"\]\((?!https?://|#)([^)#]+)", README.read_text())
    pending = {"bench/README.md"}  # written by the benchmark work
    assert [link for link in links if not (ROOT / link).exists() and link not in pending] == []


if __name__ == "__main__":
    print(render_settings_table())
