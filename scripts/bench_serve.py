"""Load on `zsner serve`, bounded: a fixed number of requests per level of concurrent clients, a time limit per level,
127.0.0.1 only. Each model is served twice -- with micro-batching (the defaults) and one request at a time
(`--max-batch 1`) -- each in a fresh server on one torch thread. Every client keeps one connection and posts one
Spanish sentence per request (`{"text": ...}`), after one unmeasured warm-up request per client. Before measuring,
the batched server's answers to 32 concurrent clients are checked against lone calls.

    python scripts/bench_serve.py runs/en-es-augmented/seed1/augmented runs/en-es-e5-softmax-capped \\
        --clients 1,8,32 --requests 200 --out /tmp/serve_results.md

Prints (and appends to --out) one Markdown table: requests/s, p50/p95/p99 latency, mean documents per batch, and
the 1-minute load average before and after each run (the machine may be shared).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from zsner.serve.process import ServerProcess, connect  # noqa: E402

SENTENCES = [
    "El Gobierno de España aprobó ayer en Madrid el plan de la Unión Europea.",
    "Pedro Sánchez se reunió en Bruselas con Ursula von der Leyen.",
    "La empresa Telefónica presentó sus resultados ante la Comisión Nacional del Mercado de Valores.",
    "El Real Madrid ganó 2-1 al Barcelona en el estadio Santiago Bernabéu.",
    "Según la agencia EFE, el ministro viajará a Buenos Aires el próximo lunes.",
    "La Organización Mundial de la Salud advirtió sobre la gripe en México y Perú.",
    "El alcalde de Sevilla, Juan Espadas, inauguró la feria junto al presidente de la Junta de Andalucía.",
    "Miles de personas se manifestaron en Barcelona contra la reforma laboral.",
    "El Banco Central Europeo mantuvo los tipos de interés, dijo su presidenta en Fráncfort.",
    "La selección de Argentina llegó a Lima para el partido contra Perú.",
    "Iberia anunció nuevos vuelos entre Madrid y Nueva York a partir de junio.",
    "El escritor Mario Vargas Llosa presentó su novela en la Feria del Libro de Guadalajara.",
    "La policía detuvo en Valencia a tres miembros de una red de tráfico de drogas.",
    "El Parlamento Europeo votó la ley con el apoyo del Partido Popular y los socialistas.",
    "La Universidad de Salamanca celebra hoy ochocientos años de historia.",
    "Naciones Unidas pidió a Venezuela y Colombia que reabran la frontera.",
]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def post(connection, text: str) -> bytes:
    connection.request("POST", "/tag", json.dumps({"text": text}).encode(), {"Content-Type": "application/json"})
    response = connection.getresponse()
    body = response.read()
    if response.status != 200:
        raise RuntimeError(f"{response.status}: {body[:200]!r}")
    return body


def level(port: int, clients: int, requests: int, time_limit: float) -> dict:
    """``requests`` posts shared by ``clients`` threads (each its own connection); stops at ``time_limit`` s."""
    latencies, errors, lock, next_index = [], [], threading.Lock(), [0]
    deadline = time.monotonic() + time_limit

    def client():
        try:
            connection = connect(port, time_limit)
            while time.monotonic() < deadline:
                with lock:
                    index = next_index[0]
                    next_index[0] += 1
                if index >= requests:
                    break
                start = time.perf_counter()
                post(connection, SENTENCES[index % len(SENTENCES)])
                latencies.append(time.perf_counter() - start)
            connection.close()
        except Exception as err:  # reported, not raised: the other clients finish
            errors.append(repr(err))

    threads = [threading.Thread(target=client) for _ in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(time_limit + 30)
    wall = time.perf_counter() - start
    return {"clients": clients, "done": len(latencies), "errors": len(errors), "rps": len(latencies) / wall,
            **{f"p{int(share * 100)}": 1000 * percentile(latencies, share) for share in (0.5, 0.95, 0.99)}}


def check_batching(server: ServerProcess, clients: int = 32, tolerance: float = 2e-4) -> str:
    """32 concurrent answers against the lone ones (the same texts, one by one): tags and spans must be equal; a
    score may differ by ``tolerance`` (float32: in its 4th decimal, the CRF posterior's log-space arithmetic depends
    on the batch; bfloat16 products round at 2^-8, so ``--quantize bf16`` needs ``--score-tolerance 0.004``)."""
    alone = [server.tag({"text": SENTENCES[i % len(SENTENCES)]}) for i in range(clients)]
    answers, barrier = [None] * clients, threading.Barrier(clients, timeout=60)

    def client(index):
        barrier.wait()
        answers[index] = server.tag({"text": SENTENCES[index % len(SENTENCES)]})

    threads = [threading.Thread(target=client, args=(index,)) for index in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    spans = [[(e["start"], e["end"], e["label"]) for e in answer["entities"]] for answer in alone]
    if [[(e["start"], e["end"], e["label"]) for e in answer["entities"]] for answer in answers] != spans:
        raise SystemExit("batched answers differ from lone answers in their entities")
    scores = [abs(x["score"] - y["score"])
              for a, b in zip(alone, answers) for x, y in zip(a["entities"], b["entities"])]
    if max(scores, default=0) > tolerance:
        raise SystemExit(f"a batched score differs from the lone one by {max(scores):.4f}")
    return (f"{sum(a == b for a, b in zip(alone, answers))}/{clients} answers identical, "
            f"{sum(d > 0 for d in scores)}/{len(scores)} scores off by at most {max(scores, default=0):.4f}")


def run(model: str, mode: str, args) -> list[dict]:
    flags = (["--device", "cpu", "--threads", "1"] + args.server_flags.split()
             + (["--max-batch", "1"] if mode == "one at a time" else []))
    load_before = os.getloadavg()[0]
    rows = []
    with ServerProcess(model, flags, python=args.python) as server:
        kind = json.loads(server.get("/health")[2])["kind"]
        if mode == "micro-batching":
            checked = check_batching(server, tolerance=args.score_tolerance)
            print(f"{model}: 32 concurrent vs lone: {checked}", flush=True)
        for text in SENTENCES[:8]:  # warm-up
            server.tag({"text": text})
        for clients in args.clients:
            level(server.port, clients, clients, args.time_limit)  # warm-up: one request per client (unmeasured)
            before = json.loads(server.get("/health")[2])
            row = level(server.port, clients, args.requests, args.time_limit)
            after = json.loads(server.get("/health")[2])
            batches = max(1, after["batches"] - before["batches"])
            rows.append({"model": f"{Path(model).name} ({kind})", "mode": mode, **row,
                         "batch": (after["documents"] - before["documents"]) / batches})
            print(format_row(rows[-1]), flush=True)
    load_after = os.getloadavg()[0]
    for row in rows:
        row["load"] = f"{load_before:.2f} → {load_after:.2f}"
    return rows


HEADER = ("| model | mode | clients | requests | req/s | p50 ms | p95 ms | p99 ms | docs/batch | load avg (1 min) |\n"
          "|---|---|---:|---:|---:|---:|---:|---:|---:|---|")


def format_row(row: dict) -> str:
    done = f"{row['done']}" + (f" ({row['errors']} errors)" if row["errors"] else "")
    return (f"| {row['model']} | {row['mode']} | {row['clients']} | {done} | {row['rps']:.1f} | {row['p50']:.1f} | "
            f"{row['p95']:.1f} | {row['p99']:.1f} | {row['batch']:.1f} | {row.get('load', '')} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", help="run folders or model files")
    parser.add_argument("--clients", type=lambda text: [int(n) for n in text.split(",")], default=[1, 8, 32])
    parser.add_argument("--requests", type=int, default=200, help="requests per level of concurrency")
    parser.add_argument("--time-limit", type=float, default=120.0, help="seconds per level at most")
    parser.add_argument("--python", default=sys.executable, help="the server's interpreter")
    parser.add_argument("--out", default="", help="append the table here too")
    parser.add_argument("--server-flags", default="", help="more `zsner serve` flags for both modes, e.g. "
                        "'--quantize int8'")
    parser.add_argument("--score-tolerance", type=float, default=2e-4,
                        help="largest gap between a batched and a lone entity score (bf16: 0.004)")
    args = parser.parse_args()
    started = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    rows = []
    for model in args.models:
        for mode in ("micro-batching", "one at a time"):
            rows += run(model, mode, args)
    lines = [f"zsner serve load, {started}, {os.cpu_count()} CPUs, torch threads 1: "
             f"`python scripts/bench_serve.py {' '.join(sys.argv[1:])}`", "", HEADER, *map(format_row, rows), ""]
    for model in args.models:
        mine = {(row["mode"], row["clients"]): row["rps"] for row in rows if row["model"].startswith(Path(model).name)}
        for clients in args.clients:
            if ("one at a time", clients) in mine:
                ratio = mine[("micro-batching", clients)] / mine[("one at a time", clients)]
                lines.append(f"- {Path(model).name}, {clients} clients: micro-batching / one at a time = {ratio:.2f}x")
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    if args.out:
        with open(args.out, "a", encoding="utf-8") as handle:
            handle.write(text + "\n")


if __name__ == "__main__":
    main()
