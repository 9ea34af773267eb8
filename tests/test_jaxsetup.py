"""gflab's JAX set-up: the persistent compilation cache's entries appear whole or not at all."""

from __future__ import annotations

from pathlib import Path

from jax._src.lru_cache import LRUCache

import gflab.sims._jaxsetup  # noqa: F401  (installs the atomic put)


def test_cache_entry_is_never_visible_half_written(tmp_path, monkeypatch):
    """While the bytes are being written, the entry's final name does not exist yet (another
    process reading it would see a miss, not a truncated stream); afterwards it holds them all."""
    cache = LRUCache(str(tmp_path), max_size=-1)
    final = tmp_path / "k1-cache"
    seen = []
    real = Path.write_bytes

    def spy(self, data):
        seen.append((self.name, final.exists()))
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", spy)
    cache.put("k1", b"x" * 1000)
    assert seen and all(not existed for _, existed in seen)
    assert all(name != final.name for name, _ in seen)  # never written in place
    assert cache.get("k1") == b"x" * 1000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k1-cache"]  # no temporary left


def test_cache_put_keeps_the_first_entry(tmp_path):
    cache = LRUCache(str(tmp_path), max_size=-1)
    cache.put("k", b"first")
    cache.put("k", b"second")
    assert cache.get("k") == b"first"
