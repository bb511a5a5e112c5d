"""The validator on the bus: PC/SC reader, tap loop, offline journal, sync with the backend."""
