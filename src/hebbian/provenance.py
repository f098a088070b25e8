"""Moved to ``hebbian.io.provenance``; these names stay here only until ``hebbian.studies``
imports them from there."""

from hebbian.io.provenance import git_revision, markdown, package_versions, snapshot

__all__ = ["git_revision", "markdown", "package_versions", "snapshot"]
