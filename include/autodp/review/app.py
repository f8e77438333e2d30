"""The review app: searches, published datasets, recipes and the governance log, served
inside Airflow's api-server by the plugin in ``plugins/autodp_review.py``.

Every route goes through Airflow's auth manager: reading needs read access to the
``autodp_search`` DAG; approving and rejecting need edit access to it, retiring a recipe
edit access to ``autodp_curate``. The reviewer recorded in the governance log is the
authenticated Airflow user. Keys in URLs are checked before the store is read, so an
unknown or malformed key is a 404. A form sent with the browser's session cookie must carry
the token the page gave it, bound to that browser's session and user, so a form posted
from another site, or a token replayed from another session, is refused before anything
is recorded; a client that sends its bearer token explicitly needs none. Record text is
shown only when the deployment's ``AUTODP_REVIEW_RECORD_EXAMPLES`` allows it (0, the
default, shows none), redacted first.
"""

import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from airflow.api_fastapi.core_api.security import GetUserDep, requires_access_dag
from fastapi import Depends, FastAPI, Form, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from autodp.artifacts import PUBLISHED
from autodp.curate import (
    DecisionRefused,
    DriftRules,
    Reviewer,
    approve,
    decisions,
    latest_recipe,
    reject,
    retire,
)
from autodp.review import pages
from autodp.search import confirmation
from autodp.settings import Settings
from autodp.store import ArtifactNotFound, ArtifactStore, open_store

SEARCH_DAG, CURATE_DAG = "autodp_search", "autodp_curate"
HERE = Path(__file__).parent
CHART_JS = HERE / "static" / "node_modules" / "chart.js" / "dist" / "chart.umd.min.js"
ASSETS = {"review.css": HERE / "static" / "review.css", "review.js": HERE / "static" / "review.js",
          "chart.umd.js": CHART_JS, "icon.svg": HERE / "static" / "icon.svg"}
MEDIA_TYPES = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml"}
SESSION_COOKIE = "autodp_form_session"  # random, per browser; the forms' token is derived from it
TOKEN_FIELD = "form_token"
_PROCESS_SECRET = secrets.token_hex(32)  # only where Airflow has no JWT secret configured


class FormRefused(Exception):
    """A form sent on the session cookie without this session's token."""


def create_app(store: ArtifactStore | None = None, record_examples: int | None = None) -> FastAPI:
    store = store or open_store(Settings.from_env().store_uri)
    examples = int(os.environ.get("AUTODP_REVIEW_RECORD_EXAMPLES", "0")) if record_examples is None \
        else record_examples
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.filters["tojson_pretty"] = lambda value: json.dumps(value, indent=2, ensure_ascii=False)
    templates.env.filters["pct"] = lambda value: "-" if value is None else f"{value:.1%}"
    templates.env.filters["score_text"] = pages.score_text
    templates.env.filters["confirmed_arms_text"] = confirmation.confirmed_arms_text
    templates.env.filters["precision_text"] = confirmation.precision_text
    templates.env.filters["draws_text"] = confirmation.draws_text
    templates.env.filters["draw_text"] = confirmation.draw_text
    can_read = Depends(requires_access_dag("GET", param_dag_id=SEARCH_DAG))
    app = FastAPI(title="autodp review", dependencies=[can_read], docs_url=None, redoc_url=None, openapi_url=None)

    def page(request: Request, template: str, user: Any, status_code: int = 200, **context: Any) -> HTMLResponse:
        session = request.cookies.get(SESSION_COOKIE) or secrets.token_urlsafe(32)
        response = templates.TemplateResponse(request, template, {
            "user": user.get_name(), "store": store.uri, "can_decide": can_edit(user, SEARCH_DAG),
            "can_retire": can_edit(user, CURATE_DAG), "form_token": form_token(session, user),
            "drift_defaults": DriftRules(), **context},
            status_code=status_code)
        if SESSION_COOKIE not in request.cookies:
            response.set_cookie(SESSION_COOKIE, session, httponly=True, samesite="strict",
                                secure=request.url.scheme == "https", path=request.scope.get("root_path") or "/")
        return response

    def sent_from_this_session(request: Request, user: GetUserDep,
                               form_token_sent: Annotated[str, Form(alias=TOKEN_FIELD, max_length=128)] = "") -> None:
        if request.headers.get("authorization", "").lower().startswith("bearer "):
            return  # an explicit credential: nothing a page on another site could make the browser send
        session = request.cookies.get(SESSION_COOKIE)
        if not session or not hmac.compare_digest(form_token_sent, form_token(session, user)):
            raise FormRefused()

    can_send_form = Depends(sent_from_this_session)
    can_decide = Depends(requires_access_dag("PUT", param_dag_id=SEARCH_DAG))
    can_retire = Depends(requires_access_dag("PUT", param_dag_id=CURATE_DAG))

    def reviewer(user: Any) -> Reviewer:
        return Reviewer(user.get_name(), "airflow")

    @app.exception_handler(ArtifactNotFound)
    async def not_found(request: Request, error: ArtifactNotFound) -> HTMLResponse:
        return templates.TemplateResponse(request, "error.html", {"title": "Not found", "message": str(error),
                                                                  "user": None, "store": store.uri},
                                          status_code=404)

    @app.exception_handler(FormRefused)
    async def form_refused(request: Request, error: FormRefused) -> HTMLResponse:
        return templates.TemplateResponse(request, "error.html", {
            "title": "Form refused", "user": None, "store": store.uri,
            "message": "This form did not come from a review page of your current session (it may have been "
                       "sent from another site, or before you signed in again). Nothing was recorded: reload "
                       "the page and send it again."}, status_code=403)

    @app.get("/", response_class=HTMLResponse)
    def search_list(request: Request, user: GetUserDep) -> HTMLResponse:
        return page(request, "searches.html", user, searches=pages.searches(store))

    @app.get("/searches/{key}", response_class=HTMLResponse)
    def search_page(request: Request, key: str, user: GetUserDep, error: str = "") -> HTMLResponse:
        shown = pages.search(store, pages.checked_key(store, PUBLISHED, key))
        return page(request, "search.html", user, search=shown, error=error[:500],
                    chart={"points": shown["by_iteration"]})

    @app.get("/datasets/{key}", response_class=HTMLResponse)
    def dataset_page(request: Request, key: str, user: GetUserDep) -> HTMLResponse:
        shown = pages.dataset(store, pages.checked_key(store, PUBLISHED, key))
        records = pages.record_examples(store, shown["card"]["output_dataset_key"], examples) if examples else []
        return page(request, "dataset.html", user, dataset=shown, examples=records, examples_allowed=examples,
                    chart={"reasons": shown["reasons"]})

    @app.get("/recipes", response_class=HTMLResponse)
    def recipe_list(request: Request, user: GetUserDep, error: str = "") -> HTMLResponse:
        return page(request, "recipes.html", user, recipes=pages.recipe_pages(store), error=error[:500])

    @app.get("/recipes/{name}", response_class=HTMLResponse)
    def recipe_page(request: Request, name: str, user: GetUserDep) -> HTMLResponse:
        shown = pages.recipe_page(store, name)
        return page(request, "recipe.html", user, recipe=shown, chart={"drift": shown["chart"]})

    @app.get("/log", response_class=HTMLResponse)
    def decision_log(request: Request, user: GetUserDep) -> HTMLResponse:
        return page(request, "log.html", user, decisions=decisions(store)[::-1])

    @app.get("/runs/{dag_id}/{run_id}", response_class=HTMLResponse)
    def run_page(request: Request, dag_id: str, run_id: str, user: GetUserDep) -> Response:
        found = airflow_run(dag_id, run_id)
        if found is None:
            raise ArtifactNotFound(f"no run {run_id!r} of {dag_id!r}")
        published = (found["result"] or {}).get("published_key")
        if dag_id == SEARCH_DAG and published and store.has(PUBLISHED, published):
            return RedirectResponse(f"../../searches/{published}", status_code=303)
        return page(request, "run.html", user, run=found, published=published)

    @app.post("/searches/{key}/approve", dependencies=[can_decide, can_send_form])
    def approve_search(key: str, user: GetUserDep, name: Annotated[str, Form(max_length=100)] = "",
                       reason: Annotated[str, Form(max_length=2000)] = "",
                       drift_policy: Annotated[str, Form(max_length=10)] = "",
                       max_step_share_change: Annotated[str, Form(max_length=20)] = "",
                       max_rate_change: Annotated[str, Form(max_length=20)] = "",
                       max_length_change: Annotated[str, Form(max_length=20)] = "",
                       max_language_share_change: Annotated[str, Form(max_length=20)] = "",
                       max_cardinality_change: Annotated[str, Form(max_length=20)] = "") -> RedirectResponse:
        key = pages.checked_key(store, PUBLISHED, key)
        if not name.strip() or not name.replace("-", "").replace("_", "").isalnum():
            return _back(f"../{key}", "a recipe name is letters, digits, - and _")
        try:
            rules = DriftRules.from_params({
                "policy": drift_policy, "max_step_share_change": max_step_share_change,
                "max_rate_change": max_rate_change, "max_length_change": max_length_change,
                "max_language_share_change": max_language_share_change,
                "max_cardinality_change": max_cardinality_change})
            approve(store, key, name, reviewer(user), reason, rules)
        except (DecisionRefused, ValueError) as error:
            return _back(f"../{key}", str(error))
        return RedirectResponse(f"../../recipes/{quote(name)}", status_code=303)

    @app.post("/searches/{key}/reject", dependencies=[can_decide, can_send_form])
    def reject_search(key: str, user: GetUserDep,
                      reason: Annotated[str, Form(max_length=2000)] = "") -> RedirectResponse:
        key = pages.checked_key(store, PUBLISHED, key)
        try:
            reject(store, key, reviewer(user), reason)
        except (DecisionRefused, ValueError) as error:
            return _back(f"../{key}", str(error))
        return RedirectResponse(f"../{key}", status_code=303)

    @app.post("/recipes/{name}/retire", dependencies=[can_retire, can_send_form])
    def retire_recipe(name: str, user: GetUserDep,
                      reason: Annotated[str, Form(max_length=2000)] = "") -> RedirectResponse:
        try:
            latest_recipe(store, name)
        except LookupError as error:
            raise ArtifactNotFound(str(error)) from None
        try:
            retire(store, name, reviewer(user), reason)
        except (DecisionRefused, ValueError) as error:
            return _back("../../recipes", str(error))
        return RedirectResponse("../../recipes", status_code=303)

    @app.get("/static/{name}")
    def asset(name: str) -> FileResponse:
        path = ASSETS.get(name)
        if path is None or not path.is_file():
            raise HTTPException(404, f"no asset {name!r}" + (
                "; run `make install` (npm ci fetches Chart.js)" if name == "chart.umd.js" else ""))
        return FileResponse(path, media_type=MEDIA_TYPES[path.suffix])

    return app


def form_token(session: str, user: Any) -> str:
    """The token a page puts in its forms: bound to the browser's form session and the user,
    keyed by the deployment's JWT secret (the one every api-server process shares)."""
    from airflow.configuration import conf

    secret = conf.get("api_auth", "jwt_secret", fallback="") or _PROCESS_SECRET
    return hmac.new(secret.encode(), f"{session}\n{user.get_id()}".encode(), hashlib.sha256).hexdigest()


def can_edit(user: Any, dag_id: str) -> bool:
    """Whether the auth manager lets ``user`` edit ``dag_id`` (the forms are shown only then;
    the POST routes check it again)."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagDetails

    return get_auth_manager().is_authorized_dag(method="PUT", details=DagDetails(id=dag_id), user=user)


def airflow_run(dag_id: str, run_id: str) -> dict[str, Any] | None:
    """A run of ``dag_id`` from Airflow's metadata database with its final task's result."""
    from airflow.models.dagrun import DagRun
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    final_task = {SEARCH_DAG: "publish", CURATE_DAG: "curate"}.get(dag_id)
    with create_session() as session:
        run = session.scalar(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))
        if run is None:
            return None
        row = session.scalar(select(XComModel).where(
            XComModel.dag_id == dag_id, XComModel.run_id == run_id, XComModel.task_id == final_task,
            XComModel.key == "return_value")) if final_task else None
        return {"dag_id": dag_id, "run_id": run_id, "state": str(run.state), "conf": run.conf or {},
                "result": XComModel.deserialize_value(row) if row is not None else None,
                "is_autodp": final_task is not None}


def _back(url: str, error: str) -> RedirectResponse:
    return RedirectResponse(f"{url}?error={quote(error)}", status_code=303)
