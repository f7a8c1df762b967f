"""Config loading, defaults and rejection of bad values."""

from __future__ import annotations

import pytest
import yaml

from workflow.config import Config, ConfigError, from_dict, load_config


def test_default_config_loads_and_matches_dataclass_defaults(repo):
    cfg = load_config(repo / "config/config.yaml")
    assert cfg.study == "countdown-toy"
    assert cfg.rl.algorithms == ("ppo", "grpo", "reinforce_pp", "rloo", "remax", "dapo", "prorl")
    assert cfg.sampling.n == 256
    # the embedded default only restates defaults or overrides them visibly; every key must be valid
    assert isinstance(cfg, Config)


def test_empty_config_gives_defaults():
    assert from_dict({}) == Config()


def test_presets_resolve_with_common_then_overrides():
    cfg = from_dict(
        {
            "rl": {
                "algorithms": ["dapo", "prorl"],
                "common": {"lr": 1e-4, "clip_high": 0.3},
                "overrides": {"prorl": {"clip_high": 0.5}},
            }
        }
    )
    dapo, prorl = cfg.rl.algorithm("dapo"), cfg.rl.algorithm("prorl")
    assert (dapo.lr, dapo.clip_high, dapo.reward_wrong, dapo.group_filter) == (1e-4, 0.3, -1.0, "nonconstant")
    assert (prorl.clip_high, prorl.temperature, prorl.kl_loss_coef) == (0.5, 1.2, 1e-4)


def test_cli_prints_each_algorithm_as_resolved(tmp_path, capsys):
    from workflow.config import main

    path = tmp_path / "c.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "rl": {
                    "algorithms": ["prorl"],
                    "common": {"lr": 1e-4},
                    "overrides": {"prorl": {"clip_high": 0.5}},
                }
            }
        )
    )
    main([str(path)])
    prorl = yaml.safe_load(capsys.readouterr().out)["rl"]["resolved"]["prorl"]
    assert (prorl["lr"], prorl["clip_high"], prorl["temperature"]) == (1e-4, 0.5, 1.2)


@pytest.mark.parametrize(
    "values, message",
    [
        ({"studdy": "x"}, "unknown key(s) ['studdy']"),
        ({"rl": {"stepz": 3}}, "unknown key(s) ['rl.stepz']"),
        ({"rl": {"algorithms": ["grpo", "magic"]}}, "unknown algorithm 'magic'"),
        ({"rl": {"overrides": {"grpo": {"clip_hi": 0.3}}}}, "rl.overrides.grpo.clip_hi"),
        ({"rl": {"overrides": {"gpro": {"clip_high": 0.3}}}}, "rl.overrides.gpro: unknown algorithm"),
        ({"rl": {"common": {"learning_rate": 0.1}}}, "rl.common.learning_rate"),
        ({"rl": {"overrides": {"grpo": {"group_filter": "magic"}}}}, "group_filter"),
        (
            {"rl": {"overrides": {"prorl": {"val_every": 0}}, "algorithms": ["prorl"]}},
            "ref_reset_patience needs val_every",
        ),
        ({"rl": {"overrides": {"grpo": {"advantage": "nope"}}}}, "valid: ["),
        ({"rl": {"steps": 10, "save_steps": [20]}}, "rl.save_steps"),
        ({"sampling": {"n": "many"}}, "sampling.n: expected int"),
        ({"sampling": {"n": 0}}, "sampling.n: must be > 0"),
        ({"sampling": {"top_p": 1.5}}, "sampling.top_p"),
        ({"model": {"d_model": 100, "n_head": 3}}, "divisible"),
        ({"wandb": {"mode": "loud"}}, "wandb.mode"),
        ({"study": "a/b"}, "study"),
        ({"data": {"min_solutions": 1}}, "data.min_solutions"),
        ({"rl": {"seeds": 3}}, "rl.seeds: expected a list"),
    ],
)
def test_bad_values_are_rejected_with_the_key_named(values, message):
    with pytest.raises(ConfigError) as err:
        from_dict(values)
    assert message in str(err.value)


def test_yaml_scientific_notation_and_overrides(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text(
        yaml.safe_dump({"rl": {"common": {"lr": "3e-5"}, "overrides": {"grpo": {"clip_high": 0.28}}}})
    )
    cfg = load_config(p)
    assert cfg.rl.algorithm("grpo").lr == pytest.approx(3e-5)
    assert cfg.rl.algorithm("grpo").clip_high == 0.28
    assert cfg.rl.algorithm("grpo").clip_low == 0.2


def test_fingerprint_changes_with_settings():
    a, b = from_dict({}), from_dict({"rl": {"common": {"lr": 2e-4}}})
    assert a.fingerprint("data") == b.fingerprint("data")
    assert a.fingerprint("rl") != b.fingerprint("rl")


def _keys(d, prefix=""):
    for k, v in d.items():
        if isinstance(v, dict) and k != "overrides":
            yield from _keys(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}"


def test_every_key_is_documented(repo):
    doc = (repo / "config" / "README.md").read_text()
    missing = [k for k in _keys(Config().to_dict()) if f"`{k}`" not in doc]
    from workflow.config import AlgorithmConfig

    missing += [f.name for f in __import__("dataclasses").fields(AlgorithmConfig) if f"`{f.name}`" not in doc]
    from workflow.config import BenchmarkSpec, ComparisonSpec, ModelSpec, TemplateSpec

    for section, cls in (
        ("models", ModelSpec),
        ("benchmarks", BenchmarkSpec),
        ("comparisons", ComparisonSpec),
        ("templates", TemplateSpec),
    ):
        missing += [
            f"{section}.<name>.{f.name}"
            for f in __import__("dataclasses").fields(cls)
            if f"`{section}.<name>.{f.name}`" not in doc
        ]
    assert not missing, f"undocumented config keys: {missing}"


def _merge(a: dict, b: dict) -> dict:
    out = dict(a)
    for k, v in b.items():
        out[k] = _merge(a[k], v) if isinstance(v, dict) and isinstance(a.get(k), dict) else v
    return out


def test_every_study_config_validates_over_the_default(repo):
    """Study configs are merged over config/config.yaml, as Snakemake does with --configfile."""
    default = yaml.safe_load((repo / "config" / "config.yaml").read_text())
    for path in sorted((repo / "config").glob("*.yaml")):
        from_dict(_merge(default, yaml.safe_load(path.read_text()) or {}))


def test_int_strings_from_the_command_line_are_accepted():
    assert from_dict({"rl": {"seeds": ["0", "1"]}}).rl.seeds == (0, 1)


BENCH_STUDY = {
    "data": {"task": "benchmark", "benchmark": "omni", "num_train": 4, "num_test": 3, "num_val": 2},
    "model": {"path": "/models/qwen", "template": "deepseek-r1"},
    "benchmarks": {"omni": {"loader": "omni_math", "source": "omni.jsonl"}, "math500": {}},
    "rl": {"engine": "verl", "verl": {"device": "cpu", "rollout": "hf", "gpus_per_node": 1}},
    "sampling": {"datasets": ["train", "test", "math500"]},
}


def test_a_benchmark_training_study_validates():
    cfg = from_dict(BENCH_STUDY)
    assert not cfg.evaluation and cfg.data.benchmark == "omni"
    assert "deepseek-r1" in cfg.with_templates().templates  # the training prompt is recorded


@pytest.mark.parametrize(
    "change, message",
    [
        ({"rl": {"engine": "builtin"}}, "builtin trainer trains the countdown task only"),
        ({"model": {"path": None}}, "set model.path"),
        ({"data": {"benchmark": "gsm"}}, "not in benchmarks"),
        ({"data": {"task": "countdown"}}, "data.benchmark"),
        ({"data": {"num_val": 5}}, "num_val <= num_test"),
        ({"sampling": {"datasets": ["test", "aime"]}}, "sampling.datasets"),
        ({"model": {"template": "nope"}}, "model.template"),
    ],
)
def test_a_benchmark_training_study_refuses_what_cannot_run(change, message):
    values = {k: (dict(v, **change[k]) if k in change else v) for k, v in BENCH_STUDY.items()}
    with pytest.raises(ConfigError, match=message):
        from_dict(values)


def test_new_fields_at_their_defaults_keep_old_fingerprints():
    """Upgrading the code does not rerun finished stages: data.benchmark, model.path and model.template are left
    out of fingerprints at their defaults (the hash of the data and model sections is what it was before)."""
    import hashlib
    import json

    cfg = Config()
    d = cfg.to_dict()
    old = {"seed": d["seed"], "data": dict(d["data"]), "model": dict(d["model"])}
    del old["data"]["benchmark"], old["model"]["path"], old["model"]["template"]
    want = hashlib.sha256(json.dumps(old, sort_keys=True).encode()).hexdigest()[:8]
    assert cfg.fingerprint("seed", "data", "model") == want
    other = from_dict({"model": {"template": "qwen-boxed"}})
    assert other.fingerprint("seed", "data", "model") != want


def test_fields_added_later_stay_out_of_every_settings_hash_at_their_defaults():
    """Stage hashes (the fingerprints, and the sample jobs' digest of the sampling section in rules/common.smk)
    read ``stable_dict``: the sandbox, test and vLLM fields added later are absent at their defaults, so
    finished studies are not resampled or reverified after an upgrade; set, they count."""
    d = Config().stable_dict()
    for section, key in [
        ("sampling", "enforce_eager"),
        ("sampling", "cpu_kv_cache_gb"),
        ("sampling", "engine_args"),
        ("analysis", "fdr"),
        ("analysis", "power"),
        ("verification", "code_disk_mb"),
        ("verification", "allow_weak_sandbox"),
        ("verification", "policy"),
    ]:
        assert key not in d[section], (section, key)
    lenient = from_dict({"verification": {"policy": "lenient"}})
    assert lenient.stable_dict()["verification"]["policy"] == "lenient"
    assert lenient.fingerprint("verification") != Config().fingerprint("verification")  # re-verifies
    assert from_dict({"sampling": {"engine_args": {"seed": 3}}}).stable_dict()["sampling"]["engine_args"] == {
        "seed": 3
    }
    assert "fdr" in from_dict({"analysis": {"fdr": 0.1}}).stable_dict()["analysis"]


def test_an_unknown_math_policy_fails_naming_the_key():
    with pytest.raises(ConfigError, match="verification.policy"):
        from_dict({"verification": {"policy": "official"}})
