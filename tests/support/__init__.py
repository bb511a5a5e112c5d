"""Helpers the tests share: services they start and factories they build with."""
