"""CPU stand-in for verl's GPU-only parts, so verl's real trainer runs on a CPU machine.

verl 0.9.1 (``python -m verl.trainer.main_ppo``) needs two things a CPU machine does not have:
a CUDA/NCCL platform and a vLLM (or SGLang/TRT-LLM) rollout server. This module replaces
exactly those two, for tests and CPU-only machines, through verl's own extension hooks;
no file of verl is edited. Everything else (Hydra config, Ray worker groups, FSDP2 engine,
TransferQueue, agent loop, advantage estimators, losses, checkpoints) is verl's own code.
On a GPU cluster do not load it: run verl with ``rollout.name=vllm`` as usual.

What importing this module registers (idempotent; verl imports it in every process,
driver and Ray workers, because ``VERL_USE_EXTERNAL_MODULES`` names it):

* platform ``cpu`` in ``verl.plugin.platform.PlatformRegistry`` (selected by env
  ``VERL_PLATFORM=cpu``): device ``cpu``, backend ``gloo``, Ray resource ``GPU`` (a
  *logical* GPU per training worker: ``+ray_kwargs.ray_init.num_gpus=N``), a
  ``torch.cpu``-based device module with the accelerator calls verl makes
  (``empty_cache``, ``mem_get_info``, ``get_device_name``, rng state, ...).
* rollout ``hf`` (mode ``async``) in ``verl.workers.rollout.base._ROLLOUT_REGISTRY``:
  :class:`HFServerAdapter`, the trainer-side ``BaseRollout`` whose ``update_weights``
  pushes the actor's weights to the server after every step.
* replica ``hf`` in ``verl.workers.rollout.replica.RolloutReplicaRegistry``:
  :class:`HFReplica`, which starts one :class:`HFRolloutServer` Ray actor per replica.
  The server samples with ``transformers`` ``generate`` using the sampling parameters
  verl passes (temperature, top_p, top_k, max_tokens, repetition_penalty; ``n`` is
  handled by verl's agent loop) and returns the token ids and the log-probs of the
  sampled tokens under the sampling distribution (temperature/top-k/top-p applied,
  like vLLM's ``processed_logprobs``).

Three small runtime adaptations, applied only when ``VERL_PLATFORM=cpu``:

* verl builds the process-group backend ``"cpu:gloo,<device>:<backend>"``, which is
  ``"cpu:gloo,cpu:gloo"`` here and rejected by torch ("Duplicate device type cpu");
  ``torch.distributed.init_process_group`` is wrapped to de-duplicate it.
* verl wraps forward-only models (the reference policy) in FSDP2's
  ``CPUOffloadPolicy(pin_memory=True)``; pinned memory needs an accelerator, so
  without one the policy is built with ``pin_memory=False``.
* verl's PPO critic loader passes ``attn_implementation="flash_attention_2"``
  unconditionally; when ``flash_attn`` is not installed the value-head model is
  loaded with the attention implementation of the model config (``sdpa``).

Import order: verl imports this module from ``verl/__init__``; when this module is
imported first (a launcher, or Ray unpickling :class:`HFRolloutServer`), verl sees it
half-initialised, which is fine for it, but another module listed after it in
``VERL_USE_EXTERNAL_MODULES`` must not read its attributes at import time. Without
verl installed, importing it only defines the constants below (for a launcher).

A launcher must set :data:`CPU_ENV` in the environment of ``python -m
verl.trainer.main_ppo`` (with this module importable on ``PYTHONPATH``) and append
:data:`CPU_OVERRIDES` to the Hydra overrides. Pin ``verl==0.9.1``: these hooks use
verl internals (registries, server call signatures) and must be re-checked on upgrade.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import os
import threading
import types
from typing import Any

import torch

_HAVE_VERL = importlib.util.find_spec("verl") is not None
if _HAVE_VERL:
    from verl.workers.rollout.base import BaseRollout
    from verl.workers.rollout.replica import RolloutReplica
else:  # a launcher without verl installed only reads CPU_ENV / CPU_OVERRIDES
    BaseRollout = RolloutReplica = object  # type: ignore[misc,assignment]

logger = logging.getLogger(__name__)

# Module path under which verl imports this file (VERL_USE_EXTERNAL_MODULES).
MODULE_PATH = "workflow.train.verl_cpu"
PLATFORM_NAME = "cpu"
ROLLOUT_NAME = "hf"

CPU_ENV: dict[str, str] = {
    # load this module in every verl process (verl/__init__.py imports it)
    "VERL_USE_EXTERNAL_MODULES": MODULE_PATH,
    # select the platform registered below instead of auto-detection ("nvidia")
    "VERL_PLATFORM": PLATFORM_NAME,
    # verl registers its FSDP engines for devices cuda/npu only; this is verl's own
    # override of the device used for the engine-registry lookup
    "VERL_ENGINE_DEVICE": "cuda",
    # quiet the HF tokenizers' fork warnings in Ray workers
    "TOKENIZERS_PARALLELISM": "false",
}

# Hydra overrides that the CPU run needs on top of the ordinary ones (model, data,
# batch sizes, algorithm, trainer.*). Measured with verl 0.9.1 on 2 cores / 24 GB.
CPU_OVERRIDES: list[str] = [
    # --- required -------------------------------------------------------------------
    "trainer.device=cpu",  # must equal the platform's device name
    # one training worker on one logical Ray GPU (the platform's Ray resource is "GPU")
    "trainer.nnodes=1",
    "trainer.n_gpus_per_node=1",
    "+ray_kwargs.ray_init.num_gpus=1",
    # a fixed logical CPU count; TransferQueue starts num_data_storage_units actors of
    # one Ray CPU each (default 8: on a small machine the run hangs waiting for CPUs)
    "ray_kwargs.ray_init.num_cpus=8",
    "transfer_queue.backend.SimpleStorage.num_data_storage_units=1",
    # FSDP2 everywhere (FSDP1 needs an accelerator)
    "actor_rollout_ref.actor.strategy=fsdp2",
    "actor_rollout_ref.ref.strategy=fsdp2",
    "critic.strategy=fsdp2",
    # no flash-attn: torch SDPA on padded (not packed) sequences
    "+actor_rollout_ref.model.override_config.attn_implementation=sdpa",
    "actor_rollout_ref.model.use_remove_padding=False",
    "actor_rollout_ref.model.enable_gradient_checkpointing=False",
    "+critic.model.override_config.attn_implementation=sdpa",
    "critic.model.use_remove_padding=False",
    "critic.model.enable_gradient_checkpointing=False",
    # the HF rollout registered here: one single-process replica per training worker
    f"actor_rollout_ref.rollout.name={ROLLOUT_NAME}",
    "actor_rollout_ref.rollout.mode=async",
    "actor_rollout_ref.rollout.tensor_model_parallel_size=1",
    # --- precision: rollout and trainer in fp32 ----------------------------------------
    # With verl's default bf16 autocast the run works too, but rollout and trainer
    # log-probs then differ by ~5e-4 (training/rollout_probs_diff_max); in fp32 they
    # agree to ~1e-8, so a broken weight sync (~1e-2) stands out.
    "actor_rollout_ref.rollout.dtype=float32",
    "+actor_rollout_ref.actor.fsdp_config.mixed_precision.param_dtype=fp32",
    "+actor_rollout_ref.ref.fsdp_config.mixed_precision.param_dtype=fp32",
    "+critic.fsdp.mixed_precision.param_dtype=fp32",
    # --- resources: without these a 2-step tiny run takes ~135 s and ~8.7 GB instead of
    # ~65 s and ~3.6 GB (each helper is a Python process of ~0.5 GB)
    "actor_rollout_ref.rollout.agent.num_workers=1",
    "reward.num_workers=1",
    "data.dataloader_num_workers=0",
    "actor_rollout_ref.actor.use_torch_compile=False",
    "actor_rollout_ref.actor.fsdp_config.use_torch_compile=False",
    "actor_rollout_ref.ref.fsdp_config.use_torch_compile=False",
    "critic.fsdp.use_torch_compile=False",
]


# --------------------------------------------------------------------------------------
# platform
# --------------------------------------------------------------------------------------


def _mem_info() -> tuple[int, int]:
    """(free, total) bytes of host memory, the CPU counterpart of cudaMemGetInfo."""
    try:
        with open("/proc/meminfo") as f:
            info = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in f}
        return info.get("MemAvailable", info.get("MemFree", 0)), info.get("MemTotal", 0)
    except OSError:
        return 0, 0


def _noop(*args: Any, **kwargs: Any) -> None:
    return None


def _zero(*args: Any, **kwargs: Any) -> int:
    return 0


class _CpuDeviceModule(types.ModuleType):
    """``torch.cpu`` plus the ``torch.cuda``-style calls verl makes on its device module."""

    def __init__(self) -> None:
        super().__init__("verl_cpu_device")
        self.empty_cache = _noop
        self.ipc_collect = _noop
        self.reset_peak_memory_stats = _noop
        self.set_per_process_memory_fraction = _noop
        self.memory_allocated = _zero
        self.memory_reserved = _zero
        self.max_memory_allocated = _zero
        self.max_memory_reserved = _zero
        self.mem_get_info = lambda *a, **k: _mem_info()
        self.get_device_name = lambda *a, **k: "cpu"
        self.get_rng_state = lambda *a, **k: torch.get_rng_state()
        self.set_rng_state = lambda state, *a, **k: torch.set_rng_state(state)
        self.manual_seed = lambda seed: torch.manual_seed(seed)
        self.manual_seed_all = lambda seed: torch.manual_seed(seed)
        self.device_count = lambda: 1
        self.is_available = lambda: True
        self.current_device = lambda: "cpu"
        self.set_device = _noop
        self.synchronize = _noop

    def __getattr__(self, name: str) -> Any:
        return getattr(torch.cpu, name)


_DEVICE_MODULE = _CpuDeviceModule()


def _register_platform() -> None:
    from verl.plugin.platform.platform_base import PlatformBase
    from verl.plugin.platform.platform_manager import PlatformRegistry

    if getattr(PlatformRegistry.get(PLATFORM_NAME), "_verl_cpu_standin", False):
        return

    class PlatformCPU(PlatformBase):
        """Host CPU as verl's device: gloo collectives, logical Ray GPUs as worker slots."""

        _verl_cpu_standin = True

        @property
        def device_name(self) -> str:
            return "cpu"

        @property
        def vendor_name(self) -> str:
            return "cpu"

        @property
        def device_module(self) -> types.ModuleType:
            return _DEVICE_MODULE

        def is_available(self) -> bool:
            return True

        def is_platform_available(self, use_smi_check: bool = False) -> bool:
            # never auto-detected: only chosen explicitly with VERL_PLATFORM=cpu
            return False

        def current_device(self):  # verl uses it as a torch device argument
            return "cpu"

        def device_count(self) -> int:
            return 1

        def set_device(self, device_index) -> None:
            return None

        def synchronize(self, device_index=None) -> None:
            return None

        def manual_seed(self, seed: int) -> None:
            torch.manual_seed(seed)

        def manual_seed_all(self, seed: int) -> None:
            torch.manual_seed(seed)

        def set_allocator_settings(self, settings: str) -> None:
            return None

        def empty_cache(self) -> None:
            return None

        def get_device_capability(self, device_index: int = 0):
            return None, None

        def communication_backend_name(self) -> str:
            return "gloo"

        def visible_devices_envvar(self) -> str:
            # Ray sets it for actors holding (logical) GPU resources
            return "CUDA_VISIBLE_DEVICES"

        @contextlib.contextmanager
        def nvtx_range(self, msg: str):
            yield

        def profiler_start(self) -> None:
            return None

        def profiler_stop(self) -> None:
            return None

        def ray_resource_name(self) -> str:
            return "GPU"

        def ray_noset_envvars(self) -> list[str]:
            return []

        def is_ipc_supported(self) -> bool:
            return False

        def cudart(self):
            return None

    PlatformRegistry.register(platform=PLATFORM_NAME)(PlatformCPU)


def _on_cpu_platform() -> bool:
    return os.environ.get("VERL_PLATFORM", "").strip().lower() == PLATFORM_NAME


def _patch_init_process_group() -> None:
    """De-duplicate ``cpu:gloo,cpu:gloo`` (verl's backend string on this platform)."""
    import torch.distributed as dist

    if getattr(dist.init_process_group, "_verl_cpu_dedup", False):
        return
    original = dist.init_process_group

    def init_process_group(*args: Any, **kwargs: Any):
        backend = kwargs.get("backend", args[0] if args else None)
        if isinstance(backend, str) and "," in backend:
            seen: dict[str, str] = {}
            for part in backend.split(","):
                seen.setdefault(part.partition(":")[0].strip(), part.strip())
            deduped = ",".join(seen.values())
            if deduped != backend:
                if args:
                    args = (deduped,) + tuple(args[1:])
                else:
                    kwargs["backend"] = deduped
        return original(*args, **kwargs)

    init_process_group._verl_cpu_dedup = True  # type: ignore[attr-defined]
    init_process_group.__wrapped__ = original  # type: ignore[attr-defined]
    dist.init_process_group = init_process_group


def _patch_offload_pinning() -> None:
    """FSDP2 ``CPUOffloadPolicy`` without pinned memory when no accelerator exists.

    verl wraps forward-only models (the reference policy) with
    ``CPUOffloadPolicy(pin_memory=True)``; pinning needs an accelerator ("Cannot access
    accelerator device when none is available"). Without one, pinning is meaningless, so
    the policy is built with ``pin_memory=False``.
    """
    from torch.distributed.fsdp import CPUOffloadPolicy

    if getattr(CPUOffloadPolicy, "_verl_cpu_nopin", False):
        return
    original = CPUOffloadPolicy.__init__

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        if not torch.accelerator.is_available():
            object.__setattr__(self, "pin_memory", False)

    CPUOffloadPolicy.__init__ = __init__
    CPUOffloadPolicy._verl_cpu_nopin = True


def _patch_valuehead_loader() -> None:
    """Load the PPO critic with the config's attention (sdpa) when flash_attn is absent."""
    if importlib.util.find_spec("flash_attn") is not None:
        return
    import verl.utils.model as verl_model

    if getattr(verl_model.load_valuehead_model, "_verl_cpu_sdpa", False):
        return

    def load_valuehead_model(local_path, torch_dtype, model_config, trust_remote_code):
        from transformers import AutoModelForTokenClassification

        attn = getattr(model_config, "_attn_implementation", None) or "sdpa"
        if attn == "flash_attention_2":
            attn = "sdpa"
        return AutoModelForTokenClassification.from_pretrained(
            pretrained_model_name_or_path=local_path,
            dtype=torch_dtype,
            config=model_config,
            attn_implementation=attn,
            trust_remote_code=trust_remote_code,
        )

    load_valuehead_model._verl_cpu_sdpa = True  # type: ignore[attr-defined]
    load_valuehead_model.__wrapped__ = verl_model.load_valuehead_model  # type: ignore[attr-defined]
    verl_model.load_valuehead_model = load_valuehead_model


# --------------------------------------------------------------------------------------
# HF rollout: server (Ray actor), replica (starts servers), adapter (trainer side)
# --------------------------------------------------------------------------------------


def _server_actor_name(replica_rank: int, name_suffix: str = "", kind: str = "") -> str:
    return f"{ROLLOUT_NAME}_server_{kind}{replica_rank}{name_suffix}"


_TORCH_DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
}


class HFRolloutServer:
    """A token-in/token-out generation server on ``transformers.generate``.

    Same call surface as verl's vLLM server for what the trainer and agent loop use:
    ``generate(prompt_ids, sampling_params, request_id, ...) -> TokenOutput``,
    ``update_weights``, ``set_global_steps`` and no-op memory management
    (``sleep``/``wake_up``/``clear_kv_cache``/...). Concurrent requests with the same
    sampling parameters are batched (left padding) into one ``generate`` call.
    """

    def __init__(self, config, model_config, rollout_mode=None, replica_rank: int = 0, **kwargs: Any) -> None:
        from transformers import AutoModelForCausalLM
        from verl.utils.config import omega_conf_to_dataclass
        from verl.workers.config import HFModelConfig

        self.config = omega_conf_to_dataclass(config)
        self.model_config = omega_conf_to_dataclass(model_config, dataclass_type=HFModelConfig)
        self.rollout_mode = rollout_mode
        self.replica_rank = replica_rank
        self.global_steps: int | None = None

        dtype = _TORCH_DTYPES.get(str(self.config.dtype).lower(), torch.float32)
        attn = (self.model_config.override_config or {}).get("attn_implementation", "sdpa")
        if attn == "flash_attention_2":
            attn = "sdpa"
        self.model = AutoModelForCausalLM.from_pretrained(
            self.model_config.local_path,
            dtype=dtype,
            attn_implementation=attn,
            trust_remote_code=self.model_config.trust_remote_code,
        )
        self.model.eval()
        self.model.requires_grad_(False)

        tokenizer = self.model_config.tokenizer
        gen_cfg = self.model.generation_config
        eos: list[int] = []
        for source in (gen_cfg.eos_token_id, getattr(tokenizer, "eos_token_id", None)):
            if source is None:
                continue
            for tok in source if isinstance(source, (list, tuple)) else [source]:
                if tok is not None and int(tok) not in eos:
                    eos.append(int(tok))
        self.eos_token_ids = eos
        pad = getattr(tokenizer, "pad_token_id", None)
        if pad is None:
            pad = gen_cfg.pad_token_id
        if pad is None:
            pad = eos[0] if eos else 0
        self.pad_token_id = int(pad)

        self._model_lock = threading.Lock()
        self._pending: list[tuple[list[int], dict[str, Any], asyncio.Future]] = []
        self._batcher: asyncio.Task | None = None

    # -- generation ----------------------------------------------------------------------

    async def generate(
        self,
        prompt_ids: list[int],
        sampling_params: dict[str, Any],
        request_id: str,
        image_data: list[Any] | None = None,
        video_data: list[Any] | None = None,
        audio_data: list[Any] | None = None,
        mm_processor_kwargs: dict[str, Any] | None = None,
        priority: int = 0,
        **kwargs: Any,
    ):
        if image_data or video_data or audio_data:
            raise NotImplementedError("the HF CPU rollout is text-only")
        from verl.utils import normalize_token_ids

        prompt_ids = list(normalize_token_ids(prompt_ids))
        params = dict(sampling_params)
        max_model_len = self.config.max_model_len or (self.config.prompt_length + self.config.response_length)
        room = int(max_model_len) - len(prompt_ids)
        if room < 1:
            raise ValueError(f"prompt of {len(prompt_ids)} tokens leaves no room within {max_model_len}")
        if "max_tokens" in params:
            max_tokens = params.pop("max_tokens")
        elif "max_new_tokens" in params:
            max_tokens = params.pop("max_new_tokens")
        else:
            max_tokens = min(
                self.config.response_length,
                self.config.prompt_length + self.config.response_length - len(prompt_ids),
            )
        params["max_tokens"] = max(1, min(int(max_tokens), room))

        loop = asyncio.get_running_loop()
        future: asyncio.Future = loop.create_future()
        self._pending.append((prompt_ids, params, future))
        if self._batcher is None or self._batcher.done():
            self._batcher = asyncio.create_task(self._drain())
        return await future

    @staticmethod
    def _group_key(params: dict[str, Any]) -> tuple:
        return tuple(sorted((k, repr(v)) for k, v in params.items() if k != "max_tokens"))

    async def _drain(self) -> None:
        while self._pending:
            await asyncio.sleep(0.01)  # let the other requests of this step arrive
            batch, self._pending = self._pending, []
            groups: dict[tuple, list] = {}
            for item in batch:
                groups.setdefault(self._group_key(item[1]), []).append(item)
            for items in groups.values():
                try:
                    outputs = await asyncio.to_thread(self._generate_batch, items)
                except Exception as exc:  # hand the error to every waiting request
                    for _, _, fut in items:
                        if not fut.done():
                            fut.set_exception(exc)
                    continue
                for (_, _, fut), out in zip(items, outputs, strict=True):
                    if not fut.done():
                        fut.set_result(out)

    def _generate_batch(self, items: list) -> list:
        from transformers import GenerationConfig
        from verl.workers.rollout.replica import TokenOutput

        params = dict(items[0][1])
        temperature = float(params.get("temperature", 1.0) or 0.0)
        top_p = float(params.get("top_p", 1.0) if params.get("top_p") is not None else 1.0)
        top_k = int(params.get("top_k", -1) if params.get("top_k") is not None else -1)
        repetition_penalty = float(params.get("repetition_penalty", 1.0) or 1.0)
        # verl passes logprobs=<rollout.calculate_log_probs> (a bool)
        want_logprobs = params.get("logprobs", True) not in (None, False)
        ignore_eos = bool(params.get("ignore_eos", False))
        stop_ids = [int(t) for t in (params.get("stop_token_ids") or [])]
        seed = params.get("seed")
        max_tokens = [it[1]["max_tokens"] for it in items]
        max_new = max(max_tokens)

        eos_ids = [] if ignore_eos else list(self.eos_token_ids)
        eos_ids += [t for t in stop_ids if t not in eos_ids]
        do_sample = temperature > 0
        gen_config = GenerationConfig(
            max_new_tokens=max_new,
            min_new_tokens=max_new if ignore_eos else 0,
            do_sample=do_sample,
            temperature=temperature if do_sample else 1.0,
            top_p=top_p if do_sample else 1.0,
            top_k=(top_k if top_k > 0 else 0) if do_sample else 0,
            repetition_penalty=repetition_penalty,
            num_beams=1,
            pad_token_id=self.pad_token_id,
            eos_token_id=eos_ids or None,
            output_scores=True,
            return_dict_in_generate=True,
        )

        lengths = [len(it[0]) for it in items]
        width = max(lengths)
        input_ids = torch.full((len(items), width), self.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((len(items), width), dtype=torch.long)
        for row, (ids, _, _) in enumerate(items):
            input_ids[row, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
            attention_mask[row, width - len(ids) :] = 1

        with self._model_lock, torch.no_grad():
            if seed is not None:
                torch.manual_seed(int(seed))
            out = self.model.generate(
                input_ids=input_ids, attention_mask=attention_mask, generation_config=gen_config
            )
        sequences = out.sequences[:, width:]
        # scores: the processed logits each token was sampled from (repetition penalty,
        # temperature, top-k, top-p applied), i.e. vLLM's "processed_logprobs"
        scores = torch.stack(out.scores, dim=1).float()
        logprobs = torch.log_softmax(scores, dim=-1)
        token_logprobs = logprobs.gather(-1, sequences[:, : scores.shape[1]].unsqueeze(-1)).squeeze(-1)

        stop_set = set(eos_ids)
        results = []
        for row in range(len(items)):
            ids = sequences[row].tolist()[: max_tokens[row]]
            cut = len(ids)
            for pos, tok in enumerate(ids):
                if tok in stop_set:
                    cut = pos + 1  # keep the stop token, as vLLM does for EOS
                    break
            ids = ids[:cut]
            lps = token_logprobs[row, :cut].tolist() if want_logprobs else None
            results.append(
                TokenOutput(
                    token_ids=ids,
                    log_probs=lps,
                    stop_reason="completed",
                    extra_fields={"global_steps": self.global_steps},
                )
            )
        return results

    # -- weights -------------------------------------------------------------------------

    def update_weights(self, named_tensors: list[tuple[str, torch.Tensor]]) -> int:
        state = {name: tensor for name, tensor in named_tensors}
        # state_dict() names tied weights twice (lm_head.weight and embed_tokens.weight of a model with tied
        # embeddings are one tensor): accept both names, writing the shared tensor twice with equal values
        own = dict(self.model.state_dict(keep_vars=True))
        unknown = [name for name in state if name not in own]
        if unknown:
            raise KeyError(f"rollout model has no parameters named {unknown[:5]}")
        with self._model_lock, torch.no_grad():
            for name, tensor in state.items():
                own[name].copy_(tensor.to(own[name].dtype))
        return len(state)

    def get_weights(self) -> dict[str, torch.Tensor]:
        """For tests: the server's current parameters."""
        return {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    async def set_global_steps(self, global_steps: int) -> None:
        self.global_steps = global_steps

    # -- memory management: nothing to release on CPU --------------------------------------

    async def wake_up(self, tags: list[str] | None = None) -> None:
        return None

    async def sleep(self) -> None:
        return None

    async def clear_kv_cache(self) -> None:
        return None

    async def release_kv_cache(self) -> None:
        return None

    async def resume_kv_cache(self) -> None:
        return None

    async def wait_for_requests_to_drain(self) -> None:
        while self._pending or (self._batcher is not None and not self._batcher.done()):
            await asyncio.sleep(0.01)

    async def abort_all_requests(self, reset_prefix_cache: bool = True, reject_request: bool = False) -> dict:
        return {"aborted_count": 0, "request_ids": []}

    async def abort_request(self, request_id: str, reset_prefix_cache: bool = True) -> dict:
        return {"aborted": False, "request_id": request_id}

    async def resume_generation(self) -> None:
        return None

    async def start_profile(self, **kwargs: Any) -> None:
        return None

    async def stop_profile(self) -> None:
        return None

    def get_server_address(self) -> tuple[str, int]:
        return "127.0.0.1", 0


class HFReplica(RolloutReplica):
    """One :class:`HFRolloutServer` actor per replica, on the node of the replica's first worker."""

    def _actor_name(self) -> str:
        kind = "reward_" if self.is_reward_model else ("teacher_" if self.is_teacher_model else "")
        return _server_actor_name(self.replica_rank, self.name_suffix, kind)

    async def launch_servers(self):
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        options: dict[str, Any] = {
            "name": self._actor_name(),
            "max_concurrency": self.max_concurrency,
            "num_cpus": 0,
        }
        if self.workers:
            node_id = await self.workers[0].__ray_call__.remote(
                lambda worker: ray.get_runtime_context().get_node_id()
            )
            options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(node_id=node_id, soft=False)
        server = (
            ray.remote(HFRolloutServer)
            .options(**options)
            .remote(
                config=self.config,
                model_config=self.model_config,
                rollout_mode=self.rollout_mode,
                replica_rank=self.replica_rank,
            )
        )
        await server.get_server_address.remote()  # returns once the model is loaded
        self.servers = [server]
        self._server_handle = server
        self._server_address = f"{ROLLOUT_NAME}://{self._actor_name()}"


def _load_replica_class() -> type[RolloutReplica]:
    return HFReplica


class HFServerAdapter(BaseRollout):
    """Trainer-side handle of the HF rollout server (created by verl in each hybrid worker).

    ``update_weights`` is called by verl's ``ActorRolloutRefWorker.update_weights`` after
    each training step with a generator of ``(name, tensor)`` (full tensors gathered from
    FSDP, a collective: every rank must consume it). Rank 0 of each replica ships them to
    its server in buckets of ``checkpoint_engine.update_weights_bucket_megabytes``.
    """

    def __init__(self, config, model_config, device_mesh, replica_rank: int = -1, *args: Any, **kwargs: Any):
        super().__init__(config, model_config, device_mesh)
        rank = int(os.environ.get("RANK", "0"))
        world = (
            self.config.tensor_model_parallel_size
            * self.config.data_parallel_size
            * self.config.pipeline_model_parallel_size
        )
        self.replica_rank = rank // world if replica_rank == -1 else replica_rank
        self.rollout_rank = rank % world
        self._has_server = self.rollout_rank == 0
        self.server_handle = None
        self.sleep_level = 1

    def _server(self):
        if not self._has_server:
            return None
        if self.server_handle is None:
            import ray

            self.server_handle = ray.get_actor(_server_actor_name(self.replica_rank))
        return self.server_handle

    async def resume(self, tags: list[str]):
        return None

    async def release(self):
        return None

    @torch.no_grad()
    async def update_weights(self, weights, wire_format: str = "named_tensors", global_steps=None, **kwargs):
        if wire_format != "named_tensors":
            raise NotImplementedError(f"the HF CPU rollout takes full named tensors, not {wire_format!r}")
        server = self._server()
        bucket_limit = int(self.config.checkpoint_engine.update_weights_bucket_megabytes) << 20
        bucket: list[tuple[str, torch.Tensor]] = []
        size = 0
        sent = 0
        for name, tensor in weights:  # consume on every rank (collective gathers)
            if server is None:
                continue
            if hasattr(tensor, "full_tensor"):
                tensor = tensor.full_tensor()
            tensor = tensor.detach().to("cpu").contiguous().clone()
            bucket.append((name, tensor))
            size += tensor.numel() * tensor.element_size()
            if size >= bucket_limit:
                sent += await server.update_weights.remote(bucket)
                bucket, size = [], 0
        if server is not None:
            if bucket:
                sent += await server.update_weights.remote(bucket)
            if global_steps is not None:
                await server.set_global_steps.remote(global_steps)
            logger.info("HF rollout: pushed %d tensors to %s", sent, _server_actor_name(self.replica_rank))

    def generate_sequences(self, prompts):
        raise NotImplementedError("the HF rollout is server based; verl calls it through its agent loop")


# --------------------------------------------------------------------------------------
# registration
# --------------------------------------------------------------------------------------


def register() -> None:
    """Register platform, rollout and replica with verl (idempotent; no-op without verl)."""
    if not _HAVE_VERL:
        return
    _register_platform()

    from verl.workers.rollout import base as rollout_base
    from verl.workers.rollout.replica import RolloutReplicaRegistry

    rollout_base._ROLLOUT_REGISTRY[(ROLLOUT_NAME, "async")] = f"{__name__}.HFServerAdapter"
    RolloutReplicaRegistry.register(ROLLOUT_NAME, _load_replica_class)

    if _on_cpu_platform():
        _patch_init_process_group()
        _patch_offload_pinning()
        _patch_valuehead_loader()


register()
