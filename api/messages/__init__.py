"""Message catalogues of the web pages: one key per visible string, (Vietnamese, English)."""
