"""The compiled pipeline: up to date with its source, valid KFP IR, GPU request on the train step."""

from __future__ import annotations

import yaml
from kfp import components

from pipelines.compile import COMPILED, compile_pipeline


def test_checked_in_yaml_is_up_to_date(tmp_path):
    fresh = compile_pipeline(tmp_path / "pipeline.yaml")
    assert list(yaml.safe_load_all(fresh.read_text())) == list(yaml.safe_load_all(COMPILED.read_text())), (
        "pipelines/fraud_training_pipeline.yaml is stale: run `make compile` and commit it"
    )


def test_compiled_yaml_loads_back_with_the_kfp_sdk():
    pipeline = components.load_component_from_file(str(COMPILED))
    assert pipeline.name == "fraud-training"
    assert set(pipeline.component_spec.inputs) == {
        "train_start",
        "train_end",
        "test_days",
        "model_type",
        "hyperparameters",
        "experiment",
    }


def _documents() -> list[dict]:
    return list(yaml.safe_load_all(COMPILED.read_text()))


def test_train_step_requests_a_gpu_and_tolerates_gpu_taints():
    spec, platform = _documents()
    executors = spec["deploymentSpec"]["executors"]
    train = executors["exec-train-op"]["container"]["resources"]
    assert train["accelerator"]["resourceType"] == "nvidia.com/gpu"
    assert train["accelerator"]["resourceCount"] == "1"
    others = [name for name, e in executors.items() if "accelerator" in e["container"].get("resources", {})]
    assert others == ["exec-train-op"]
    tolerations = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]["exec-train-op"][
        "tolerations"
    ]
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in tolerations


def test_cpu_only_build_has_no_gpu_request(tmp_path):
    text = compile_pipeline(tmp_path / "cpu.yaml", use_gpu=False).read_text()
    assert "nvidia.com/gpu" not in text


def test_every_step_reads_settings_from_the_cluster_config():
    _, platform = _documents()
    executors = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert len(executors) == 7
    for config in executors.values():
        assert config["configMapAsEnv"][0]["configMapName"] == "fraud-platform-env"
        assert config["secretAsEnv"][0]["secretName"] == "fraud-platform-s3"
