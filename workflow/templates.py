"""Prompt templates per model family, as data: the prompt text and the explicit stop strings.

Consumes: a :class:`~workflow.config.TemplateSpec` (built in here, or added under ``templates:`` in a study
config) and a problem's question. Produces the prompt string a model is sampled and scored with.

The prompt is raw text with ``{question}`` replaced (no chat-template machinery, as in Yue et al.'s
``math/examples/math_eval/utils.py``), so the exact prompt is visible in the resolved config of every study.

Deviation from the official evaluation code (paper.md §1.11): it stops Qwen templates on the bare strings
"assistant", "user", "_end", "_start" anywhere in the text and adds Qwen's stop token ids only when the model
*path* contains "qwen2". Here every template lists its stop strings explicitly, the chat end markers only,
and the tokenizer's EOS always stops; nothing depends on a path name. Prompts are tokenized with the
tokenizer's special tokens (its BOS, where the family has one), as vLLM does for text prompts, so templates do
not spell the BOS out.
"""

from __future__ import annotations

from workflow.config import TemplateSpec

_BOXED = "Please reason step by step, and put your final answer within \\boxed{}."
_CHATML_STOP = ("<|im_end|>", "<|endoftext|>")

BUILTIN: dict[str, TemplateSpec] = {
    "plain": TemplateSpec(prompt="{question}", source="the question as is (the embedded toy study)"),
    "qwen-boxed": TemplateSpec(
        prompt=(
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
            "<|im_start|>user\n{question}\n" + _BOXED + "<|im_end|>\n<|im_start|>assistant\n"
        ),
        stop=_CHATML_STOP,
        source="Yue et al. App. E; limit-of-RLVR utils.py 'qwen-boxed' (SimpleRL-Zoo models and their bases)",
    ),
    "qwen25-math-cot": TemplateSpec(
        prompt=(
            "<|im_start|>system\n" + _BOXED + "<|im_end|>\n"
            "<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n"
        ),
        stop=_CHATML_STOP,
        source="Yue et al. Fig 22; utils.py 'qwen25-math-cot' (Qwen2.5-Math, Oat-Zero)",
    ),
    "deepseek-r1": TemplateSpec(
        prompt=(
            "A conversation between User and Assistant. The User asks a question, and the Assistant solves it. "
            "The Assistant first thinks about the reasoning process in the mind and then provides the User "
            "with the answer. The reasoning process is enclosed within <think> </think> and answer is "
            "enclosed within <answer> </answer> tags, respectively, i.e., <think> reasoning process here "
            "</think> <answer> answer here </answer>. User: {question}. Assistant:"
        ),
        source="Yue et al. Fig 27 (their verl runs on Omni-MATH)",
    ),
    "r1-distill": TemplateSpec(
        prompt="<｜User｜>{question}\n" + _BOXED + "<｜Assistant｜>",
        prefill="<think>\n",
        stop=("<｜end▁of▁sentence｜>",),
        source="DeepSeek-R1-Distill chat format with the R1 math instruction (ProRL's Nemotron model)",
    ),
    "r1-distill-gym": TemplateSpec(
        prompt=(
            "<｜User｜>{question}\nGive your final answer within <answer> </answer> tags.<｜Assistant｜>"
        ),
        prefill="<think>\n",
        stop=("<｜end▁of▁sentence｜>",),
        source="ProRL App. E: Reasoning Gym answers in <answer></answer> tags",
    ),
    "code-evalplus": TemplateSpec(
        prompt=(
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
            "Please provide a self-contained Python script that solves the following problem in a markdown "
            "code block:\n```\n{question}\n```<|im_end|>\n<|im_start|>assistant\n"
        ),
        prefill=(
            "Below is a Python script with a self-contained function that solves the problem and passes "
            "corresponding tests:\n```python\n"
        ),
        stop=_CHATML_STOP,
        source="Yue et al. Fig 25 (HumanEval+ / MBPP+), assistant turn pre-filled with a code fence",
    ),
    "code-lcb": TemplateSpec(
        prompt=(
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
            "You will be given a question (problem specification) and will generate a correct Python program "
            "that matches the specification and passes all tests.\n\nQuestion: {question}\n\n"
            "Read the inputs from stdin, solve the problem and write the answer to stdout (or complete the "
            "given starter code). Enclose your code within delimiters as follows.\n```python\n"
            "# YOUR CODE HERE\n```<|im_end|>\n<|im_start|>assistant\n"
        ),
        prefill="```python\n",
        stop=_CHATML_STOP,
        source="Yue et al. Fig 24: LiveCodeBench's default prompt, assistant turn pre-filled with a code fence",
    ),
}


def render(template: TemplateSpec, question: str) -> str:
    """The prompt for one question (a plain replace: braces elsewhere in the template are literal)."""
    return template.prompt.replace("{question}", question)


def cut_at_stop(text: str, stop: tuple[str, ...]) -> tuple[str, bool]:
    """(text before the first stop string, whether one was found); the stop string itself is dropped."""
    hits = [i for i in (text.find(s) for s in stop if s) if i >= 0]
    return (text[: min(hits)], True) if hits else (text, False)
