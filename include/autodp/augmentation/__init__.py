"""The augmentation models at run time: the versioned prompt templates of each task
(``templates``), the registry of distilled models the operators name (``registry``) and the
student that runs one in process (``student``). Distilling them is ``autodp.distill``."""
