import collections
import os
import pickle

import pytest

from ernie_pipeline.io.safe_pickle import UnsafePickleError, load_plain, loads_plain


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned > /tmp/ernie_pipeline_pwned",))


def test_refuses_code_execution(tmp_path):
    path = tmp_path / "char_dict.pickle"
    path.write_bytes(pickle.dumps(_Exploit()))
    with pytest.raises(UnsafePickleError, match="char_dict.pickle.*posix.system|char_dict.pickle.*os.system"):
        load_plain(path)
    assert not os.path.exists("/tmp/ernie_pipeline_pwned")


def test_loads_plain_data_and_upstream_defaultdict():
    counts = collections.defaultdict(int, {"中": 3, "a": 1})
    loaded = loads_plain(pickle.dumps(counts))
    assert loaded == {"中": 3, "a": 1} and isinstance(loaded, collections.defaultdict)
    assert loads_plain(pickle.dumps((["x"], {"k": 1}))) == (["x"], {"k": 1})
