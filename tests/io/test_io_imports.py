"""hebbian.io stays light: importing the whole layer imports neither mlx nor the engine."""

import subprocess
import sys


def test_importing_the_layer_imports_no_mlx():
    code = (
        "import sys\n"
        "import hebbian.io.console, hebbian.io.files, hebbian.io.loading, hebbian.io.markdown\n"
        "import hebbian.io.provenance\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in {'mlx', 'mlx_lm'}\n"
        "               or m.startswith(('hebbian.engine', 'hebbian.models', 'hebbian.studies')))\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
