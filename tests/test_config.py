"""lightfast.yml: valid files load; each malformed file fails with its file, line, field and why."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from core.config import (
    CONFIG_FILENAME,
    ChunkingConfig,
    IndexProfile,
    LightfastConfig,
    LimitsConfig,
    StoreConfig,
    default_config_text,
    find_config,
    load_config,
)
from core.errors import ConfigError
from core.profiles import BUILTIN_NAMES, BUILTIN_PROFILES, available_profiles, get_index_config

DATA = Path(__file__).parent / "data" / "config"
EXAMPLE = Path(__file__).parents[1] / "lightfast.example.yml"

# file -> (line, fragment of the message). One file per failure mode.
MALFORMED = {
    "01_yaml_syntax.yml": (3, "invalid YAML: expected ',' or ']', but got ':'"),
    "02_not_a_mapping.yml": (1, "expected a mapping of settings (organization, workspace, stores), got a list"),
    "03_empty.yml": (1, "the file is empty"),
    "04_unknown_top_key.yml": (3, "storse: unknown field 'storse' (did you mean 'stores'?)"),
    "05_unknown_store_key.yml": (5, "stores[0].inclde: unknown field 'inclde' (did you mean 'include'?)"),
    "06_missing_organization.yml": (1, "organization: required field is missing"),
    "07_missing_stores.yml": (1, "stores: required field is missing"),
    "08_empty_stores.yml": (3, "stores: needs at least 1 store, got an empty list"),
    "09_store_missing_slug.yml": (4, "stores[0].slug: required field is missing"),
    "10_max_tokens_not_int.yml": (6, "stores[0].chunking.max_tokens: expected a whole number, got 'lots'"),
    "11_overlap_too_big.yml": (7, "stores[0].chunking.overlap: must be smaller than max_tokens (256), got 300"),
    "12_max_tokens_too_small.yml": (5, "stores[0].chunking.max_tokens: must be at least 16, got 4"),
    "13_duplicate_slug.yml": (6, "stores[2].slug: duplicate store 'docs' (also stores[0])"),
    "14_empty_glob.yml": (5, "stores[0].include[1]: a glob must not be empty, got ''"),
    "15_unknown_environment.yml": (3, "environment: unknown profile 'prod'; available: local, staging, production"),
    "16_duplicate_key.yml": (3, "duplicate key 'organization' (first on line 1); YAML would silently keep only the last"),
    "17_tab_indent.yml": (4, "indent with spaces, not tabs"),
    "18_collision.yml": (5, "stores[1].slug: stores ('acme', 'web', 'api-docs') and ('acme', 'web', 'api_docs') "
                            "both sanitize to namespace 'org_acme:ws_web:store_apidocs'"),
    "19_slug_no_letters.yml": (4, "stores[0].slug: store slug '---' has no letters or digits"),
    "20_stores_not_a_list.yml": (3, "stores: expected a list, got a mapping"),
    "21_bad_profile_backend.yml": (8, "indexes.mine.backend: expected 'local' or 'pinecone', got 'chroma'"),
    "22_profile_missing_dimension.yml": (6, "indexes.mine.dimension: required field is missing"),
    "23_blank_workspace.yml": (2, "workspace: must not be empty, got '  '"),
    "24_bool_not_bool.yml": (3, "use_shared_index: expected true or false, got 'maybe'"),
    "25_threshold_out_of_range.yml": (6, "limits.alert_threshold: must be at most 1, got 1.5"),
    "26_org_not_ascii_letters.yml": (1, "organization: organization '!!!' has no letters or digits"),
    "27_not_utf8.yml": (1, "not valid UTF-8 (byte 0xe9 at offset 17); save the file as UTF-8"),
    "28_unknown_key_no_match.yml": (6, "limits.zzz: unknown field 'zzz'; known: namespace_limit, alert_threshold"),
    "29_impossible_date.yml": (2, "invalid YAML: cannot read '2024-02-30' (day is out of range for month)"),
    "30_number_as_workspace.yml": (2, "workspace: expected text, got 12345; put it in quotes"),
    "31_local_redefined.yml": (12, "indexes.local: the built-in 'local' profile cannot be redefined"),
    "32_dimension_mismatch.yml": (12, "indexes.mine.dimension: embed-english-v3.0 gives 1024-dimensional vectors, got 384"),
    "33_bad_pinecone_index_name.yml": (8, "indexes.mine.name: a pinecone index name must be 1 to 45 lowercase"),
    "34_glob_outside_root.yml": (7, "stores[0].include[1]: '../secrets/**' reaches outside the repo root"),
    "35_glob_comment.yml": (5, "stores[0].exclude[0]: '#notes.md' starts with '#', which gitignore reads as a comment"),
    "36_glob_invalid.yml": (6, "stores[0].exclude[0]: '!' is not a valid gitignore pattern"),
    "37_include_empty.yml": (5, "stores[0].include: needs at least one glob"),
    "38_store_not_a_mapping.yml": (5, "stores[1]: expected a mapping of settings (slug, description, include"),
    "39_source_path_in_file.yml": (3, "source_path: unknown field 'source_path'"),
    "40_two_documents.yml": (5, "expected a single document in the stream, but found another document"),
    "41_unknown_profile_key.yml": (11, "indexes.mine.dimensions: unknown field 'dimensions' (did you mean 'dimension'?)"),
    "42_top_level_scalar.yml": (2, "expected a mapping of settings (organization, workspace, stores), got 'just some text'"),
    "43_max_tokens_float.yml": (6, "stores[0].chunking.max_tokens: expected a whole number, got 256.5"),
    "44_overlap_negative.yml": (6, "stores[0].chunking.overlap: must be at least 0, got -1"),
    "45_empty_value.yml": (1, "organization: expected text, got nothing (an empty value)"),
    "46_environment_typo.yml": (5, "environment: unknown profile 'prodution' (did you mean 'production'?)"),
    "47_collision_after_cut.yml": (5, "stores[1].slug: stores"),
    "48_python_tag.yml": (1, "invalid YAML: the tag '!!python/object/apply:os.system' is not allowed"),
    "49_comments_only.yml": (1, "the file is empty"),
    "50_duplicate_key_nested.yml": (6, "duplicate key 'include' (first on line 5)"),
    "51_bool_as_dimension.yml": (11, "indexes.mine.dimension: expected a whole number, got true"),
    "52_indexes_not_a_mapping.yml": (5, "indexes: expected a mapping, got a list"),
    "53_control_character.yml": (5, "invalid YAML: character 0x0007 is not allowed"),
    "54_alias_bomb.yml": (9, "invalid YAML: aliases (*name) expand to more than 10,000 values"),
    "55_complex_key.yml": (5, "invalid YAML: a key must be a plain name, not a list or mapping"),
    "56_recursive_alias.yml": (5, "invalid YAML: the alias *loop refers to a value that contains it"),
    "57_custom_tag.yml": (2, "invalid YAML: the tag '!env' is not allowed"),
    "58_index_name_path.yml": (9, "indexes.mine.name: a local index name must be 1 to 45 lowercase letters, digits "
                                  "or '-', starting and ending with a letter or digit (Pinecone's rule), "
                                  "got '../../../x'; it is a name, never a path"),
    "59_index_name_absolute.yml": (9, "got '/tmp/lightfast-x'; it is a name, never a path"),
    "60_profile_name_rule.yml": (7, "indexes.My_Profile: a profile name must be 1 to 45 lowercase letters, digits "
                                    "or '-', starting and ending with a letter or digit, got 'My_Profile' "
                                    "(e.g. 'my-profile')"),
}


def test_every_data_file_has_an_expectation():
    assert {p.name for p in DATA.glob("*.yml")} == set(MALFORMED)


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_config_names_file_line_and_field(name):
    line, fragment = MALFORMED[name]
    with pytest.raises(ConfigError) as info:
        load_config(DATA / name)
    message = str(info.value)
    first = message.splitlines()[0]
    assert first.startswith(f"{DATA / name}:{line}: "), message
    assert fragment in first, message
    for raw in ("Traceback", "pydantic", "validation error", "type=", "errors.pydantic.dev"):
        assert raw not in message


def test_a_typo_replaces_the_missing_field_error():
    # `storse:` is reported once, as a typo of `stores`, not also as "stores: required".
    message = _error(DATA / "04_unknown_top_key.yml")
    assert "required field is missing" not in message and len(message.splitlines()) == 1


def test_several_errors_are_listed_in_line_order(tmp_path):
    path = _write(tmp_path, "workspace: 7\nstores:\n  - slug: docs\n    chunking: {max_tokens: 1}\n")
    lines = _error(path).splitlines()
    assert [line.split(":")[1] for line in lines] == ["1", "1", "4"]
    assert any("organization: required field is missing" in line for line in lines)


def test_the_example_from_the_brief(tmp_path):
    path = _write(tmp_path, "organization: a\nworkspace: b\nstores:\n  - slug: x\n  - slug: y\n"
                            "    chunking:\n      overlap: 300\n")
    assert _error(path) == f"{path}:7: stores[1].chunking.overlap: must be smaller than max_tokens (256), got 300"


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ConfigError, match="nope.yml: no such file; run `lightfast init`"):
        load_config(tmp_path / "nope.yml")
    with pytest.raises(ConfigError, match="is a directory, expected a lightfast.yml file"):
        load_config(tmp_path)


def test_a_utf8_bom_is_fine(tmp_path):
    path = tmp_path / CONFIG_FILENAME
    path.write_bytes(b"\xef\xbb\xbforganization: acme\nworkspace: web\nstores:\n  - slug: docs\n")
    assert load_config(path).organization == "acme"


def test_deep_nesting_and_alias_bombs_fail_cleanly(tmp_path):
    # 20,000 nested '[' (generated: too big a file to commit) stop at the depth limit, with its line.
    deep = _write(tmp_path, "organization: acme\nworkspace: " + "[" * 20_000 + "]" * 20_000 + "\n", "deep.yml")
    assert _error(deep).startswith(f"{deep}:2: invalid YAML: nested more than 64 levels deep")
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8)
    )
    path = _write(tmp_path, bomb + "organization: acme\nworkspace: web\nstores:\n  - slug: docs\n", "bomb.yml")
    assert "aliases (*name) expand to more than 10,000 values" in _error(path)


def test_a_few_aliases_are_fine(tmp_path):
    path = _write(tmp_path, "organization: acme\nworkspace: web\nstores:\n"
                            "  - slug: docs\n    chunking: &small {max_tokens: 64, overlap: 8}\n"
                            "  - slug: code\n    chunking: *small\n    include: !!seq ['**/*.py']\n")
    config = load_config(path)
    assert config.store("code").chunking.max_tokens == 64 and config.store("code").include == ["**/*.py"]


def test_only_regular_files_of_at_most_1_mb(tmp_path):
    import os

    fifo = tmp_path / "fifo.yml"
    os.mkfifo(fifo)  # reading it would block for ever: refused without opening it for a writer
    assert _error(fifo) == f"{fifo}: is not a regular file (it is a named pipe), expected a lightfast.yml file"
    assert _error(tmp_path) == f"{tmp_path}: is a directory, expected a lightfast.yml file"
    big = _write(tmp_path, "organization: acme\nworkspace: web\nstores:\n  - slug: docs\n"
                           + "# " + "x" * 1_000_000 + "\n", "big.yml")
    assert _error(big) == f"{big}: is 1,000,060 bytes; a config file may be at most 1,000,000"


def test_the_cli_maps_hostile_configs_to_exit_2(tmp_path):
    import os

    from click.testing import CliRunner

    from lightfast_cli.main import cli

    fifo = tmp_path / "fifo.yml"
    os.mkfifo(fifo)
    for path in (DATA / "54_alias_bomb.yml", DATA / "48_python_tag.yml", fifo):
        result = CliRunner().invoke(cli, ["--config", str(path), "status"])
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.output and f"{path}" in result.output


def test_minimal_file_gets_the_defaults(tmp_path):
    path = _write(tmp_path, "organization: acme\nworkspace: web\nstores:\n  - slug: docs\n")
    config = load_config(path)
    assert config.environment == "local" and config.use_shared_index and config.root == "."
    store = config.store("docs")
    assert store.include == ["**/*"] and store.exclude == [] and store.description == ""
    assert (store.chunking.max_tokens, store.chunking.overlap) == (256, 32)
    assert config.limits == LimitsConfig(namespace_limit=100_000, alert_threshold=0.8, max_file_bytes=1_000_000)
    assert config.source_path == path.resolve() and config.root_path == tmp_path.resolve()
    assert config.profile() is BUILTIN_PROFILES["local"]
    assert "source_path" not in config.model_dump()
    with pytest.raises(ConfigError, match="unknown store 'nope'; this lightfast.yml has: docs"):
        config.store("nope")


def test_the_example_file_loads_and_documents_every_field():
    config = load_config(EXAMPLE)
    assert [s.slug for s in config.stores] == ["api-docs", "code"]
    text = EXAMPLE.read_text()
    for model in (LightfastConfig, StoreConfig, ChunkingConfig, IndexProfile, LimitsConfig):
        for name in model.model_fields:
            if name != "source_path":
                assert f"{name}:" in text or f" {name}" in text, f"{model.__name__}.{name} not in the example"


def test_every_field_is_described():
    for model in (LightfastConfig, StoreConfig, ChunkingConfig, IndexProfile, LimitsConfig):
        assert model.__doc__
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no description"


def test_the_repos_own_config_loads():
    assert load_config(Path(__file__).parents[1] / CONFIG_FILENAME).stores


def test_root_is_relative_to_the_file(tmp_path):
    (tmp_path / "conf").mkdir()
    path = _write(tmp_path / "conf", "organization: a\nworkspace: b\nroot: ..\nstores:\n  - slug: docs\n")
    assert load_config(path).root_path == tmp_path.resolve()
    path = _write(tmp_path / "conf", "organization: a\nworkspace: b\nroot: src/app\nstores:\n  - slug: docs\n")
    assert load_config(path).root_path == (tmp_path / "conf" / "src" / "app").resolve()


def test_find_config_walks_upwards(tmp_path):
    config = _write(tmp_path, "organization: a\nworkspace: b\nstores:\n  - slug: d\n")
    deep = tmp_path / "x" / "y"
    deep.mkdir(parents=True)
    assert find_config(deep) == config
    assert find_config(tmp_path) == config
    assert find_config(config) == config  # the file itself is fine too
    (deep / CONFIG_FILENAME).mkdir()  # a folder named lightfast.yml is not a config
    assert find_config(deep) == config


def test_find_config_says_where_it_looked_and_what_to_do(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        find_config()
    assert f"no lightfast.yml in {tmp_path.resolve()} or any folder above it" in str(info.value)
    assert "run `lightfast init`" in str(info.value)


def test_builtin_profiles_follow_the_design():
    assert BUILTIN_NAMES == ("local", "staging", "production") == tuple(BUILTIN_PROFILES)
    local = get_index_config("local")
    assert (local.backend, local.name, local.embedding_provider, local.embedding_model, local.dimension,
            local.metric, local.reranker, local.deletion_protection) == (
        "local", "lightfast-local-v1", "local", "all-MiniLM-L6-v2", 384, "cosine", "score-fusion", False)
    for env in ("staging", "production"):
        p = get_index_config(env)
        assert (p.backend, p.name, p.embedding_provider, p.embedding_model, p.dimension, p.metric,
                p.cloud, p.region, p.deletion_protection, p.reranker, p.rerank_model) == (
            "pinecone", f"lightfast-{env}-v1", "cohere", "embed-english-v3.0", 1024, "cosine",
            "aws", "us-east-1", True, "cohere", "rerank-v3.5")
    assert available_profiles() == ["local", "staging", "production"]
    with pytest.raises(ConfigError, match="unknown environment 'nope'; available: local, staging, production"):
        get_index_config("nope")


def test_builtin_profiles_cannot_be_changed_in_place():
    with pytest.raises(Exception):
        BUILTIN_PROFILES["local"].backend = "pinecone"


def test_extra_profiles_extend_and_override(tmp_path):
    config = load_config(EXAMPLE)
    overflow = get_index_config("production-b", config)
    assert overflow.name == "lightfast-production-v1-b" and overflow.dimension == 1024
    assert available_profiles(config) == ["local", "staging", "production", "production-b"]
    with pytest.raises(ConfigError, match="available: local, staging, production, production-b"):
        get_index_config("production_c", config)
    path = _write(
        tmp_path,
        "organization: a\nworkspace: b\nenvironment: production\nstores:\n  - slug: d\n"
        "indexes:\n  production:\n    backend: pinecone\n    name: my-prod\n"
        "    embedding_provider: cohere\n    embedding_model: embed-v4.0\n    dimension: 1536\n"
        "  production-1536:\n    backend: pinecone\n    name: lightfast-production-v1-1536\n"
        "    embedding_provider: cohere\n    embedding_model: embed-v4.0\n    dimension: 1536\n",
    )
    config = load_config(path)
    assert config.profile().name == "my-prod" and config.profile().deletion_protection is False
    assert get_index_config("staging", config) is BUILTIN_PROFILES["staging"]
    assert get_index_config("production-1536", config).dimension == 1536


def test_the_local_profile_cannot_be_redefined_from_python_either():
    with pytest.raises(Exception, match="cannot be redefined"):
        LightfastConfig(organization="a", workspace="b", stores=[StoreConfig(slug="d")],
                        indexes={"local": BUILTIN_PROFILES["staging"]})


def test_default_config_text_is_commented_and_loads(tmp_path):
    text = default_config_text("acme-corp", "platform: eng", [("docs", ["**/*.md", 'we"ird\\name']),
                                                               ("code", ["**/*.py"])])
    assert text.startswith("# Lightfast configuration") and "# Index profile" in text
    config = load_config(_write(tmp_path, text))
    assert (config.organization, config.workspace) == ("acme-corp", "platform: eng")
    assert config.store("docs").include == ["**/*.md", 'we"ird\\name']
    assert config.environment == "local" and config.use_shared_index is True


def test_default_config_text_refuses_what_would_not_load():
    with pytest.raises(ConfigError, match="both sanitize to namespace"):
        default_config_text("acme", "web", [("api-docs", ["**/*"]), ("api_docs", ["**/*"])])
    with pytest.raises(ConfigError, match="needs at least 1 store"):
        default_config_text("acme", "web", [])


_NAME = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30)


@settings(max_examples=150, deadline=None)
@given(_NAME, _NAME, st.lists(_NAME, min_size=1, max_size=3))
def test_default_config_text_round_trips_any_names(org, ws, slugs):
    try:
        text = default_config_text(org, ws, [(slug, ["**/*.md"]) for slug in slugs])
    except ConfigError:
        return
    data = yaml.safe_load(text)
    assert (data["organization"], data["workspace"]) == (org, ws)
    assert [s["slug"] for s in data["stores"]] == slugs


def _write(folder: Path, text: str, name: str = CONFIG_FILENAME) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def _error(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return str(info.value)
