"""The augmentation model family: small models distilled from a teacher for instruction
expansion, instruction refinement and pair expansion (``autodp distill``, the
``autodp_distill`` DAG), registered in the store and run by the generation and
refinement operators that name them."""
