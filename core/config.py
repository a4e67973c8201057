"""lightfast.yml: pydantic models, and errors that name the file, line and field.

The file is parsed twice over one text: `yaml.compose` gives nodes with line
marks, the data goes through pydantic, and every validation error's location
is walked back into the node tree to find its line.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal

import pathspec
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.errors import ConfigError, NamingError
from core.naming import check_collisions, namespace_name

CONFIG_FILENAME = "lightfast.yml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ChunkingConfig(_Strict):
    """How a store's files are cut into chunks."""

    max_tokens: int = Field(256, ge=16, le=8192, description="Most tokens per chunk (capped at the model's limit).")
    overlap: int = Field(32, ge=0, description="Tokens of trailing lines repeated at the start of the next chunk.")

    @field_validator("overlap")
    @classmethod
    def _overlap_below_max(cls, value: int, info) -> int:
        max_tokens = info.data.get("max_tokens")
        if max_tokens is not None and value >= max_tokens:
            raise ValueError(f"must be smaller than max_tokens ({max_tokens}), got {value}")
        return value


class StoreConfig(_Strict):
    """One store: a set of files in the repo, kept in its own namespace."""

    slug: str = Field(description="The store's name; becomes the `store_` part of its namespace.")
    description: str = Field("", description="What the store holds (shown in the TUI and MCP).")
    include: list[str] = Field(default_factory=lambda: ["**/*"], description="Gitignore-style globs of files to ingest.")
    exclude: list[str] = Field(default_factory=list, description="Globs of files to leave out.")
    chunking: ChunkingConfig = Field(default_factory=ChunkingConfig, description="Chunk size and overlap.")

    @field_validator("slug")
    @classmethod
    def _slug_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("include", "exclude")
    @classmethod
    def _valid_globs(cls, globs: list[str]) -> list[str]:
        for i, glob in enumerate(globs):
            if not glob.strip():
                raise ValueError(f"glob {i + 1} is empty")
            try:
                pathspec.PathSpec.from_lines("gitignore", [glob])
            except Exception as exc:  # pathspec's own message says what is wrong
                raise ValueError(f"glob {glob!r} is not valid: {exc}") from None
        return globs


class IndexProfile(_Strict):
    """A shared index and the model that fills it (the design's PRIVATE_CONFIG entries)."""

    backend: Literal["local", "pinecone"] = Field(description="Where the index lives.")
    name: str = Field(description="The shared index's name, e.g. lightfast-production-v1.")
    embedding_provider: Literal["local", "cohere"] = Field(description="Who embeds: the offline model or Cohere.")
    embedding_model: str = Field(description="Model name, e.g. all-MiniLM-L6-v2 or embed-english-v3.0.")
    dimension: int = Field(gt=0, le=20000, description="Vector dimension of the model and the index.")
    metric: Literal["cosine", "dotproduct", "euclidean"] = Field("cosine", description="Similarity metric.")
    cloud: str = Field("aws", description="Pinecone serverless cloud.")
    region: str = Field("us-east-1", description="Pinecone serverless region.")
    deletion_protection: bool = Field(False, description="Refuse to delete the index.")
    reranker: Literal["score-fusion", "cohere"] = Field("score-fusion", description="How multi-store hits are merged.")
    rerank_model: str = Field("rerank-v3.5", description="Cohere rerank model, when reranker is cohere.")


class LimitsConfig(_Strict):
    """Plan limits and safety caps."""

    namespace_limit: int = Field(100_000, gt=0, description="Namespaces per index on your Pinecone plan.")
    alert_threshold: float = Field(0.8, gt=0, le=1, description="Warn when this share of namespace_limit is used.")
    max_file_bytes: int = Field(1_000_000, gt=0, description="Files larger than this are skipped.")


class LightfastConfig(_Strict):
    """The whole lightfast.yml."""

    organization: str = Field(description="Organization id: the `org_` part of every namespace.")
    workspace: str = Field(description="Workspace id: the `ws_` part of every namespace.")
    environment: str = Field("local", description="Index profile to use: local, staging, production or one of `indexes`.")
    root: str = Field(".", description="The repo root, relative to this file.")
    use_shared_index: bool = Field(True, description="Read from the shared index (the design's migration flag).")
    stores: list[StoreConfig] = Field(min_length=1, description="The stores; each gets one namespace.")
    indexes: dict[str, IndexProfile] = Field(default_factory=dict, description="Extra or overriding index profiles.")
    limits: LimitsConfig = Field(default_factory=LimitsConfig, description="Plan limits and caps.")

    source_path: Path | None = Field(None, exclude=True, description="Where this was loaded from (not in the file).")

    @field_validator("organization", "workspace")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value

    @property
    def root_path(self) -> Path:
        base = self.source_path.parent if self.source_path else Path.cwd()
        return (base / self.root).resolve()

    def store(self, slug: str) -> StoreConfig:
        for store in self.stores:
            if store.slug == slug:
                return store
        known = ", ".join(s.slug for s in self.stores)
        raise ConfigError(f"unknown store '{slug}'; this lightfast.yml has: {known}")

    def profile(self) -> IndexProfile:
        from core.profiles import get_index_config

        return get_index_config(self.environment, self)


# -- loading ---------------------------------------------------------------------


def find_config(start: Path | None = None) -> Path:
    """lightfast.yml in start (default: the working directory) or the nearest parent."""
    start = (start or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        candidate = folder / CONFIG_FILENAME
        if candidate.is_file():
            return candidate
    raise ConfigError(
        f"no {CONFIG_FILENAME} in {start} or any parent folder; run `lightfast init` to write one"
    )


def load_config(path: Path) -> LightfastConfig:
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, expected a {CONFIG_FILENAME} file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(f"{path}:{line}: not valid UTF-8 (byte {exc.start}); save the file as UTF-8") from None
    return parse_config(text, path)


def parse_config(text: str, path: Path) -> LightfastConfig:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        problem = getattr(exc, "problem", None) or str(exc)
        context = getattr(exc, "context_mark", None)
        if context is not None and context.line + 1 != line:
            problem += f" (in what starts on line {context.line + 1})"
        if "\\t" in problem or "\t" in problem:
            problem += "; indent with spaces, not tabs"
        raise ConfigError(f"{path}:{line}: invalid YAML: {problem}") from None
    if root is None:
        raise ConfigError(f"{path}:1: the file is empty; expected organization, workspace and stores")
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError(
            f"{path}:{root.start_mark.line + 1}: expected a mapping of settings "
            "(organization, workspace, stores), got a " + _node_kind(root)
        )
    _reject_duplicate_keys(root, path)
    raw = yaml.safe_load(text)
    try:
        config = LightfastConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, root, path)) from None
    config.source_path = path.resolve()
    _semantic_checks(config, root, path)
    return config


def _node_kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.SequenceNode):
        return "list"
    if isinstance(node, yaml.ScalarNode):
        return f"single value ({node.value!r})"
    return "mapping"


def _reject_duplicate_keys(node: yaml.Node, path: Path) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            name = str(key.value)
            if name in seen:
                raise ConfigError(
                    f"{path}:{key.start_mark.line + 1}: duplicate key '{name}' "
                    f"(first on line {seen[name]}); YAML would silently keep only the last"
                )
            seen[name] = key.start_mark.line + 1
            _reject_duplicate_keys(value, path)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _reject_duplicate_keys(item, path)


def _line_of(root: yaml.Node, loc: tuple) -> int:
    """Line of the node at loc, or of the deepest existing parent."""
    node = root
    line = root.start_mark.line + 1
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if str(key.value) == str(part):
                    child = value
                    line = key.start_mark.line + 1
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            child = node.value[part]
            line = child.start_mark.line + 1
        if child is None:
            break
        node = child
    return line


def _field_name(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _known_fields(loc: tuple) -> list[str]:
    """Field names valid where loc's last part sits (for 'did you mean')."""
    model: Any = LightfastConfig
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        if model is LightfastConfig and part == "indexes":
            model = dict
            continue
        if model is dict:
            model = IndexProfile
            continue
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        annotation = field.annotation
        inner = getattr(annotation, "__args__", None)
        model = inner[0] if inner and isinstance(inner[0], type) and issubclass(inner[0], BaseModel) else annotation
    names = getattr(model, "model_fields", {})
    return [n for n in names if n != "source_path"]


def _format_errors(exc: ValidationError, root: yaml.Node, path: Path) -> str:
    lines = []
    for error in exc.errors()[:8]:
        loc = tuple(error["loc"])
        line = _line_of(root, loc)
        kind = error["type"]
        if kind == "missing":
            message = "required field is missing"
        elif kind == "extra_forbidden":
            known = _known_fields(loc)
            close = difflib.get_close_matches(str(loc[-1]), known, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else (f"; known: {', '.join(known)}" if known else "")
            message = f"unknown field '{loc[-1]}'{hint}"
        else:
            message = error["msg"].removeprefix("Value error, ")
            if kind not in ("value_error",) and "input" in error and not isinstance(error["input"], (dict, list)):
                message += f", got {error['input']!r}"
        lines.append(f"{path}:{line}: {_field_name(loc)}: {message}")
    more = len(exc.errors()) - len(lines)
    if more > 0:
        lines.append(f"... and {more} more")
    return "\n".join(lines)


def _semantic_checks(config: LightfastConfig, root: yaml.Node, path: Path) -> None:
    from core.profiles import available_profiles

    if config.environment not in available_profiles(config):
        line = _line_of(root, ("environment",))
        raise ConfigError(
            f"{path}:{line}: environment: unknown profile '{config.environment}'; "
            f"available: {', '.join(available_profiles(config))}"
        )
    seen: dict[str, int] = {}
    for i, store in enumerate(config.stores):
        if store.slug in seen:
            raise ConfigError(
                f"{path}:{_line_of(root, ('stores', i, 'slug'))}: stores[{i}].slug: duplicate store "
                f"'{store.slug}' (also stores[{seen[store.slug]}])"
            )
        seen[store.slug] = i
    for field in ("organization", "workspace"):
        try:
            namespace_name(config.organization if field == "organization" else "x",
                           config.workspace if field == "workspace" else "x", "x")
        except NamingError as exc:
            raise ConfigError(f"{path}:{_line_of(root, (field,))}: {field}: {exc}") from None
    for i, store in enumerate(config.stores):
        try:
            namespace_name("x", "x", store.slug)
        except NamingError as exc:
            raise ConfigError(f"{path}:{_line_of(root, ('stores', i, 'slug'))}: stores[{i}].slug: {exc}") from None
    try:
        check_collisions((config.organization, config.workspace, s.slug) for s in config.stores)
    except NamingError as exc:
        raise ConfigError(f"{path}:{_line_of(root, ('stores',))}: stores: {exc}") from None


def default_config_text(organization: str, workspace: str, stores: list[tuple[str, list[str]]]) -> str:
    """The lightfast.yml that `lightfast init` writes."""
    lines = [
        "# Lightfast configuration. Every field is documented in lightfast.example.yml.",
        "# Each store below gets one namespace: org_{organization}:ws_{workspace}:store_{slug}.",
        f"organization: {yaml.safe_dump(organization).splitlines()[0]}",
        f"workspace: {yaml.safe_dump(workspace).splitlines()[0]}",
        "# local: offline model + local index. staging / production: Pinecone + Cohere",
        "# (needs PINECONE_API_KEY and COHERE_API_KEY).",
        "environment: local",
        "stores:",
    ]
    for slug, include in stores:
        globs = ", ".join(f'"{g}"' for g in include)
        lines += [
            f"  - slug: {slug}",
            f"    include: [{globs}]",
            "    exclude: []",
            "    chunking: {max_tokens: 256, overlap: 32}",
        ]
    return "\n".join(lines) + "\n"
