"""The reference pages, generated from the code at build time (mkdocs-gen-files): every
operator from the registry, and every command from the ``autodp`` parser."""

from __future__ import annotations

import argparse
import json
from typing import Any

import mkdocs_gen_files

from autodp import operators
from autodp.cli import parser
from autodp.search.cards import HELPS_WHEN

BOUNDS = (("minimum", "≥ {}"), ("exclusiveMinimum", "> {}"), ("maximum", "≤ {}"), ("exclusiveMaximum", "< {}"),
          ("minLength", "length ≥ {}"), ("maxLength", "length ≤ {}"), ("minItems", "items ≥ {}"),
          ("maxItems", "items ≤ {}"), ("pattern", "matches `{}`"))


def cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def param_type(schema: dict[str, Any]) -> str:
    if "enum" in schema:
        return "one of " + ", ".join(f"`{value}`" for value in schema["enum"])
    if "anyOf" in schema:
        return " or ".join(param_type(option) for option in schema["anyOf"])
    if schema.get("type") == "array":
        return f"list of {param_type(schema.get('items', {}))}"
    return schema.get("type", "value") if "const" not in schema else f"`{schema['const']}`"


def bounds(schema: dict[str, Any]) -> str:
    found = [template.format(schema[key]) for key, template in BOUNDS if key in schema]
    for option in schema.get("anyOf", []):
        found += [template.format(option[key]) for key, template in BOUNDS if key in option]
    return ", ".join(found)


def operator_page() -> str:
    catalogue = operators.catalogue()
    lines = ["# Operators", "",
             f"The {len(catalogue)} operators of the pool, generated from the registry "
             "(`autodp operators` prints the same as JSON). Each lives in its own file under "
             "`include/autodp/operators/<stage>/<name>.py`; a strategy names it with its parameters, and every "
             "parameter is checked against the bounds below before anything runs.", "",
             "*Helps when* is what the search's agent is told about the operator (its operator card), in the "
             "terms of the profile it sees. Operators that need an LLM run only on the rows target selection "
             "flags when the search targets them.", ""]
    for stage in ("cleaning", "selection", "refinement", "generation"):
        lines += [f"## {stage.capitalize()}", ""]
        for entry in (e for e in catalogue if e["stage"] == stage):
            operator = operators.get(entry["name"])()
            needs = [what for what, flag in (("an LLM (the data endpoint)", entry["needs_llm"]),
                                             ("embeddings (MiniLM)", entry["needs_embeddings"])) if flag]
            lines += [f"### `{entry['name']}`", "", entry["description"], "",
                      f"- role: {entry['role']}; version {entry['version']}; "
                      + ("runs on each shard alone" if operator.is_row_local() else "needs the whole dataset")
                      + (f"; needs {' and '.join(needs)}" if needs else ""),
                      f"- helps when: {HELPS_WHEN.get(entry['name'], 'not in the search pool by default')}", ""]
            properties = entry["parameters"].get("properties", {})
            if not properties:
                lines += ["No parameters.", ""]
                continue
            lines += ["| parameter | type | default | bounds | meaning |", "|---|---|---|---|---|"]
            for name, schema in properties.items():
                default = json.dumps(schema.get("default")) if "default" in schema else "required"
                lines.append(f"| `{name}` | {cell(param_type(schema))} | `{cell(default)}` | {cell(bounds(schema))} "
                             f"| {cell(schema.get('description', ''))} |")
            lines.append("")
    return "\n".join(lines)


def commands(built: argparse.ArgumentParser, prefix: str) -> list[tuple[str, str, argparse.ArgumentParser]]:
    """(command, help, parser) for every leaf command, depth first."""
    found = []
    for action in built._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, sub in action.choices.items():
                nested = commands(sub, f"{prefix} {name}")
                found += nested or [(f"{prefix} {name}", helps.get(name) or "", sub)]
    return found


def option_row(action: argparse.Action) -> str:
    names = ", ".join(f"`{n}`" for n in action.option_strings) or f"`{action.dest.upper()}`"
    default = "" if action.default in (None, argparse.SUPPRESS, False, []) or not action.option_strings \
        else f"`{action.default}`"
    choices = ", ".join(f"`{c}`" for c in action.choices) if action.choices else ""
    meaning = (action.help or "").replace("%(default)s", str(action.default))
    return f"| {names} | {cell(meaning)} | {cell(choices)} | {cell(default)} |"


def cli_page() -> str:
    built = parser()
    lines = ["# The command line", "", f"`autodp`: {built.description} Generated from the parser; "
             "`autodp COMMAND --help` prints the same.", ""]
    for name, help_text, sub in commands(built, "autodp"):
        rows = [option_row(a) for a in sub._actions if not isinstance(a, argparse._HelpAction)]
        lines += [f"## `{name}`", "", help_text[:1].upper() + help_text[1:] + ("." if help_text else ""), "",
                  "```", sub.format_usage().strip().removeprefix("usage: "), "```", ""]
        if rows:
            lines += ["| argument | meaning | choices | default |", "|---|---|---|---|", *rows, ""]
    return "\n".join(lines)


with mkdocs_gen_files.open("reference/operators.md", "w") as page:
    page.write(operator_page())
with mkdocs_gen_files.open("reference/cli.md", "w") as page:
    page.write(cli_page())
