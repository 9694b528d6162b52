"""The version the server reports is the installed distribution's: pyproject.toml reads it from
the package, so the two cannot drift apart."""

from importlib.metadata import version as dist_version

from hybridlsp import version


def test_the_package_says_the_distributions_version():
    assert version() == dist_version("hybridlsp")
