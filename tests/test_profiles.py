import pytest

from rmm_lib.profiles import get_profile, profile_from_env, progress_enabled


def test_default_profile_is_quick(monkeypatch):
    monkeypatch.delenv("RMM_PROFILE", raising=False)
    assert get_profile().name == "quick" and get_profile().offline
    assert profile_from_env().name == "quick" and profile_from_env().offline


def test_get_profile_is_pure(monkeypatch):
    # get_profile never reads the environment: only the entry points (profile_from_env) do
    monkeypatch.setenv("RMM_PROFILE", "paper")
    monkeypatch.setenv("RMM_DATA_ROOT", "/data/rmm")
    assert get_profile().name == "quick" and get_profile().data_root != "/data/rmm"
    assert get_profile("paper").name == "paper" and not get_profile("paper").offline
    assert get_profile("paper", data_root="/elsewhere").data_root == "/elsewhere"


def test_profile_from_environment(monkeypatch):
    monkeypatch.delenv("RMM_DATA_ROOT", raising=False)
    monkeypatch.setenv("RMM_PROFILE", "paper")
    assert profile_from_env().name == "paper" and not profile_from_env().offline
    monkeypatch.setenv("RMM_DATA_ROOT", "/data/rmm")
    assert profile_from_env().data_root == "/data/rmm"
    assert profile_from_env("quick").name == "quick"  # an explicit name wins over RMM_PROFILE


def test_unknown_profile_is_refused(monkeypatch):
    monkeypatch.setenv("RMM_PROFILE", "fast")
    with pytest.raises(ValueError, match="quick"):
        profile_from_env()
    with pytest.raises(ValueError, match="quick"):
        get_profile("fast")


def test_progress_switch(monkeypatch):
    monkeypatch.setenv("RMM_PROGRESS", "0")
    assert not progress_enabled() and progress_enabled(True)
    monkeypatch.setenv("RMM_PROGRESS", "1")
    assert progress_enabled()
