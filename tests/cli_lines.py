"""Command lines as README.md and --help show them: found, expanded and checked against the CLI.

A line is either literal (`lightfast ingest --plan`: run as written) or a synopsis
(`lightfast namespaces [--json] [--no-backend]`: every option it names must exist, and
it is run in its plain form and once per optional part, with placeholders filled in).
"""

from __future__ import annotations

import re
import shlex

import click

from lightfast_cli.main import cli

#: A placeholder's value in a synopsis, by the option before it (or by the placeholder itself).
OPTION_VALUES = {"--store": "docs", "-s": "docs", "--wait": "1", "-k": "3", "--step-ms": "50", "--sample": "1",
                 "--stores": "20", "--path": "docs/**", "--since": "HEAD", "--until": "HEAD", "--branch": "main",
                 "--mode": "lexical"}
POSITIONAL_VALUES = {"QUERY": '"pelican lagoon"', "STORE": "scratch", "DIR": ".", "PATHS...": "docs",
                     '"SELECT ..."': '"SELECT namespace_name FROM namespaces"', "OWNER/NAME": "acme/docs"}


def readme_command_lines(text: str) -> list[str]:
    """Every `lightfast ...` command in README: inline code and lines of fenced blocks,
    split at && and cut at a comment, a pipe or a redirect."""
    found: list[str] = []
    fenced = re.findall(r"```[a-z]*\n(.*?)```", text, re.S)
    rest = re.sub(r"```[a-z]*\n.*?```", "", text, flags=re.S)
    candidates = [line for block in fenced for line in block.splitlines()]
    candidates += re.findall(r"`(lightfast [^`]+)`", rest)
    for line in candidates:
        for part in line.split("&&"):
            part = re.split(r"\s#\s|\s+\|\s+|\s>\s", part.strip())[0].strip()
            if " -- lightfast " in part:  # claude mcp add NAME -- lightfast mcp ...
                part = part.split(" -- ", 1)[1]
            if part.startswith("lightfast ") and part not in found:
                found.append(part)
    return found


def is_synopsis(line: str) -> bool:
    line = line.replace("\\|", "|")
    return any(mark in line for mark in ("[", "|", "...")) or bool(re.search(r"\b[A-Z]{2,}\b", line))


def resolve(words: list[str]) -> tuple[list[click.Command], list[str]]:
    """The commands a word list walks through (root first) and the words after them."""
    chain: list[click.Command] = [cli]
    i = 0
    while i < len(words) and isinstance(chain[-1], click.Group):
        if words[i] in ("--config", "-c"):  # a group's --config and its value
            i += 2
        elif words[i] in chain[-1].commands:
            chain.append(chain[-1].commands[words[i]])
            i += 1
        else:
            break
    return chain, words[i:]


def option_names(chain: list[click.Command]) -> set[str]:
    names: set[str] = set()
    for command in chain:
        for param in command.params:
            if isinstance(param, click.Option):
                names.update(param.opts)
                names.update(param.secondary_opts)
    return names | {"--help", "-h"}


def unknown_options(words: list[str]) -> list[str]:
    chain, _ = resolve(words)
    known = option_names(chain)
    return [w for w in words if re.fullmatch(r"--?[a-z][a-z-]*", w) and w not in known]


def synopsis_variants(line: str) -> tuple[list[list[str]], list[str]]:
    """(runnable variants as argv lists without 'lightfast', every option word named)."""
    line = line.replace("\\|", "|")
    body = line[len("lightfast "):]
    groups = re.findall(r"\[([^\]]*)\]", body)
    base = re.sub(r"\s*\[[^\]]*\]", "", body).strip()
    alternatives = [base]
    head = base.split()
    if head and "|" in head[-1] and "[" not in head[-1]:  # migrate plan|run|verify|...
        alternatives = [" ".join(head[:-1] + [alt]) for alt in head[-1].split("|")]
    named = re.findall(r"(?<![\w-])(--?[a-z][a-z-]*)", line)

    def fill(text: str) -> list[str]:
        for key, value in POSITIONAL_VALUES.items():
            text = text.replace(key, value)
        words, out = shlex.split(text), []
        for n, word in enumerate(words):
            if word == "...":
                continue
            if re.fullmatch(r"[A-Z]+", word) and n and words[n - 1] in OPTION_VALUES:
                word = OPTION_VALUES[words[n - 1]]
            out.append(word)
        return out

    variants = []
    for alt in alternatives:
        variants.append(fill(alt))
        for group in groups:
            for choice in group.split("|"):
                variants.append(fill(f"{alt} {choice.strip()}"))
    unique = []
    for v in variants:
        if v not in unique:
            unique.append(v)
    return unique, named


def example_lines(help_text: str) -> list[str]:
    """The command lines under 'Example usage:' in a --help text."""
    if "Example usage:" not in help_text:
        return []
    block = help_text.split("Example usage:", 1)[1].split("Options:", 1)[0]
    return [line.strip() for line in block.splitlines() if line.strip()]


def all_commands() -> list[list[str]]:
    names: list[list[str]] = [[]]

    def walk(group: click.Group, prefix: list[str]) -> None:
        for name, command in group.commands.items():
            names.append(prefix + [name])
            if isinstance(command, click.Group):
                walk(command, prefix + [name])

    walk(cli, [])
    return names
