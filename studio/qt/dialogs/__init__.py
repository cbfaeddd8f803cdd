"""Dialogs of the Help menu: About (name, version, licences) and System check."""
