"""The strategy agent: a strict proposal schema, operator cards and the profile-driven
prior, repairs, and fills labelled by origin; against the real local LLM."""

import json

from autodp.execution.strategy import Strategy
from autodp.search.agent import (
    AuditLog,
    StrategyAgent,
    agent_context,
    prior_strategies,
    proposal_schema,
    summarise_history,
)
from autodp.search.cards import PRIOR_MIN_SHARE, profile_prior
from autodp.search.state import Trial

ALLOWED = ["drop_empty_output", "normalize_text", "exact_dedup", "truncation_filter", "language_filter"]
EVIDENCE = {"drop_empty_output": 0.31, "exact_dedup": 0.004, "truncation_filter": 0.05, "language_filter": 0.0}
PROFILE = {"rows": 200, "fields": {"output": {"empty_rate": 0.31, "placeholder_rate": 0.0, "chars_p50": 420}},
           "duplicates": {"duplicate_rate_records": 0.004}, "languages": {"shares": {"en": 1.0}}}


def trial(names, score):
    steps = [{"operator": n, "params": {}} for n in names]
    return Trial(iteration=1, origin="agent", proposals_key="p", strategy_key=Strategy.from_data(names).key(),
                 steps=steps, output_key="o", rows_out=150, cache_hits=0, llm_calls=0, llm_rows_skipped=0,
                 seconds=1.0, score=score, win_rate=0.5 + score, ci95=[0.4 + score, 0.6 + score])


def test_the_schema_admits_only_lists_of_allowed_names():
    step = proposal_schema(ALLOWED, 3)["properties"]["strategies"]["items"]["properties"]["steps"]
    assert step["items"] == {"type": "string", "enum": ALLOWED} and step["minItems"] == 1


def test_cards_and_the_prior_come_from_counts():
    assert profile_prior(EVIDENCE, ALLOWED) == ["drop_empty_output", "truncation_filter"]
    shown = agent_context(PROFILE, {"js_divergence": 0.01}, ALLOWED, [], EVIDENCE)
    cards = {c["name"]: c for c in shown["operators"]}
    assert cards["drop_empty_output"]["would_touch_share"] == 0.31 and "empty_rate" in cards["drop_empty_output"][
        "helps_when"]
    assert "would_touch_share" not in cards["normalize_text"]
    assert shown["profile_prior"]["operators"] == ["drop_empty_output", "truncation_filter"]
    assert f"{PRIOR_MIN_SHARE:.0%}" in shown["profile_prior"]["why"]


def test_the_history_is_summarised_best_first_with_operator_effects():
    history = [trial(["normalize_text"], -0.1), trial(["drop_empty_output"], 0.3),
               trial(["drop_empty_output", "exact_dedup"], 0.2)]
    summary = summarise_history(history)
    assert summary["evaluated"] == 3 and [b["score"] for b in summary["best"]] == [0.3, 0.2, -0.1]
    assert summary["operators_in_winning_strategies"] == ["drop_empty_output", "exact_dedup"]
    assert summary["operators_in_losing_strategies"] == ["normalize_text"]


def test_repairs_keep_what_is_usable():
    agent = StrategyAgent(client=None, allowed=ALLOWED, audit=AuditLog())
    repaired = agent._repair(["drop_empty_output", "drop_empty_output", "made_up",
                              {"operator": "exact_dedup", "params": {"key": "nonsense"}}])
    assert [s.name for s in repaired.steps] == ["drop_empty_output", "exact_dedup"]
    assert repaired.steps[1].canonical()["params"] == {"key": "record", "ignore_case": True}
    assert agent.repairs == 3 and agent._repair(["made_up"]) is None


def test_prior_fills_are_new_and_in_pipeline_order():
    seen = {Strategy.from_data(["drop_empty_output", "truncation_filter"]).key()}
    found = prior_strategies(3, ["drop_empty_output", "truncation_filter"], ALLOWED, seen)
    assert [[s.name for s in f.steps] for f in found] == [["truncation_filter"], ["drop_empty_output"],
                                                          ["drop_empty_output", "normalize_text", "truncation_filter"]]
    assert prior_strategies(2, [], ALLOWED, set()) == []


def test_the_local_agent_proposes_valid_new_strategies(resources):
    audit = AuditLog()
    agent = StrategyAgent(resources.client("agent"), ALLOWED, audit, seed=3)
    seen = {Strategy.from_data(["drop_empty_output"]).key()}
    history = [trial(["drop_empty_output"], 0.2)]
    found = agent.propose(agent_context(PROFILE, {"js_divergence": 0.01}, ALLOWED, history, EVIDENCE), 3, seen)
    assert len(found) == 3 and len({s.key() for s, _ in found}) == 3
    assert all(origin in ("agent", "profile_prior", "random_fill") for _, origin in found)
    assert Strategy.from_data(["drop_empty_output"]).key() not in {s.key() for s, _ in found}
    assert all(step.name in ALLOWED for strategy, _ in found for step in strategy.steps)
    assert audit.entries and all(json.loads(e["response"]).get("strategies") is not None
                                 for e in audit.entries if not e["response"].startswith("error"))


def test_before_any_score_the_priors_whole_strategy_is_a_candidate(resources):
    audit = AuditLog()
    agent = StrategyAgent(resources.client("agent"), ALLOWED, audit, seed=5)
    first = agent.propose(agent_context(PROFILE, {"js_divergence": 0.01}, ALLOWED, [], EVIDENCE), 2, set())
    assert first[0][0].key() == Strategy.from_data(["drop_empty_output", "truncation_filter"]).key()
    assert [origin for _, origin in first] == ["profile_prior", "agent"] and first[1][0].key() != first[0][0].key()
    # Its first prompt already names the prior's strategy as one not to repeat.
    asked = audit.entries[0]["messages"][-1]["content"]
    assert 'Propose 1 new strategies. These were already evaluated or proposed; do not repeat them: ' \
           '[["drop_empty_output", "truncation_filter"]].' in asked

    history = [trial(["normalize_text"], 0.1)]  # once strategies have scores, the agent proposes first
    later = agent.propose(agent_context(PROFILE, {"js_divergence": 0.01}, ALLOWED, history, EVIDENCE), 2,
                          {history[0].strategy_key})
    assert later[0][1] == "agent"
    assert agent.propose(agent_context(PROFILE, {}, ALLOWED, [], EVIDENCE), 1, set())[0][1] == "agent"
