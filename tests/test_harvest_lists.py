"""``x-lists`` end to end on the embedded server: member pages stored, screened with no lookup."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import duckdb
import pytest

from influx_etl import harvest_lists
from influx_etl.apisim import ApiServerConfig, RunningServer, start_server
from influx_etl.apisim.contract import (
    ENDPOINT_LIST,
    ENDPOINT_LIST_MEMBERS,
    ENDPOINT_USERS_BY,
)
from influx_etl.apisim.lists import SyntheticList, list_graph
from influx_etl.config import LookupSettings, OutputPaths, PipelineConfig, PlanSettings
from influx_etl.pipeline import run_harvest
from tests.test_pipeline import RULES, write_seeds

SMALL = ApiServerConfig(list_universe=2_000, list_count=40)


@pytest.fixture
def server() -> Iterator[RunningServer]:
    with start_server(SMALL) as running:
        yield running


def config_for(tmp_path: Path, source: str, **plan: object) -> PipelineConfig:
    return PipelineConfig(
        lookup=LookupSettings(source=source, batch_size=100),
        rules=RULES,
        outputs=OutputPaths(data_dir=tmp_path / "data"),
        plan=PlanSettings(**plan),  # type: ignore[arg-type]
    )


def public_lists(low: int, high: int) -> list[SyntheticList]:
    return [
        one
        for one in list_graph(SMALL).lists()
        if not one.private and low <= one.member_count <= high
    ]


def member_requests(server: RunningServer) -> int:
    return server.endpoint_counts.get(ENDPOINT_LIST_MEMBERS, 0)


def test_a_list_is_screened_from_its_member_pages_with_no_user_lookup(
    tmp_path: Path, server: RunningServer
) -> None:
    the_list = public_lists(150, 900)[0]
    pages = -(-the_list.member_count // 100)
    result = harvest_lists.harvest_lists(
        config_for(tmp_path, server.base_url), [f"https://x.com/i/lists/{the_list.id}"]
    )
    assert server.endpoint_counts.get(ENDPOINT_LIST) == 1
    assert member_requests(server) == pages
    assert server.endpoint_counts.get(ENDPOINT_USERS_BY, 0) == 0  # no user lookup at all
    report = result.report
    assert report is not None
    funnel = report.funnel
    assert funnel["looked_up"] == the_list.member_count
    assert funnel["found"] == the_list.member_count  # every member object answered its handle
    assert funnel["kept"] > 0
    assert result.read.sent == {ENDPOINT_LIST: 1, ENDPOINT_LIST_MEMBERS: pages}
    con = duckdb.connect(str(report.dataset), read_only=True)
    sources = con.sql("SELECT sources, seed_files FROM authors").pl()
    con.close()
    source = sources["sources"][0][0]
    assert source["method"] == "influx-api-sim:synthetic:list-members"
    assert f'https://x.com/i/lists/{the_list.id} "{the_list.name}"' in source["evidence"]
    assert sources["seed_files"][0].to_list() == [f"x-list:{the_list.id}"]
    record = json.loads((report.export_dir / "latest.jsonl").read_text().splitlines()[0])
    assert record["meta"]["sources"][0]["method"].endswith(":list-members")
    # the usage ledger has every page, and the members as user reads
    assert report.usage is not None and report.usage.requests == 0  # the pipeline sent nothing


def test_a_bad_list_is_reported_and_the_others_go_on(tmp_path: Path, server: RunningServer) -> None:
    good = public_lists(20, 300)[0]
    private = next(one for one in list_graph(SMALL).lists() if one.private)
    result = harvest_lists.harvest_lists(
        config_for(tmp_path, server.base_url),
        ["https://example.com/lists/1", "1999999999999999999", private.id, good.id],
    )
    assert [ref.list_id for ref in result.refs] == [
        None,
        "1999999999999999999",
        private.id,
        good.id,
    ]
    outcomes = dict(result.read.infos.select("list_id", "outcome").iter_rows())
    assert outcomes == {"1999999999999999999": "not_found", private.id: "forbidden", good.id: "ok"}
    assert result.report is not None
    assert result.report.funnel["looked_up"] == good.member_count
    assert member_requests(server) == -(-good.member_count // 100)  # only the good List's


def test_a_second_run_reuses_the_fresh_read_and_from_raw_sends_nothing(
    tmp_path: Path, server: RunningServer
) -> None:
    the_list = public_lists(20, 300)[0]
    config = config_for(tmp_path, server.base_url)
    harvest_lists.harvest_lists(config, [the_list.id])
    served = server.requests_served
    again = harvest_lists.harvest_lists(config, [the_list.id])
    assert server.requests_served == served  # fresh: nothing read again
    assert again.read.sent == {}
    assert all(read.reused for read in again.read.member_reads)
    # from the stored pages, with no server at all
    offline = replace(config, lookup=replace(config.lookup, source="http://127.0.0.1:9"))
    replayed = harvest_lists.harvest_lists(offline, [the_list.id], from_raw=True)
    assert replayed.report is not None
    assert replayed.report.funnel["kept"] == again.report.funnel["kept"]  # type: ignore[union-attr]
    refreshed = harvest_lists.harvest_lists(
        replace(config, plan=PlanSettings(refresh=True)), [the_list.id]
    )
    assert refreshed.read.sent[ENDPOINT_LIST_MEMBERS] == -(-the_list.member_count // 100)


def test_a_cap_stops_between_pages_and_the_same_command_continues(
    tmp_path: Path, server: RunningServer
) -> None:
    the_list = public_lists(301, 2000)[0]
    pages = -(-the_list.member_count // 100)
    capped = config_for(tmp_path, server.base_url, max_requests=3)
    first = harvest_lists.harvest_lists(capped, [the_list.id])
    assert first.read.capped
    assert first.read.sent == {ENDPOINT_LIST: 1, ENDPOINT_LIST_MEMBERS: 2}
    assert first.report is None  # no finished member read: nothing screened yet
    whole = harvest_lists.harvest_lists(config_for(tmp_path, server.base_url), [the_list.id])
    assert whole.read.sent == {ENDPOINT_LIST_MEMBERS: pages - 2}  # resumed at the stored token
    assert whole.report is not None
    assert whole.report.funnel["looked_up"] == the_list.member_count


def test_the_next_harvest_answers_known_members_without_looking_them_up(
    tmp_path: Path, server: RunningServer
) -> None:
    the_list = public_lists(20, 300)[0]
    config = config_for(tmp_path, server.base_url)
    harvest_lists.harvest_lists(config, [the_list.id])
    members = list(list_graph(SMALL).members(the_list.id))[:5]
    seed = write_seeds(tmp_path / "seeds", [*members, "somebodyelse1", "somebodyelse2"])
    before = server.endpoint_counts.get(ENDPOINT_USERS_BY, 0)
    report = run_harvest(replace(config, seed_paths=(seed,)))
    assert report.plan is not None
    assert report.plan.reused == 5  # the x-lists run settled them
    assert server.endpoint_counts.get(ENDPOINT_USERS_BY, 0) - before == 1
    assert report.plan.to_look_up == 2


def test_members_answer_seeds_whose_outcome_is_not_stored(
    tmp_path: Path, server: RunningServer
) -> None:
    """A discovered seed file's handles: members read before, never decided by a run."""
    the_list = public_lists(20, 300)[0]
    config = config_for(tmp_path, server.base_url)
    with harvest_lists.pipeline.open_dataset(config) as store:
        from influx_etl.sources.lists import open_lists_api

        with open_lists_api(config.lookup) as api:
            read = harvest_lists.read_lists(api, store, [the_list.id], config, usage_run="r")
    assert read.member_reads[0].status == "ok"
    members = list(list_graph(SMALL).members(the_list.id))[:7]
    seed = write_seeds(tmp_path / "seeds", [*members, "outsider"])
    report = run_harvest(replace(config, seed_paths=(seed,)))
    assert report.plan is not None
    assert (report.plan.from_lists, report.plan.to_look_up, report.plan.requests) == (7, 1, 1)
    assert server.endpoint_counts.get(ENDPOINT_USERS_BY, 0) == 1
    assert report.funnel["looked_up"] == 8
    assert report.usage is not None and report.usage.requests == 1


def test_a_list_of_5000_members_takes_50_member_requests_and_no_lookup(tmp_path: Path) -> None:
    graph = ApiServerConfig(list_universe=6_000, list_count=40)
    biggest = max(list_graph(graph).lists(), key=lambda one: one.member_count)
    assert biggest.member_count == 5_000
    with start_server(graph) as server:
        result = harvest_lists.harvest_lists(config_for(tmp_path, server.base_url), [biggest.id])
        counts = dict(server.endpoint_counts)
    assert counts.get(ENDPOINT_LIST_MEMBERS) == 50
    assert counts.get(ENDPOINT_LIST) == 1
    assert counts.get(ENDPOINT_USERS_BY, 0) == 0
    assert result.report is not None
    assert result.report.funnel["looked_up"] == 5_000
