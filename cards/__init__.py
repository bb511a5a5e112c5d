"""The card: DESFire EV1 protocol and crypto, the transit application layout, the virtual card."""
