"""The shared command-line and file layer: every command prints, fails, shows progress, loads a
model, writes files, makes markdown tables and states its provenance through these modules.

- ``console``: ``out``/``err`` consoles; ``fail(*problems, code=2)`` (one ``error:`` line per
  problem on stderr, then exit); ``warn(message)``; ``progress_bar(console)``;
  ``stage_bars()`` (yields ``update(stage, done, total)``, one bar per stage).
- ``loading``: ``load_model(spec)``: ``hebbian.models.load`` with a spinner; a bad spec fails.
- ``files``: ``replacing(path, suffix)`` (a temporary path that replaces ``path`` when the block
  succeeds), ``write_atomic(path, data)`` and ``fsync_folder(folder)``.
- ``markdown``: ``table(header, rows, cell=str, align=None)``.
- ``provenance``: ``snapshot()`` (git revision, package versions, Python, platform: the one shape
  stored with results), ``git_revision()``, ``package_versions()``, ``packages(versions)`` and
  ``markdown(details, config)`` (a report's "Provenance" section).

Importing any of them imports neither mlx nor the engine.
"""
