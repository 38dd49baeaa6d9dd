#!/usr/bin/env python3
"""Metrics service (e): percentile accuracy, tallyd's DDSketch against a Prometheus
histogram with the default client buckets. Run by tests/bench/run_metrics_accuracy.sh.

  metrics_accuracy.py TALLY_PORT [PROMETHEUS_BIN]

Two sets of 100,000 latencies in seconds (seeded): log-normal (median 50 ms, sigma 1.0)
and bimodal (70 % log-normal around 20 ms, 30 % around 800 ms, sigma 0.2 / 0.15). Each
set goes to tallyd as a distribution (POST /api/v1/metrics, 10,000 points a body) and is
read back from /api/v1/metrics/<name>/current?window=1h. The Prometheus side: the same
samples counted into the default buckets (.005 ... 10, +Inf) of the client libraries;
histogram_quantile computed as Prometheus does (promql/quantile.go bucketQuantile: linear
interpolation inside the bucket holding rank q*count, lower bound 0 for the first bucket,
the highest finite bound when the rank falls in +Inf), and, when a prometheus binary is
given, also by a real Prometheus scraping an exporter of those buckets (the two must agree).
Truth: the nearest-rank quantile of the samples (sorted[ceil(q*n)-1]).
"""
import http.server, json, math, os, random, shutil, socket, subprocess, sys, tempfile, threading, time, urllib.parse, urllib.request

BOUNDS = [.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10]
QS = [0.5, 0.95, 0.99]


def sets():
    rng = random.Random(11)
    lognormal = [math.exp(rng.gauss(math.log(0.05), 1.0)) for _ in range(100_000)]
    bimodal = [math.exp(rng.gauss(math.log(0.02), 0.2)) if rng.random() < 0.7
               else math.exp(rng.gauss(math.log(0.8), 0.15)) for _ in range(100_000)]
    return {"lognormal": lognormal, "bimodal": bimodal}


def nearest_rank(sorted_values, q):
    return sorted_values[max(0, math.ceil(q * len(sorted_values)) - 1)]


def buckets(values):
    counts = [0] * (len(BOUNDS) + 1)
    for v in values:
        for i, b in enumerate(BOUNDS):
            if v <= b:
                counts[i] += 1
                break
        else:
            counts[-1] += 1
    cum, total = [], 0
    for c in counts:
        total += c
        cum.append(total)
    return cum  # cumulative, last = +Inf


def histogram_quantile(q, cum):
    bounds = BOUNDS + [math.inf]
    rank = q * cum[-1]
    b = next(i for i, c in enumerate(cum) if c >= rank)
    if b == len(bounds) - 1:
        return bounds[-2]
    start, below = (0.0, 0) if b == 0 else (bounds[b - 1], cum[b - 1])
    return start + (bounds[b] - start) * ((rank - below) / (cum[b] - below))


def post_tally(port, name, values):
    for i in range(0, len(values), 10_000):
        body = json.dumps({"metrics": [{"name": name, "type": "percentile", "value": v}
                                       for v in values[i:i + 10_000]]}).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/metrics", body,
                                     {"Content-Type": "application/json"})
        answer = json.load(urllib.request.urlopen(req))
        assert answer["accepted"] == len(values[i:i + 10_000]), answer
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/metrics/{name}/current?window=1h") as r:
        current = json.load(r)
    assert int(current["count"]) == len(values), current
    return {q: current["percentiles"][f"p{round(q * 100)}"] for q in QS}


def exposition(cums):
    out = []
    for name, cum in cums.items():
        out.append(f"# TYPE acc_{name}_seconds histogram")
        for b, c in zip([str(b) for b in BOUNDS] + ["+Inf"], cum):
            out.append(f'acc_{name}_seconds_bucket{{le="{b}"}} {c}')
        out.append(f"acc_{name}_seconds_count {cum[-1]}")
        out.append(f"acc_{name}_seconds_sum 0")
    return ("\n".join(out) + "\n").encode()


def real_prometheus(prom, cums):
    body = exposition(cums)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    exporter = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=exporter.serve_forever, daemon=True).start()
    work = tempfile.mkdtemp(prefix="tally-bench-prom.")
    with open(f"{work}/prometheus.yml", "w") as f:
        f.write("scrape_configs: [{job_name: acc, scrape_interval: 1s, static_configs: "
                f"[{{targets: ['127.0.0.1:{exporter.server_address[1]}']}}]}}]\n")
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
    p = subprocess.Popen([prom, f"--config.file={work}/prometheus.yml", f"--storage.tsdb.path={work}/data",
                          f"--web.listen-address=127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        out = {}
        deadline = time.time() + 60
        for name in cums:
            for q in QS:
                while True:
                    try:
                        url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode(
                            {"query": f"histogram_quantile({q}, acc_{name}_seconds_bucket)"})
                        res = json.load(urllib.request.urlopen(url))["data"]["result"]
                        if res:
                            out[(name, q)] = float(res[0]["value"][1])
                            break
                    except Exception:
                        pass
                    if time.time() > deadline:
                        raise SystemExit("prometheus gave no answer in 60 s")
                    time.sleep(0.5)
        return out
    finally:
        p.terminate()
        p.wait()
        exporter.shutdown()
        shutil.rmtree(work, ignore_errors=True)


def main():
    port = int(sys.argv[1])
    prom = sys.argv[2] if len(sys.argv) > 2 else None
    data = sets()
    cums = {name: buckets(values) for name, values in data.items()}
    real = real_prometheus(prom, cums) if prom else {}
    print(f"{'set':10} {'q':>5} {'exact':>10} {'tallyd':>10} {'err':>8} {'prometheus':>11} {'err':>8}  real Prometheus")
    worst = {"tallyd": 0, "prometheus": 0}
    for name, values in data.items():
        tally = post_tally(port, f"acc.{name}", values)
        s = sorted(values)
        for q in QS:
            exact = nearest_rank(s, q)
            prom_q = histogram_quantile(q, cums[name])
            te, pe = tally[q] / exact - 1, prom_q / exact - 1
            worst["tallyd"] = max(worst["tallyd"], abs(te))
            worst["prometheus"] = max(worst["prometheus"], abs(pe))
            r = real.get((name, q))
            rs = "" if r is None else f"{r:.6f}" + ("" if abs(r - prom_q) < 1e-9 * max(1, prom_q) else "  MISMATCH")
            print(f"{name:10} p{round(q * 100):<4} {exact:10.5f} {tally[q]:10.5f} {te:+8.2%} {prom_q:11.5f} {pe:+8.2%}  {rs}")
    print(f"worst |relative error|: tallyd {worst['tallyd']:.2%} (spec: <= 1 %), "
          f"Prometheus default buckets {worst['prometheus']:.2%}")


if __name__ == "__main__":
    main()
