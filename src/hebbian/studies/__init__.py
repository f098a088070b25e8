"""Pre-registered, powered studies of what the engine's memory buys.

A study is a YAML pre-registration (``prereg``) run by ``runner`` over a task
(``tasks``) into a run directory (``rundir``, ``trials``), analysed
(``analysis``, with the tests in ``hebbian.stats`` and the planning in
``power`` and ``plan``) and written up (``report``, ``plots``). ``commands``
holds the ``study``, ``report`` and ``power`` commands of the CLI.
"""
