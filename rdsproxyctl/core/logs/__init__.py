"""The proxy's CloudWatch Logs: fetch, classify against the signature catalog, summarise.

* :mod:`.signatures` -- THE catalog of log signatures (one data table);
* :mod:`.classify`   -- one line -> :class:`~.classify.LogEvent` (one pass per line);
* :mod:`.fetch`      -- time windows, server-side filter patterns, streaming
  ``filter_log_events`` and ``--follow``;
* :mod:`.summary`    -- counts per signature, top users, pinning reasons and digests.

Importing this package is cheap: regexes compile on first use, botocore is imported
inside the functions that call AWS.
"""
