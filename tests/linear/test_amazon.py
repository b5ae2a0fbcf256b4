"""Amazon Review loader: shapes, labels, preprocessing, checksums, split determinism."""

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from sklearn.preprocessing import StandardScaler

from linear import amazon

ROWS = {"books": (2000, 1000), "dvd": (1999, 1000), "elec": (1998, 1000), "kitchen": (1999, 1000)}
SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


@pytest.mark.parametrize("domain", amazon.DOMAINS)
def test_shapes_and_label_balance(domain):
    d = amazon.load(domain)
    rows, n_label0 = ROWS[domain]
    assert d.X.shape == (rows, 400) and d.y.shape == (rows,)
    assert np.sum(d.labels == 0) == n_label0
    assert np.sum(d.y == 1) == n_label0  # label 0 -> +1
    np.testing.assert_array_equal(d.y, 1 - 2 * d.labels)


def test_standardisation_equals_sklearn():
    raw = scipy.io.loadmat(amazon.package_data_dir() / "dvd_400.mat")["fts"]
    np.testing.assert_allclose(amazon.load("dvd").X, StandardScaler().fit_transform(raw),
                               rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(amazon.load("dvd", standardized=False).X, raw)


def test_alias_and_readonly():
    assert amazon.load("book").name == "books"
    with pytest.raises(ValueError):
        amazon.load("books").X[0, 0] = 1.0


def test_unknown_domain_lists_allowed():
    with pytest.raises(ValueError, match="unknown domain 'music'.*books"):
        amazon.load("music")


def test_package_checksums_match_shared_data():
    sums = amazon.expected_checksums()
    assert set(sums) == {f"{d}_400.mat" for d in amazon.DOMAINS}
    for name, digest in sums.items():
        data = (amazon.package_data_dir() / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == digest
    shared = SHARED / "SHA256SUMS"
    if not shared.is_file():
        pytest.skip("shared data folder not present")
    listed = dict(line.split()[::-1] for line in shared.read_text().splitlines() if line.strip())
    for name, digest in sums.items():
        assert listed[f"amazon_review/{name}"] == digest


def test_missing_file_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="kitchen_400.mat"):
        amazon.load("kitchen", data_dir=tmp_path)


def test_corrupt_file_checksum_error_names_the_file(tmp_path):
    src = amazon.package_data_dir() / "elec_400.mat"
    bad = tmp_path / "elec_400.mat"
    shutil.copy(src, bad)
    data = bytearray(bad.read_bytes())
    data[-10] ^= 0xFF
    bad.write_bytes(bytes(data))
    with pytest.raises(amazon.ChecksumError, match="elec_400.mat"):
        amazon.load("elec", data_dir=tmp_path)


def test_good_copy_in_other_folder_loads(tmp_path):
    shutil.copy(amazon.package_data_dir() / "dvd_400.mat", tmp_path / "dvd_400.mat")
    np.testing.assert_array_equal(amazon.load("dvd", data_dir=tmp_path).X, amazon.load("dvd").X)


@pytest.mark.parametrize("stratify", [True, False])
def test_split_determinism_and_partition(stratify):
    y = amazon.load("elec").y
    tr, te = amazon.split(y, 20, seed=123, batch=4, stratify=stratify)
    tr2, te2 = amazon.split(y, 20, seed=123, batch=4, stratify=stratify)
    np.testing.assert_array_equal(tr, tr2)
    np.testing.assert_array_equal(te, te2)
    assert tr.size == 20 and te.size == y.size - 20
    assert np.intersect1d(tr, te).size == 0
    np.testing.assert_array_equal(np.sort(np.r_[tr, te]), np.arange(y.size))
    other, _ = amazon.split(y, 20, seed=123, batch=5, stratify=stratify)
    assert set(other) != set(tr)
    if not stratify:  # documented recipe: first n rows of default_rng(10000 seed + batch)
        perm = np.random.default_rng(10000 * 123 + 4).permutation(y.size)
        np.testing.assert_array_equal(tr, perm[:20])


def test_stratified_split_is_balanced_even_if_sorted():
    y = np.repeat([1.0, -1.0], [1000, 999])  # sorted by label, as in the files
    for b in range(5):
        tr, _ = amazon.split(y, 21, seed=1, batch=b)
        assert np.sum(y[tr] == -1) == 10 and np.sum(y[tr] == 1) == 11


@pytest.mark.parametrize("kw,match", [({"n_train": 1}, "n_train"), ({"n_train": 5000}, "n_train"),
                                      ({"seed": -1}, "seed"), ({"batch": 1.5}, "batch")])
def test_split_bad_arguments(kw, match):
    args = {"y": np.repeat([-1, 1], 50), "n_train": 10, "seed": 0, "batch": 0} | kw
    with pytest.raises((ValueError, TypeError), match=match):
        amazon.split(**args)
