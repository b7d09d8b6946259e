"""Points-based scoring of service windows and window staff."""
