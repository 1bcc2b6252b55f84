"""A call's channel (phone or browser) on a real MongoDB wire server: documents stored
before the field existed read, and filter, as phone calls in every listing; and a browser
call's cost has the model's lines and none of Twilio's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from evaluation.cost import CallCost
from evaluation.prices import load_prices
from evaluation.usage import ResponseUsage
from persistence.call_log import call_filter
from persistence.call_views import CallSearch, CallViews
from persistence.records import CallFilter, Channel
from persistence.store import Store
from tests.support.call_docs import call_doc

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
OLD, PHONE, BROWSER = (f"CA{i:032x}" for i in range(3))


async def stored(store: Store) -> list[dict[str, Any]]:
    docs = [call_doc(i, T0, every=timedelta(minutes=2)) for i in range(3)]
    docs[1]["channel"] = "phone"
    docs[2]["channel"] = "browser"
    assert "channel" not in docs[0]  # as the service stored calls before the field
    await store.db["calls"].insert_many([dict(d) for d in docs])
    return docs


async def test_old_documents_are_phone_calls_in_every_listing(store: Store) -> None:
    docs = await stored(store)
    old = await store.calls.get(OLD)
    assert old is not None and old.channel == "phone"

    expectations: list[tuple[Channel, set[str]]] = [
        ("phone", {OLD, PHONE}),
        ("browser", {BROWSER}),
    ]
    for channel, expected in expectations:
        page = await store.calls.list(CallFilter(channel=channel))
        assert {c.call_sid for c in page.items} == expected, channel
        api = await store.call_log.page(call_filter(channel=channel), None, 10)
        assert {c.call_sid for c in api} == expected, channel
        views = CallViews(store.db)
        search = CallSearch(channel=channel)
        rows = await views.page(search, None, 10, T0 + timedelta(hours=1))
        assert {r.call.call_sid for r in rows} == expected, channel
        assert {r.call.call_sid async for r in views.each(search)} == expected, channel
        assert {d["call_sid"] for d in docs if search.matches(d)} == expected, channel

    everything = await store.call_log.page(call_filter(), None, 10)
    assert {c.call_sid for c in everything} == {OLD, PHONE, BROWSER}


def test_a_browser_call_costs_the_model_and_nothing_of_twilio() -> None:
    usage = ResponseUsage(text_in=900, text_out=20, audio_in=300, audio_out=400)
    costs = {}
    for phone in (True, False):
        cost = CallCost(load_prices(), "gpt-realtime-2.1", phone=phone)
        cost.add_response_usage(usage)
        cost.set_telephony(95.0, "inbound")
        costs[phone] = cost.breakdown()
    on_phone, in_browser = costs[True], costs[False]
    twilio = {line.name for line in on_phone.lines if line.name.startswith("twilio")}
    assert twilio == {"twilio_voice", "twilio_media_streams", "twilio_amd"}
    assert not [line for line in in_browser.lines if line.name.startswith("twilio")]
    model = [line for line in on_phone.lines if line.name.startswith("model")]
    assert [line.name for line in in_browser.lines] == [line.name for line in model]
    assert in_browser.total == sum(line.amount for line in model)
    assert on_phone.total > in_browser.total > 0
