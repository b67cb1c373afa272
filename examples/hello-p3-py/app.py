"""hello-p3-py: the WASI 0.3 hello (`wasi:http/handler@0.3.0`) in Python.

Built with componentize-py against the `wasi:http/service` world of WASI
0.3. `GET` answers with a greeting, written to the body after the handler
has returned the response. Every answer says, in `x-instance-requests`, how
many requests this instance has served: 1 unless the function opted in to
instance reuse, when the interpreter and its state live on between requests.
"""

from urllib.parse import parse_qs, urlsplit

import wit_world
from componentize_py_async_support import spawn
from componentize_py_types import Ok
from wit_world import exports
from wit_world.imports.wasi_http_types import Fields, Request, Response

served = 0


class Handler(exports.Handler):
    async def handle(self, request: Request) -> Response:
        global served
        served += 1
        target = request.get_path_with_query() or "/"
        print(f"hello-p3-py: {target}")
        names = parse_qs(urlsplit(target).query).get("name", ["world"])
        greeting = f"Hello, {names[0]}! (from Python, WASI 0.3)\n".encode()
        headers = Fields.from_list(
            [
                ("content-type", b"text/plain"),
                ("x-instance-requests", str(served).encode()),
            ]
        )
        writer, contents = wit_world.byte_stream()
        _, trailers = wit_world.result_option_wasi_http_types_fields_wasi_http_types_error_code_future(
            lambda: Ok(None)
        )
        response, _ = Response.new(headers, contents, trailers)

        async def send() -> None:
            with writer:
                await writer.write_all(greeting)

        spawn(send())
        return response
