"""The fraud model behind a plain Python server: what a team without our
server would stand up first (XGBoost's own predictor, the standard library's
threaded HTTP server), speaking the same Open Inference Protocol infer call.
BenchmarkLoad drives it beside the Go server, with the same generator.

    python3 xgbserve.py MODEL_JSON PORT
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import xgboost as xgb

booster = xgb.Booster(model_file=sys.argv[1])
n_features = booster.num_features()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the generator expects
    # Headers and body go out in two writes; without this, Nagle's algorithm
    # and the client's delayed ACK add 40 ms to every answer.
    disable_nagle_algorithm = True

    def log_message(self, *args):  # no access log, as the Go server's LOG_LEVEL=error
        pass

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/v2/health/ready":
            return self.reply(200, {"ready": True})
        self.reply(404, {"error": "not found"})

    def do_POST(self):
        if self.path != "/v2/models/fraud/infer":
            return self.reply(404, {"error": "unknown model"})
        try:
            req = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            inp = req["inputs"][0]
            rows, cols = inp["shape"]
            if cols != n_features:
                raise ValueError(f"want [N, {n_features}]")
            x = np.array([np.nan if v is None else v for v in inp["data"]], dtype=np.float64).reshape(rows, cols)
        except (ValueError, KeyError, IndexError, TypeError) as e:
            return self.reply(400, {"error": str(e)})
        p = booster.inplace_predict(x)
        self.reply(200, {"model_name": "fraud", "outputs": [
            {"name": "probability", "shape": [rows], "datatype": "FP64", "data": [float(v) for v in p]}]})


ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])), Handler).serve_forever()
