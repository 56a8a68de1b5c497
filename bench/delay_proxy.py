#!/usr/bin/env python3
"""A TCP proxy on 127.0.0.1 that adds a fixed latency to every request (bench/boot_bench.sh).

    delay_proxy.py --upstream 127.0.0.1:8080 [--delay-ms 20] [--port 0] [--port-file FILE]

Every byte the client sends reaches the upstream DELAY ms after it arrived, in order; the
answer comes back at once. So each HTTP request on a connection, pipelined or not, waits
DELAY ms more before the server sees it (a round trip DELAY ms longer, as over a network:
this machine's kernel has no netem), and nothing else changes: keep-alive connections stay
open and are reused, bandwidth is not limited, each client connection has its own upstream
connection. Listens on 127.0.0.1:PORT (0 = a free port); writes the port to --port-file when
listening. Stops on SIGTERM or SIGINT.
"""
import argparse
import asyncio
import os
import signal
import socket

CHUNK = 1 << 18


def nodelay(writer):
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


async def delayed_copy(reader, writer, delay):
    """Copies reader to writer, each chunk sent `delay` seconds after it was read."""
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue()

    async def pump():
        while True:
            data = await reader.read(CHUNK)
            queue.put_nowait((loop.time() + delay, data))
            if not data:
                return

    pumping = asyncio.ensure_future(pump())
    try:
        while True:
            due, data = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                if writer.can_write_eof():
                    writer.write_eof()
                return
            writer.write(data)
            await writer.drain()
    finally:
        pumping.cancel()


async def copy(reader, writer):
    """Copies reader to writer as fast as both go, then half-closes writer."""
    while True:
        data = await reader.read(CHUNK)
        if not data:
            if writer.can_write_eof():
                writer.write_eof()
            return
        writer.write(data)
        await writer.drain()


def make_handler(host, port, delay):
    async def handle(client_r, client_w):
        try:
            up_r, up_w = await asyncio.open_connection(host, port)
        except OSError:
            client_w.close()
            return
        nodelay(client_w)
        nodelay(up_w)
        tasks = [asyncio.ensure_future(delayed_copy(client_r, up_w, delay)),
                 asyncio.ensure_future(copy(up_r, client_w))]
        try:
            # a connection ends when the server's side ends (it answered and closed) or when
            # either side fails; a client's half-close is passed on (delayed) and waited for
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        except asyncio.CancelledError:
            pass
        finally:
            for t in tasks:
                t.cancel()
            for w in (client_w, up_w):
                w.close()
    return handle


async def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--upstream", required=True, help="HOST:PORT of the server")
    ap.add_argument("--delay-ms", type=float, default=20.0, help="added to every request")
    ap.add_argument("--port", type=int, default=0, help="listening port on 127.0.0.1 (0 = free)")
    ap.add_argument("--port-file", help="write the listening port here once listening")
    a = ap.parse_args()
    host, _, port = a.upstream.rpartition(":")
    server = await asyncio.start_server(make_handler(host, int(port), a.delay_ms / 1000.0),
                                        "127.0.0.1", a.port, limit=CHUNK)
    actual = server.sockets[0].getsockname()[1]
    if a.port_file:
        tmp = a.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{actual}\n")
        os.replace(tmp, a.port_file)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
