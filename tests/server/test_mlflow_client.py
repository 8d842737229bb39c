"""``/invocations`` through MLflow's own client (mlflow-skinny's ScoringServerClient)."""

from __future__ import annotations

import pandas as pd
import pytest

scoring = pytest.importorskip("mlflow.pyfunc.scoring_server.client")


def test_mlflow_scoring_client_gets_mlflow_shaped_answers(server: str) -> None:
    host, port = server.split(":")
    client = scoring.ScoringServerClient(host, int(port))
    client.wait_server_ready(timeout=30)
    frame = pd.DataFrame({"age": [25.0, 65.0], "region": ["n", "s"]})
    answer = client.invoke(frame)
    assert len(answer.get_predictions()) == 2
    with pytest.raises(Exception, match=r"error code 400.*INVALID_PARAMETER_VALUE"):
        client.invoke(pd.DataFrame({"age": ["old"], "region": ["n"]}))
