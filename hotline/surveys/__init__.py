"""Callback surveys (電話回訪): served items, the weekly draw, the dialer and the results."""
