"""Wire protocols: native JSON, MLflow scoring, Open Inference Protocol v2."""
