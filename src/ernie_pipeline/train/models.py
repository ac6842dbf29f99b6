"""Named ERNIE architectures (``train.model`` in config.yaml); any field can be overridden with
``train.model_overrides``. ``vocab_size`` always comes from the built ``vocab.txt``."""

from __future__ import annotations

MODEL_CONFIGS: dict[str, dict] = {
    # Released ERNIE 1.0 CW settings (paddlenlp ErnieConfig pretrained_init_configuration).
    "ernie-1.0-base-zh-cw": {
        "num_hidden_layers": 12, "hidden_size": 768, "num_attention_heads": 12,
        "intermediate_size": 3072, "hidden_act": "gelu", "max_position_embeddings": 512,
        "type_vocab_size": 4, "task_type_vocab_size": 3, "use_task_id": True,
        "initializer_range": 0.02, "pad_token_id": 0,
    },
    "ernie-1.0-large-zh-cw": {
        "num_hidden_layers": 24, "hidden_size": 1024, "num_attention_heads": 16,
        "intermediate_size": 3072, "hidden_act": "relu", "max_position_embeddings": 512,
        "type_vocab_size": 2, "initializer_range": 0.02, "pad_token_id": 0,
    },
    # A few-MB model that trains a few hundred steps on 2 CPU cores in minutes (demo and tests).
    "ernie-tiny-cpu": {
        "num_hidden_layers": 2, "hidden_size": 128, "num_attention_heads": 2,
        "intermediate_size": 512, "hidden_act": "gelu", "max_position_embeddings": 512,
        "type_vocab_size": 4, "initializer_range": 0.02, "pad_token_id": 0,
    },
}


def model_config(name: str, vocab_size: int, overrides: dict | None = None, hidden_dropout_prob: float = 0.1,
                 attention_probs_dropout_prob: float = 0.1) -> dict:
    if name not in MODEL_CONFIGS:
        raise ValueError(f"config train.model: unknown model {name!r}; known: {sorted(MODEL_CONFIGS)}")
    config = dict(MODEL_CONFIGS[name])
    config.update(hidden_dropout_prob=hidden_dropout_prob, attention_probs_dropout_prob=attention_probs_dropout_prob)
    config.update(overrides or {})
    config["vocab_size"] = vocab_size
    return config


def check_train_settings(train, world: int = 1) -> None:
    """Settings the schema cannot check alone (``train``: TrainSettings), refused when they are built (at parse
    time) and again by training, where ``world`` data-parallel processes share each global batch."""
    model = model_config(train.model, 1, train.model_overrides)
    if model["hidden_size"] % model["num_attention_heads"]:
        raise ValueError(f"config train.model_overrides: hidden_size {model['hidden_size']} is not a multiple of "
                         f"num_attention_heads {model['num_attention_heads']} (model {train.model})")
    if train.max_seq_len > model["max_position_embeddings"]:
        overridden = ", train.model_overrides" if "max_position_embeddings" in train.model_overrides else ""
        raise ValueError(f"config train.max_seq_len: {train.max_seq_len} exceeds the model's "
                         f"max_position_embeddings {model['max_position_embeddings']} (train.model {train.model}"
                         f"{overridden})")
    refused = {
        ("paddle", "amp", "bf16"): "the Paddle backend trains in float32, O1 or O2 (float16); bf16 needs "
                                   "train.backend: torch",
        ("torch", "amp", "O2"): "the torch backend keeps float32 weights under autocast: bf16 (Ampere and later GPUs, "
                                "CPUs) or O1 (float16 with a loss scaler, older GPUs)",
        ("paddle", "compile", True): "torch.compile needs train.backend: torch",
    }
    for (backend, key, value), reason in refused.items():
        if train.backend == backend and getattr(train, key) == value:
            raise ValueError(f"config train.{key}={value}: {reason}")
    if train.python and train.backend != "torch":
        raise ValueError(f"config train.python={train.python}: the Python of the torch backend's processes; the "
                         "Paddle backend trains in the workflow's own (set train.python: null, or train.backend: torch)")
    if train.global_batch_size % (train.micro_batch_size * world):
        raise ValueError(f"config train.global_batch_size: {train.global_batch_size} is not a multiple of "
                         f"train.micro_batch_size {train.micro_batch_size}"
                         f"{f' x {world} data-parallel processes' if world > 1 else ''}")
