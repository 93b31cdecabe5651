"""Helpers for the osp integration suite: processes, clients, the backend journal, test data."""
