"""The governance review app served inside Airflow (``plugins/autodp_review.py``)."""
