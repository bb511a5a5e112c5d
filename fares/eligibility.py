"""Who may have which rider category: students by programme, free categories by age (pure).

The school flow uses these to decide what goes on a card and until when. Dates are arguments;
nothing here reads the clock.
"""

from __future__ import annotations

from datetime import date, timedelta
from enum import StrEnum

CHILD_UNDER_YEARS = 6
ELDERLY_FROM_YEARS = 60
CHILD = "child"
ELDERLY = "elderly"
# Vietnam's Ministry of Education and Training sets each school year's timeframe (khung kế
# hoạch thời gian năm học) by decision; general schools must end the year by 31 May.
SCHOOL_YEAR_END_MONTH = 5
SCHOOL_YEAR_END_DAY = 31


class Programme(StrEnum):
    """The kind of study programme a school confirms for an applicant."""

    GENERAL_SCHOOL = "general_school"  # phổ thông: primary, lower and upper secondary
    UNIVERSITY = "university"  # đại học, full time (chính quy)
    COLLEGE = "college"  # cao đẳng
    PROFESSIONAL_SECONDARY = "professional_secondary"  # trung cấp chuyên nghiệp
    VOCATIONAL = "vocational"  # dạy nghề
    WORK_STUDY = "work_study"  # vừa học vừa làm: studies alongside a job


# Hanoi's priority riders exclude work-study ("không bao gồm hệ vừa học vừa làm").
STUDENT_PROGRAMMES = frozenset(
    {
        Programme.GENERAL_SCHOOL,
        Programme.UNIVERSITY,
        Programme.COLLEGE,
        Programme.PROFESSIONAL_SECONDARY,
        Programme.VOCATIONAL,
    }
)


def counts_as_student(programme: Programme | str) -> bool:
    """Whether a programme gives the student category; ValueError for an unknown programme."""
    return Programme(programme) in STUDENT_PROGRAMMES


def anniversary(date_of_birth: date, years: int) -> date:
    """The day someone turns `years` old; born on 29 February, it is 1 March in other years."""
    try:
        return date_of_birth.replace(year=date_of_birth.year + years)
    except ValueError:
        return date(date_of_birth.year + years, 3, 1)


def age_on(date_of_birth: date, on: date) -> int:
    """Age in whole years on a date."""
    if on < date_of_birth:
        raise ValueError(f"{on} is before the date of birth {date_of_birth}")
    years = on.year - date_of_birth.year
    return years if anniversary(date_of_birth, years) <= on else years - 1


def age_category(date_of_birth: date, on: date) -> str | None:
    """`child` under 6, `elderly` from 60, otherwise None: the free categories that age gives."""
    age = age_on(date_of_birth, on)
    if age < CHILD_UNDER_YEARS:
        return CHILD
    if age >= ELDERLY_FROM_YEARS:
        return ELDERLY
    return None


def age_category_valid_until(date_of_birth: date, on: date) -> date | None:
    """Last day the age category of `on` holds: the eve of the 6th birthday; none for elderly."""
    category = age_category(date_of_birth, on)
    if category == CHILD:
        return anniversary(date_of_birth, CHILD_UNDER_YEARS) - timedelta(days=1)
    if category == ELDERLY:
        return None
    raise ValueError(f"at {on}, someone born {date_of_birth} has no age category")


def school_year_end(
    on: date, *, month: int = SCHOOL_YEAR_END_MONTH, day: int = SCHOOL_YEAR_END_DAY
) -> date:
    """The end of the school year that `on` belongs to: the first end date on or after it.

    The default, 31 May, is the general-school deadline; a university passes its own
    academic-year end (often in June, July or August).
    """
    end = date(on.year, month, day)
    return end if on <= end else date(on.year + 1, month, day)
