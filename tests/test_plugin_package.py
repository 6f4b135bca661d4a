"""A plugin project with a ``models`` package of its own installs and runs beside stickerbench.

Most ML repositories have a top-level ``models/``; stickerbench installs its folders as
``stickerbench.models`` and ``stickerbench.adapters`` so that neither shadows the other.
"""

import json
import os
import subprocess
import sys
import textwrap


def _write_plugin_project(root):
    (root / "models").mkdir(parents=True)
    (root / "models" / "__init__.py").write_text('WEIGHT = -1.0  # the plugin\'s own "models" package\n')
    (root / "sticker_plugin").mkdir()
    (root / "sticker_plugin" / "__init__.py").write_text(
        textwrap.dedent("""
        import numpy as np
        from models import WEIGHT
        from benchmark import ScoreBatch, SelectorMeta

        class IdSelector:
            description = "prefers small sticker ids"

            def __init__(self):
                self.meta = SelectorMeta(name="plugin-ids", description=self.description)

            def prepare(self, stickers):
                pass

            def score(self, queries):
                return ScoreBatch(np.array([[WEIGHT * int(c) for c in q.candidates] for q in queries], float))

        def build(ctx) -> IdSelector:
            return IdSelector()
    """)
    )
    (root / "pyproject.toml").write_text(
        textwrap.dedent("""
        [build-system]
        requires = ["setuptools"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "sticker-plugin"
        version = "0.1"

        [project.entry-points."stickerbench.selectors"]
        plugin-ids = "sticker_plugin:build"

        [tool.setuptools]
        packages = ["models", "sticker_plugin"]
    """)
    )


def test_a_plugin_with_its_own_models_package_runs_beside_the_builtins(tmp_path, mini_mod_dir):
    project, target = tmp_path / "project", tmp_path / "site"
    _write_plugin_project(project)
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(target),
            str(project),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stderr
    env = {**os.environ, "PYTHONPATH": str(target)}
    env.pop("PYTHONSTARTUP", None)
    out = tmp_path / "run"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmark",
            "run",
            "--dataset",
            "mod",
            "--data-dir",
            str(mini_mod_dir),
            "--models",
            "plugin-ids,random,clip",
            "--preset",
            "tiny",
            "--max-steps",
            "2",
            "--epochs",
            "1",
            "--no-progress",
            "--output",
            str(out),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=project,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert set(json.loads((out / "results.json").read_text())["models"]) == {"plugin-ids", "random", "clip"}
    listing = subprocess.run(
        [sys.executable, "-m", "benchmark", "list", "plugin-*"],
        capture_output=True,
        text=True,
        env=env,
        cwd=project,
        timeout=120,
    )
    assert listing.stdout.split("\t")[:3] == [
        "plugin-ids",
        "entry point of sticker-plugin",
        "prefers small sticker ids\n",
    ]
    both = subprocess.run(
        [sys.executable, "-c", "import models, stickerbench.models.mod_gpt; print(models.WEIGHT)"],
        capture_output=True,
        text=True,
        env=env,
        cwd=project,
        timeout=120,
    )
    assert both.stdout.strip() == "-1.0", both.stderr
