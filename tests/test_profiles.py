import pytest

from rmm_lib.profiles import get_profile, progress_enabled


def test_default_profile_is_quick(monkeypatch):
    monkeypatch.delenv("RMM_PROFILE", raising=False)
    assert get_profile().name == "quick" and get_profile().offline


def test_profile_from_environment(monkeypatch):
    monkeypatch.setenv("RMM_PROFILE", "paper")
    assert get_profile().name == "paper" and not get_profile().offline
    monkeypatch.setenv("RMM_DATA_ROOT", "/data/rmm")
    assert get_profile().data_root == "/data/rmm"


def test_unknown_profile_is_refused(monkeypatch):
    monkeypatch.setenv("RMM_PROFILE", "fast")
    with pytest.raises(ValueError, match="quick"):
        get_profile()


def test_progress_switch(monkeypatch):
    monkeypatch.setenv("RMM_PROGRESS", "0")
    assert not progress_enabled() and progress_enabled(True)
    monkeypatch.setenv("RMM_PROGRESS", "1")
    assert progress_enabled()
