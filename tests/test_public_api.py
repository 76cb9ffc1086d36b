import harness


def test_public_api_is_pinned() -> None:
    assert sorted(harness.__all__) == ["HarnessError", "__version__"]
    assert harness.__version__ == "0.1.0"
