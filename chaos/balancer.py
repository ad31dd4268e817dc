"""One address in front of several web processes: a round-robin TCP proxy (asyncio).

`python -m chaos.balancer --port P --backend 127.0.0.1:A --backend 127.0.0.1:B`. Each client
connection goes to the next backend that accepts it; a backend that is down is skipped, so
killing one web process costs only the requests it was serving (their connections drop).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools

CHUNK = 1 << 16


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


def connection_handler(*, backends: list[tuple[str, int]]):
    """Return the asyncio handler that proxies one client connection."""
    turn = itertools.cycle(range(len(backends)))

    async def handle(client_reader, client_writer) -> None:
        for _ in range(len(backends)):
            host, port = backends[next(turn)]
            try:
                backend_reader, backend_writer = await asyncio.open_connection(host, port)
            except OSError:
                continue
            await asyncio.gather(
                _pipe(client_reader, backend_writer), _pipe(backend_reader, client_writer)
            )
            return
        client_writer.close()  # no backend is up

    return handle


async def balancer_serve(*, port: int, backends: list[tuple[str, int]]) -> None:
    server = await asyncio.start_server(
        connection_handler(backends=backends), "127.0.0.1", port, reuse_address=True
    )
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--backend", action="append", required=True, metavar="HOST:PORT")
    args = parser.parse_args()
    backends = [(b.rsplit(":", 1)[0], int(b.rsplit(":", 1)[1])) for b in args.backend]
    asyncio.run(balancer_serve(port=args.port, backends=backends))


if __name__ == "__main__":
    main()
