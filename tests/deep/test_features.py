"""deep.features: pooling, pair layout, batching against one-sentence-at-a-time encoding, the
.npz cache (hit = identical arrays without encoding; any changed row = a miss), labels, and
the honest transfer protocol (test-row labels never change a choice)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deep import features as F
from deep.data import GlueSplit


@pytest.fixture(scope="module")
def tiny():
    return F.load_encoder("tiny-bert")


def _pairs(n: int = 6) -> GlueSplit:
    a = [f"the cat sat on mat {i}" for i in range(n)]
    b = [f"a dog ran {'far' if i % 2 else 'home'} {i}" for i in range(n)]
    return GlueSplit(task="mrpc", split="train", text_a=a, text_b=b,
                     labels=[i % 2 for i in range(n)])


def test_mean_pool_is_the_masked_mean():
    g = torch.Generator().manual_seed(0)
    h = torch.randn(3, 5, 4, generator=g)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]])
    got = F.mean_pool(h, mask).numpy()
    ref = np.stack([h[i, : int(mask[i].sum())].numpy().mean(axis=0) for i in range(3)])
    np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-7)


def test_pair_features_layout():
    rng = np.random.default_rng(1)
    u, v = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    X = F.pair_features(u, v)
    assert X.shape == (4, 12)
    for i in range(4):
        ref = np.concatenate([u[i], v[i], np.abs(u[i] - v[i]), u[i] * v[i]])
        np.testing.assert_array_equal(X[i], ref)
    with pytest.raises(ValueError, match="one shape"):
        F.pair_features(u, v[:, :2])


def test_batched_embedding_equals_one_sentence_at_a_time(tiny):
    enc, tok = tiny
    sents = ["short", "a much longer sentence with many words in it", "short",
             "medium length one", "x"]
    got = F.embed_sentences(sents, enc, tok, max_length=64, batch_tokens=40, progress=False)
    with torch.inference_mode():
        ref = []
        for s in sents:  # no padding at all: plain mean over the sentence's tokens
            b = tok([s], truncation=True, max_length=64, return_tensors="pt")
            ref.append(enc(**b).last_hidden_state[0].mean(dim=0).numpy())
    np.testing.assert_allclose(got, np.stack(ref), rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(got[0], got[2])  # duplicates encoded once, same row


def test_cache_hit_returns_identical_arrays_and_changed_rows_miss(tiny, tmp_path):
    enc, tok = tiny
    rows = _pairs()
    first = F.embed_rows(rows, model="tiny-bert", cache_dir=tmp_path, encoder=enc,
                         tokenizer=tok, progress=False)
    assert not first.cached and first.path is not None and first.path.is_file()
    assert first.X.shape == (6, 4 * 32) and first.X.dtype == np.float32

    class Exploding(torch.nn.Module):
        def forward(self, **kw):  # a hit must not encode anything
            raise AssertionError("the encoder ran on a cache hit")

    hit = F.embed_rows(rows, model="tiny-bert", cache_dir=tmp_path, encoder=Exploding(),
                       tokenizer=tok, progress=False)
    assert hit.cached and hit.path == first.path and hit.key == first.key
    np.testing.assert_array_equal(hit.X, first.X)
    np.testing.assert_array_equal(hit.labels, first.labels)

    edited = GlueSplit(task="mrpc", split="train", text_a=rows.text_a[:-1] + ["changed"],
                       text_b=rows.text_b, labels=rows.labels)
    relabelled = GlueSplit(task="mrpc", split="train", text_a=rows.text_a,
                           text_b=rows.text_b, labels=[1 - y for y in rows.labels])
    fewer = rows.select(range(5))
    for other in (edited, relabelled, fewer):
        miss = F.embed_rows(other, model="tiny-bert", cache_dir=tmp_path, encoder=enc,
                            tokenizer=tok, progress=False)
        assert not miss.cached and miss.key != first.key and miss.path != first.path
    # another model name or max_length is another key too
    assert F.rows_key(rows, "minilm") != F.rows_key(rows, "tiny-bert")
    assert F.rows_key(rows, "tiny-bert", 64) != F.rows_key(rows, "tiny-bert", 128)
    assert len(list(tmp_path.glob("*.npz"))) == 4
    assert not list(tmp_path.glob("*.tmp"))


def test_single_sentence_features_and_glue_loader(tiny, tmp_path):
    enc, tok = tiny
    d = tmp_path / "glue" / "SST-2"
    d.mkdir(parents=True)
    lines = ["sentence\tlabel"] + [f"good film number {i} \t{i % 2}" for i in range(9)]
    (d / "train.tsv").write_text("\n".join(lines) + "\n")
    f = F.glue_features("sst2", "train", model="tiny-bert", subsample=5, seed=3,
                        data_dir=tmp_path / "glue", cache_dir=tmp_path / "c", encoder=enc,
                        tokenizer=tok, progress=False)
    assert f.X.shape == (5, 32) and "5 rows subsampled with seed 3" in f.note
    again = F.glue_features("sst2", "train", model="tiny-bert", subsample=5, seed=3,
                            data_dir=tmp_path / "glue", cache_dir=tmp_path / "c",
                            progress=False)  # hit: no encoder needed, none loaded
    assert again.cached
    np.testing.assert_array_equal(again.X, f.X)
    other = F.glue_features("sst2", "train", model="tiny-bert", subsample=5, seed=4,
                            data_dir=tmp_path / "glue", cache_dir=tmp_path / "c", encoder=enc,
                            tokenizer=tok, progress=False)
    assert not other.cached


def test_signed_labels():
    np.testing.assert_array_equal(F.signed_labels("stsb", np.array([0.0, 2.99, 3.0, 5.0])),
                                  [-1, -1, 1, 1])
    np.testing.assert_array_equal(F.signed_labels("mrpc", np.array([0, 1, 1])), [-1, 1, 1])
    np.testing.assert_array_equal(F.signed_labels("rte", np.array([0, 1])), [1, -1])
    with pytest.raises(ValueError, match="positive class"):
        F.signed_labels("mnli", np.array([0, 1, 2]))


def _gaussian_domains(rng, p=30, N=600, rows=500):
    mu_s = np.zeros(p)
    mu_s[:3] = [1.0, 0.6, 0.3]
    mu_t = 0.8 * mu_s + np.r_[np.zeros(3), 0.4, np.zeros(p - 4)]
    scale = np.linspace(0.5, 1.5, p)

    def draw(m, k):
        y = np.where(rng.random(k) < 0.5, 1.0, -1.0)
        return y[:, None] * m + rng.normal(size=(k, p)) * scale, y

    return draw(mu_s, N), draw(mu_t, rows)


def test_transfer_protocol_test_labels_never_change_a_choice():
    rng = np.random.default_rng(0)
    (Xs, ys), (Xt, yt) = _gaussian_domains(rng)
    kw = dict(ns=(12,), seeds=(1,), batches=2, stratify=False, progress=False,
              alphas=np.linspace(-2, 6, 41), gaussian=False)
    res = F.transfer_protocol(Xs, ys, Xt, yt, **kw)
    from linear import amazon

    train = np.unique(np.concatenate([amazon.split(yt, 12, 1, b, stratify=False)[0]
                                      for b in range(2)]))
    never = np.setdiff1d(np.arange(yt.size), train)
    yt2 = yt.copy()
    yt2[never] = np.where(rng.random(never.size) < 0.5, 1.0, -1.0)
    res2 = F.transfer_protocol(Xs, ys, Xt, yt2, **kw)
    choices = {(r["batch"], r["method"]): (r["alpha"], r["gamma_ft"]) for r in res.records}
    choices2 = {(r["batch"], r["method"]): (r["alpha"], r["gamma_ft"]) for r in res2.records}
    chosen = [k for k in choices if k[1] != "oracle"]
    assert len(chosen) == 2 * 10  # the 9 Table-1 columns but the oracle, + the anisotropic one
    for k in chosen:
        np.testing.assert_equal(choices2[k], choices[k])
    accs = [r["accuracy"] for r in res.records]
    accs2 = [r["accuracy"] for r in res2.records]
    assert accs != accs2  # the test labels did change: the comparison above is not vacuous
    assert {r["split"] for r in res.records} == {"plain permutation"}
    assert "source rows" in res.covariance_origin
