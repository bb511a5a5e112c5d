"""Eligibility rules: who is a student, free categories by age, the school-year end."""

from __future__ import annotations

from datetime import date

import pytest

from fares.eligibility import (
    Programme,
    age_category,
    age_category_valid_until,
    age_on,
    counts_as_student,
    school_year_end,
)


@pytest.mark.parametrize(
    ("programme", "is_student"),
    [
        (Programme.GENERAL_SCHOOL, True),
        (Programme.UNIVERSITY, True),
        (Programme.COLLEGE, True),
        (Programme.PROFESSIONAL_SECONDARY, True),
        (Programme.VOCATIONAL, True),
        (Programme.WORK_STUDY, False),
        ("work_study", False),
        ("university", True),
    ],
)
def test_work_study_is_not_a_student_programme(
    programme: Programme | str, is_student: bool
) -> None:
    assert counts_as_student(programme) is is_student


def test_an_unknown_programme_is_refused() -> None:
    with pytest.raises(ValueError, match="evening_class"):
        counts_as_student("evening_class")


@pytest.mark.parametrize(
    ("born", "on", "category"),
    [
        (date(2019, 3, 10), date(2025, 3, 9), "child"),  # the day before the sixth birthday
        (date(2019, 3, 10), date(2025, 3, 10), None),  # six today: no longer free
        (date(1965, 7, 1), date(2025, 6, 30), None),
        (date(1965, 7, 1), date(2025, 7, 1), "elderly"),  # sixty today
        (date(1940, 1, 1), date(2025, 1, 1), "elderly"),
        (date(2000, 5, 5), date(2025, 5, 5), None),
    ],
)
def test_age_gives_the_free_categories_under_6_and_from_60(
    born: date, on: date, category: str | None
) -> None:
    assert age_category(born, on) == category


@pytest.mark.parametrize(
    ("on", "age"), [(date(2023, 2, 28), 2), (date(2023, 3, 1), 3), (date(2024, 2, 29), 4)]
)
def test_someone_born_on_29_february_ages_on_1_march_in_other_years(on: date, age: int) -> None:
    assert age_on(date(2020, 2, 29), on) == age


def test_a_child_category_ends_the_day_before_the_sixth_birthday() -> None:
    assert age_category_valid_until(date(2019, 3, 10), date(2024, 1, 1)) == date(2025, 3, 9)


def test_the_elderly_category_never_ends() -> None:
    assert age_category_valid_until(date(1950, 3, 10), date(2024, 1, 1)) is None


def test_an_adult_has_no_age_category_to_end() -> None:
    with pytest.raises(ValueError, match="no age category"):
        age_category_valid_until(date(1990, 1, 1), date(2024, 1, 1))


@pytest.mark.parametrize(
    ("on", "end"),
    [
        (date(2024, 9, 5), date(2025, 5, 31)),
        (date(2025, 5, 31), date(2025, 5, 31)),
        (date(2025, 6, 1), date(2026, 5, 31)),
        (date(2025, 1, 15), date(2025, 5, 31)),
    ],
)
def test_the_school_year_ends_on_31_may_by_default(on: date, end: date) -> None:
    assert school_year_end(on) == end


def test_a_university_can_give_its_own_school_year_end() -> None:
    assert school_year_end(date(2025, 7, 1), month=8, day=31) == date(2025, 8, 31)
