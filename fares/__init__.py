"""The fare engine and the eligibility rules: pure Python, no I/O, no clock."""
