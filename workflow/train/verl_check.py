"""Check rendered overrides against verl 0.9.1 itself, offline (no Ray, no GPU, a few seconds).

Consumes: override strings (``workflow.train.verl_render``). Produces: verl's composed config (an OmegaConf
``DictConfig``) or an error naming the problem. The checks are verl's own: Hydra composes the overrides onto
verl's ``ppo_trainer`` config (a misspelt key fails here), ``verl.utils.config.validate_config`` and the typed
config classes (``omega_conf_to_dataclass``) check values and batch arithmetic. Two names verl's checks let
through are checked against ``verl.trainer.ppo.core_algos``: the advantage estimator (its registry) and each KL
type in use (``kl_penalty`` raises on an unknown one). The launcher runs this before starting Ray, so a bad
config fails in seconds, not after the cluster is up.

Needs the ``verl`` extra; ``actor_rollout_ref.model.path`` must be a local directory (the critic's config reads
the HF config).
"""

from __future__ import annotations

import os


class VerlConfigError(ValueError):
    """verl refused the rendered configuration."""


def compose(overrides: list[str]):
    """verl's ``ppo_trainer`` config with ``overrides`` applied (Hydra's compose API, verl's config directory)."""
    import verl
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    config_dir = os.path.join(os.path.dirname(verl.__file__), "trainer", "config")
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=config_dir, version_base=None):
            return hydra_compose(config_name="ppo_trainer", overrides=list(overrides))
    except Exception as err:  # Hydra's override and config errors have several types
        raise VerlConfigError(f"verl's config refused the overrides: {err}") from err
    finally:
        GlobalHydra.instance().clear()


def check(overrides: list[str]):
    """Compose and validate as verl's trainer does; returns the config. Raises :class:`VerlConfigError`."""
    import torch
    from omegaconf import OmegaConf
    from verl.trainer.ppo import core_algos
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import omega_conf_to_dataclass, validate_config

    cfg = compose(overrides)
    try:
        OmegaConf.resolve(cfg)
        validate_config(cfg, use_reference_policy=need_reference_policy(cfg), use_critic=need_critic(cfg))
        for section in ("algorithm", "actor_rollout_ref.actor", "actor_rollout_ref.rollout", "critic"):
            omega_conf_to_dataclass(OmegaConf.select(cfg, section))
    except Exception as err:
        raise VerlConfigError(f"verl's validation refused the config: {err}") from err
    estimator = cfg.algorithm.adv_estimator
    try:
        core_algos.get_adv_estimator_fn(estimator)
    except Exception as err:
        raise VerlConfigError(
            f"algorithm.adv_estimator={estimator!r}: not in verl's core_algos ({err})"
        ) from err
    lp = torch.zeros(1, 2)
    kl_types = [("actor_rollout_ref.actor.kl_loss_type", cfg.actor_rollout_ref.actor.kl_loss_type)]
    kl_types.append(("algorithm.kl_penalty", cfg.algorithm.kl_penalty))
    for key, name in kl_types:
        try:
            core_algos.kl_penalty(lp, lp, name)
        except Exception as err:
            raise VerlConfigError(f"{key}={name!r}: verl's core_algos.kl_penalty refuses it ({err})") from err
    return cfg
