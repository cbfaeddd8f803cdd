"""The shipped text starter (resources/starters/text), its build script and the demo project."""

from __future__ import annotations

import json
import math
import re
from argparse import Namespace
from pathlib import Path

import pytest
import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    GenerationConfig,
    GPT2LMHeadModel,
    pipeline,
)

from studio.config.io import load_config, resolve_path
from studio.core.paths import resolve_model_source
from studio.starters.__main__ import main as starters_main
from studio.starters.text import lr_at

ROOT = Path(__file__).resolve().parent.parent
STARTER = ROOT / "resources" / "starters" / "text"
DEMO = ROOT / "resources" / "demo" / "sonnets.toml"
BLOCK = 128


@pytest.fixture(scope="module")
def starter():
    model = AutoModelForCausalLM.from_pretrained(STARTER)
    tokenizer = AutoTokenizer.from_pretrained(STARTER)
    model.eval()
    return model, tokenizer


def held_out_austen(shared_data: Path) -> str:
    """The last 20 KB of Austen: inside the 5 % the starter's build held out."""
    text = (shared_data / "text" / "austen.txt").read_text(encoding="utf-8")
    return text[-20_000:]


@torch.no_grad()
def perplexity(model, ids: list[int]) -> float:
    """exp(mean next-token cross-entropy) over non-overlapping BLOCK-token windows."""
    n = (len(ids) - 1) // BLOCK
    x = torch.tensor([ids[i * BLOCK:(i + 1) * BLOCK] for i in range(n)])
    y = torch.tensor([ids[i * BLOCK + 1:(i + 1) * BLOCK + 1] for i in range(n)])
    logits = model(input_ids=x).logits
    loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten())
    return math.exp(loss.item())


# -- the shipped starter -------------------------------------------------------------

def test_starter_loads_offline_as_float32_gpt2(starter):
    model, tokenizer = starter
    assert isinstance(model, GPT2LMHeadModel)
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    # tied embeddings: the output head is the input embedding matrix
    assert model.get_output_embeddings().weight is model.get_input_embeddings().weight
    assert model.config.vocab_size == len(tokenizer) == 4096
    assert tokenizer.eos_token == tokenizer.bos_token == "<|endoftext|>"
    assert model.config.eos_token_id == tokenizer.eos_token_id
    gen = GenerationConfig.from_pretrained(STARTER)
    assert gen.pad_token_id == tokenizer.eos_token_id


def test_starter_folder_is_small_and_documented(starter):
    model, _ = starter
    files = {f.name: f.stat().st_size for f in STARTER.iterdir() if f.is_file()}
    assert "model.safetensors" in files and "tokenizer.json" in files
    assert sum(files.values()) < 12_000_000  # it is committed to git
    info = json.loads((STARTER / "starter_info.json").read_text(encoding="utf-8"))
    assert info["parameters"] == sum(p.numel() for p in model.parameters())
    assert info["data"]["validation_characters"] >= 20_000  # covers held_out_austen()
    assert info["val_perplexity"] * 10 < info["untrained_val_perplexity"]
    card = (STARTER / "STARTER.md").read_text(encoding="utf-8")
    assert "public domain" in card
    assert f"{info['val_perplexity']:,.1f}" in card
    assert f"{info['parameters']:,}" in card


@pytest.mark.parametrize("text", [
    "It is a truth universally acknowledged, that a single man",
    "  Two spaces,\ttabs\nand\r\nline endings.  ",
    "Ünïcödé — “quotes”, emoji 🎭 and 漢字",
    "",
])
def test_tokenizer_round_trips_text(starter, text):
    _, tokenizer = starter
    ids = tokenizer(text)["input_ids"]
    assert tokenizer.unk_token_id not in ids  # byte-level: every string has tokens
    assert tokenizer.decode(ids) == text


def test_tokenizer_compresses_english(starter, shared_data):
    _, tokenizer = starter
    text = held_out_austen(shared_data)
    assert len(tokenizer(text)["input_ids"]) < len(text) / 3


def test_starter_is_pretrained_on_held_out_austen(starter, shared_data):
    model, tokenizer = starter
    ids = tokenizer(held_out_austen(shared_data))["input_ids"]
    trained = perplexity(model, ids)
    torch.manual_seed(0)
    fresh = GPT2LMHeadModel(model.config).eval()
    untrained = perplexity(fresh, ids)
    vocab = model.config.vocab_size
    assert untrained > 0.5 * vocab  # a fresh model guesses about uniformly
    assert trained < 0.1 * vocab
    assert trained * 10 < untrained


def test_pipeline_writes_english_words(starter, shared_data):
    model, tokenizer = starter
    generate = pipeline("text-generation", model=model, tokenizer=tokenizer, device="cpu")
    prompt = "It is a truth universally acknowledged"
    out = generate(prompt, max_new_tokens=40, do_sample=False)[0]["generated_text"]
    assert out.startswith(prompt)
    words = re.findall(r"[A-Za-z]+", out[len(prompt):])
    assert len(words) >= 15
    austen_words = set(re.findall(r"[a-z]+", (shared_data / "text" / "austen.txt")
                                  .read_text(encoding="utf-8").lower()))
    known = sum(w.lower() in austen_words for w in words)
    assert known >= 0.9 * len(words), out


# -- the demo project ----------------------------------------------------------------

def test_demo_config_validates_and_points_at_real_files():
    cfg = load_config(DEMO)
    assert cfg.model.source == "starter:text"
    assert Path(resolve_model_source(cfg.model.source)).resolve() == STARTER.resolve()
    assert cfg.data.paths == ("sonnets.txt",)
    for p in cfg.data.paths:
        assert resolve_path(cfg, p).is_file()
    runs = resolve_path(cfg, cfg.run.runs_dir).resolve()
    assert runs == (ROOT / "resources" / "demo" / "runs").resolve()
    assert cfg.data.block_size <= 256  # the starter's context
    assert {"Shall I compare thee", "When I", "My love"} <= set(cfg.sample.prompts)
    assert 0 < cfg.eval.every <= cfg.train.max_steps
    assert 0 < cfg.sample.every <= cfg.train.max_steps
    assert 0 < cfg.checkpoint.every <= cfg.train.max_steps


def test_demo_data_is_the_public_domain_sonnets(shared_data):
    shipped = (ROOT / "resources" / "demo" / "sonnets.txt").read_bytes()
    assert shipped == (shared_data / "text" / "sonnets.txt").read_bytes()
    credits = (ROOT / "resources" / "CREDITS.md").read_text(encoding="utf-8")
    assert "sonnets.txt" in credits and "austen.txt" in credits


# -- the build script ----------------------------------------------------------------

def test_lr_schedule_warms_up_then_decays_to_the_floor():
    args = Namespace(lr=1e-3, warmup=10, steps=100, min_lr_ratio=0.1)
    lrs = [lr_at(s, args) for s in range(100)]
    assert lrs[0] == pytest.approx(1e-4)
    assert lrs[9] == pytest.approx(1e-3)
    assert all(a <= b for a, b in zip(lrs[:10], lrs[1:10]))
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))
    assert lr_at(100, args) == pytest.approx(1e-4)


def test_build_runs_end_to_end_into_a_loadable_folder(tmp_path, shared_data):
    data = tmp_path / "slice.txt"
    data.write_text((shared_data / "text" / "austen.txt").read_text(encoding="utf-8")[:40_000],
                    encoding="utf-8")
    out = tmp_path / "starter"
    threads = torch.get_num_threads()
    try:
        rc = starters_main(["build", "text", "--data", str(data), "--out", str(out),
                            "--steps", "3", "--vocab-size", "300", "--n-layer", "1",
                            "--n-head", "2", "--n-embd", "32", "--batch-size", "4",
                            "--warmup", "1", "--eval-every", "0", "--sample-tokens", "4"])
    finally:
        torch.set_num_threads(threads)
    assert rc == 0
    assert not (tmp_path / "starter.building").exists()
    model = AutoModelForCausalLM.from_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert len(tokenizer) == model.config.vocab_size == 300
    assert model.config.n_layer == 1 and model.config.n_embd == 32
    assert tokenizer.decode(tokenizer("Mr. Darcy")["input_ids"]) == "Mr. Darcy"
    info = json.loads((out / "starter_info.json").read_text(encoding="utf-8"))
    assert info["training"]["steps"] == 3
    assert info["untrained_val_perplexity"] > 0 and info["val_perplexity"] > 0
    assert info["command"].startswith("python -m studio.starters build text --data ")
    assert "Measured" in (out / "STARTER.md").read_text(encoding="utf-8")
    out_ids = model.generate(**tokenizer("The", return_tensors="pt"), max_new_tokens=5,
                             do_sample=False)
    assert out_ids.shape[1] > 1


def test_build_rejects_a_vocabulary_without_room_for_bytes(tmp_path, capsys):
    data = tmp_path / "a.txt"
    data.write_text("hello " * 100, encoding="utf-8")
    rc = starters_main(["build", "text", "--data", str(data), "--out", str(tmp_path / "o"),
                        "--vocab-size", "100"])
    assert rc == 2
    assert "--vocab-size" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
