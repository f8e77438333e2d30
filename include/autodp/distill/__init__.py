"""Distilling the augmentation model family from a teacher, as the steps the
``autodp_distill`` DAG runs as tasks (``loop``), with one configuration (``config``) and
typed state (``state``); choosing seeds (``seeds``), the teacher's data (``teacher``) and
the students' evaluation (``evaluation``)."""
