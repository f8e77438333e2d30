"""The data card says why its strategy was published: by its score, or among strategies the
judge could not tell apart, by the flagged rows it removed."""

from dataclasses import replace

from autodp.search.config import SearchConfig
from autodp.search.data_card import data_card, markdown, selection_text
from autodp.search.loop import choose
from autodp.search.state import Baseline, SearchRun
from tests.search.test_state import judged

NOISE = {"tie_margin": 0.008, "win_rate": 0.48, "ci95": [0.41, 0.55],
         "delta_nll": {"mean": -0.0032, "ci95": [-0.0066, -0.0]}}
RUN = SearchRun(run_key="r", dataset_key="d", sample_key="s", sample_rows=200, fidelity={"js_divergence": 0.001},
                evaluation_key="e", eval_source="trusted_set", eval_examples=100,
                eval_screen={"rows": 100, "passed_screen": 100, "screened_out": {}},
                baseline=Baseline(adapter_key="a", steps=10, scores_key="k", reseeded_adapter_key="b",
                                  tie_margin=0.008, noise=NOISE))


def card_for(history, reach):
    best, selection = choose(history, reach)
    final = {"output_key": "o", "rows_in": 200, "rows_out": 150, "llm_calls": 0,
             "steps": [{"operator": "exact_dedup", "dropped": {"duplicate": 50}, "changed": {}}]}
    return markdown(data_card(RUN, SearchConfig(), best, final, history, 12.0, 0, 0, selection=selection))


def test_the_card_says_which_rule_published_the_strategy():
    history = [judged("top", 0.12, 0.0045, removed=9), judged("thorough", 0.115, 0.0021, removed=20, dropped=4)]
    tied = card_for(history, reach=0.0066)
    assert ("Published: of the 2 strategies whose mean ΔNLL was within 0.0066 nats of the best-scored one's" in tied
            and "(20 of 20 flagged removed, 4 unflagged dropped)" in tied)
    apart = card_for(history, reach=0.001)
    assert " Published: the best-scored strategy." in apart and "flagged removed" not in apart
    by_flow = selection_text(choose(history, 0.0, tied_keys={"thorough"})[1])  # the gradient-flow signal's pairs
    assert by_flow.startswith("Published: of the 2 strategies whose paired flow difference from the best-scored one "
                              "on the selection references had a 95% interval reaching zero (paired on the same "
                              "references, the signal cannot tell them apart), the one that removed the most rows")


def test_the_card_states_the_confirmed_verdict_or_that_there_was_none():
    from autodp.search.confirmation import NOT_SHOWN
    from autodp.search.loop import confirmed_choice
    from tests.search.test_confirmation import candidate, confirmation

    history = [judged("top", 0.12, 0.0045), judged("second", 0.10, 0.003)]
    best, selection = choose(history, 0.001)
    final = {"output_key": "o", "rows_in": 200, "rows_out": 150, "llm_calls": 0, "steps": []}
    unconfirmed = markdown(data_card(RUN, SearchConfig(confirm_top=0), best, final, history, 12.0, 0, 0,
                                     selection=confirmed_choice(history, best, selection, None)[1]))
    assert "**Not confirmed**: confirmation was switched off (confirm_top 0)" in unconfirmed
    checked = confirmation(candidate("top", NOT_SHOWN, -0.004), candidate("second", NOT_SHOWN, -0.02))
    best, why = confirmed_choice(history, best, selection, checked)
    card = data_card(RUN, SearchConfig(), best, final, history, 12.0, 0, 0, selection=why, confirmation=checked)
    assert card["confirmation"]["verdict"] == NOT_SHOWN and len(card["confirmation"]["candidates"]) == 2
    text = markdown(card)
    assert "**Not shown better than raw**. The top 2 candidates and raw were each fine-tuned on the search sample " \
           "(raw as drawn, a candidate as its strategy left it) with 3 seeds at LoRA 200 steps x batch 4 x 128 " \
           "tokens and scored on 200 held-out examples" in text
    for draw, where in (({"dataset_key": "c", "rows": 1000, "fresh": True}, "1,000 rows drawn outside the search "
                                                                            "sample"),
                        ({"dataset_key": "c", "rows": 84, "fresh": False}, "84 rows of the input, the search "
                                                                           "sample included, since too few lie "
                                                                           "outside it")):
        drawn = markdown(data_card(RUN, SearchConfig(), best, final, history, 12.0, 0, 0, selection=why,
                                   confirmation=replace(checked, draw=draw)))
        assert (f"The top 2 candidates and raw were each fine-tuned on {where} (raw as drawn, a candidate as its "
                "strategy leaves them) with 3 seeds") in drawn
    assert "three seeds at this budget separate clean data from the same rows with 30% damaged: clean minus damaged " \
           "test NLL -0.0221 [-0.0419, -0.0046]" in text
    unmeasured = data_card(RUN, SearchConfig(), best, final, history, 12.0, 0, 0, selection=why,
                           confirmation=replace(checked, budget={**checked.budget, "steps": 7}))
    assert "This budget is not measured on the quality ladder" in markdown(unmeasured)
    assert "- `top` (search score +0.100): ΔNLL +0.0060 (95% CI -0.0040 to +0.0160), not shown better than raw" in text
