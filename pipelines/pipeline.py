"""The training pipeline: ingest, validate, build training set, train, evaluate, register, gate."""

from kfp import dsl, kubernetes

from pipelines.components import (
    build_training_set_op,
    evaluate_op,
    gate_op,
    ingest_op,
    register_op,
    train_op,
    validate_op,
)

PIPELINE_NAME = "fraud-training"
#: Kubernetes objects the Helm chart creates: settings as a ConfigMap, S3 keys as a Secret.
CONFIG_MAP = "fraud-platform-env"
SECRET = "fraud-platform-s3"
CONFIG_KEYS = [
    "FRAUD_S3_ENDPOINT_URL",
    "FRAUD_MLFLOW_TRACKING_URI",
    "FRAUD_FEAST_REDIS_URL",
    "FRAUD_KAFKA_BOOTSTRAP_SERVERS",
    "FRAUD_BUCKET",
    "FRAUD_MODEL_NAME",
    "FRAUD_GATE_MIN_AP_GAIN",
]
SECRET_KEYS = {"access-key": "FRAUD_S3_ACCESS_KEY", "secret-key": "FRAUD_S3_SECRET_KEY"}
GPU_RESOURCE = "nvidia.com/gpu"


def _platform_env(task: dsl.PipelineTask) -> dsl.PipelineTask:
    kubernetes.use_config_map_as_env(task, CONFIG_MAP, {key: key for key in CONFIG_KEYS})
    kubernetes.use_secret_as_env(task, SECRET, SECRET_KEYS)
    return task


def build_pipeline(use_gpu: bool = True):
    """The pipeline; ``use_gpu`` puts the train step on a GPU node (request, limit and taint toleration)."""

    @dsl.pipeline(name=PIPELINE_NAME, description="Train, evaluate and register a card-fraud model.")
    def fraud_training(
        train_start: str = "",
        train_end: str = "",
        test_days: int = 7,
        model_type: str = "lightgbm",
        hyperparameters: str = "{}",
        experiment: str = "fraud-training",
    ):
        ingest = _platform_env(ingest_op(train_start=train_start, train_end=train_end, test_days=test_days))
        split = ingest.outputs["Output"]
        validate = _platform_env(validate_op(raw=ingest.outputs["raw"], split=split))
        datasets = _platform_env(
            build_training_set_op(raw=ingest.outputs["raw"], split=split).after(validate)
        )
        datasets.set_memory_limit("16G").set_cpu_limit("4")
        train = _platform_env(
            train_op(
                train_set=datasets.outputs["train_set"],
                split=split,
                model_type=model_type,
                hyperparameters=hyperparameters,
                experiment=experiment,
            )
        )
        if use_gpu:
            train.set_accelerator_type(GPU_RESOURCE).set_accelerator_limit(1)
            kubernetes.add_toleration(train, key=GPU_RESOURCE, operator="Exists", effect="NoSchedule")
        evaluate = _platform_env(
            evaluate_op(model=train.outputs["model"], test_set=datasets.outputs["test_set"])
        )
        register = _platform_env(register_op(model=train.outputs["model"]).after(evaluate))
        _platform_env(gate_op(version=register.output, test_set=datasets.outputs["test_set"]))

    return fraud_training
