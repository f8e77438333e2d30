"""Telling the team about a curate run where they look: an e-mail when a run fails (a
validation, drift under a recipe's fail policy, or anything else) and when a run publishes
with drift under the warn policy.

``CurateNotifier`` is an Airflow ``BaseNotifier``, used as a task callback; it sends through
the SMTP provider's hook, so the server, login and sender are an Airflow connection
(``smtp_default``, or the ``[email] email_conn_id`` setting), configured like any other. The
recipients are the run's ``notify`` Param (comma-separated; scheduled runs take
``AUTODP_CURATE_NOTIFY``); with none, nothing is sent. A message holds aggregates and the
error's own words, never a record.
"""

from __future__ import annotations

import html
from typing import Any, Literal

from airflow.sdk import BaseNotifier

Event = Literal["failure", "drift"]
ERROR_CHARS = 4000


class CurateNotifier(BaseNotifier):
    """An autodp_curate task's callback: ``failure`` on any failed task, ``drift`` after
    ``publish`` (sent only when the run published with drift breaches)."""

    template_fields = ()

    def __init__(self, event: Event, smtp_conn_id: str | None = None):
        super().__init__()
        self.event = event
        self.smtp_conn_id = smtp_conn_id

    def notify(self, context: Any) -> None:
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
    if event == "drift":
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


def _review_link(recipe: str) -> str:
    from urllib.parse import quote

    from airflow.configuration import conf

    base = conf.get("api", "base_url", fallback="").rstrip("/")
    page = f"{base}/autodp/recipes/{quote(recipe)}" if base else f"/autodp/recipes/{quote(recipe)}"
    return f'The recipe\'s runs and their drift: <a href="{page}">{html.escape(page)}</a>'
