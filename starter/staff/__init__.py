"""Commands practitioners and managers use: the case, their lists and reports, sign-in."""
