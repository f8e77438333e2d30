"""autodp's review app in the Airflow UI: the FastAPI app (``autodp.review.app``) mounted
by the api-server under ``/autodp``, a "Data review" entry in the navigation, and an
"autodp search" tab on every DAG run that opens the search that run published."""

from airflow.plugins_manager import AirflowPlugin

from autodp.review.app import create_app


class AutodpReviewPlugin(AirflowPlugin):
    name = "autodp_review"
    fastapi_apps = [{"app": create_app(), "url_prefix": "/autodp", "name": "autodp review"}]
    external_views = [
        {"name": "Data review", "href": "autodp/", "url_route": "autodp", "destination": "nav"},
        {"name": "autodp search", "href": "autodp/runs/{DAG_ID}/{RUN_ID}", "url_route": "autodp_run",
         "destination": "dag_run"},
    ]
