"""deep.data: GLUE readers on the shared TSVs and synthetic MNLI/QQP files, errors with
path:line, the data-folder resolution and hub fallback, seeded splits, tokenisation and
dynamic padding.

References are independent of the reader: row counts from the shared data README, label
histograms and quote counts from a raw byte scan of each file, padding from the Hugging Face
tokenizer's own ``padding="longest"``.
"""

import collections
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from deep.alpha import split_for_alpha
from deep.data import (
    ENV_GLUE_DIR,
    TASKS,
    DynamicPaddingCollator,
    GlueDataNotFound,
    GlueFormatError,
    GlueSplit,
    carve_splits,
    get_task,
    load_glue,
    make_collator,
    read_glue_tsv,
    resolve_glue_dir,
    split_indices,
    subsample_indices,
    tokenize,
)
from deep.glue import reading

SHARED_GLUE = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "glue"


@pytest.fixture(autouse=True)
def _no_env_dir(monkeypatch):
    monkeypatch.delenv(ENV_GLUE_DIR, raising=False)


@pytest.fixture(scope="module")
def glue_dir():
    d = SHARED_GLUE.resolve()
    assert d.is_dir(), f"the shared GLUE folder {d} is missing (see shared/data/README.md)"
    return d


def _raw_rows(path, header):
    """Independent scan: data lines of a TSV as lists of fields (bytes split on tab)."""
    lines = Path(path).read_bytes().decode("utf-8").lstrip("\ufeff").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [ln.split("\t") for ln in lines[1 if header else 0:]]


# ----------------------------------------------------------------------------------------
# the real shared TSVs
# ----------------------------------------------------------------------------------------
# Counts from shared/data/README.md, except MRPC train: the README says 3668 (the GLUE
# figure) but the shared file has 3668 LINES including the header, i.e. 3667 rows (checked
# with a raw line count below).
COUNTS = [
    ("rte", "train", 2490), ("rte", "dev", 277),
    ("mrpc", "train", 3667), ("mrpc", "dev", 408),
    ("sst2", "train", 67349), ("sst2", "dev", 872),
    ("cola", "train", 8551), ("cola", "dev", 1043),
    ("stsb", "train", 5749), ("stsb", "dev", 1500),
    ("qnli", "dev", 5463),
]


@pytest.mark.parametrize("task, split, n", COUNTS)
def test_shared_tsv_row_counts_and_labels(glue_dir, task, split, n):
    spec = get_task(task)
    rows = load_glue(task, split, glue_dir)
    assert len(rows) == n
    assert rows.task == spec.name and rows.split == split
    assert (rows.text_b is not None) == spec.is_pair
    path = glue_dir / spec.dir_name / spec.files[split]
    assert rows.source == str(path)
    raw = _raw_rows(path, header=spec.columns is None)
    assert len(raw) == n
    if spec.is_regression:
        ref = np.array([float(r[-1]) for r in raw])
        np.testing.assert_allclose(rows.labels, ref, rtol=0, atol=0)
        assert all(isinstance(v, float) for v in rows.labels)
    else:
        col = {"mrpc": 0, "cola": 1}.get(task, -1)
        ref = collections.Counter(spec.label_map[r[col]] for r in raw)
        assert collections.Counter(rows.labels) == ref
        assert all(type(v) is int for v in rows.labels)


def test_label_coding_follows_the_hub_convention(glue_dir):
    rte = load_glue("RTE", "dev", glue_dir)
    raw = _raw_rows(glue_dir / "RTE" / "dev.tsv", header=True)
    assert raw[0][-1] == "not_entailment" and rte.labels[0] == 1
    assert rte.text_a[0].startswith("Dana Reeve, the widow")
    assert rte.text_b[0] == "Christopher Reeve had an accident."


def test_mrpc_bom_and_stray_quotes_are_kept(glue_dir):
    path = glue_dir / "MRPC" / "train.tsv"
    assert path.read_bytes()[:3] == b"\xef\xbb\xbf"
    rows = load_glue("mrpc", "train", glue_dir)
    assert rows.text_a[0].startswith("Amrozi accused his brother , whom he called \" the witness")
    assert rows.labels[0] == 1
    raw = _raw_rows(path, header=True)
    with_quote = sum('"' in r[3] or '"' in r[4] for r in raw)
    assert with_quote > 100  # quotes are common: csv quoting would merge rows
    pairs = zip(rows.text_a, rows.text_b, strict=True)
    assert sum('"' in a or '"' in b for a, b in pairs) == with_quote
    dev = load_glue("mrpc", "dev", glue_dir)
    assert dev.text_b[0].startswith('" The foodservice pie business')


def test_cola_has_no_header_and_keeps_its_first_row(glue_dir):
    rows = load_glue("cola", "train", glue_dir)
    first = "Our friends won't buy this analysis, let alone the next one we propose."
    assert rows.text_a[0] == first
    assert rows.labels[0] == 1 and rows.text_b is None


def test_sst2_and_stsb_content(glue_dir):
    sst = load_glue("sst-2", "validation", glue_dir)
    assert sst.text_a[0] == "it 's a charming and often affecting journey . "
    assert sst.labels[:2] == [1, 0]
    sts = load_glue("STS_B", "dev", glue_dir)
    assert sts.text_a[0] == "A man with a hard hat is dancing."
    assert sts.labels[:2] == [5.0, 4.75]
    assert min(sts.labels) >= 0.0 and max(sts.labels) <= 5.0


def test_missing_file_names_the_path(glue_dir):
    with pytest.raises(GlueDataNotFound, match=r"QNLI/train\.tsv: no such file"):
        load_glue("qnli", "train", glue_dir)


# ----------------------------------------------------------------------------------------
# synthetic MNLI and QQP files in the original GLUE layouts
# ----------------------------------------------------------------------------------------
MNLI_TRAIN_HEADER = ("index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\t"
                     "sentence2_binary_parse\tsentence1_parse\tsentence2_parse\tsentence1\t"
                     "sentence2\tlabel1\tgold_label")
MNLI_DEV_HEADER = ("index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\t"
                   "sentence2_binary_parse\tsentence1_parse\tsentence2_parse\tsentence1\t"
                   "sentence2\tlabel1\tlabel2\tlabel3\tlabel4\tlabel5\tgold_label")


def _mnli_row(i, s1, s2, gold, dev):
    parse1 = "( ( " + s1.replace(" ", " ) ( ") + " ) )"
    parse2 = "(ROOT (S " + s2 + "))"
    labels = [gold, gold, "neutral", gold, gold] if dev else [gold]
    return "\t".join([str(i), str(1000 + i), f"{1000 + i}e", "fiction", parse1, parse1,
                      parse2, parse2, s1, s2, *labels, gold])


@pytest.fixture()
def synthetic_dir(tmp_path):
    mnli = tmp_path / "MNLI"
    mnli.mkdir()
    train = [("The cat sat .", 'He said " yes', "entailment"),
             ("A dog ran .", "Nothing moved .", "contradiction"),
             ("It rained .", "Someone got wet .", "neutral")]
    (mnli / "train.tsv").write_text(
        MNLI_TRAIN_HEADER + "\n"
        + "\n".join(_mnli_row(i, *r, dev=False) for i, r in enumerate(train)) + "\n")
    (mnli / "dev_matched.tsv").write_text(
        MNLI_DEV_HEADER + "\n" + _mnli_row(0, "Matched one .", "M .", "neutral", dev=True)
        + "\n" + _mnli_row(1, "Matched two .", "N .", "entailment", dev=True) + "\n")
    (mnli / "dev_mismatched.tsv").write_text(
        MNLI_DEV_HEADER + "\n" + _mnli_row(0, "Mismatched .", "X .", "contradiction", dev=True)
        + "\n")
    qqp = tmp_path / "QQP"
    qqp.mkdir()
    (qqp / "train.tsv").write_text(
        "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n"
        "0\t1\t2\tHow do I learn Python?\tWhat is the best way to learn \"Python\"?\t1\n"
        "1\t3\t4\tWhy is the sky blue?\tWhat is 2+2?\t0\n"
        "2\t5\t6\tIs it \"safe\"?\t\t0\n")
    (qqp / "dev.tsv").write_text(
        "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n7\t8\t9\tA?\tB?\t1\n")
    rte = tmp_path / "RTE"
    rte.mkdir()
    (rte / "train.tsv").write_text("index\tsentence1\tsentence2\tlabel\n"
                                   "0\tSyn one.\tSyn two.\tentailment\n")
    return tmp_path


def test_synthetic_mnli_train_and_both_dev_files(synthetic_dir):
    train = load_glue("mnli", "train", synthetic_dir)
    assert train.text_a == ["The cat sat .", "A dog ran .", "It rained ."]
    assert train.text_b[0] == 'He said " yes'
    assert train.labels == [0, 2, 1]
    matched = load_glue("mnli", "dev", synthetic_dir)
    assert matched.text_a == ["Matched one .", "Matched two ."] and matched.labels == [1, 0]
    assert load_glue("mnli", "dev_matched", synthetic_dir).text_a == matched.text_a
    mm = load_glue("mnli-mm", "dev", synthetic_dir)
    assert mm.text_a == ["Mismatched ."] and mm.labels == [2]
    assert load_glue("mnli", "dev_mismatched", synthetic_dir).text_a == mm.text_a
    assert TASKS["mnli"].num_labels == 3


def test_synthetic_qqp(synthetic_dir):
    rows = load_glue("qqp", "train", synthetic_dir)
    assert rows.text_a == ["How do I learn Python?", "Why is the sky blue?", 'Is it "safe"?']
    assert rows.text_b == ['What is the best way to learn "Python"?', "What is 2+2?", ""]
    assert rows.labels == [1, 0, 0]
    assert len(load_glue("qqp", "dev", synthetic_dir)) == 1
    assert TASKS["qqp"].metrics == ("accuracy", "f1")


# ----------------------------------------------------------------------------------------
# malformed files: path and 1-based line number
# ----------------------------------------------------------------------------------------
def _write(tmp_path, task_dir, name, text):
    d = tmp_path / task_dir
    d.mkdir(exist_ok=True)
    p = d / name
    p.write_text(text)
    return p


@pytest.mark.parametrize(
    "task, task_dir, text, line, what",
    [
        ("rte", "RTE", "index\tsentence1\tsentence2\tlabel\n0\ta\tb\tentailment\n1\ta\tb\n",
         3, "expected 4 tab-separated columns"),
        ("rte", "RTE", "index\tsentence1\tsentence2\tlabel\n0\ta\tb\tentailment\n"
         "1\ta\tb\tmaybe\n", 3, "'maybe' is not a label of task rte"),
        ("stsb", "STS-B", "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\t"
         "sentence1\tsentence2\tscore\n0\tg\tf\ty\to\ts\ts\ta\tb\t4.0\n"
         "1\tg\tf\ty\to\ts\ts\ta\tb\tfive\n", 3, "'five' is not a finite number"),
        ("stsb", "STS-B", "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\t"
         "sentence1\tsentence2\tscore\n0\tg\tf\ty\to\ts\ts\ta\tb\tnan\n", 2, "finite number"),
        ("cola", "CoLA", "gj04\t1\t\tok .\ngj04\t1\tok .\n", 2, "expected 4 tab-separated"),
        ("cola", "CoLA", "gj04\t1\t\tok .\n\ngj04\t0\t*\tbad .\n", 2, "found 0"),
        ("sst2", "SST-2", "sentence\tlabel\nfine .\t1\nbad .\t2\n", 3, "'2' is not a label"),
        ("sst2", "SST-2", "text\tlabel\nfine .\t1\n", 1, "header lacks column"),
        ("qqp", "QQP", "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n"
         "0\t1\t2\ta\tb\n", 2, "expected 6 tab-separated"),
        ("mnli", "MNLI", MNLI_TRAIN_HEADER + "\n" + _mnli_row(0, "a", "b", "-", False) + "\n",
         2, "'-' is not a label of task mnli"),
    ],
)
def test_malformed_rows_report_path_and_line(tmp_path, task, task_dir, text, line, what):
    name = TASKS[task].files["train"]
    path = _write(tmp_path, task_dir, name, text)
    with pytest.raises(GlueFormatError) as err:
        load_glue(task, "train", tmp_path)
    msg = str(err.value)
    assert msg.startswith(f"{path}:{line}: "), msg
    assert what in msg


def test_trailing_blank_lines_are_ignored(tmp_path):
    _write(tmp_path, "SST-2", "train.tsv", "sentence\tlabel\nfine .\t1\n\n\n")
    assert load_glue("sst2", "train", tmp_path).labels == [1]


def test_read_glue_tsv_directly_and_missing_file(tmp_path):
    p = _write(tmp_path, "RTE", "whatever.tsv",
               "index\tsentence1\tsentence2\tlabel\n0\ta\tb\tnot_entailment\n")
    rows = read_glue_tsv(p, "rte", "custom")
    assert (rows.text_a, rows.text_b, rows.labels, rows.split) == (["a"], ["b"], [1], "custom")
    with pytest.raises(GlueDataNotFound, match="nothere.tsv: no such file"):
        read_glue_tsv(tmp_path / "nothere.tsv", "rte")


# ----------------------------------------------------------------------------------------
# tasks, splits and data folder resolution
# ----------------------------------------------------------------------------------------
def test_unknown_task_and_split_list_the_valid_ones():
    with pytest.raises(ValueError, match="task='wnli' is unknown; valid tasks: rte, mrpc"):
        get_task("wnli")
    with pytest.raises(ValueError, match="valid splits: train, dev"):
        load_glue("rte", "test")
    for alias in ("SST-2", "sst_2", "Sst2"):
        assert get_task(alias) is TASKS["sst2"]


def test_registry_fields():
    assert TASKS["stsb"].is_regression and TASKS["stsb"].num_labels == 1
    assert TASKS["cola"].primary_metric == "matthews"
    assert TASKS["mrpc"].metrics == ("accuracy", "f1")
    for spec in TASKS.values():
        assert len(spec.text_columns) in (1, 2)
        assert "train" in spec.files and "dev" in spec.files
        assert set(spec.hub_splits) == set(spec.files)
        assert len(spec.hub_text_columns) == len(spec.text_columns)
        if not spec.is_regression:
            assert sorted(spec.label_map.values()) == list(range(spec.num_labels))


def test_env_var_and_argument_precedence(synthetic_dir, glue_dir, monkeypatch):
    monkeypatch.setenv(ENV_GLUE_DIR, str(synthetic_dir))
    assert resolve_glue_dir() == synthetic_dir
    assert load_glue("rte", "train").text_a == ["Syn one."]  # env beats the shared default
    assert len(load_glue("rte", "train", glue_dir)) == 2490  # argument beats env
    monkeypatch.setenv(ENV_GLUE_DIR, "")
    assert resolve_glue_dir() == glue_dir  # empty env var ignored: shared default


def test_named_folder_must_exist(tmp_path, monkeypatch):
    missing = tmp_path / "nope"
    with pytest.raises(GlueDataNotFound, match=r"data_dir=.*nope.*no such folder.*--data-dir"):
        load_glue("rte", "train", missing)
    monkeypatch.setenv(ENV_GLUE_DIR, str(missing))
    with pytest.raises(GlueDataNotFound, match=f"{ENV_GLUE_DIR}=.*no such folder"):
        load_glue("rte", "train")


@pytest.fixture()
def no_local_folder(tmp_path, monkeypatch):
    # patched where it is defined (deep.data only re-exports since the split into deep.glue)
    monkeypatch.setattr(reading, "_default_glue_dir", lambda: tmp_path / "absent")
    assert resolve_glue_dir() is None


def test_hub_fallback_without_datasets_says_how_to_point_at_tsvs(no_local_folder, monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)  # import fails
    with pytest.raises(GlueDataNotFound) as err:
        load_glue("rte", "train")
    msg = str(err.value)
    for needle in ("'datasets' package", "--data-dir", ENV_GLUE_DIR, "nyu-mll/glue"):
        assert needle in msg


def test_hub_fallback_offline_failure_is_wrapped(no_local_folder, monkeypatch):
    fake = types.ModuleType("datasets")

    def load_dataset(*args, **kwargs):
        raise ConnectionError("Couldn't reach the Hugging Face Hub (offline)")

    fake.load_dataset = load_dataset
    monkeypatch.setitem(sys.modules, "datasets", fake)
    with pytest.raises(GlueDataNotFound, match=r"ConnectionError.*--data-dir PATH"):
        load_glue("sst2", "dev")


def test_hub_fallback_maps_columns_and_splits(no_local_folder, monkeypatch):
    calls = []
    fake = types.ModuleType("datasets")

    def load_dataset(path, name, split):
        calls.append((path, name, split))
        return {"premise": ["p0", "p1"], "hypothesis": ["h0", "h1"], "label": [2, 0],
                "idx": [0, 1]}

    fake.load_dataset = load_dataset
    monkeypatch.setitem(sys.modules, "datasets", fake)
    rows = load_glue("mnli_mm", "dev")
    assert calls == [("nyu-mll/glue", "mnli", "validation_mismatched")]
    assert (rows.text_a, rows.text_b, rows.labels) == (["p0", "p1"], ["h0", "h1"], [2, 0])
    assert rows.source == "hub:nyu-mll/glue/mnli/validation_mismatched"
    fake.load_dataset = lambda path, name, split: {"premise": ["p"], "hypothesis": ["h"],
                                                   "label": [-1]}
    with pytest.raises(GlueFormatError, match=r"labels \[-1\] outside 0..2"):
        load_glue("mnli", "dev")


# ----------------------------------------------------------------------------------------
# seeded splits and subsampling
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("n, fraction, seed", [(2490, 0.2, 42), (10, 0.5, 0), (3, 0.01, 7)])
def test_split_indices_disjoint_deterministic_and_sized(n, fraction, seed):
    kept, held = split_indices(n, fraction, seed)
    assert kept.dtype == held.dtype == np.int64
    assert len(np.intersect1d(kept, held)) == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([kept, held])), np.arange(n))
    assert len(held) == min(max(round(fraction * n), 1), n - 1)
    assert np.all(np.diff(kept) > 0) and np.all(np.diff(held) > 0)
    again = split_indices(n, fraction, seed)
    np.testing.assert_array_equal(again[1], held)
    # the same alpha split as deep.alpha.split_for_alpha (another implementation)
    ref_adapter, ref_alpha = split_for_alpha(n, fraction, seed)
    np.testing.assert_array_equal(held, ref_alpha)
    np.testing.assert_array_equal(kept, ref_adapter)


def test_split_indices_depends_on_seed():
    assert not np.array_equal(split_indices(1000, 0.2, 0)[1], split_indices(1000, 0.2, 1)[1])


@pytest.mark.parametrize("fraction", [0, 1, 1.0, -0.1, 1.5, float("nan"), True, "0.2", None])
def test_split_fraction_validated(fraction):
    with pytest.raises(ValueError, match=r"fraction=.* allowed the open interval \(0, 1\)"):
        split_indices(100, fraction, 0)


@pytest.mark.parametrize("n, seed", [(1, 0), (100, -1), (2.5, 0), (100, 1.5)])
def test_split_n_and_seed_validated(n, seed):
    with pytest.raises(ValueError, match="n=|seed="):
        split_indices(n, 0.2, seed)


def test_carve_splits_alpha_then_validation():
    parts = carve_splits(1000, {"alpha": 0.2, "val": 0.1}, seed=42)
    assert list(parts) == ["alpha", "val", "rest"]
    assert [len(parts[k]) for k in parts] == [200, 100, 700]
    allrows = np.concatenate(list(parts.values()))
    np.testing.assert_array_equal(np.sort(allrows), np.arange(1000))
    # alpha rows do not depend on whether a validation split is carved after them
    np.testing.assert_array_equal(parts["alpha"], split_indices(1000, 0.2, 42)[1])
    with pytest.raises(ValueError, match="at least one row must remain"):
        carve_splits(10, {"a": 0.6, "b": 0.4}, 0)
    with pytest.raises(ValueError, match=r"fraction\['val'\]=0"):
        carve_splits(10, {"alpha": 0.2, "val": 0}, 0)
    with pytest.raises(ValueError, match="'rest'"):
        carve_splits(10, {"rest": 0.2}, 0)


@pytest.mark.parametrize("n, fraction, seed", [(2490, 0.2, 42), (67349, 0.1, 3), (3, 0.9, 0)])
def test_every_split_is_a_prefix_of_the_documented_permutation(n, fraction, seed):
    # reference: the recipe written out with NumPy (split_indices, carve_splits,
    # subsample_indices and split_for_alpha now share deep.splits.permutation_blocks)
    perm = np.random.default_rng(seed).permutation(n)
    k = min(max(round(fraction * n), 1), n - 1)
    kept, held = split_indices(n, fraction, seed)
    np.testing.assert_array_equal(held, np.sort(perm[:k]))
    np.testing.assert_array_equal(kept, np.sort(perm[k:]))
    adapter, alpha = split_for_alpha(n, fraction, seed)
    np.testing.assert_array_equal(alpha, np.sort(perm[:k]))
    np.testing.assert_array_equal(adapter, np.sort(perm[k:]))
    np.testing.assert_array_equal(split_for_alpha(n, fraction, seed, paper_compat=True)[0],
                                  np.arange(n))
    np.testing.assert_array_equal(subsample_indices(n, k, seed), np.sort(perm[:k]))
    if k < n - 1 and max(round(fraction * n), 1) == k:
        parts = carve_splits(n, {"alpha": fraction, "val": 1 / n}, seed)
        np.testing.assert_array_equal(parts["alpha"], np.sort(perm[:k]))
        np.testing.assert_array_equal(parts["val"], np.sort(perm[k:k + 1]))
        np.testing.assert_array_equal(parts["rest"], np.sort(perm[k + 1:]))


def test_split_indices_are_pinned():
    # indices written down before the three split functions were unified (commit 63eab3d):
    # resumed runs and committed study outputs rely on them staying bitwise the same
    assert split_indices(12, 0.25, 42)[1].tolist() == [0, 6, 7]
    assert split_for_alpha(12, 0.25, 42)[1].tolist() == [0, 6, 7]
    parts = carve_splits(12, {"alpha": 0.25, "val": 0.25}, 42)
    assert {k: v.tolist() for k, v in parts.items()} == {
        "alpha": [0, 6, 7], "val": [3, 9, 11], "rest": [1, 2, 4, 5, 8, 10]}
    assert subsample_indices(12, 4, 3).tolist() == [2, 7, 10, 11]


def test_subsample_is_seeded_ordered_and_matches_full_rows(glue_dir):
    idx = subsample_indices(67349, 8000, seed=3)
    assert len(idx) == 8000 and len(np.unique(idx)) == 8000 and np.all(np.diff(idx) > 0)
    np.testing.assert_array_equal(idx, subsample_indices(67349, 8000, seed=3))
    assert not np.array_equal(idx, subsample_indices(67349, 8000, seed=4))
    np.testing.assert_array_equal(subsample_indices(5, 9, 0), np.arange(5))
    full = load_glue("sst2", "dev", glue_dir)
    sub = load_glue("sst2", "dev", glue_dir, subsample=100, seed=1)
    ref = subsample_indices(872, 100, 1)
    assert sub.text_a == [full.text_a[i] for i in ref]
    assert sub.labels == [full.labels[i] for i in ref]
    with pytest.raises(ValueError, match="subsample=0 is invalid"):
        load_glue("sst2", "dev", glue_dir, subsample=0)


def test_glue_split_select_and_validation():
    rows = GlueSplit("rte", "train", ["a", "b", "c"], ["x", "y", "z"], [0, 1, 0])
    sub = rows.select(np.array([2, 0]))
    assert (sub.text_a, sub.text_b, sub.labels) == (["c", "a"], ["z", "x"], [0, 0])
    with pytest.raises(IndexError, match="out of range"):
        rows.select([3])
    with pytest.raises(ValueError, match="differ in length"):
        GlueSplit("rte", "train", ["a"], ["x", "y"], [0])


# ----------------------------------------------------------------------------------------
# tokenisation and dynamic padding
# ----------------------------------------------------------------------------------------
def test_collator_pads_to_longest_row():
    feats = [{"input_ids": [5, 6, 7], "attention_mask": [1, 1, 1], "labels": 1},
             {"input_ids": [8, 9, 10, 11, 12], "attention_mask": [1, 1, 1, 1, 1], "labels": 0}]
    b = DynamicPaddingCollator(pad_token_id=3)(feats)
    assert b["input_ids"].tolist() == [[5, 6, 7, 3, 3], [8, 9, 10, 11, 12]]
    assert b["attention_mask"].tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]
    assert b["labels"].dtype == torch.long and b["labels"].tolist() == [1, 0]
    assert b["input_ids"].dtype == torch.long
    left = DynamicPaddingCollator(3, padding_side="left", pad_to_multiple_of=4)(feats)
    assert left["input_ids"].tolist() == [[3, 3, 3, 3, 3, 5, 6, 7], [3, 3, 3, 8, 9, 10, 11, 12]]
    reg = DynamicPaddingCollator(0, regression=True)(
        [{"input_ids": [1], "labels": 4.75}, {"input_ids": [1, 2], "labels": 0.5}])
    assert reg["labels"].dtype == torch.float32 and reg["labels"].tolist() == [4.75, 0.5]
    with pytest.raises(ValueError, match="pad_token_id=None"):
        DynamicPaddingCollator(None)
    with pytest.raises(ValueError, match="padding_side='middle'"):
        DynamicPaddingCollator(0, padding_side="middle")
    with pytest.raises(ValueError, match="attention_mask has 1 tokens"):
        DynamicPaddingCollator(0)([{"input_ids": [1, 2], "attention_mask": [1], "labels": 0}])


@pytest.fixture(scope="module")
def minilm_tokenizer():
    from deep.models import load_tokenizer

    return load_tokenizer("minilm")


def test_tokenize_and_collate_equal_hf_padding_on_rte_pairs(glue_dir, minilm_tokenizer):
    tok = minilm_tokenizer
    rows = load_glue("rte", "dev", glue_dir).select(range(16))
    ds = tokenize(rows, tok, max_length=64)
    assert len(ds) == 16 and set(ds.keys) == {"input_ids", "token_type_ids", "attention_mask"}
    assert max(ds.lengths) == 64 and min(ds.lengths) < 64  # truncation happened, not padding
    batch = make_collator(tok, "rte")([ds[i] for i in range(16)])
    ref = tok(rows.text_a, rows.text_b, truncation=True, max_length=64, padding="longest",
              return_tensors="pt")
    for key in ("input_ids", "token_type_ids", "attention_mask"):
        torch.testing.assert_close(batch[key], ref[key], rtol=0, atol=0)
    assert batch["labels"].tolist() == rows.labels[:16]
    assert batch["token_type_ids"].max() == 1  # second segment marked


def test_dataloader_with_single_sentences_and_regression(glue_dir, minilm_tokenizer):
    tok = minilm_tokenizer
    sst = tokenize(load_glue("sst2", "dev", glue_dir).select(range(10)), tok, max_length=128)
    loader = torch.utils.data.DataLoader(sst, batch_size=4, collate_fn=make_collator(tok, "sst2"))
    batches = list(loader)
    assert [b["input_ids"].shape[0] for b in batches] == [4, 4, 2]
    for b in batches:  # padded to the longest row of each batch, not to max_length
        assert b["input_ids"].shape[1] == int(b["attention_mask"].sum(1).max())
    assert "token_type_ids" in batches[0] and int(batches[0]["token_type_ids"].max()) == 0
    sts = tokenize(load_glue("stsb", "dev", glue_dir).select(range(3)), tok, max_length=32)
    b = make_collator(tok, "stsb")([sts[i] for i in range(3)])
    assert b["labels"].dtype == torch.float32
    torch.testing.assert_close(b["labels"], torch.tensor([5.0, 4.75, 5.0]))


@pytest.mark.parametrize("task", ["rte", "sst2", "stsb"])
@pytest.mark.parametrize("side, multiple", [("right", None), ("right", 8), ("left", None)])
def test_collator_equals_transformers_data_collator_with_padding(glue_dir, task, side, multiple):
    from transformers import DataCollatorWithPadding

    from deep.models import load_tokenizer

    tok = load_tokenizer("minilm")  # a fresh one: padding_side is changed below
    tok.padding_side = side
    ds = tokenize(load_glue(task, "dev", glue_dir).select(range(48)), tok, max_length=128)
    ours = make_collator(tok, task, pad_to_multiple_of=multiple)
    ref = DataCollatorWithPadding(tok, pad_to_multiple_of=multiple, return_tensors="pt")
    for start in range(0, 48, 16):
        items = [ds[i] for i in range(start, start + 16)]
        a, b = ours(items), dict(ref(items))
        assert list(a) == list(b)
        for key in a:
            assert a[key].dtype == b[key].dtype, key
            torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
    # where they differ (the reason deep.glue.batching keeps its own collator)
    ints = [{"input_ids": [101, 7, 102], "attention_mask": [1, 1, 1], "labels": 3},
            {"input_ids": [101, 102], "attention_mask": [1, 1], "labels": 4}]
    assert make_collator(tok, "stsb")(ints)["labels"].dtype == torch.float32
    assert ref(ints)["labels"].dtype == torch.int64
    short_mask = [{"input_ids": [101, 7, 102], "attention_mask": [1], "labels": 0}]
    bad = ref(short_mask)  # accepted silently: the mask no longer matches the tokens
    assert bad["attention_mask"].shape != bad["input_ids"].shape
    with pytest.raises(ValueError, match="attention_mask has 1 tokens"):
        ours(short_mask)


def test_deep_data_re_exports_the_glue_package():
    import deep.data
    import deep.glue

    assert set(deep.data.__all__) <= set(deep.glue.__all__)
    for name in deep.glue.__all__:
        assert getattr(deep.glue, name) is getattr(deep.data, name, getattr(deep.glue, name))
    for name in deep.data.__all__:
        assert getattr(deep.data, name) is getattr(deep.glue, name), name


def test_tokenize_validates_and_handles_empty(minilm_tokenizer):
    rows = GlueSplit("sst2", "dev", ["a b"], None, [1])
    with pytest.raises(ValueError, match="max_length=0 is invalid"):
        tokenize(rows, minilm_tokenizer, 0)
    empty = tokenize(GlueSplit("sst2", "dev", [], None, []), minilm_tokenizer, 16)
    assert len(empty) == 0


def test_pair_separator_for_tokenizers_without_sep_token():
    from deep.models import tiny_tokenizer

    class Recorder:
        """A tokenizer stand-in without sep_token that records what it is given."""

        sep_token = None

        def __init__(self):
            self.seen = None

        def __call__(self, a, b=None, truncation=True, max_length=None):
            self.seen = (list(a), None if b is None else list(b))
            return {"input_ids": [[1]] * len(a), "attention_mask": [[1]] * len(a)}

    rows = GlueSplit("rte", "dev", ["first"], ["second"], [0])
    rec = Recorder()
    tokenize(rows, rec, 8)
    assert rec.seen == (["first"], ["\nsecond"])
    tokenize(rows, rec, 8, pair_separator=None)
    assert rec.seen == (["first"], ["second"])
    tokenize(rows, rec, 8, pair_separator=" | ")
    assert rec.seen == (["first"], [" | second"])
    bert = tiny_tokenizer("bert")  # has a sep token: the text is passed unchanged
    ds = tokenize(rows, bert, 32)
    assert ds[0]["input_ids"] == bert("first", "second")["input_ids"]


def test_make_collator_needs_a_pad_token():
    class NoPad:
        pad_token_id = None

    with pytest.raises(ValueError, match="no pad token.*load_tokenizer"):
        make_collator(NoPad(), "rte")
