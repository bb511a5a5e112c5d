"""The virtual card: a DESFire EV1 emulator that plays a card behind pcscd's vpcd reader.

It imitates the card that `cards.client` talks to, for tests and demos:
`memory` (what the chip keeps), `session` (secure messaging, keys), `files` (the file system),
`card` (the APDU state machine), `vpcd` (the link to pcscd), `cli` (`python -m cards.emulator`),
`process` (that command in its own process, started by tests, benchmarks and demos).
"""
