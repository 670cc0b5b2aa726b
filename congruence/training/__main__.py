"""``python -m congruence.training train CONFIG`` (= ``congruence train CONFIG``), for launchers that
take a module: ``accelerate launch -m congruence.training train CONFIG`` runs the same command on
every process (``ablate`` works the same way)."""

from congruence.cli import app

if __name__ == "__main__":
    app()
