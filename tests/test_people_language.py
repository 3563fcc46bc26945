"""Which language a person reads: their `people:` language, else their Slack locale, else the file's."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from slack_sdk import WebClient

from bot.slack_app import lookup_email, lookup_profile
from core.people import PeopleDirectory, PersonLink
from tests.fakes.slack import FakeSlack

NOW = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


def _directory(sessions: Any, fake_slack: FakeSlack, **kwargs: Any) -> PeopleDirectory:
    client = WebClient(token=fake_slack.bot_token, base_url=fake_slack.api_url)
    return PeopleDirectory(
        sessions,
        lambda user_id: lookup_profile(client, user_id),
        lookup_email=lambda email: lookup_email(client, email),
        default_tz="Europe/Paris",
        clock=lambda: NOW,
        **kwargs,
    )


def test_each_person_reads_their_slack_locale(sessions: Any, fake_slack: FakeSlack) -> None:
    fake_slack.add_user("U0CLAIRE", "claire@acme.example", "Claire Martin", locale="fr-FR")
    fake_slack.add_user("U0BEN", "ben@acme.example", "Ben Smith", locale="en-GB")
    fake_slack.add_user("U0HANS", "hans@acme.example", "Hans Weber", locale="de-DE")
    people = _directory(sessions, fake_slack, default_language="fr")

    assert people.actor("U0CLAIRE").language == "fr"
    assert people.actor("U0BEN").language == "en"
    assert people.actor("U0HANS").language == "fr"  # German is not spoken: the file's default
    # A CRM owner's Slack person found by email carries the locale too (lookupByEmail has none).
    assert people.language_of(people.profile_by_email("claire@acme.example")) == "fr"
    assert people.actor("U0CLAIRE").t.money(12500, "EUR") == "12\u202f500\u00a0€"


def test_a_people_entry_overrides_the_slack_locale(sessions: Any, fake_slack: FakeSlack) -> None:
    fake_slack.add_user("U0CLAIRE", "claire@acme.example", "Claire Martin", locale="fr-FR")
    people = _directory(sessions, fake_slack, links=[PersonLink("101", "claire@acme.example", language="en")])
    assert people.actor("U0CLAIRE").language == "en"

    people.update(admins=[], links=[], default_tz="Europe/Paris", default_language="en")
    assert people.actor("U0CLAIRE").language == "fr"


def test_the_locale_is_remembered_with_the_profile(sessions: Any, fake_slack: FakeSlack) -> None:
    fake_slack.add_user("U0CLAIRE", "claire@acme.example", "Claire Martin", locale="fr-FR")
    _directory(sessions, fake_slack).profile("U0CLAIRE")
    asked = len(fake_slack.calls_to("users.info"))
    again = _directory(sessions, fake_slack).profile("U0CLAIRE")
    assert again is not None and again.locale == "fr-FR"
    assert len(fake_slack.calls_to("users.info")) == asked  # from the database, not Slack again
