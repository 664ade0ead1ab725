"""Pricing rules: the arithmetic (properties over every input), tickets on held seats, memberships
and discount codes."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.box_office import TicketIn
from schemas.prices import DiscountCodeIn
from services.errors import Conflict, InvalidInput
from services.prices import rules

prices = st.integers(min_value=0, max_value=1_000_000)
rates = st.integers(min_value=0, max_value=10_000)
discounts = st.one_of(
    st.none(),
    st.builds(
        rules.Discount,
        code=st.just("CODE"),
        kind=st.just("percent"),
        amount=st.integers(min_value=1, max_value=100),
    ),
    st.builds(
        rules.Discount,
        code=st.just("CODE"),
        kind=st.just("fixed"),
        amount=st.integers(min_value=1, max_value=2_000_000),
    ),
)
terms = st.builds(
    rules.Terms, booking_fee=st.integers(min_value=0, max_value=10_000), tax_rate_bp=rates
)
tickets = st.lists(
    st.builds(
        rules.Chosen,
        seat=st.text(min_size=1, max_size=3),
        ticket_type=st.sampled_from(["adult", "senior", "child"]),
        list_price=prices,
        index=st.integers(min_value=0, max_value=99),
    ),
    min_size=1,
    max_size=30,
)


def exact_tax(amount: int, rate_bp: int) -> int:
    """The stated rounding, worked out in decimals: the tax share, halves rounded up."""
    share = Decimal(amount) * rate_bp / (10_000 + rate_bp)
    return int(share.quantize(Decimal(1), rounding=ROUND_HALF_UP))


@given(tickets, terms, discounts)
def test_a_breakdown_always_sums_to_its_total(chosen, venue, discount):
    lines = rules.price(chosen, venue, discount)
    total = rules.totals(lines)
    for ticket, line in zip(chosen, lines, strict=True):
        assert line.list_price == ticket.list_price
        assert line.amount == line.list_price - line.discount + line.fee
        assert 0 <= line.discount <= line.list_price  # never below zero
        assert line.fee == (venue.booking_fee if line.list_price > 0 else 0)
        assert 0 <= line.tax <= line.amount
        assert line.tax == exact_tax(line.amount, venue.tax_rate_bp)
    assert total.amount == sum(line.amount for line in lines)
    assert total.amount == total.list_price - total.discount + total.fee
    assert total.tax == sum(line.tax for line in lines)
    assert total.discount <= total.list_price


@given(st.integers(min_value=0, max_value=10_000_000), rates)
def test_tax_rounding_is_the_stated_one_and_stable(amount, rate_bp):
    tax = rules.tax_share(amount, rate_bp)
    assert tax == exact_tax(amount, rate_bp)
    assert tax == rules.tax_share(amount, rate_bp)  # the same figure every time
    # The net price and its tax make the amount; the tax is within half a cent of the exact share.
    assert abs(tax * (10_000 + rate_bp) - amount * rate_bp) * 2 <= 10_000 + rate_bp
    # One cent more never means less tax.
    assert rules.tax_share(amount + 1, rate_bp) >= tax


@given(prices, discounts)
def test_a_discount_never_takes_a_price_below_zero(list_price, discount):
    off = rules.line_discount(list_price, discount)
    assert 0 <= off <= list_price


def test_the_figures_of_a_known_booking():
    venue = rules.Terms(booking_fee=100, tax_rate_bp=600)
    chosen = [
        rules.Chosen("A1", "adult", 1500, 0),
        rules.Chosen("A2", "child", 0, 1),
    ]
    ten_percent = rules.Discount("TEN", "percent", 10)
    first, free = rules.price(chosen, venue, ten_percent)
    # 1500 - 150 + 100 = 1450, of which 6 % tax: 1450 * 600 / 10600 = 82.07 -> 82
    assert (first.discount, first.fee, first.amount, first.tax) == (150, 100, 1450, 82)
    assert (free.discount, free.fee, free.amount, free.tax) == (0, 0, 0, 0)  # no fee on a free seat
    assert rules.line_discount(1500, rules.Discount("X", "fixed", 2000)) == 1500
    assert rules.line_discount(1505, rules.Discount("X", "percent", 10)) == 151  # 150.5 up
    assert rules.tax_share(53, 10_000) == 27  # 26.5: the half goes up
    assert rules.totals([]).amount == 0


def test_choose_tickets():
    prices_by_type = {"adult": 1500, "senior": 1200}
    chosen = rules.choose_tickets(
        ["A1", "A2"], [TicketIn("A2", "senior"), TicketIn("A1", "adult")], prices_by_type
    )
    assert [(c.seat, c.ticket_type, c.list_price, c.index) for c in chosen] == [
        ("A1", "adult", 1500, 1),
        ("A2", "senior", 1200, 0),
    ]
    cases = [
        ([TicketIn("A1", "adult")], "tickets"),
        ([TicketIn("A1", "adult"), TicketIn("A3", "adult")], "tickets[1].seat"),
        ([TicketIn("A1", "adult"), TicketIn("A1", "adult")], "tickets[1].seat"),
        ([TicketIn("A1", "adult"), TicketIn("A2", "child")], "tickets[1].ticket_type"),
    ]
    for asked, field in cases:
        with pytest.raises(InvalidInput) as refused:
            rules.choose_tickets(["A1", "A2"], asked, prices_by_type)
        assert refused.value.extra["errors"][0]["field"] == field


ON = date(2026, 12, 12)
MEMBERS = {
    "M-1": rules.MemberFacts("M-1", date(2026, 1, 1), date(2026, 12, 31), True),
    "OLD": rules.MemberFacts("OLD", date(2025, 1, 1), date(2026, 12, 11), True),
    "LATE": rules.MemberFacts("LATE", date(2026, 12, 13), date(2027, 12, 31), True),
    "GONE": rules.MemberFacts("GONE", date(2026, 1, 1), date(2026, 12, 31), False),
}


def _member(index: int, number: str | None, ticket_type: str = "member") -> rules.Chosen:
    return rules.Chosen(f"A{index}", ticket_type, 1000, index, number)


def test_a_member_price_needs_a_valid_membership_and_keeps_to_the_cap():
    rules.check_members([_member(0, "M-1"), _member(1, "M-1")], MEMBERS, ON, 2)
    rules.check_members([_member(0, None, "adult")], MEMBERS, ON, 0)
    cases = [
        ([_member(0, None)], "tickets[0].membership_number", "missing"),
        ([_member(0, "M-9")], "tickets[0].membership_number", "unknown membership"),
        ([_member(0, "OLD")], "tickets[0].membership_number", "expired"),
        ([_member(0, "LATE")], "tickets[0].membership_number", "not yet valid"),
        ([_member(0, "GONE")], "tickets[0].membership_number", "not active"),
        ([_member(0, "M-1", "adult")], "tickets[0].membership_number", "not a member ticket"),
        (
            [_member(0, "M-1"), _member(1, "M-1"), _member(2, "M-1")],
            "tickets[2].ticket_type",
            "more than 2 member tickets",
        ),
    ]
    for chosen, field, reason in cases:
        with pytest.raises(InvalidInput) as refused:
            rules.check_members(chosen, MEMBERS, ON, 2)
        assert refused.value.extra["errors"][0] == {
            "field": field,
            "reason": reason,
            "source": "body",
            "pointer": "#/" + field.replace("[", "/").replace("]", "").replace(".", "/"),
        }


FILM, OTHER, SERIES, SCREENING = uuid4(), uuid4(), uuid4(), uuid4()
SHOW = rules.ShowFacts(SCREENING, FILM, frozenset({SERIES}), ON)


def _code(**restrictions: object) -> rules.CodeFacts:
    fields: dict[str, object] = {
        "id": uuid4(),
        "code": "SUMMER",
        "kind": "percent",
        "amount": 10,
        "film_id": None,
        "series_id": None,
        "screening_ids": None,
        "valid_from": None,
        "valid_until": None,
        "max_uses": None,
        "per_patron_limit": None,
        "active": True,
    }
    fields.update(restrictions)
    return rules.CodeFacts(**fields)  # type: ignore[arg-type]


def test_a_code_holds_only_where_each_of_its_restrictions_holds():
    today = date(2026, 12, 6)
    for ok in (
        _code(),
        _code(film_id=FILM, series_id=SERIES, screening_ids=[SCREENING]),
        _code(valid_from=ON, valid_until=ON),
    ):
        rules.check_code(ok, SHOW, today)
    cases = [
        (_code(active=False), "not active"),
        (_code(valid_until=date(2026, 12, 5)), "expired"),
        (_code(valid_until=date(2026, 12, 11)), "not valid on the screening's date"),
        (_code(valid_from=date(2026, 12, 13)), "not valid on the screening's date"),
        (_code(film_id=OTHER), "not valid for this film"),
        (_code(series_id=OTHER), "not valid for this screening"),
        (_code(screening_ids=[uuid4()]), "not valid for this screening"),
    ]
    for code, reason in cases:
        with pytest.raises(InvalidInput) as refused:
            rules.check_code(code, SHOW, today)
        assert refused.value.extra["errors"][0]["field"] == "discount_code"
        assert refused.value.extra["errors"][0]["reason"] == reason


def test_the_limits_of_a_code():
    rules.check_code_limits(_code(max_uses=3, per_patron_limit=1), 2, 0)
    with pytest.raises(Conflict) as used_up:
        rules.check_code_limits(_code(max_uses=3), 3, 0)
    assert used_up.value.extra["reason"] == "used up"
    with pytest.raises(Conflict) as again:
        rules.check_code_limits(_code(per_patron_limit=1), 0, 1)
    assert again.value.extra["errors"][0]["field"] == "discount_code"


def test_a_new_code_is_checked_and_codes_have_no_case():
    assert rules.normal_code(" summer10 ") == "SUMMER10"
    for data, field in [
        (DiscountCodeIn(code="ABC", kind="percent", amount=101), "amount"),
        (
            DiscountCodeIn(
                code="ABC",
                kind="fixed",
                amount=100,
                valid_from=date(2026, 2, 1),
                valid_until=date(2026, 1, 1),
            ),
            "valid_until",
        ),
        (DiscountCodeIn(code="ABC", kind="fixed", amount=100, screening_ids=[]), "screening_ids"),
    ]:
        with pytest.raises(InvalidInput) as refused:
            rules.check_new_code(data)
        assert refused.value.extra["errors"][0]["field"] == field
    rules.check_new_code(DiscountCodeIn(code="ABC", kind="fixed", amount=5000))
