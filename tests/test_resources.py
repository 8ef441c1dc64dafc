"""Resource search path (flag, $ZSNER_DATA, ./data, ../shared/data) and the dataset registry."""
from __future__ import annotations

from pathlib import Path

import pytest

from zsner import resources
from zsner.errors import ZsnerError
from zsner.resources import (DATASETS, ENV_VAR, dataset, dataset_path, dictionary_path, embedding_path,
                             find_resource, search_roots)

PROBE = "zsner-test-probe/resource.txt"  # a name no real data root holds


@pytest.fixture
def layout(tmp_path, monkeypatch):
    """tmp/{explicit,env,work/data,shared/data}; the working directory is tmp/work (so ../shared/data exists)."""
    roots = {name: tmp_path / name for name in ("explicit", "env", "work/data", "shared/data")}
    for root in roots.values():
        root.mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "work")
    monkeypatch.setenv(ENV_VAR, str(roots["env"]))
    return roots


def plant(root: Path, relative: str = PROBE, text: str = "x") -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_search_roots_order(layout):
    roots = search_roots(layout["explicit"])
    assert roots[:4] == [layout["explicit"], layout["env"], Path("data"), Path("..") / "shared" / "data"]
    repo = Path(resources.__file__).resolve().parent.parent
    assert roots[4:] == [repo / "data", repo.parent / "shared" / "data"]


def test_search_roots_without_flag_or_env_and_duplicates(layout, monkeypatch):
    monkeypatch.delenv(ENV_VAR)
    assert search_roots()[:2] == [Path("data"), Path("..") / "shared" / "data"]
    monkeypatch.setenv(ENV_VAR, str(layout["explicit"]))
    roots = search_roots(layout["explicit"])
    assert roots.count(layout["explicit"]) == 1 and roots[1] == Path("data")  # same folder listed once
    monkeypatch.chdir(Path(resources.__file__).resolve().parent.parent)  # in the repo, ./data is repo/data
    resolved = [root.resolve() for root in search_roots()]
    assert len(resolved) == len(set(resolved))


def test_precedence_flag_env_cwd_shared(layout):
    plant(layout["shared/data"])
    assert find_resource(PROBE, layout["explicit"]).resolve() == (layout["shared/data"] / PROBE).resolve()
    plant(layout["work/data"])
    assert find_resource(PROBE, layout["explicit"]) == Path("data") / PROBE
    plant(layout["env"])
    assert find_resource(PROBE, layout["explicit"]) == layout["env"] / PROBE
    plant(layout["explicit"])
    assert find_resource(PROBE, layout["explicit"]) == layout["explicit"] / PROBE
    assert find_resource(PROBE) == layout["env"] / PROBE  # no flag: the environment comes first


def test_missing_resource_lists_every_place_looked(layout):
    with pytest.raises(ZsnerError) as err:
        find_resource(PROBE, layout["explicit"], what="probe file")
    message = str(err.value)
    assert f"missing probe file '{PROBE}'" in message and "\n" not in message
    for root in search_roots(layout["explicit"]):
        assert str(root / PROBE) in message
    assert message.index(str(layout["explicit"])) < message.index(str(layout["env"])) < message.index(
        str(Path("..") / "shared" / "data" / PROBE))
    assert ENV_VAR in message and "--data-dir" in message


def test_dataset_path_takes_the_flag_first(layout):
    planted = plant(layout["explicit"], "ner/en/eng.train", "EU B-ORG\n")
    assert dataset_path("en", "train", layout["explicit"]) == planted
    plant(layout["env"], "ner/fi/fi.testb.iob2")
    assert dataset_path("fi", "test", layout["explicit"]) == layout["env"] / "ner/fi/fi.testb.iob2"


def test_missing_dataset_file_names_language_and_split(layout, monkeypatch):
    monkeypatch.setattr(resources, "search_roots", lambda explicit=None: [Path(explicit)])
    with pytest.raises(ZsnerError, match="missing ar dev NER file 'ner/ar/ar.testa.iob2'") as err:
        dataset_path("ar", "dev", layout["explicit"])
    assert str(layout["explicit"] / "ner/ar/ar.testa.iob2") in str(err.value)


def test_embedding_and_dictionary_paths(layout):
    env_kv = plant(layout["env"], "embeddings/xx.kv")
    assert embedding_path("xx", layout["explicit"]) == env_kv
    vec = plant(layout["explicit"], "embeddings/xx.vec.gz")
    assert embedding_path("xx", layout["explicit"]) == vec  # the first root holding any format wins
    kv = plant(layout["explicit"], "embeddings/xx.kv")
    assert embedding_path("xx", layout["explicit"]) == kv  # within a root, .kv before .vec.gz
    with pytest.raises(ZsnerError, match="yy word vectors") as err:
        embedding_path("yy", layout["explicit"])
    assert str(layout["explicit"] / "embeddings") in str(err.value) and str(layout["env"]) in str(err.value)
    dictionary = plant(layout["work/data"], "dictionaries/xx-yy.5000-6500.txt")
    assert dictionary_path("xx", "yy", data_dir=layout["explicit"]) == Path("data") / "dictionaries/xx-yy.5000-6500.txt"
    assert dictionary.exists()


def test_registry_specs():
    assert sorted(name for name in DATASETS if ":" not in name) == ["ar", "de", "en", "es", "fi", "nl"]
    assert len([name for name in DATASETS if name.startswith("wikiann:")]) == 15
    assert dataset("wikiann:sw").files["dev"] == "wikiann/sw/dev" and dataset("wikiann:sw").token_prefix == "sw:"
    assert dataset("es").encodings == {"train": "latin-1", "dev": "latin-1", "test": "latin-1"}
    assert dataset("de").encodings == {"train": "utf-8", "dev": "latin-1", "test": "latin-1"}
    assert dataset("nl").docstart == "paper"
    assert all(DATASETS[lang].docstart == "drop-line" for lang in ("en", "es", "de", "fi", "ar"))
    assert dataset("en").files == {"train": "ner/en/eng.train", "dev": "ner/en/eng.testa", "test": "ner/en/eng.testb"}
    assert dataset("fi").files["test"] == "ner/fi/fi.testb.iob2"
    with pytest.raises(ZsnerError, match="unknown language 'xx'; known: ar, de, en, es, fi, nl"):
        dataset("xx")


def test_real_data_found_without_flag(shared_data, monkeypatch, tmp_path):
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.chdir(tmp_path)  # neither ./data nor ../shared/data here: the checkout's ../shared/data is used
    assert dataset_path("en", "train").resolve() == (shared_data / "ner/en/eng.train").resolve()
