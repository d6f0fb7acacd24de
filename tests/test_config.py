"""Worker configuration: documented defaults, and a wrong value reported by its variable's name."""

from __future__ import annotations

import pytest

from worker.config import Config, ConfigError


def test_defaults_match_the_contract():
    config = Config.from_env({})
    assert (config.temporal_address, config.namespace, config.task_queue) == ("localhost:7233", "default", "early-help")


@pytest.mark.parametrize(("variable", "value", "says"), [
    ("TEMPORAL_ADDRESS", "no-port", "host:port"),
    ("DATABASE_URL", "mysql://db/x", "postgresql://"),
    ("EARLYHELP_METRICS_PORT", "ninety", "integer"),
    ("EARLYHELP_METRICS_PORT", "70000", "65535"),
    ("EARLYHELP_LOG_LEVEL", "loud", "debug, info"),
    ("TEMPORAL_TLS_CA", "/no/such/file.pem", "no such file"),
    ("EARLYHELP_MAX_CACHED_CASES", "-1", "greater than or equal"),
])
def test_a_wrong_value_names_its_variable(variable, value, says):
    with pytest.raises(ConfigError) as error:
        Config.from_env({variable: value})
    assert error.value.variable == variable and says in str(error.value)


def test_a_client_certificate_needs_its_key(tmp_path):
    cert = tmp_path / "client.pem"
    cert.write_text("-----BEGIN CERTIFICATE-----")
    with pytest.raises(ConfigError, match="TEMPORAL_TLS_CERT/TEMPORAL_TLS_KEY"):
        Config.from_env({"TEMPORAL_TLS_CERT": str(cert)})
