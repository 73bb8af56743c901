import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def imdb_source():
    """The real IMDB copy: $IADV_IMDB, else ../shared/data/imdb beside the checkout, else None."""
    candidates = [os.environ.get("IADV_IMDB"), os.path.join(REPO, "..", "shared", "data", "imdb")]
    for path in candidates:
        if path and os.path.exists(path):
            return os.path.abspath(path)
    return None


@pytest.fixture(scope="session")
def real_imdb():
    path = imdb_source()
    if path is None:
        pytest.skip("real IMDB not available (set IADV_IMDB or put it at ../shared/data/imdb)")
    return path


@pytest.fixture(scope="session")
def prepared_real_imdb(real_imdb, tmp_path_factory):
    """The real IMDB prepared once per test session with the default (paper) options."""
    from data_prep.pipeline import prepare_imdb

    out = str(tmp_path_factory.mktemp("imdb") / "prepared")
    prepare_imdb([real_imdb], out, progress=False, log=lambda m: None)
    return out


@pytest.fixture(scope="session")
def synthetic_raw(tmp_path_factory):
    """A small synthetic aclImdb tree (directory containing ``aclImdb/``)."""
    from data_prep.synthetic_corpus import write_synthetic_corpus

    root = tmp_path_factory.mktemp("synthetic_raw")
    write_synthetic_corpus(str(root), n_train=60, n_test=40, n_unsup=80, seed=3)
    return str(root)


@pytest.fixture(scope="session")
def synthetic_prepared(synthetic_raw, tmp_path_factory):
    from data_prep.pipeline import prepare_imdb

    out = str(tmp_path_factory.mktemp("synthetic") / "prepared")
    prepare_imdb([synthetic_raw], out, workers=1, progress=False, log=lambda m: None)
    return out


TINY_REPRODUCTION_ENV = {"PRESET": "tiny", "SAMPLE": "20", "INDICES": "0", "SEEDS": "0 1", "JOBS": "2"}


@pytest.fixture(scope="session")
def tiny_reproduction(tmp_path_factory):
    """``experiments/reproduce_small.sh`` at the tiny preset, seeds 0 and 1, run once per session (a few minutes):
    ``{"root", "env", "result"}`` (the environment the script ran with, its CompletedProcess). Tests after the
    end-to-end one may see the rows that ``lm_term.sh`` added."""
    import subprocess
    import sys

    root = tmp_path_factory.mktemp("tiny_reproduction")
    env = dict(os.environ, RUNS=str(root / "runs"), DATA=str(root / "data"), RAW=str(root / "raw"),
               IADV=os.path.join(os.path.dirname(sys.executable), "iadv"), PYTHON=sys.executable,
               **TINY_REPRODUCTION_ENV)
    result = subprocess.run(["bash", os.path.join(REPO, "experiments", "reproduce_small.sh")], env=env,
                            capture_output=True, text=True, timeout=600)
    return {"root": root, "env": env, "result": result}
