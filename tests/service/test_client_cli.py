"""`nas.client.Client` and the CLI's --server mode print what the local commands print."""

from __future__ import annotations

import json

import pytest

from nas.cli import main
from nas.client import Client, ClientError
from tests.helpers import zdt_spec
from tests.service.conftest import TOKEN, Server


@pytest.fixture
def client(server: Server, monkeypatch: pytest.MonkeyPatch) -> Client:
    monkeypatch.setenv("NAS_API_TOKEN", TOKEN)
    return Client(server.url)


@pytest.mark.parametrize("storage_url", ["sqlite"], indirect=True)
def test_cli_server_mode_matches_the_local_commands(
    client: Client, server: Server, study_name: str, tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "s.json"
    spec.write_text(json.dumps(zdt_spec(study_name, trials=10)))
    assert main(["run", str(spec), "--server", server.url, "--quiet"]) == 0
    capsys.readouterr()
    for cmd in (
        ["pareto", study_name, "--format", "json"],
        ["pareto", study_name, "--format", "csv"],
        ["trials", study_name, "--format", "json"],
        ["trials", study_name, "--state", "complete", "--format", "csv"],
    ):
        assert main([*cmd, "--storage", server.settings.storage]) == 0
        local = capsys.readouterr().out
        assert main([*cmd, "--server", server.url]) == 0
        assert capsys.readouterr().out == local, cmd
    assert main(["studies", "--format", "json", "--server", server.url]) == 0
    assert [s["name"] for s in json.loads(capsys.readouterr().out)] == [study_name]


@pytest.mark.parametrize("storage_url", ["sqlite"], indirect=True)
def test_client_reports_refusals_with_status_and_field(client: Client, study_name: str) -> None:
    with pytest.raises(ClientError) as e:
        client.submit({"name": study_name, "space": {"name": "nope"}, "budget": {"trials": 1}})
    assert e.value.status == 422 and "space.name" in str(e.value)
    with pytest.raises(ClientError) as e:
        Client(client.url, token="wrong").submit(zdt_spec(study_name))
    assert e.value.status == 403
    with pytest.raises(ClientError) as e:
        client.study("no-such")
    assert e.value.status == 404
    client.submit(zdt_spec(study_name, trials=5))
    assert client.wait(study_name, timeout=60, poll_s=0.1)["state"] == "complete"
    assert len(client.trials(study_name, page_size=2)) == 5
    assert client.pareto(study_name) and client.hypervolume(study_name)["history"]
