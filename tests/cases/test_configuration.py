"""[cases] and [agents] in the configuration: defaults, overrides, and one clear line for a
wrong value."""

from __future__ import annotations

from datetime import datetime
from fractions import Fraction

import pytest

from hotline.cases.calendar import SHANGHAI
from hotline.cases.store import case_services
from hotline.config import load_config
from hotline.errors import ConfigError


def config(tmp_path, text: str):
    path = tmp_path / "hotline.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path, environ={})


async def test_limits_acknowledgement_and_office_hours_come_from_cases(tmp_path, sessions):
    cases = config(tmp_path, """
[cases]
office_hours = ["08:30-12:00", "14:00-18:00"]
criticism_days = 3
[cases.limits]
complaint = 10
[cases.channel_limits.12319]
report = 5
[cases.acknowledge]
"12319" = 0.25
""").cases
    async with sessions() as session:
        policy = (await case_services(session, cases)).policy
    assert policy.limits.for_case("complaint", "12345") == 10 and policy.limits.for_case("inquiry", "12345") == 3
    assert policy.limits.for_case("report", "12319") == 5 and policy.limits.to_acknowledge("12319") == Fraction(1, 4)
    assert policy.limits.criticism_days == 3
    # A quarter of a 7.5-hour day from 11:00: one hour to 12:00, then 52.5 minutes from 14:00.
    assert policy.calendar.add(datetime(2026, 12, 1, 11, 0, tzinfo=SHANGHAI), 0.25) == \
        datetime(2026, 12, 1, 14, 52, 30, tzinfo=SHANGHAI)


@pytest.mark.parametrize("text, key", [
    ("[cases]\nlimits = { gossip = 3 }", "cases.limits.gossip"),
    ("[cases]\nacknowledge = { fax = 1 }", "cases.acknowledge.fax"),
    ("[cases]\nchannel_limits = { fax = { complaint = 1 } }", "cases.channel_limits.fax"),
    ("[cases]\noffice_hours = ['9-12']", "cases.office_hours"),
    ("[cases]\noffice_hours = ['13:00-12:00']", "cases.office_hours"),
    ("[cases]\ntimezone = 'Mars/Olympus'", "cases.timezone"),
])
async def test_a_wrong_cases_value_names_its_key(tmp_path, sessions, text, key):
    with pytest.raises(ConfigError) as error:
        async with sessions() as session:
            await case_services(session, config(tmp_path, text).cases)
    assert error.value.details["key"] == key and str(error.value).startswith(key)


@pytest.mark.parametrize("text, key", [
    ("[cases]\nlimits = { complaint = 0 }", "cases.limits.complaint"),
    ("[cases]\nsoon_days = 0", "cases.soon_days"),
    ("[cases]\nwindow = 'x'", "cases.window"),
    ("[agents]\n'Local/1001@agents' = 1", "agents"),
])
def test_a_wrong_value_is_refused_when_the_file_is_read(tmp_path, text, key):
    with pytest.raises(ConfigError) as error:
        config(tmp_path, text)
    assert error.value.details["key"] == key


def test_agents_map_queue_members_to_users(tmp_path):
    assert config(tmp_path, "[agents]\n'Local/1001@agents' = 'wang'\n").agents == {"Local/1001@agents": "wang"}
