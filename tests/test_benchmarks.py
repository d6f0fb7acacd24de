"""The benchmarks keep working: a smoke run with tiny sizes (figures are never asserted)."""

from __future__ import annotations

from benchmarks.__main__ import run, table


async def test_benchmark_smoke_run_measures_every_measure():
    results = await run("smoke")
    assert set(results) >= {"lifecycle", "read_model", "replay", "scale", "machine", "delivery"}
    assert results["delivery"]["messages"] > 0 and results["delivery"]["failed"] == 0, results["delivery"]
    assert results["lifecycle"]["engine"]["commands"] == results["lifecycle"]["baseline"]["commands"] > 0
    assert results["replay"]["failures"] == 0 and results["replay"]["histories"] > 0
    assert results["read_model"]["events_appended"] > 0 and results["scale"]["open_cases"] == 20, results["scale"]
    rendered = table(results)
    assert "| Lifecycle throughput" in rendered and "| Replay" in rendered and "| Delivery" in rendered
