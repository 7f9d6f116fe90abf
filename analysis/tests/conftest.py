import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ANALYSIS = os.path.dirname(HERE)
ROOT = os.path.dirname(ANALYSIS)
sys.path.insert(0, ANALYSIS)
sys.path.insert(0, HERE)


def cli(*args):
    """The analysis commands as vtbench runs them."""
    return subprocess.run(["/usr/bin/python3", os.path.join(ANALYSIS, "cli.py"), *args], capture_output=True,
                          text=True, timeout=600)


@pytest.fixture
def run_cli():
    return cli
