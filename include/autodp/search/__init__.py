"""The method: find the data-processing strategy whose output fine-tunes the best model.

- ``config``: ``SearchConfig`` (and ``LoraSettings``), built the same way from the CLI and
  the DAG's Params;
- ``loop``: the steps, named as the ``autodp_search`` DAG's tasks, and ``search``, which
  runs them all in one process;
- ``state``: the typed state the steps pass on;
- ``sampling`` (DPS), ``targeting`` (PTS), ``agent``, ``finetune`` (LoRA), ``evaluation``
  (the judges) and ``data_card``: what the steps are made of.
"""
