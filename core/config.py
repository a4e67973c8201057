"""lightfast.yml: pydantic models, and errors that name the file, line and field.

One parse per load: a SafeLoader composes the node tree (every node carries its
line) and constructs the data from that same tree. The data goes through
pydantic; every validation error's location is walked back into the node tree
to find its line (or the nearest parent's). What YAML itself lets pass silently
is rejected here: duplicate keys, values its constructor chokes on (an
impossible date), tabs used for indentation.

Profiles: the built-ins live in core/profiles.py. `indexes` may add profiles
(an overflow index, another model or dimension, as in the design's Q&A) and may
replace `staging` or `production` wholesale, but may not redefine `local`:
`local` is the promise that nothing leaves the machine and no key is needed,
and a file must not be able to point that name at a cloud index. Define
another name (e.g. `local-custom`) and select it with `environment`.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import pathspec
import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from core.errors import ConfigError, NamingError
from core.naming import check_collisions, namespace_name, sanitize_part
from core.safe_yaml import MAX_BYTES, BoundedLoader, FileRefused, UnsafeYAML, read_regular_file

CONFIG_FILENAME = "lightfast.yml"

# Vector sizes of models we know; a profile naming one with another dimension fails at load.
KNOWN_DIMENSIONS: dict[str, tuple[int, ...]] = {
    "all-MiniLM-L6-v2": (384,),
    "embed-english-v3.0": (1024,),
    "embed-multilingual-v3.0": (1024,),
    "embed-english-light-v3.0": (384,),
    "embed-multilingual-light-v3.0": (384,),
    "embed-v4.0": (256, 512, 1024, 1536),
}
# Pinecone: lowercase letters, digits and '-', starting and ending alphanumeric, at most 45.
# Every index name and profile name follows it, whatever the backend: the local backend keeps
# one folder per index (core/vectors/validate.py checks the same rule), so no name is ever a path.
_PINECONE_INDEX_NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,43}[a-z0-9])?")
_NAME_RULE = "1 to 45 lowercase letters, digits or '-', starting and ending with a letter or digit"
RESERVED_PROFILES = ("local",)


def _name_hint(name: str) -> str:
    """' (e.g. 'my-index')' when folding the name gives a valid one."""
    if "/" in name or "\\" in name:
        return "; it is a name, never a path"
    folded = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:45].strip("-")
    return f" (e.g. {folded!r})" if folded and folded != name and _PINECONE_INDEX_NAME.fullmatch(folded) else ""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _check_glob(glob: str) -> str:
    """One gitignore-style pattern, relative to the repo root."""
    if not glob.strip():
        raise ValueError("a glob must not be empty, got " + repr(glob))
    if glob.startswith("#"):
        raise ValueError(f"{glob!r} starts with '#', which gitignore reads as a comment; write '\\#' to match a '#'")
    if ".." in glob.replace("\\", "/").split("/"):
        raise ValueError(f"{glob!r} reaches outside the repo root ('..'); globs are relative to `root`")
    try:
        pathspec.PathSpec.from_lines("gitignore", [glob])
    except Exception as exc:  # pathspec's own message says what is wrong
        raise ValueError(f"{glob!r} is not a valid gitignore pattern ({exc})") from None
    return glob


Glob = Annotated[str, AfterValidator(_check_glob)]


class ChunkingConfig(_Strict):
    """How a store's files are cut into chunks."""

    max_tokens: int = Field(
        256, ge=16, le=8192, strict=True,
        description="Most tokens per chunk, 16..8192; the chunker also caps it at the model's own limit.",
    )
    overlap: int = Field(
        32, ge=0, strict=True,
        description="Tokens of trailing lines repeated at the start of the next chunk; smaller than max_tokens.",
    )

    @field_validator("overlap")
    @classmethod
    def _overlap_below_max(cls, value: int, info) -> int:
        max_tokens = info.data.get("max_tokens")
        if max_tokens is not None and value >= max_tokens:
            raise ValueError(f"must be smaller than max_tokens ({max_tokens}), got {value}")
        return value


class StoreConfig(_Strict):
    """One store: a set of files in the repo, kept in its own namespace."""

    slug: str = Field(description="The store's name; folded to [a-z0-9] it is the `store_` part of its namespace.")
    description: str = Field("", description="What the store holds (shown in the TUI and to MCP clients).")
    include: list[Glob] = Field(
        default_factory=lambda: ["**/*"], min_length=1,
        description="Gitignore-style globs, relative to the repo root, of the files to ingest.",
    )
    exclude: list[Glob] = Field(default_factory=list, description="Gitignore-style globs of files to leave out.")
    chunking: ChunkingConfig = Field(default_factory=ChunkingConfig, description="Chunk size and overlap.")

    @field_validator("slug")
    @classmethod
    def _slug_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError(f"must not be empty, got {value!r}")
        return value


class IndexProfile(_Strict):
    """A shared index and the model that fills it (one entry of the design's PRIVATE_CONFIG)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: Literal["local", "pinecone"] = Field(description="Where the index lives: on this machine or Pinecone.")
    name: str = Field(description="The shared index's name, e.g. lightfast-production-v1.")
    embedding_provider: Literal["local", "cohere"] = Field(description="Who embeds: the offline model or Cohere.")
    embedding_model: str = Field(description="Model name, e.g. all-MiniLM-L6-v2 or embed-english-v3.0.")
    dimension: int = Field(gt=0, le=20_000, strict=True, description="Vector dimension of the model and the index.")
    metric: Literal["cosine", "dotproduct", "euclidean"] = Field("cosine", description="Similarity metric of the index.")
    cloud: str = Field("aws", description="Pinecone serverless cloud (pinecone backend only).")
    region: str = Field("us-east-1", description="Pinecone serverless region (pinecone backend only).")
    deletion_protection: bool = Field(False, description="Refuse to delete the index while this is on.")
    reranker: Literal["score-fusion", "cohere"] = Field(
        "score-fusion", description="How hits from several stores are merged: local score fusion or Cohere rerank."
    )
    rerank_model: str = Field("rerank-v3.5", description="Cohere rerank model, used when reranker is cohere.")

    @model_validator(mode="after")
    def _consistent(self) -> IndexProfile:
        if not _PINECONE_INDEX_NAME.fullmatch(self.name):
            raise _FieldError(
                "name", f"a {self.backend} index name must be {_NAME_RULE} (Pinecone's rule), "
                f"got {self.name!r}{_name_hint(self.name)}"
            )
        known = KNOWN_DIMENSIONS.get(self.embedding_model)
        if known and self.dimension not in known:
            sizes = " or ".join(str(d) for d in known)
            raise _FieldError(
                "dimension", f"{self.embedding_model} gives {sizes}-dimensional vectors, got {self.dimension}"
            )
        # Refused rather than supported: search merges stores by sorting scores highest first, and
        # Pinecone's euclidean scores are distances (lower is closer), so the farthest chunks would
        # rank first. Both embedders return unit vectors, for which euclidean ranks exactly as
        # cosine does: refusing it loses nothing, while ordering by metric would add a second score
        # direction to every merge, rerank fallback and face that shows a score.
        if self.metric == "euclidean":
            raise _FieldError(
                "metric", "euclidean is not supported: its scores are distances (lower is closer) and "
                "search merges similarities; use cosine (the same ranking for these unit vectors)"
            )
        return self


class LimitsConfig(_Strict):
    """Plan limits and safety caps."""

    namespace_limit: int = Field(
        100_000, gt=0, strict=True, description="Namespaces per index on your Pinecone plan (Standard: 100,000)."
    )
    alert_threshold: float = Field(
        0.8, gt=0, le=1, strict=True, description="Warn when this share of namespace_limit is in use (0 < x <= 1)."
    )
    max_file_bytes: int = Field(1_000_000, gt=0, strict=True, description="Files larger than this are skipped.")
    overflow: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Overflow indexes: profile -> the profiles (in order) whose indexes take new namespaces "
        "once its index holds alert_threshold of namespace_limit; each must embed as the profile does.",
    )


class CheckConfig(_Strict):
    """Thresholds of `lightfast check`: alerts that exit non-zero for a scheduler (cron, CI).
    Namespace usage is checked against `limits` (namespace_limit x alert_threshold)."""

    latency_budget_ms: float = Field(
        500.0, gt=0, description="p95 query latency per namespace above this (ms) in the last window is an alert.",
    )
    degradation_factor: float = Field(
        2.0, gt=1, description="p95 above this many times the namespace's own previous window is an alert.",
    )
    window_hours: float = Field(
        24.0, gt=0, description="Length of the latency window (hours); the previous window is the one before it.",
    )
    min_queries: int = Field(
        20, ge=1, strict=True, description="Queries a window needs before its p95 is judged (fewer: not judged).",
    )
    canary: bool = Field(True, description="Run the isolation canary (writes, queries and removes a record per namespace).")
    canary_sample: int | None = Field(
        20, ge=1, description="Namespaces the canary checks, chosen at random; null checks every one.",
    )


class LightfastConfig(_Strict):
    """The whole lightfast.yml."""

    organization: str = Field(description="Organization id: the `org_` part of every namespace name.")
    workspace: str = Field(description="Workspace id: the `ws_` part of every namespace name.")
    environment: str = Field(
        "local", description="Index profile in use: local, staging, production or a name under `indexes`."
    )
    root: str = Field(".", description="The repo root, relative to the folder of this file.")
    use_shared_index: bool = Field(
        True, description="The design's migration flag: read from the shared index (true) or legacy per-store indexes."
    )
    stores: list[StoreConfig] = Field(min_length=1, description="The stores (at least one); each gets one namespace.")
    indexes: dict[str, IndexProfile] = Field(
        default_factory=dict,
        description="Extra index profiles beside the built-ins; may replace staging or production, never local.",
    )
    limits: LimitsConfig = Field(default_factory=LimitsConfig, description="Plan limits and caps.")
    check: CheckConfig = Field(default_factory=CheckConfig, description="Thresholds of `lightfast check`.")

    source_path: Path | None = Field(
        None, exclude=True, description="The file this was loaded from; set by load_config, never read from the file."
    )

    @field_validator("organization", "workspace")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError(f"must not be empty, got {value!r}")
        return value

    @field_validator("indexes")
    @classmethod
    def _profile_names(cls, indexes: dict[str, IndexProfile]) -> dict[str, IndexProfile]:
        for name in indexes:
            if name in RESERVED_PROFILES:
                raise _FieldError(
                    name,
                    f"the built-in '{name}' profile cannot be redefined (it is the offline default that needs "
                    f"no keys); give yours another name, e.g. '{name}-custom', and set environment to it",
                )
            if not isinstance(name, str) or not _PINECONE_INDEX_NAME.fullmatch(name):
                raise _FieldError(
                    name, f"a profile name must be {_NAME_RULE}, got {name!r}{_name_hint(str(name))}"
                )
        return indexes

    @property
    def root_path(self) -> Path:
        """The repo root as an absolute path: this file's folder joined with `root`."""
        base = self.source_path.parent if self.source_path else Path.cwd()
        return (base / self.root).resolve()

    def store(self, slug: str) -> StoreConfig:
        """The store with this slug; ConfigError listing the known slugs otherwise."""
        for store in self.stores:
            if store.slug == slug:
                return store
        known = ", ".join(s.slug for s in self.stores)
        raise ConfigError(f"unknown store '{slug}'; this {CONFIG_FILENAME} has: {known}")

    def profile(self) -> IndexProfile:
        """The index profile `environment` names."""
        from core.profiles import get_index_config

        return get_index_config(self.environment, self)


class _FieldError(ValueError):
    """A model-level check that blames one field: the formatter appends `field` to the loc."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


# -- loading ---------------------------------------------------------------------


def find_config(start: Path | None = None) -> Path:
    """lightfast.yml in start (default: the working directory) or the nearest parent folder."""
    start = Path(start or Path.cwd()).resolve()
    if start.is_file():
        if start.name == CONFIG_FILENAME:
            return start
        start = start.parent
    for folder in (start, *start.parents):
        candidate = folder / CONFIG_FILENAME
        if candidate.is_file():
            return candidate
    raise ConfigError(
        f"no {CONFIG_FILENAME} in {start} or any folder above it; run `lightfast init` there to write one"
    )


def load_config(path: Path) -> LightfastConfig:
    """Read and validate one lightfast.yml; every problem is a ConfigError naming file, line and field."""
    path = Path(path)
    try:
        data = read_regular_file(path, MAX_BYTES)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file; run `lightfast init` to write one") from None
    except FileRefused as exc:
        raise ConfigError(f"{path}: {exc}" if exc.too_big else f"{path}: {exc}, expected a {CONFIG_FILENAME} file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            f"{path}:{line}: not valid UTF-8 (byte {data[exc.start]:#04x} at offset {exc.start}); "
            "save the file as UTF-8"
        ) from None
    return parse_config(text, path)


class _Loader(BoundedLoader):
    """Bounded SafeLoader (core/safe_yaml.py) whose constructor failures (an impossible date, ...)
    carry the node's mark."""

    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep)
        except yaml.YAMLError:
            raise
        except (ValueError, TypeError, OverflowError) as exc:
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read {node.value!r} ({exc}); quote it to keep it as text", node.start_mark
            ) from None


def _read_yaml(text: str, path: Path) -> tuple[yaml.Node | None, Any]:
    loader = None
    try:
        loader = _Loader(text)  # the reader rejects control characters here already
        root = loader.get_single_node()
        if root is None:
            return None, None
        _reject_duplicate_keys(root, path)
        return root, loader.construct_document(root)
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, max(exc.position, 0)) + 1
        raise ConfigError(
            f"{path}:{line}: invalid YAML: character {exc.character:#06x} is not allowed in a YAML file"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        problem = getattr(exc, "problem", None) or str(exc)
        if str(getattr(exc, "context", None) or "").startswith("expected"):
            problem = f"{exc.context}, {problem}"  # e.g. "expected a single document in the stream, but found ..."
        context = getattr(exc, "context_mark", None)
        if context is not None and context.line + 1 != line:
            problem += f" (in what starts on line {context.line + 1})"
        if "\\t" in problem or "\t" in problem:
            problem += "; indent with spaces, not tabs"
        raise ConfigError(f"{path}:{line}: invalid YAML: {problem}") from None
    except UnsafeYAML as exc:
        raise ConfigError(f"{path}:{exc.line}: invalid YAML: {exc}") from None
    except RecursionError:  # MAX_DEPTH stops this first; kept as the last line of defence
        raise ConfigError(f"{path}:1: invalid YAML: nested too deeply") from None
    finally:
        if loader is not None:
            loader.dispose()


def parse_config(text: str, path: Path) -> LightfastConfig:
    """Validate lightfast.yml's text; `path` is used for messages and for `root`."""
    path = Path(path)
    root, raw = _read_yaml(text, path)
    if root is None:
        raise ConfigError(f"{path}:1: the file is empty; expected organization, workspace and stores")
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError(
            f"{path}:{root.start_mark.line + 1}: expected a mapping of settings "
            f"(organization, workspace, stores), got {_describe(raw)}"
        )
    if "source_path" in raw:
        raise ConfigError(
            f"{path}:{_line_of(root, ('source_path',))}: source_path: unknown field 'source_path' "
            "(it is set from where the file is, not written in it)"
        )
    try:
        config = LightfastConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, root, path)) from None
    config.source_path = path.resolve()
    _semantic_checks(config, root, path)
    return config


def _reject_duplicate_keys(root: yaml.Node, path: Path) -> None:
    """YAML keeps the last of two equal keys without a word; we refuse the file."""
    stack, seen_nodes = [root], set()
    while stack:
        node = stack.pop()
        if id(node) in seen_nodes:  # aliases share nodes: visit each once
            continue
        seen_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            keys: dict[str, int] = {}
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value != "<<":
                    name = key.value
                    if name in keys:
                        raise ConfigError(
                            f"{path}:{key.start_mark.line + 1}: duplicate key '{name}' "
                            f"(first on line {keys[name]}); YAML would silently keep only the last"
                        )
                    keys[name] = key.start_mark.line + 1
                stack += [key, value]
        elif isinstance(node, yaml.SequenceNode):
            stack += node.value


def _line_of(root: yaml.Node, loc: tuple) -> int:
    """Line of the node at loc, or of the deepest existing parent."""
    node = root
    line = root.start_mark.line + 1
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                    child = value
                    line = key.start_mark.line + 1
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            child = node.value[part]
            line = child.start_mark.line + 1
        if child is None:
            break
        node = child
    return line


def _field_name(loc: tuple) -> str:
    out = ""
    for part in loc:
        if part == "[key]":
            continue
        out += f"[{part}]" if isinstance(part, int) and out else (f".{part}" if out else str(part))
    return out or "(top level)"


def _model_at(loc: tuple) -> Any:
    """The model whose fields sit at loc (None if loc is not inside a model)."""
    model: Any = LightfastConfig
    for part in loc:
        if model is LightfastConfig and part == "indexes":
            model = "profiles"
            continue
        if model == "profiles":
            model = IndexProfile
            continue
        if isinstance(part, int):
            continue
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return None
        annotation = field.annotation
        inner = getattr(annotation, "__args__", None)
        model = inner[0] if inner and isinstance(inner[0], type) and issubclass(inner[0], BaseModel) else annotation
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _known_fields(loc: tuple) -> list[str]:
    """Field names valid where loc's last part sits (for 'did you mean')."""
    model = _model_at(loc[:-1])
    return [n for n in (model.model_fields if model else {}) if n != "source_path"]


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing (an empty value)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return repr(value)
    return f"{str(value)!r} (a {type(value).__name__})"


_EXPECTED = {
    "int_type": "expected a whole number",
    "int_parsing": "expected a whole number",
    "int_from_float": "expected a whole number",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "string_type": "expected text",
    "list_type": "expected a list",
    "dict_type": "expected a mapping",
    "invalid_key": "expected text as the key",
}


def _message(error: dict, loc: tuple) -> str:
    kind, ctx, value = error["type"], error.get("ctx") or {}, error.get("input")
    got = _describe(value)
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        known = _known_fields(loc)
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else (f"; known: {', '.join(known)}" if known else "")
        return f"unknown field '{loc[-1]}'{hint}"
    if kind in ("model_type", "model_attributes_type"):
        model = _model_at(loc)
        fields = ", ".join(n for n in (model.model_fields if model else {}) if n != "source_path")
        return f"expected a mapping of settings ({fields}), got {got}"
    if kind == "too_short":
        if loc[-1] == "include":
            return 'needs at least one glob (leave include out for the default, ["**/*"]), got an empty list'
        what = "store" if loc == ("stores",) else "item"
        return f"needs at least {ctx.get('min_length', 1)} {what}, got an empty list"
    bounds = {"greater_than_equal": ("at least", "ge"), "greater_than": ("greater than", "gt"),
              "less_than_equal": ("at most", "le"), "less_than": ("less than", "lt")}
    if kind in bounds:
        words, key = bounds[kind]
        bound = ctx.get(key)
        bound = int(bound) if isinstance(bound, float) and bound.is_integer() else bound
        return f"must be {words} {bound}, got {got}"
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    expected = _EXPECTED.get(kind) or str(error["msg"]).replace("Input should be", "expected")
    message = f"{expected}, got {got}"
    plain = isinstance(value, (str, dict, list, type(None), bool, int, float))
    if kind == "string_type" and (isinstance(value, (bool, int, float)) or not plain):
        message += "; put it in quotes to keep it as text"
    return message


def _format_errors(exc: ValidationError, root: yaml.Node, path: Path) -> str:
    found = []
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, _FieldError):
            loc += (cause.field,)
        found.append((loc, error))
    # An unknown key that is a typo of a missing one says both at once: drop the "missing" line.
    suggested = set()
    for loc, error in found:
        if error["type"] == "extra_forbidden":
            close = difflib.get_close_matches(str(loc[-1]), _known_fields(loc), n=1)
            if close:
                suggested.add(loc[:-1] + (close[0],))
    found = [(loc, e) for loc, e in found if not (e["type"] == "missing" and loc in suggested)]
    lines = sorted(
        ((_line_of(root, loc), f"{_field_name(loc)}: {_message(error, loc)}") for loc, error in found),
        key=lambda item: item[0],
    )
    shown = [f"{path}:{line}: {text}" for line, text in lines[:8]]
    if len(lines) > 8:
        shown.append(f"... and {len(lines) - 8} more")
    return "\n".join(shown)


def _semantic_checks(config: LightfastConfig, root: yaml.Node, path: Path) -> None:
    from core.profiles import available_profiles

    names = available_profiles(config)
    if config.environment not in names:
        close = difflib.get_close_matches(config.environment, names, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise ConfigError(
            f"{path}:{_line_of(root, ('environment',))}: environment: unknown profile "
            f"'{config.environment}'{hint}; available: {', '.join(names)}"
        )
    _check_overflow(config, root, path, names)
    first: dict[str, int] = {}
    for i, store in enumerate(config.stores):
        if store.slug in first:
            raise ConfigError(
                f"{path}:{_line_of(root, ('stores', i, 'slug'))}: stores[{i}].slug: duplicate store "
                f"'{store.slug}' (also stores[{first[store.slug]}])"
            )
        first[store.slug] = i
    for field, what in (("organization", "organization"), ("workspace", "workspace")):
        try:
            sanitize_part(getattr(config, field), what)
        except NamingError as exc:
            raise ConfigError(f"{path}:{_line_of(root, (field,))}: {field}: {exc}") from None
    seen: dict[str, tuple[str, str, str]] = {}  # namespace name -> first store's triple: linear in stores
    for i, store in enumerate(config.stores):
        loc = ("stores", i, "slug")
        try:
            sanitize_part(store.slug, "store slug")
            triple = (config.organization, config.workspace, store.slug)
            name = namespace_name(*triple)
            check_collisions([seen.get(name, triple), triple])
            seen.setdefault(name, triple)
        except NamingError as exc:
            raise ConfigError(f"{path}:{_line_of(root, loc)}: {_field_name(loc)}: {exc}") from None


def _check_overflow(config: LightfastConfig, root: yaml.Node, path: Path, names: list[str]) -> None:
    """Each overflow list names known profiles that can hold the same vectors as the profile they
    relieve: one query embedding must fit every index an organization's search may touch."""
    from core.profiles import get_index_config

    for source, targets in config.limits.overflow.items():
        line = _line_of(root, ("limits", "overflow", source))
        where = f"{path}:{line}: limits.overflow.{source}"
        if source not in names:
            raise ConfigError(f"{where}: unknown profile '{source}'; available: {', '.join(names)}")
        base = get_index_config(source, config)
        seen = {base.name}
        for target in targets:
            if target not in names:
                close = difflib.get_close_matches(target, names, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise ConfigError(f"{where}: unknown profile '{target}'{hint}; define it under `indexes`")
            other = get_index_config(target, config)
            if other.name in seen:
                raise ConfigError(f"{where}: index '{other.name}' (profile '{target}') appears twice in the "
                                  f"chain of '{source}'; each overflow must be another index")
            seen.add(other.name)
            for field in ("backend", "embedding_provider", "embedding_model", "dimension", "metric"):
                if getattr(other, field) != getattr(base, field):
                    raise ConfigError(
                        f"{where}: profile '{target}' has {field} {getattr(other, field)!r} but '{source}' has "
                        f"{getattr(base, field)!r}; an overflow index must hold the same vectors"
                    )


def default_config_text(organization: str, workspace: str, stores: list[tuple[str, list[str]]]) -> str:
    """The lightfast.yml that `lightfast init` writes: valid, commented, every value quoted safely.

    ConfigError if the arguments would not make a valid file (an empty name, two slugs
    that share a namespace, a bad glob): `init` never writes a file that cannot load.
    """

    def q(value: str) -> str:  # always double-quoted, escapes for anything unprintable, one line
        return yaml.safe_dump(value, default_style='"', allow_unicode=True, width=float("inf")).strip()

    lines = [
        "# Lightfast configuration. Every field is documented in lightfast.example.yml.",
        "# Each store below gets one namespace: org_{organization}:ws_{workspace}:store_{slug},",
        "# each part folded to lowercase a-z and 0-9 (\"acme-corp\" -> \"acmecorp\").",
        "",
        "# Who owns the stores: the org_ and ws_ parts of every namespace name.",
        f"organization: {q(organization)}",
        f"workspace: {q(workspace)}",
        "",
        "# Index profile. local: offline model and local index, no keys.",
        "# staging / production: Pinecone + Cohere (needs PINECONE_API_KEY and COHERE_API_KEY).",
        "environment: local",
        "",
        "# The repo root, relative to this file.",
        'root: "."',
        "",
        "# Read from the shared index (the design's migration flag; `lightfast migrate` flips it).",
        "use_shared_index: true",
        "",
        "# Each store: a slug, gitignore-style globs relative to root, and chunk sizes.",
        "stores:" if stores else "stores: []",
    ]
    for slug, include in stores:
        lines += [
            f"  - slug: {q(slug)}",
            f"    include: [{', '.join(q(g) for g in include)}]",
            "    exclude: []",
            "    chunking: {max_tokens: 256, overlap: 32}  # tokens per chunk; overlap < max_tokens",
        ]
    text = "\n".join(lines) + "\n"
    parse_config(text, Path(CONFIG_FILENAME))
    return text
