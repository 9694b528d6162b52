"""Commit message: a subject line of at most 72 characters, then an optional body.

Three ways to one, in the order the dispatcher tries them:
- `messages`: the full prompt with the staged diff, for Ollama and the cloud;
- `small_prompt`: for the embedded 135M model, a few-shot prompt over a summary of the change
  (files, the definitions touched, a few changed lines) and a GBNF grammar that allows only a
  subject line, so no fence, echo or explanation can be generated at all;
- `floor`: a message built from the diff without a model (files and definitions touched, from
  tree-sitter), given when the embedded model's subject fails the check.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import replace

from ..backends.base import Message
from ..context.changes import FileChange, describe_changes, mentions_change
from ..errors import NotARepository, NothingStaged, ValidationFailed
from ..routing.types import GitSummary
from .base import ActionContext, Gathered, Shown, SmallPrompt, check_common, plain, sanitize, strip_fences

name = "commit-message"
label = "Commit message"
json_schema = None
cacheable = True
reads_document = False
surroundings = False
prompt_in_text = False
reads_git = True  # the staged diff, recent subjects, the branch
condensable = True  # a staged diff too big for its tier is summarized chunk by chunk first
continues_at_cursor = False
input_name = "staged diff"
shown_as = Shown.COMMIT_BUFFER
streamed = False  # printed once it passed its check (a git hook writes it to the message file)
present = plain
SUBJECT_MAX = 72

SYSTEM = "You write git commit messages. Output only the commit message, nothing else."

_PREFIX_RE = re.compile(r"^\s*(commit message|subject|message)\s*:\s*", re.IGNORECASE)
# Echoes of the prompt or the diff, and chatter, are not a subject line.
_NOT_A_SUBJECT_RE = re.compile(
    r"^(diff --git|index [0-9a-f]|@@|[-+]{3} |```|here is|here's|sure\b|output\b|input\b|answer\b|explanation\b"
    r"|(this|the|these|in this|below|above) (code|diff|function|change|changes|commit|patch|file|script|snippet)\b)",
    re.IGNORECASE,
)
# Anywhere in the message: a fence, a label the model copied from a prompt, or a diff line.
_JUNK_LINE_RE = re.compile(
    r"^(```|~~~|(output|input|answer|explanation|example|response|note)\s*:|diff --git |index [0-9a-f]{6,}"
    r"|@@ |\+\+\+ |--- [ab/]|\+(?!\s*$)|-(?=\S)|-\s{2,}\S)",
    re.IGNORECASE,
)
_WORD_RE = re.compile(r"[A-Za-z]{3,}")
BODY_MAX_LINES = 12
max_tokens = 160
think = False  # a one-line summary of a diff: a thinking model spent its 160 tokens thinking


def gather(where: str, path: str) -> Gathered:
    """The staged diff of the repository holding `where`, recent subjects and the branch."""
    from ..context import git  # GitPython: ~80 ms to import, only once a commit message reads a repository

    repo = git.repo_for(where) if where else None
    if repo is None:
        raise NotARepository(where)
    summary = git.staged_diff(repo)
    if not summary.files:
        raise NothingStaged()
    omitted = tuple(f"{p} ({why})" for p, why in summary.omitted)
    notes = ("left out of the prompt: " + "; ".join(omitted),) if omitted else ()
    fields = dict(staged_diff=summary.kept_text, recent_subjects=tuple(git.recent_subjects(repo, 10)),
                  branch=git.branch_name(repo), omitted=omitted)
    git_summary = GitSummary(diff_tokens=summary.total_tokens, files_changed=summary.files_changed, staged=True)
    return Gathered(fields, git_summary, notes, summary)


def with_summary(ctx: ActionContext, summary: str) -> ActionContext:
    """The context with its staged diff replaced by a summary of it (see `engine.condense`)."""
    return replace(ctx, staged_diff="Summary of the changes (the full diff was too large):\n" + summary)


def messages(ctx: ActionContext) -> list[Message]:
    style = ""
    if ctx.recent_subjects:
        shown = "\n".join(f"- {s}" for s in ctx.recent_subjects[:8])
        style = f"\nFollow the style of this repository's recent subjects:\n{shown}\n"
    left_out = ""
    if ctx.omitted:
        left_out = "\nFiles left out of the diff: " + "; ".join(ctx.omitted[:10]) + "\n"
    user = (
        "Write a git commit message for the staged changes below.\n"
        f"Format: one subject line in the imperative mood, at most {SUBJECT_MAX} characters; "
        "then optionally a blank line and at most 3 short lines of body.\n"
        f"Output only the message.{style}{left_out}\n"
        f"Staged diff:\n{ctx.staged_diff}"
    )
    return [Message("system", SYSTEM), Message("user", user)]


def junk(text: str) -> str | None:
    """Why `text` is not a commit message a person would keep (a fence, a copied label, a diff
    line, an explanation of the code), or None."""
    lines = text.splitlines()
    if not lines:
        return "empty"
    if _NOT_A_SUBJECT_RE.match(lines[0].strip()) or not _WORD_RE.search(lines[0]):
        return f"{lines[0].strip()[:40]!r} is not a subject line"
    words = re.findall(r"[\w.]+", lines[0].lower())
    pairs = list(zip(words, words[1:]))
    if len(set(pairs)) < len(pairs):
        return f"{lines[0].strip()[:40]!r} repeats itself"
    for line in lines:
        if _JUNK_LINE_RE.match(line.strip() if line.strip().startswith(("```", "~~~")) else line):
            return f"{line.strip()[:40]!r} is not commit message text"
    return None


def validate(answer: str, ctx: ActionContext) -> str:
    text = strip_fences(sanitize(answer)).strip().strip('"').strip("'").strip()
    text = _PREFIX_RE.sub("", text)
    text = check_common(name, text)
    lines = [ln.rstrip() for ln in text.splitlines()]
    subject = lines[0].strip().lstrip("#").strip()
    if not subject:
        raise ValidationFailed(name, "no subject line")
    if len(subject) > SUBJECT_MAX:
        raise ValidationFailed(name, f"subject is {len(subject)} characters, more than {SUBJECT_MAX}")
    body = lines[1:]
    while body and not body[0].strip():
        body.pop(0)
    # git's convention: subject, blank line, body; drop comment lines git would strip anyway
    body = [ln for ln in body if not ln.startswith("#")]
    if len(body) > BODY_MAX_LINES:
        raise ValidationFailed(name, f"body has {len(body)} lines, more than {BODY_MAX_LINES}")
    message = subject + ("\n\n" + "\n".join(body).strip() if body else "")
    why = junk(message)
    if why:
        raise ValidationFailed(name, why)
    return message


# --- the embedded model -------------------------------------------------------------------------

SMALL_SYSTEM = "You write the subject line of a git commit: what changed, then what was done."
# Two changes of this repository's history (neither is in bench 14's set) with their authors'
# subjects in this form, and a docs example written for the prompt.
_SHOTS = (
    ("Files: docs/install.md\n+## Windows\n+Run the installer, then restart the editor.",
     "install.md: Add the Windows steps"),
    ("Files: server/hybridlsp/multimatch.py (changed: compile_set)\n"
     "-def compile_set(patterns: Sequence[bytes]) -> PatternSet | None:\n"
     "-    with _LOCK:  # the first import and compile happen once, whichever thread asks first",
     "compile_set: Remove the unused helper"),
    ("Files: server/hybridlsp/answers.py (changed: AnswerStore)\n+import os\n"
     "+            os.chmod(self.path, 0o600)  # answers are the user's alone",
     "AnswerStore: Make answers.sqlite3 readable by its user only"),
)
SMALL_VERBS = ("Add", "Fix", "Update", "Remove", "Rename", "Move", "Use", "Make", "Allow", "Support", "Handle",
               "Document", "Test", "Refactor", "Simplify", "Raise", "Return", "Keep", "Skip", "Check", "Avoid",
               "Drop", "Replace", "Split", "Bump", "Pass", "Set", "Clean up", "Improve", "Speed up")
SMALL_MAX_TOKENS = 20
_SUMMARY_LINES = 8
_LINE_CHARS = 100
_TARGETS = 8


def _gbnf_literal(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def small_grammar(targets: list[str]) -> str:
    """`<a changed file or definition>: <Verb> <a few words>`, one line: the subject names what
    changed by construction, and no fence, echo or explanation can be generated at all."""
    return (
        "root ::= target \": \" verb \" \" text\n"
        "target ::= " + " | ".join(_gbnf_literal(t) for t in targets) + "\n"
        "verb ::= " + " | ".join(_gbnf_literal(v) for v in SMALL_VERBS) + "\n"
        f"text ::= [a-zA-Z0-9_] [a-zA-Z0-9_ .,/()'=<>+-]{{3,{_text_max(targets) - 1}}}\n"
    )


def _text_max(targets: list[str]) -> int:
    """The longest text after the verb that keeps every target and verb within SUBJECT_MAX."""
    return max(8, SUBJECT_MAX - 2 - max(len(t) for t in targets) - max(len(v) for v in SMALL_VERBS) - 1)


def targets(changes: list[FileChange]) -> list[str]:
    """What a subject may start with: the definitions touched, then the file names."""
    shown = [fc for fc in changes if not fc.omitted_reason] or changes
    out = [sym for fc in shown for sym in fc.symbols()[:3]] + [fc.name for fc in shown]
    return [t for t in dict.fromkeys(out) if len(t) <= 40][:_TARGETS] or ["changes"]


def change_summary(changes: list[FileChange], diff: str) -> str:
    """A few lines a 135M model can read: each file with what it touches, then changed lines."""
    files = []
    for fc in changes[:6]:
        what = fc.omitted_reason or ", ".join(fc.symbols()[:4])
        label = {"added": "new file", "deleted": "deleted", "renamed": f"renamed from {fc.old_path}"}.get(fc.status)
        extra = "; ".join(x for x in (label, f"changed: {what}" if what and not fc.omitted_reason else what) if x)
        files.append(f"{fc.path} ({extra})" if extra else fc.path)
    lines = []
    for line in diff.splitlines():
        if line.startswith(("+++", "---")) or not line.startswith(("+", "-")) or not line[1:].strip():
            continue
        lines.append(line[:_LINE_CHARS])
        if len(lines) == _SUMMARY_LINES:
            break
    return "Files: " + ", ".join(files) + ("\n" + "\n".join(lines) if lines else "")


def small_prompt(ctx: ActionContext) -> SmallPrompt:
    changes = describe_changes(ctx.staged_diff)
    msgs = [Message("system", SMALL_SYSTEM)]
    for shot, subject in _SHOTS:
        msgs += [Message("user", shot), Message("assistant", subject)]
    fixed = len(msgs)  # the system line and the examples: the same for every change
    msgs.append(Message("user", change_summary(changes, ctx.staged_diff)))
    return SmallPrompt(msgs, small_grammar(targets(changes)), SMALL_MAX_TOKENS, fixed_messages=fixed)


_NOT_IMPERATIVE_RE = re.compile(r"^\S+ (is|are|was|were|of|to|that|which|will|can|has|have)\b", re.IGNORECASE)
_DANGLING_RE = re.compile(r"\b(the|a|an|and|or|of|to|in|for|with|if|is|it's|that|which|by|on|from|as)$", re.IGNORECASE)


def _trigrams(text: str) -> set[tuple[str, ...]]:
    words = re.findall(r"[\w'-]+", text.lower())
    return set(zip(words, words[1:], words[2:]))


_SHOT_TRIGRAMS = set().union(*(_trigrams(subject.split(": ", 1)[-1]) for _, subject in _SHOTS))


def _tidy(said: str, room: int) -> str:
    """The model's words after `<target>: `, cut to their first sentence; a text stopped by the
    length limit loses its last clause (after a comma) or its last, maybe partial, word."""
    said = re.split(r"[.!?;] ", said, maxsplit=1)[0]
    if len(said) >= room:
        said = said.rsplit(",", 1)[0] if "," in said else said.rsplit(" ", 1)[0]
    return said.strip().rstrip(".,;:")


def _small_problem(said: str) -> str | None:
    """Why the words after `<target>: ` are not a subject a person would keep, or None."""
    if _NOT_IMPERATIVE_RE.match(said):
        return "the subject is not in the imperative"
    if _DANGLING_RE.search(said):
        return "the subject ends mid-phrase"
    if len(re.findall(r"\b[A-Za-z]{2,}\b", said)) < 3:
        return "the subject has too few words"
    if _trigrams(said) & _SHOT_TRIGRAMS:
        return "the subject copies the prompt's example"
    return None


def small_validate(answer: str, ctx: ActionContext) -> str:
    """The embedded model's subject, tidied (`_tidy`), passes when it passes `validate`, names
    something the diff changed, and reads as one imperative phrase: a 135M model often starts well
    and trails off. It gets the floor's body: each file and what it touches."""
    changes = describe_changes(ctx.staged_diff)
    target, _, said = sanitize(answer).strip().split("\n", 1)[0].partition(": ")
    room = len(said.split(" ", 1)[0]) + 1 + _text_max(targets(changes))
    message = validate(f"{target}: {_tidy(said, room)}", ctx)
    said = message.partition(": ")[2]
    if not mentions_change(message, changes):
        raise ValidationFailed(name, "the subject names no file or symbol the diff changes")
    problem = _small_problem(said)
    if problem:
        raise ValidationFailed(name, problem)
    # the body is the diff's own facts, so a vague subject still comes with what changed
    return message + "\n\n" + _body(changes)


# --- without a model ----------------------------------------------------------------------------

def _names(items: list[str], limit: int) -> str:
    items = items[:limit]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1] if items else ""


def _looks_like_code(word: str) -> bool:
    return "_" in word or any(c.isupper() for c in word[1:]) or any(c.isdigit() for c in word)


def _verb(fc: FileChange) -> str:
    if fc.status == "added":
        return "Add"
    if fc.status == "deleted":
        return "Remove"
    if fc.added and not fc.changed and not fc.removed:
        return "Add"
    if fc.removed and not fc.changed and not fc.added:
        return "Remove"
    return "Update"


def _subjects(changes: list[FileChange]) -> list[str]:
    """Subjects from the most to the least detailed; the caller takes the first that fits."""
    shown = [fc for fc in changes if not fc.omitted_reason] or changes
    main = max(shown, key=lambda fc: fc.lines_added + fc.lines_removed)
    others = [fc.name for fc in shown if fc is not main]
    verb = _verb(main)
    if main.status == "renamed" and main.old_path:
        heads = [(f"Rename {main.old_path} to", [main.path]), (f"Rename {posixpath.basename(main.old_path)} to", [main.name])]
    else:
        syms = main.added if verb == "Add" else main.removed if verb == "Remove" else main.symbols()
        if main.status in ("added", "deleted") or not syms:
            syms = [] if main.status in ("added", "deleted") else [w for w in main.words_in + main.words_out
                                                                    if _looks_like_code(w)][:2]
        prep = {"Add": "to", "Remove": "from"}.get(verb, "in") if syms else ""
        heads = [(f"{verb} {_names(syms, n)} {prep}", [where]) for n in (3, 2, 1) if syms for where in (main.path, main.name)]
        heads += [(verb, [main.path]), (verb, [main.name])]
    out = []
    if 0 < len(others) <= 2:
        out += [f"{head} {_names(where + others, 3)}" for head, where in heads]
    if others:
        out += [f"{head} {where[0]} and {len(others)} more file{'s' if len(others) > 1 else ''}" for head, where in heads]
    else:
        out += [f"{head} {where[0]}" for head, where in heads]
    return out


def _body_line(fc: FileChange) -> str:
    if fc.omitted_reason:
        return f"- {fc.path}: {fc.omitted_reason}, not shown"
    parts = [f"{label} {_names(items, 4)}" for label, items in
             (("added", fc.added), ("changed", fc.changed), ("removed", fc.removed)) if items]
    if fc.status == "renamed":
        parts.insert(0, f"renamed from {fc.old_path}")
    elif fc.status in ("added", "deleted"):
        parts.insert(0, "new file" if fc.status == "added" else "deleted")
    parts.append(f"+{fc.lines_added} -{fc.lines_removed} lines")
    return f"- {fc.path}: " + "; ".join(parts)


def floor(ctx: ActionContext) -> str | None:
    """A message from the diff alone: the subject names the file changed most and what it touches;
    the body lists each file. None when the diff shows no file."""
    changes = describe_changes(ctx.staged_diff)
    if not changes:
        return None
    subject = next((s for s in _subjects(changes) if len(s) <= SUBJECT_MAX), None)
    if subject is None:
        subject = _subjects(changes)[-1][: SUBJECT_MAX - 3].rstrip() + "..."
    return subject + "\n\n" + _body(changes)


def _body(changes: list[FileChange]) -> str:
    body = [_body_line(fc) for fc in changes[:BODY_MAX_LINES]]
    if len(changes) > BODY_MAX_LINES:
        body[-1] = f"- and {len(changes) - BODY_MAX_LINES + 1} more files"
    return "\n".join(body)
