"""The log guard itself: it must notice a leaked NHS number or registered secret."""

from __future__ import annotations

import logging

from tests.log_guard import LogGuard


def test_guard_finds_nhs_number_and_secrets_but_not_other_numbers() -> None:
    guard = LogGuard()
    logger = logging.getLogger("telehub.test.guard")
    logger.addHandler(guard)
    logger.propagate = False  # keep these deliberate leaks out of the suite-wide guard
    try:
        guard.register("Ada Lovelace", "tok_abcdef123")
        logger.warning("stored %d readings from device %s", 12, "ox-1")
        logger.warning("timestamp 1795559010 and count 1234567890")
        logger.warning("connection <object at 0x7f9434765919> to telehub_t_a9434765919b")
        assert guard.findings() == []
        logger.warning("patient 943 476 5919 arrived, nhs_number=9434765919")
        logger.warning("hello Ada Lovelace")
        logger.warning("token tok_abcdef123")
        assert len(guard.findings()) == 4
    finally:
        logger.removeHandler(guard)
        logger.propagate = True
