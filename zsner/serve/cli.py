"""``zsner serve MODEL``: any model that ``zsner tag`` takes, over HTTP on ``--host``:``--port`` (default
127.0.0.1:8080; ``--port 0`` takes a free port, named in the first log line). The model is loaded and the port
bound before the server starts; SIGTERM (or Ctrl+C) stops it after the requests in flight are answered."""
from __future__ import annotations

import sys

from ..config import add_config_arguments, apply_overrides
from ..tagging.load import DECODE_HELP, DECODINGS, QUANTIZATIONS, QUANTIZE_HELP
from .limits import Limits


def add_parser(sub):
    from ..tagging.load import SELECTIONS

    serve = sub.add_parser("serve", help="serve a trained tagger over HTTP: POST /tag, GET /health, a page at /")
    serve.add_argument("model_path", metavar="MODEL", help="run folder or model file of any zsner backend")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine)")
    serve.add_argument("--port", type=int, default=8080, help="port (default 8080; 0: any free port)")
    serve.add_argument("--select", choices=SELECTIONS, default="src-dev",
                       help="which selected checkpoint of a run (default src-dev: no target labels used)")
    serve.add_argument("--lang", default=None, help="language of the text (a transfer model: its target by default)")
    serve.add_argument("--embeddings", default="", help="classic models: vectors for words the vocabulary lacks")
    serve.add_argument("--batch-size", type=int, default=None,
                       help="sentences (classic, default 256) or windows (transformer, default 64) per forward pass")
    serve.add_argument("--quantize", choices=QUANTIZATIONS, default="none", help=QUANTIZE_HELP)
    serve.add_argument("--decode", choices=DECODINGS, default="argmax", help=DECODE_HELP)
    serve.add_argument("--model-folder", default="", help="transformer: the base Hugging Face folder, if it moved")
    serve.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    serve.add_argument("--device", default="auto", help="auto (CUDA when present) | cpu | cuda | cuda:N")
    add_config_arguments(serve, Limits)
    serve.set_defaults(func=run_serve)


def run_serve(args) -> None:
    """Flags, extra and model checked, the model loaded, the port bound; then the server runs until a signal."""
    import logging
    import signal

    from ..device import resolve_device
    from ..errors import ZsnerError
    from ..extras import require
    from ..tagging.load import find_model, load

    limits = apply_overrides(Limits(), args)
    problem = limits.problem() or ("--threads must be at least 1" if args.threads < 1 else None)
    if problem:
        raise ZsnerError(problem)
    require("serve", "zsner serve")
    import uvicorn

    from .app import create_app

    resolve_device(args.device)
    found = find_model(args.model_path, args.select)
    if found.kind == "transformer":
        require("transformer", "serving a transformer model")
    listening = _bind(args.host, args.port)
    tagger = load(args.model_path, lang=args.lang, select=args.select, device=args.device, embeddings=args.embeddings,
                  batch_size=args.batch_size, quantize=args.quantize, model_folder=args.model_folder,
                  threads=args.threads, found=found, decode=args.decode)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s: %(message)s")
    host, port = listening.getsockname()[:2]
    info = tagger.info
    logging.getLogger("zsner.serve").info("serving %s (%s, %s, %s) on http://%s:%d (page /, API docs /docs)",
                                          info["model"], info["kind"], info["lang"] or "?", info["device"],
                                          host if ":" not in host else f"[{host}]", port)
    config = uvicorn.Config(create_app(tagger, limits), log_config=None, access_log=False,
                            timeout_graceful_shutdown=int(limits.timeout) + 5)
    signal.signal(signal.SIGTERM, _stopped)  # uvicorn's handler first; this one once it has shut down
    uvicorn.Server(config).run(sockets=[listening])


def _stopped(signum, frame):
    raise SystemExit(0)


def _bind(host: str, port: int):
    import socket

    from ..errors import ZsnerError

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto IPPROTO_TCP, not 0: asyncio turns Nagle's algorithm off only on sockets that say TCP (accepted ones
    # inherit it); with it on, a response's two writes wait ~40 ms for the client's delayed ACK
    listening = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind((host, port))
        listening.listen(2048)
        return listening
    except OSError as err:
        listening.close()
        raise ZsnerError(f"cannot listen on {host}:{port}: {err.strerror or err}") from None
