"""marshmallow schemas for every request and response of the API."""
