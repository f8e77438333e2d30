"""Telling the team about a curate run where they look: the run's summary as the Markdown
note of its DAG run, and an e-mail when a run fails (a validation, drift under a recipe's
fail policy, or anything else) or publishes with drift under the warn policy.

``CurateNotifier`` is an Airflow ``BaseNotifier``, used as a task callback. It sends mail
through the SMTP provider's hook, so the server, login and sender are an Airflow connection
(``smtp_default``, or the ``[email] email_conn_id`` setting), configured like any other; the
recipients are the run's ``notify`` Param (comma-separated; scheduled runs take
``AUTODP_CURATE_NOTIFY``), and with none no mail is sent. The note goes through Airflow's
REST API with the ``autodp_airflow_api`` connection (``orchestration.notes``). Both hold
aggregates and the error's own words, never a record.
"""

from __future__ import annotations

import html
from typing import Any, Literal

from airflow.sdk import BaseNotifier

Event = Literal["failure", "published"]
ERROR_CHARS = 4000


class CurateNotifier(BaseNotifier):
    """An autodp_curate task's callback: ``failure`` on any failed task, ``published`` after
    ``publish`` (mail only when the run published with drift breaches)."""

    template_fields = ()

    def __init__(self, event: Event, smtp_conn_id: str | None = None):
        super().__init__()
        self.event = event
        self.smtp_conn_id = smtp_conn_id

    def notify(self, context: Any) -> None:
        from autodp.orchestration.notes import write_run_note

        write_run_note(context, run_note(self.event, context))
        recipients = [a.strip() for a in (context["params"].get("notify") or "").split(",") if a.strip()]
        message = curate_message(self.event, context)
        if not recipients or message is None:
            return
        from airflow.configuration import conf
        from airflow.providers.smtp.hooks.smtp import SmtpHook

        subject, body = message
        conn_id = self.smtp_conn_id or conf.get("email", "email_conn_id", fallback=SmtpHook.default_conn_name)
        with SmtpHook(smtp_conn_id=conn_id) as smtp:
            smtp.send_email_smtp(to=recipients, subject=subject, html_content=body,
                                 from_email=smtp.from_email or "autodp@localhost")


def curate_message(event: Event, context: Any) -> tuple[str, str] | None:
    """(subject, HTML body) of the message ``event`` sends for a curate run, or None when
    there is nothing to say (a publish without drift)."""
    ti, params = context["ti"], context["params"]
    recipe = params.get("recipe") or "(no recipe)"
    where = f"run {context['run_id']} of {ti.dag_id}"
    if event == "published":
        curated = ti.xcom_pull(task_ids=ti.task_id) or {}
        breaches = curated.get("drift") or []
        if not breaches:
            return None
        subject = f"autodp: recipe {recipe} published with {len(breaches)} drift breach(es)"
        lines = "".join(f"<li>{html.escape(line)}</li>" for line in breaches)
        rows = curated.get("rows") or {}
        return subject, (f"<p>The {where} curated new data with recipe <b>{html.escape(recipe)}</b> and published it "
                         f"(curated/{curated.get('curated_key')}: {rows.get('in')} rows in, {rows.get('out')} out), "
                         "but the batch behaves differently from the data the recipe was approved on:</p>"
                         f"<ul>{lines}</ul><p>{_review_link(recipe)}</p>")
    error = str(context.get("exception") or "the task failed")
    subject = f"autodp: {ti.dag_id} failed at {ti.task_id} (recipe {recipe})"
    return subject, (f"<p>The {where} failed at task <b>{html.escape(ti.task_id)}</b>; nothing was published.</p>"
                     f"<pre>{html.escape(error[:ERROR_CHARS])}</pre><p>{_review_link(recipe)}</p>")


def run_note(event: Event, context: Any) -> str:
    """The DAG run's note: what the run curated, validated and found, in Markdown."""
    ti, params = context["ti"], context["params"]
    recipe = params.get("recipe") or "(no recipe)"
    if event == "failure":
        error = str(context.get("exception") or "the task failed").splitlines()
        return (f"**Failed** at `{ti.task_id}` with recipe [{recipe}]({_review_page(recipe)}); nothing was "
                f"published.\n\n```\n" + "\n".join(error[:20])[:ERROR_CHARS] + "\n```\n")
    curated = ti.xcom_pull(task_ids=ti.task_id) or {}
    rows, breaches = curated.get("rows") or {}, curated.get("drift") or []
    drift = (f"**{len(breaches)} drift breach(es)**:\n\n" + "".join(f"- {line}\n"
                                                                     for line in breaches)
             if breaches else "no drift against the approved search or the previous run.\n")
    return (f"Curated with recipe [{recipe}]({_review_page(recipe)}): {rows.get('ingested')} rows ingested "
            f"({rows.get('quarantined')} quarantined), {rows.get('in')} in, {rows.get('out')} out, published as "
            f"`curated/{curated.get('curated_key')}`; validation passed; {drift}")


def _review_page(recipe: str) -> str:
    from urllib.parse import quote

    from airflow.configuration import conf

    return f"{conf.get('api', 'base_url', fallback='').rstrip('/')}/autodp/recipes/{quote(recipe)}"


def _review_link(recipe: str) -> str:
    page = _review_page(recipe)
    return f'The recipe\'s runs and their drift: <a href="{page}">{html.escape(page)}</a>'
