"""python-counter: a JSON function in Python, on the same platform
interfaces as the Rust examples. Counts visits per page in the key-value
bucket `counters`, greets with the `greeting` setting, logs through
wasi:logging and says who called.

Input: {"page": "home"}. Output: {"page", "visits", "greeting", "caller"}.
"""

import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import atomics, identity, logging, wasi_config_store, wasi_keyvalue_store


class JsonHandler(exports.JsonHandler):
    def handle(self, input: str) -> str:
        try:
            request = json.loads(input)
        except ValueError as e:
            raise Err(f"invalid input: {e}")
        page = request.get("page")
        if not isinstance(page, str) or not page:
            raise Err('send {"page": "<name>"}')
        try:
            counters = wasi_keyvalue_store.open("counters")
            visits = atomics.increment(counters, f"page/{page}", 1)
        except Err as e:
            # access-denied when the function's role does not grant kv:*.
            raise Err(f"the key-value store refused: {type(e.value).__name__}")
        greeting = wasi_config_store.get("greeting") or "Hello"
        caller = identity.caller()
        logging.log(logging.Level.INFO, "python-counter", f"{page} has {visits} visits")
        return json.dumps(
            {
                "page": page,
                "visits": visits,
                "greeting": f"{greeting} from Python!",
                "caller": {"kind": caller.kind.name.lower(), "name": caller.name},
            }
        )
