"""Money recorded by staff: payments at the till and refunds; and a booking's money."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from schemas.events import PaymentRecorded, RefundRecorded
from schemas.money import BookingMoney, RefundIn, TillPaymentIn
from schemas.staff import StaffMember
from services.audit import record_action
from services.box_office import store as box_office
from services.ids import uuid7
from services.money import rules, store
from services.outbox import record_event


async def booking_money(conn: asyncpg.Connection, reference: str) -> BookingMoney:
    booking = await box_office.get_booking(conn, reference=reference)
    return await _money(conn, booking)


async def _money(conn: asyncpg.Connection, booking: box_office.BookingRow) -> BookingMoney:
    return BookingMoney(
        reference=booking.reference,
        status=booking.status,
        currency=booking.currency.strip(),
        total=booking.total,
        paid=booking.paid,
        refunded=booking.refunded,
        balance=booking.total - booking.paid + booking.refunded
        if booking.status == "confirmed"
        else 0,
        refund_owed=rules.refund_owed(
            booking.status, booking.refund_due, booking.total, booking.paid, booking.refunded
        ),
        payments=await store.payments_of(conn, booking.id),
        refunds=await store.refunds_of(conn, booking.id),
    )


async def record_till_payment(
    conn: asyncpg.Connection,
    reference: str,
    data: TillPaymentIn,
    staff: StaffMember,
    now: datetime,
) -> BookingMoney:
    """Cash or card taken at the till for a confirmed booking, up to its balance."""
    async with conn.transaction():
        booking = await box_office.get_booking(conn, reference=reference, lock=True)
        balance = booking.total - booking.paid + booking.refunded
        rules.check_till_payment(booking.status, data.amount, balance)
        payment = store.PaymentRow(
            id=uuid7(),
            booking_id=booking.id,
            venue_id=booking.venue_id,
            method=data.method,
            amount=data.amount,
            currency=booking.currency.strip(),
            recorded_at=now,
            recorded_by=staff.id,
        )
        paid = await store.add_payment(conn, payment)
        assert paid is not None  # a till payment has no provider id to collide on
        await record_event(conn, payment_recorded(booking, payment, paid, now))
        await record_action(
            conn,
            staff.id,
            "payment.recorded",
            "booking",
            booking.id,
            {"reference": booking.reference, "method": data.method, "amount": data.amount},
        )
        booking = await box_office.get_booking(conn, reference=reference)
        return await _money(conn, booking)


def payment_recorded(
    booking: box_office.BookingRow, payment: store.PaymentRow, paid: int, now: datetime
) -> PaymentRecorded:
    return PaymentRecorded(
        id=uuid7(),
        occurred_at=now,
        venue_id=booking.venue_id,
        booking_id=booking.id,
        reference=booking.reference,
        payment_id=payment.id,
        method=payment.method,
        amount=payment.amount,
        currency=payment.currency,
        paid=paid,
        provider=payment.provider,
        provider_payment_id=payment.provider_payment_id,
        by=payment.recorded_by,
    )


async def record_refund(
    conn: asyncpg.Connection, reference: str, data: RefundIn, staff: StaffMember, now: datetime
) -> BookingMoney:
    """A refund as it was made (full or partial): once, however often the page sends it
    (`expected_refunded`), and never past what was paid (409 naming `amount`)."""
    async with conn.transaction():
        booking = await box_office.get_booking(conn, reference=reference, lock=True)
        rules.check_refund(data.amount, booking.paid, booking.refunded, data.expected_refunded)
        refund = store.RefundRow(
            id=uuid7(),
            booking_id=booking.id,
            venue_id=booking.venue_id,
            amount=data.amount,
            currency=booking.currency.strip(),
            reason=data.reason,
            method=data.method,
            provider_reference=data.provider_reference,
            recorded_at=now,
            recorded_by=staff.id,
        )
        try:
            refunded = await store.add_refund(conn, refund)
        except store.RefundPastPaid as error:
            raise rules.too_much(booking.paid - booking.refunded) from error
        await record_event(
            conn,
            RefundRecorded(
                id=uuid7(),
                occurred_at=now,
                venue_id=booking.venue_id,
                booking_id=booking.id,
                reference=booking.reference,
                refund_id=refund.id,
                amount=refund.amount,
                currency=refund.currency,
                method=refund.method,
                reason=refund.reason,
                refunded=refunded,
                by=staff.id,
                provider_reference=refund.provider_reference,
            ),
        )
        await record_action(
            conn,
            staff.id,
            "refund.recorded",
            "booking",
            booking.id,
            {"reference": booking.reference, "amount": data.amount, "method": data.method},
        )
        booking = await box_office.get_booking(conn, reference=reference)
        return await _money(conn, booking)
