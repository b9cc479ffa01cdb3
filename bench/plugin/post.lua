-- wrk script: POST the same small JSON arguments with the plugin's service token.
wrk.method = "POST"
wrk.body = '{"a": 20, "b": 22}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Api-Key"] = os.getenv("BENCH_TOKEN") or "bench-token"
