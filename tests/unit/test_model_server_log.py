"""The model server's output, as the front door relays it: MMS's log4j lines, its workers'
records, and what the JVM prints on its own, each at the level that says what it is."""

import asyncio
import json
import logging

from container import model_server_log as relay


def java_line(level, logger, message):
    """A line as MMS writes it with ``LOG_PATTERN`` (%enc{..}{CRLF} escapes line breaks)."""
    escaped = message.replace("\r", "\\r").replace("\n", "\\n")
    return f"{level}\t{logger}\t{escaped}"


def worker_line(record):
    """What MMS makes of a line on a worker's standard error (it logs those at WARN)."""
    return java_line("WARN", relay.WORKER_LINES, relay.WorkerRecords().format(record))


def test_a_workers_record_keeps_its_logger_level_message_and_fields():
    record = logging.LogRecord(
        "inference.model", logging.INFO, __file__, 1, "loaded %s", ("x",), None
    )
    record.fields = {"canvases": 13}
    name, level, message, fields = relay.relayed(worker_line(record))
    assert (name, level, message) == ("inference.model", logging.INFO, "loaded x")
    assert fields["canvases"] == 13 and isinstance(fields["worker_pid"], int)


def test_a_workers_warning_and_traceback_cross_as_such():
    try:
        raise ValueError("bad weights")
    except ValueError:
        import sys

        record = logging.LogRecord(
            "sm-detect.worker", logging.WARNING, __file__, 1, "m", (), sys.exc_info()
        )
    name, level, _, fields = relay.relayed(worker_line(record))
    assert (name, level) == ("sm-detect.worker", logging.WARNING)
    assert "ValueError: bad weights" in fields["traceback"]


def test_mms_bookkeeping_is_debug_and_its_real_warnings_stay():
    assert (
        relay.relayed(java_line("WARN", relay.WORKER_LINES, "attachIOStreams() threadName=W-1"))[1]
        == logging.DEBUG
    )
    pid = java_line(
        "WARN", "com.amazonaws.ml.mms.metrics.MetricCollector", "worker pid is not available yet."
    )
    assert relay.relayed(pid)[1] == logging.DEBUG
    # a worker's standard output that is not ours: MMS's "Connection accepted", "[PID] 1525"
    assert relay.relayed(java_line("INFO", relay.WORKER_LINES, "[PID] 1525"))[1] == logging.DEBUG
    died = java_line(
        "ERROR",
        "com.amazonaws.ml.mms.wlm.WorkerThread",
        "Backend worker monitoring thread interrupted",
    )
    assert relay.relayed(died)[:2] == ("com.amazonaws.ml.mms.wlm.WorkerThread", logging.ERROR)
    # a native library's complaint on a worker's standard error is a warning
    native = java_line("WARN", relay.WORKER_LINES, "[18:06:12] src/operator/nn.cc: out of memory")
    assert relay.relayed(native)[1] == logging.WARNING


def test_line_breaks_that_log4j_escaped_come_back():
    _, _, message, _ = relay.relayed(java_line("ERROR", "com.amazonaws.ml.mms.X", "first\nsecond"))
    assert message == "first\nsecond"


def test_what_the_jvm_prints_itself_is_debug_unless_it_is_an_error_on_stderr():
    notice = "WARNING: sun.reflect.Reflection.getCallerClass is not supported. This will impact "
    notice += "performance."
    assert relay.relayed(notice, from_stderr=True)[:2] == (relay.UNSTRUCTURED, logging.DEBUG)
    assert relay.relayed("Model server started.")[1] == logging.DEBUG
    crash = 'Exception in thread "main" java.lang.OutOfMemoryError: Java heap space'
    assert relay.relayed(crash, from_stderr=True)[1] == logging.WARNING


def test_a_marked_line_that_is_not_a_record_is_relayed_as_text():
    forged = java_line("WARN", relay.WORKER_LINES, relay.WORKER_MARK + '{"level": "NOPE"}')
    name, level, message, _ = relay.relayed(forged)
    assert (name, level) == (relay.WORKER_LINES, logging.WARNING)
    assert message.startswith(relay.WORKER_MARK)


def test_the_relay_reads_a_stream_to_its_end_over_long_lines(caplog):
    async def relayed_lines():
        stream = asyncio.StreamReader(limit=64)
        stream.feed_data(
            b"INFO\tcom.amazonaws.ml.mms.A\tfirst\n" + b"x" * 200 + b"\nERROR\tB\tlast\n"
        )
        stream.feed_eof()
        await relay.relay(stream)

    with caplog.at_level(logging.DEBUG):
        asyncio.run(relayed_lines())
    relayed = [(r.name, r.levelno, r.getMessage()) for r in caplog.records if r.name != "asyncio"]
    assert relayed == [
        ("com.amazonaws.ml.mms.A", logging.INFO, "first"),
        (relay.UNSTRUCTURED, logging.WARNING, "(a line over the relay's limit, dropped)"),
        ("B", logging.ERROR, "last"),
    ]


def test_a_worker_shows_library_warnings_only_at_debug(capsys):
    import warnings

    relay.configure_worker("INFO")
    try:
        warnings.warn("Cannot decide type for the following arguments", UserWarning, stacklevel=1)
        logging.getLogger("inference.model").info("loaded")
        at_info = capsys.readouterr().err
        relay.configure_worker("DEBUG")
        warnings.warn("Cannot decide type for the following arguments", UserWarning, stacklevel=1)
        at_debug = capsys.readouterr().err
    finally:
        warnings.showwarning = warnings._showwarning_orig  # type: ignore[attr-defined]
        for name in relay.WORKER_LOGGERS:
            logging.getLogger(name).handlers.clear()
            logging.getLogger(name).propagate = True
            logging.getLogger(name).setLevel(logging.NOTSET)
    assert "Cannot decide type" not in at_info
    (line,) = at_info.splitlines()
    assert json.loads(line.removeprefix(relay.WORKER_MARK))["message"] == "loaded"
    (warned,) = at_debug.splitlines()
    document = json.loads(warned.removeprefix(relay.WORKER_MARK))
    assert (document["logger"], document["level"]) == ("py.warnings", "DEBUG")
    assert "Cannot decide type" in document["message"]
