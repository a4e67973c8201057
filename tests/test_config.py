"""lightfast.yml: valid files load; each malformed file fails with its file, line, field and why."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import find_config, load_config
from core.errors import ConfigError
from core.profiles import BUILTIN_NAMES, get_index_config

DATA = Path(__file__).parent / "data" / "config"

# file -> (line, fragment of the message)
MALFORMED = {
    "01_yaml_syntax.yml": (3, "invalid YAML: expected ',' or ']'"),
    "02_not_a_mapping.yml": (1, "expected a mapping of settings"),
    "03_empty.yml": (1, "the file is empty"),
    "04_unknown_top_key.yml": (3, "storse: unknown field 'storse' (did you mean 'stores'?)"),
    "05_unknown_store_key.yml": (5, "stores[0].inclde: unknown field 'inclde' (did you mean 'include'?)"),
    "06_missing_organization.yml": (1, "organization: required field is missing"),
    "07_missing_stores.yml": (1, "stores: required field is missing"),
    "08_empty_stores.yml": (3, "stores: List should have at least 1 item"),
    "09_store_missing_slug.yml": (4, "stores[0].slug: required field is missing"),
    "10_max_tokens_not_int.yml": (6, "stores[0].chunking.max_tokens: Input should be a valid integer"),
    "11_overlap_too_big.yml": (7, "stores[0].chunking.overlap: must be smaller than max_tokens (256), got 300"),
    "12_max_tokens_too_small.yml": (5, "max_tokens: Input should be greater than or equal to 16, got 4"),
    "13_duplicate_slug.yml": (6, "stores[2].slug: duplicate store 'docs' (also stores[0])"),
    "14_empty_glob.yml": (5, "stores[0].include: glob 2 is empty"),
    "15_unknown_environment.yml": (3, "environment: unknown profile 'prod'; available: local, staging, production"),
    "16_duplicate_key.yml": (3, "duplicate key 'organization' (first on line 1)"),
    "17_tab_indent.yml": (4, "indent with spaces, not tabs"),
    "18_collision.yml": (3, "both sanitize to namespace 'org_acme:ws_web:store_apidocs'"),
    "19_slug_no_letters.yml": (4, "stores[0].slug: store slug '---' has no letters or digits"),
    "20_stores_not_a_list.yml": (3, "stores: Input should be a valid list"),
    "21_bad_profile_backend.yml": (8, "indexes.mine.backend: Input should be 'local' or 'pinecone', got 'chroma'"),
    "22_profile_missing_dimension.yml": (6, "indexes.mine.dimension: required field is missing"),
    "23_blank_workspace.yml": (2, "workspace: must not be empty"),
    "24_bool_not_bool.yml": (3, "use_shared_index: Input should be a valid boolean"),
    "25_threshold_out_of_range.yml": (6, "limits.alert_threshold: Input should be less than or equal to 1"),
    "26_org_not_ascii_letters.yml": (1, "organization: organization '!!!' has no letters or digits"),
    "27_not_utf8.yml": (1, "not valid UTF-8"),
}


def test_every_data_file_has_an_expectation():
    assert {p.name for p in DATA.glob("*.yml")} == set(MALFORMED)


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_config_names_file_line_and_field(name):
    line, fragment = MALFORMED[name]
    with pytest.raises(ConfigError) as info:
        load_config(DATA / name)
    message = str(info.value)
    assert f"{DATA / name}:{line}: " in message
    assert fragment in message
    assert "Traceback" not in message and "pydantic" not in message


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "nope.yml")
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)


def test_minimal_file_gets_the_defaults(tmp_path):
    path = tmp_path / "lightfast.yml"
    path.write_text("organization: acme\nworkspace: web\nstores:\n  - slug: docs\n")
    config = load_config(path)
    assert config.environment == "local" and config.use_shared_index
    store = config.store("docs")
    assert store.include == ["**/*"] and store.chunking.max_tokens == 256 and store.chunking.overlap == 32
    assert config.root_path == tmp_path.resolve()
    with pytest.raises(ConfigError, match="unknown store 'nope'; this lightfast.yml has: docs"):
        config.store("nope")


def test_root_is_relative_to_the_file(tmp_path):
    (tmp_path / "conf").mkdir()
    path = tmp_path / "conf" / "lightfast.yml"
    path.write_text("organization: a\nworkspace: b\nroot: ..\nstores:\n  - slug: docs\n")
    assert load_config(path).root_path == tmp_path.resolve()


def test_find_config_walks_upwards(tmp_path):
    (tmp_path / "lightfast.yml").write_text("organization: a\nworkspace: b\nstores:\n  - slug: d\n")
    deep = tmp_path / "x" / "y"
    deep.mkdir(parents=True)
    assert find_config(deep) == tmp_path / "lightfast.yml"


def test_find_config_says_what_to_do(tmp_path):
    with pytest.raises(ConfigError, match="lightfast init"):
        find_config(tmp_path)


def test_builtin_profiles_follow_the_design():
    local = get_index_config("local")
    assert (local.backend, local.name, local.embedding_model, local.dimension) == (
        "local", "lightfast-local-v1", "all-MiniLM-L6-v2", 384)
    for env in ("staging", "production"):
        p = get_index_config(env)
        assert (p.backend, p.name, p.embedding_provider, p.embedding_model, p.dimension, p.metric,
                p.cloud, p.region, p.deletion_protection) == (
            "pinecone", f"lightfast-{env}-v1", "cohere", "embed-english-v3.0", 1024, "cosine",
            "aws", "us-east-1", True)
    assert BUILTIN_NAMES == ("local", "staging", "production")
    with pytest.raises(ConfigError, match="available: local, staging, production"):
        get_index_config("nope")


def test_extra_profiles_extend_and_override(tmp_path):
    config = load_config(Path(__file__).parents[1] / "lightfast.example.yml")
    overflow = get_index_config("production_b", config)
    assert overflow.name == "lightfast-production-v1-b" and overflow.dimension == 1024
    path = tmp_path / "lightfast.yml"
    path.write_text(
        "organization: a\nworkspace: b\nenvironment: production\nstores:\n  - slug: d\n"
        "indexes:\n  production:\n    backend: pinecone\n    name: my-prod\n"
        "    embedding_provider: cohere\n    embedding_model: embed-v4.0\n    dimension: 1536\n"
    )
    assert load_config(path).profile().name == "my-prod"
