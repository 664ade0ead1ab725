"""The worker's log: routine cron ticks at DEBUG, everything else as arq logs it."""

from __future__ import annotations

import inspect
import logging

import arq.worker
import pytest

from services.settings import get_settings
from workers.process import RoutineCronTicks
from workers.settings import cron_jobs


@pytest.fixture
def arq_log():
    logger = logging.getLogger("arq.worker")
    names = {job.name for job in cron_jobs(get_settings())}
    ticks = RoutineCronTicks(names)
    logger.addFilter(ticks)
    yield logger, sorted(names)
    logger.removeFilter(ticks)
    logger.setLevel(logging.NOTSET)


def test_cron_ticks_are_debug_other_jobs_and_failures_stay_info(arq_log, caplog):
    logger, names = arq_log
    start, done = RoutineCronTicks.ROUTINE
    assert len(names) >= 5
    with caplog.at_level(logging.INFO):
        for name in names:
            logger.info(start, 0.01, name, "", "")
            logger.info(done, 0.05, name, 1)
        logger.info(done, 0.05, "0191:send_email", None)  # a job, not a tick
        logger.info("%6.2fs ↻ %s retrying job in %0.2fs", 0.1, names[0], 1.0)
    assert [r.getMessage() for r in caplog.records] == [
        "  0.05s ← 0191:send_email ● None",
        f"  0.10s ↻ {names[0]} retrying job in 1.00s",
    ]
    caplog.clear()
    logger.setLevel(logging.DEBUG)
    logger.info(done, 0.05, names[0], 1)
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("DEBUG", f"  0.05s ← {names[0]} ● 1")
    ]


def test_the_routine_formats_are_arqs():
    """An arq that words them differently would bring the ticks back at INFO: this says so."""
    source = inspect.getsource(arq.worker)
    for text in RoutineCronTicks.ROUTINE:
        assert f"'{text}'" in source
