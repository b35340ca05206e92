"""LLM data and settings: the rows each trainer gets (in TRL's shapes), and every bad input's exact one-line message
through `autotrain pipeline prepare` (exit 2, workspace untouched). Torch-free, like the reader itself."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from autotrain_gradio.cli import main
from autotrain_gradio.gpus import visible_gpus
from autotrain_gradio.tasks.llm.config import LLMConfig
from autotrain_gradio.tasks.llm.data import load
from tests.unit.test_pipeline_bad_input import run_cli


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def _chat(user: str, answer: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]


def test_rows_come_in_trl_shapes(tmp_path):
    chats = _jsonl(tmp_path / "chats.jsonl", [{"messages": _chat(f"q{i}", f"a{i}")} for i in range(5)])
    sft = load(chats, LLMConfig(text_column="messages", valid_split=0.2))
    assert sft.conversational and len(sft.train) == 4 and len(sft.valid) == 1
    assert set(sft.train[0]) == {"messages"} and sft.train[0]["messages"][0]["role"] == "user"

    pairs = _jsonl(tmp_path / "pairs.jsonl", [{"prompt": f"p{i}", "chosen": "good", "rejected": "bad"}
                                              for i in range(5)])
    dpo = load(pairs, LLMConfig(trainer="dpo", text_column="chosen"))
    assert not dpo.conversational and set(dpo.train[0]) == {"prompt", "chosen", "rejected"}
    # A CSV cell holding a JSON message list is a conversation; then plain prompts become user messages.
    csv = tmp_path / "mixed.csv"
    csv.write_text("prompt,chosen,rejected\n" + "".join(
        f'p{i},"{json.dumps([{"role": "assistant", "content": "yes"}]).replace(chr(34), chr(34) * 2)}",no\n'
        for i in range(3)), encoding="utf-8")
    reward = load(csv, LLMConfig(trainer="reward", text_column="chosen", valid_split=0.0))
    assert reward.conversational
    assert reward.train[0] == {"prompt": [{"role": "user", "content": "p0"}],
                               "chosen": [{"role": "assistant", "content": "yes"}],
                               "rejected": [{"role": "assistant", "content": "no"}]}


def _bad(tmp_path: Path, capsys, data: Path, *sets: str, mapping: str = "text_column=messages") -> str:
    ws = tmp_path / "ws"
    ws.mkdir(exist_ok=True)
    code, text = run_cli(ws, capsys, "pipeline", "prepare", "--dataset-path", str(data), "--profile", "TinyLLM",
                         "--column-mapping", mapping, *[a for s in sets for a in ("--set", s)])
    assert code == 2, text
    return text


def test_a_row_that_is_not_messages(tmp_path, capsys):
    data = _jsonl(tmp_path / "c.jsonl", [{"messages": _chat("hi", "yo")}, {"messages": [{"role": "user"}]}])
    text = _bad(tmp_path, capsys, data)
    assert (f"{data}: row 2 of column 'messages' (text_column): {{'role': 'user'}} is not a "
            '{"role": ..., "content": "..."} message; every message needs a role and a text content') in text
    data = _jsonl(tmp_path / "d.jsonl", [{"messages": _chat("hi", "yo")}, {"messages": 5}])
    assert (f'{data}: row 2 of column \'messages\' (text_column) is not text or a list of {{"role", "content"}} '
            "messages (got 5); fix that row") in _bad(tmp_path, capsys, data)


def test_an_unknown_role(tmp_path, capsys):
    data = _jsonl(tmp_path / "c.jsonl", [{"messages": _chat("hi", "yo")},
                                         {"messages": [{"role": "bot", "content": "x"}]}])
    assert (f"{data}: row 2 of column 'messages' (text_column): unknown role 'bot'; use one of system, user, "
            "assistant, tool") in _bad(tmp_path, capsys, data)


def test_an_empty_chosen_or_rejected(tmp_path, capsys):
    data = _jsonl(tmp_path / "p.jsonl", [{"prompt": "p", "chosen": "a", "rejected": "b"},
                                         {"prompt": "p", "chosen": "a", "rejected": " "}])
    assert (f"{data}: 1 empty or null rejected text in column 'rejected' (rejected_text_column) at row 2; fill "
            "them in or drop those rows") in _bad(tmp_path, capsys, data, "trainer=dpo", mapping="text_column=chosen")
    data = _jsonl(tmp_path / "q.jsonl", [{"chosen": "", "rejected": "b"}, {"chosen": "a", "rejected": "b"}])
    assert (f"{data}: 1 empty or null chosen text in column 'chosen' (text_column) at row 1; fill them in or drop "
            "those rows") in _bad(tmp_path, capsys, data, "trainer=reward", mapping="text_column=chosen")


def test_dpo_needs_a_prompt_column(tmp_path, capsys):
    data = _jsonl(tmp_path / "p.jsonl", [{"chosen": "a", "rejected": "b"}] * 3)
    assert (f"{data}: no column 'prompt' for prompt_text_column; its columns are chosen, rejected. Map it with "
            "--column-mapping prompt_text_column=<column>") in _bad(tmp_path, capsys, data, "trainer=orpo",
                                                                    mapping="text_column=chosen")


def test_messages_need_a_template(tmp_path, capsys):
    data = _jsonl(tmp_path / "c.jsonl", [{"messages": _chat("hi", "yo")}] * 3)
    assert (f"{data}: column 'messages' holds chat messages but chat_template is 'none'; set "
            "chat_template=tokenizer (the model's own), chatml or zephyr") in _bad(tmp_path, capsys, data,
                                                                                   "chat_template=none")
    model = tmp_path / "base"  # a local base model whose tokenizer declares no template
    model.mkdir()
    (model / "tokenizer_config.json").write_text(json.dumps({"eos_token": "</s>"}))
    assert (f"base model {model} has no chat template, but the messages need one (chat_template='tokenizer'); "
            "set chat_template=chatml or zephyr") in _bad(tmp_path, capsys, data, f"base_model={model}")


def test_plain_and_chat_rows_do_not_mix(tmp_path, capsys):
    data = _jsonl(tmp_path / "c.jsonl", [{"messages": _chat("hi", "yo")}, {"messages": "plain"}])
    assert (f"{data}: row 2 is plain text while other rows are chat messages; use one kind in a dataset"
            in _bad(tmp_path, capsys, data))


@pytest.mark.skipif(bool(visible_gpus()), reason="the refusal is for machines without CUDA")
def test_quantization_needs_cuda(tmp_path, capsys):
    data = _jsonl(tmp_path / "c.jsonl", [{"messages": _chat("hi", "yo")}] * 3)
    assert ("quantization='int4' needs a CUDA GPU (bitsandbytes) and this machine has none; set quantization=none "
            "to train in full precision") in _bad(tmp_path, capsys, data, "quantization=int4")


def test_settings_that_contradict_each_other(tmp_path, capsys):
    data = _jsonl(tmp_path / "c.jsonl", [{"messages": _chat("hi", "yo")}] * 3)
    assert ("quantization='int8' trains a LoRA on the quantized model: set peft=true (a quantized model cannot be "
            "fully fine-tuned)") in _bad(tmp_path, capsys, data, "quantization=int8", "peft=false")
    assert "packing applies to trainer='sft' only (trainer is 'dpo')" in _bad(
        tmp_path, capsys, data, "packing=true", "trainer=dpo")


def test_merge_tool_is_a_cli_command(capsys):
    with pytest.raises(SystemExit):
        main(["tools", "merge-llm-adapter", "--help"])
    assert "--adapter" in capsys.readouterr().out


@pytest.mark.skipif(importlib.util.find_spec("deepspeed") is not None, reason="deepspeed is installed here")
def test_deepspeed_needs_its_package(tmp_path, capsys):
    data = _jsonl(tmp_path / "c.jsonl", [{"messages": _chat("hi", "yo")}] * 3)
    assert ("distributed_backend='deepspeed' needs the deepspeed package (pip install deepspeed); or set "
            "distributed_backend=ddp") in _bad(tmp_path, capsys, data, "distributed_backend=deepspeed")


def test_rows_over_model_max_length_are_counted_at_validate(tmp_path, capsys):
    """With the base model's tokenizer.json on this machine (here a local folder), validate counts long rows."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    model = tmp_path / "base"
    model.mkdir()
    vocab = {ch: i for i, ch in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.save(str(model / "tokenizer.json"))
    (model / "tokenizer_config.json").write_text(json.dumps({"chat_template": "{{ messages }}"}))
    (model / "config.json").write_text("{}")  # a model folder, as the plan's base-model check wants it
    data = _jsonl(tmp_path / "c.jsonl", [{"messages": _chat("hi", "yo")}] * 4 + [{"messages": _chat("x" * 40, "y")}])
    ws = tmp_path / "ws"
    ws.mkdir()
    code = main(["--workspace", str(ws), "pipeline", "prepare", "--dataset-path", str(data), "--profile", "TinyLLM",
                 "--column-mapping", "text_column=messages", "--dry-run", "--set", f"base_model={model}",
                 "--set", "model_max_length=16", "--set", "long_rows=drop"])
    assert code == 0
    assert (f"{data}: about 1 of 5 rows are longer than model_max_length=16 tokens (row 5); they will be dropped "
            "(long_rows='drop')") in capsys.readouterr().out
