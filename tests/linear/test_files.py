"""linear.files.sha256_file: the one file hash of the project (issue 13: one copy per helper)."""

import hashlib

import pytest

from linear import amazon
from linear.files import sha256_file


@pytest.mark.parametrize("size", [0, 3, (1 << 20) - 1, (1 << 20) + 5])  # around one read block
def test_sha256_file_equals_hashlib_on_the_bytes(tmp_path, size):
    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()
    assert sha256_file(str(path)) == hashlib.sha256(data).hexdigest()


def test_known_digest_of_abc(tmp_path):
    (tmp_path / "abc").write_bytes(b"abc")  # FIPS 180-2 test vector
    assert sha256_file(tmp_path / "abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")


def test_one_copy_is_used_by_linear_and_deep():
    pytest.importorskip("torch")
    from deep import checkpoint

    assert checkpoint.sha256_file is sha256_file
    assert amazon.sha256_file is sha256_file
