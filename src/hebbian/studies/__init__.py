"""Pre-registered, powered studies of what the engine's memory buys.

A study is a YAML pre-registration (``prereg``: plain records, parsed and
validated; its sample size planned by ``plan`` with ``power``) run by
``runner`` over a task (``tasks``) into a run directory (``rundir``,
``trials``; split among processes by ``shards``), analysed (``analysis``,
with the tests in ``hebbian.stats``) and written up (``report``, ``plots``).
``tuning`` tunes a study's treatments on a split of items through the same
runner. ``commands`` holds the ``study``, ``report``, ``power`` and ``tune``
commands of the CLI.
"""
