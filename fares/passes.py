"""Selling passes: their price for a rider category and the days they are valid (pure)."""

from __future__ import annotations

import calendar
from datetime import date, timedelta

from fares.model import Pass, card_day, key_of
from fares.tariff import PassCoverage, PassProduct, PassValidity, TariffVersion


def pass_validity(product: PassProduct, start: date) -> tuple[date, date]:
    """First and last valid day of a pass bought for `start` (a calendar month pass: its month)."""
    if product.validity is PassValidity.DAYS:
        return start, start + timedelta(days=product.validity_length - 1)
    first = start.replace(day=1)
    month_index = first.month - 1 + product.validity_length - 1
    year, month = first.year + month_index // 12, month_index % 12 + 1
    return first, date(year, month, calendar.monthrange(year, month)[1])


def pass_price(version: TariffVersion, pass_product_id: str, category_id: str) -> int:
    """What the pass costs a rider of this category; ValueError if the category may not buy it."""
    product = version.pass_products.get(pass_product_id)
    if product is None:
        raise ValueError(f"no pass product {pass_product_id!r} in tariff {version.version_id}")
    if category_id not in product.prices:
        raise ValueError(f"rider category {category_id!r} may not buy {pass_product_id!r}")
    return product.prices[category_id]


def issue_pass(
    version: TariffVersion,
    pass_product_id: str,
    category_id: str,
    start: date,
    route_id: str | None = None,
) -> Pass:
    """The pass record to write on a card, after checking who may buy it and where it runs."""
    pass_price(version, pass_product_id, category_id)
    product = version.pass_products[pass_product_id]
    route_key = 0
    if product.coverage is PassCoverage.ONE_ROUTE:
        if route_id is None:
            raise ValueError(f"{pass_product_id!r} is for one route: name the route")
        network = version.route_networks.get(route_id)
        if network is None:
            raise ValueError(f"route {route_id!r} is not in tariff {version.version_id}")
        if product.network_id and network != product.network_id:
            raise ValueError(f"route {route_id!r} is not in network {product.network_id!r}")
        route_key = key_of(route_id)
    elif route_id is not None:
        raise ValueError(f"{pass_product_id!r} covers a whole network, not one route")
    first, last = pass_validity(product, start)
    category = version.categories[category_id]
    return Pass(product.code, category.code, card_day(first), card_day(last), route_key)
