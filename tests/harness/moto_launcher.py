"""Serves Moto's DynamoDB API for the tests on a free loopback port.

Prints `PORT <n>` once listening, then serves until its standard input closes, which
happens when the test process that started it exits (however it exits), so no server
is ever left behind.

Requests are applied one at a time: DynamoDB applies each request (a transaction
included) atomically, and Moto's backend is not safe against concurrent requests.
"""

import sys
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

app = DomainDispatcherApplication(create_backend_app)
lock = threading.Lock()


def serialized(environ, start_response):
    with lock:
        return list(app(environ, start_response))


server = make_server("127.0.0.1", 0, serialized, threaded=True, request_handler=MotoRequestHandler)
threading.Thread(target=server.serve_forever, daemon=True).start()
print(f"PORT {server.server_port}", flush=True)
sys.stdin.read()
server.shutdown()
