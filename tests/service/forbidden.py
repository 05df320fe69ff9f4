"""Never imported by the tests: a request naming it must be refused before any import."""

raise RuntimeError("tests.service.forbidden was imported: the allow-list failed")


def evaluate(p: dict) -> dict:  # pragma: no cover
    return {}
