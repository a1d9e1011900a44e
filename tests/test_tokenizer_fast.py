"""The fast tokenizer path (tokenizer.json through the `tokenizers` library, as TEI loads it) against transformers'
AutoTokenizer, on the REAL Qwen3-Embedding-0.6B tokenizer files, with and without the end-token post-processor.

Each path runs once per directory, in one child process (the doctor's own loader, ``load_report``), over the same
few thousand texts; their ids must be equal text by text. Skipped (by the fixtures) without shared/.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qwen_doctor import tokenizer_tools as tt

TASK = "Given a web search query, retrieve relevant passages that answer the query"

FIXED = [
    "",
    "test",
    " ",
    "   leading and trailing   ",
    "\n",
    "\n\n\n",
    "\t\ttabs\tand\tspaces  \t ",
    "line one\r\nline two\rline three\n",
    "What is the capital of China?",
    "The capital of China is Beijing.",
    f"Instruct: {TASK}\nQuery:What is the capital of China?",
    f"Instruct: {TASK}\nQuery: Explain gravity",
    f"Instruct: {TASK}\nQuery:",
    "Instruct: 给定一个网络搜索查询，检索相关段落\nQuery:中国的首都是哪里？",
    "中国的首都是北京。北京是中华人民共和国的首都，也是全国政治、文化中心。",
    "日本語のテキスト、カタカナとひらがな。ゔ ガ が",
    "한국어 텍스트입니다. 한글 자모 한",
    "Ελληνικά κείμενα με τόνους",
    "Русский текст с ё и й",
    "العربية نص مع تشكيل: مَرْحَبًا",
    "עברית עם ניקוד: שָׁלוֹם",
    "हिन्दी पाठ, देवनागरी",
    "ภาษาไทย ไม่มีช่องว่าง",
    "emoji 😀🎉👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈 ❤️ 🇨🇳🇺🇸",
    "café naïve Ångström",
    "cafe\u0301 nai\u0308ve A\u030angstro\u0308m",  # NFD
    "e\u0301\u0301\u0301 combining overload a\u0300\u0301\u0302\u0303\u0304",
    "zero\u200bwidth\u200cjoiners\u200dand\ufeffBOM",
    "control\x00chars\x01\x02\x07\x1b[31mred\x1b[0m\x7f",
    "\u2028line separator\u2029paragraph separator\x85next line",
    "full-width ＡＢＣ１２３ and ligatures ﬁ ﬂ",
    "<|endoftext|>",
    "text with <|endoftext|> inside",
    "<|im_start|>user\nhello<|im_end|>",
    "<think>reasoning</think> answer",
    "numbers 1234567890 3.14159 -42 1e10 0x1F",
    "it's they're we've I'm you'll he'd IT'S",
    "def f(x):\n    return x ** 2  # comment\n",
    '{"json": [1, 2, 3], "nested": {"a": null}}',
    "https://example.com/path?query=1&b=2#frag",
    "a" * 5000,
    "ab " * 3000,
    " " * 2000,
    "\n" * 1000,
    "😀" * 1000,
    "中" * 4000,
]

ALPHABETS = [
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "0123456789",
    " \t\n\r  \u3000\u00a0",
    ".,;:!?'\"()[]{}<>/\\|@#$%^&*-_=+~`",
    "的一是不了人我在有他这为之大来以个中上们到说时地也子就出要",
    "あいうえおかきくけこアイウエオカキクケコ",
    "가나다라마바사아자차카타파하",
    "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
    "αβγδεζηθικλμνξοπρστυφχψω",
    "\u0300\u0301\u0302\u0303\u0308\u030a\u0327",  # combining marks
    "😀😁😂🤣😃😄🎉👍🏽🇨🇳\u200d\ufe0f",
    "\x00\x01\x07\x08\x0b\x0c\x1b\x7f\x85",
]


def varied_texts(n: int = 3000, seed: int = 20240607) -> list[str]:
    """``FIXED`` plus ``n`` deterministic random texts mixing scripts, marks, emoji, whitespace runs and control
    characters; some long, some in the Qwen instruct query form."""
    rng = random.Random(seed)
    out = list(FIXED)
    for i in range(n):
        pools = rng.sample(ALPHABETS, rng.randint(1, 4))
        length = rng.choice((1, 2, 5, 10, 30, 80, 200)) if i % 50 else rng.randint(2000, 12000)
        chars = []
        for _ in range(length):
            pool = rng.choice(pools)
            c = rng.choice(pool)
            chars.append(c * rng.randint(2, 9) if c.isspace() and rng.random() < 0.1 else c)
        text = "".join(chars)
        if i % 7 == 0:
            text = f"Instruct: {TASK}\nQuery:{text}"
        out.append(text)
    return out


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return varied_texts()


def _ids(directory: Path, texts: list[str], force: str) -> tt.TokenizerReport:
    rep = tt.load_report(directory, texts, timeout=300, force=force, return_ids=True)
    assert rep.ok, f"{force} path: {rep.stage}: {rep.error}"
    assert rep.get("path") == force
    return rep


@pytest.mark.parametrize("which", ["real", "stale"])
def test_tokenizers_and_transformers_give_the_same_ids(which, texts, real_tokenizer_dir, stale_tokenizer_dir):
    directory = real_tokenizer_dir if which == "real" else stale_tokenizer_dir
    fast = _ids(directory, texts, "tokenizers")
    slow = _ids(directory, texts, "transformers")
    assert fast.get("ids_for_test") == slow.get("ids_for_test") == ([1944, 151643] if which == "real" else [1944])
    a, b = fast.get("sample_ids"), slow.get("sample_ids")
    assert len(a) == len(b) == len(texts)
    differ = [(t[:60], x[:10], y[:10]) for t, x, y in zip(texts, a, b) if x != y]
    assert not differ, f"{len(differ)} of {len(texts)} texts tokenize differently, e.g. {differ[:3]}"
    assert max(len(x) for x in a) > 5000  # the very long inputs were there
    # and every field the checks read agrees (only timings, the library and the path differ)
    skip = {"import_s", "load_s", "encode_s", "library", "path", "fast_path_skipped", "pre_tokenizer", "sample_ids", "json_loader"}
    assert fast.get("json_loader") == "split"  # tokenizer.json read in parts (qwen_doctor.tokenizer_split), same ids
    for key in set(fast.data) | set(slow.data):
        if key not in skip:
            assert fast.get(key) == slow.get(key), key


def test_default_path_is_tokenizers_when_tokenizer_json_exists(real_tokenizer_dir):
    rep = tt.load_report(real_tokenizer_dir, ["hello"])
    assert rep.ok, rep.error
    assert rep.get("path") == "tokenizers" and rep.get("library").startswith("tokenizers ")
    assert rep.get("tokenizer_class") == "Qwen2Tokenizer" and rep.get("model_max_length") == 131072
    assert rep.get("eos_token") == "<|im_end|>" and rep.get("eos_token_id") == 151645
    assert rep.get("pad_token_id") == 151643 and rep.get("bos_token") is None
    assert rep.get("ids_for_test") == [1944, 151643] and rep.get("sample_lengths") == [2]


def test_transformers_is_kept_for_what_only_it_does(tmp_path, real_tokenizer_dir):
    # no tokenizer.json: transformers converts vocab.json + merges.txt (and appends no end token)
    conv = Path(shutil.copytree(real_tokenizer_dir, tmp_path / "no-json"))
    (conv / "tokenizer.json").unlink()
    assert "no tokenizer.json" in tt.fast_path_settings(str(conv))[1]
    # add_eos_token set: transformers rewrites the post-processor, so the fast path steps aside
    eos = Path(shutil.copytree(real_tokenizer_dir, tmp_path / "add-eos"))
    cfg = json.loads((eos / "tokenizer_config.json").read_text())
    cfg["add_eos_token"] = True
    (eos / "tokenizer_config.json").write_text(json.dumps(cfg))
    assert "add_eos_token" in tt.fast_path_settings(str(eos))[1]
    rep = tt.load_report(conv, ["hello"])
    assert rep.ok and rep.get("path") == "transformers" and "no tokenizer.json" in rep.get("fast_path_skipped")
    assert rep.get("ids_for_test") == [1944]
    forced = tt.load_report(conv, force="tokenizers")
    assert not forced.ok and "does not apply" in forced.error


def test_the_fast_path_never_imports_transformers(real_tokenizer_dir):
    """The child loads with the tokenizers library alone: transformers (and torch) stay unimported."""
    code = (
        "import sys,json;from qwen_doctor import tokenizer_tools as tt;"
        f"r=tt._work({{'dir':{str(real_tokenizer_dir)!r},'texts':['x']}});"
        "print(json.dumps([r['path'],[m for m in ('transformers','torch') if m in sys.modules]]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=Path(__file__).parent.parent)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == ["tokenizers", []]


def test_the_child_is_bounded_in_memory_and_dies_with_the_doctor(tmp_path):
    """The child caps its own address space (RLIMIT_AS) and asks for SIGKILL when its parent dies."""
    if not sys.platform.startswith("linux"):
        pytest.skip("RLIMIT_AS and PR_SET_PDEATHSIG are Linux-only here")
    code = (
        "import os,resource,ctypes,json;from qwen_doctor import tokenizer_tools as tt;"
        "tt._bound_self(os.getppid(), 1<<31);"
        "libc=ctypes.CDLL(None);v=ctypes.c_int();libc.prctl(2,ctypes.byref(v),0,0,0);"  # PR_GET_PDEATHSIG
        "print(json.dumps([resource.getrlimit(resource.RLIMIT_AS)[0], v.value]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=Path(__file__).parent.parent)
    assert out.returncode == 0, out.stderr
    limit, sig = json.loads(out.stdout.strip().splitlines()[-1])
    assert limit == 1 << 31 and sig == 9
    # a tokenizer that cannot fit: the child fails cleanly, the doctor reports it
    rep = tt.load_report(tmp_path, memory_limit=64 * 1024**2, timeout=60)
    assert not rep.ok


def test_the_child_is_killed_at_its_timeout(real_tokenizer_dir):
    t0 = time.monotonic()
    rep = tt.load_report(real_tokenizer_dir, timeout=0.05)
    assert not rep.ok and rep.stage == "timeout" and time.monotonic() - t0 < 10


def _alive(pid: int) -> bool:
    """Whether pid runs (a zombie waiting for a reaper counts as gone: it runs no code and holds no memory)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def test_the_tokenizer_child_dies_when_the_doctor_is_killed(tmp_path):
    """End to end: the real CLI loads a tokenizer whose load never ends (a `tokenizers` module on the doctor's
    PYTHONPATH that sleeps, standing in for a huge tokenizer on a slow disk), the doctor gets SIGKILL (no cleanup
    code runs), and the loading process is gone within seconds (PR_SET_PDEATHSIG), not at its own timeout."""
    import os
    import signal

    if not sys.platform.startswith("linux"):
        pytest.skip("PR_SET_PDEATHSIG is Linux-only")
    from tests.testkit import modeldirs

    model = modeldirs.build_tiny_model_dir(tmp_path / "m")
    slow = tmp_path / "slow" / "tokenizers"
    slow.mkdir(parents=True)
    mark = tmp_path / "child.pid"
    (slow / "__init__.py").write_text("import os, time\nopen(os.environ['QD_TEST_MARK'], 'w').write(str(os.getpid()))\ntime.sleep(600)\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("QWEN_DOCTOR")}
    env.update(PYTHONPATH=str(slow.parent), QD_TEST_MARK=str(mark))
    doctor = subprocess.Popen(
        [sys.executable, "-m", "qwen_doctor", "check", "--offline", "--select", "tokenizer.load", "--model-path", str(model), "--format", "json"],
        cwd=Path(__file__).parent.parent,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    child = None
    try:
        t0 = time.monotonic()
        while not (mark.exists() and mark.read_text().strip()):
            assert doctor.poll() is None, "the doctor ended before starting the tokenizer process"
            assert time.monotonic() - t0 < 240, "the tokenizer process never started"
            time.sleep(0.1)
        child = int(mark.read_text())
        with open(f"/proc/{child}/stat") as f:
            ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        assert ppid == doctor.pid and _alive(child)  # the doctor's own child, loading
        doctor.send_signal(signal.SIGKILL)
        doctor.wait(30)
        t1 = time.monotonic()
        while _alive(child) and time.monotonic() - t1 < 5:
            time.sleep(0.05)
        assert not _alive(child), "the tokenizer process outlived the killed doctor"
    finally:
        if doctor.poll() is None:
            doctor.kill()
            doctor.wait(30)
        if child is not None and _alive(child):
            os.kill(child, signal.SIGKILL)
