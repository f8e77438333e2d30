"""The models autodp runs in process: base models (``base``), sentence embeddings
(``embeddings``), reference likelihoods (``likelihood``) and LoRA training and adapter
loading (``lora``). They sit below everything that uses them: the search, the distillation
pipeline and the augmentation student."""
