"""A milter that answers continue to everything (asyncio, no library):
the load for `make bench-milter`.  It asks for every step, so postbote
sends all of them and waits for each answer.
Usage: python3 bench/milter_continue.py PORT"""

import asyncio
import struct
import sys

CONT = struct.pack(">Ic", 1, b"c")


async def serve(reader, writer):
    try:
        while True:
            n = struct.unpack(">I", await reader.readexactly(4))[0]
            data = await reader.readexactly(n)
            cmd = data[:1]
            if cmd == b"O":
                writer.write(struct.pack(">IcIII", 13, b"O", 6, 0, 0))
            elif cmd in (b"D", b"A"):
                continue
            elif cmd == b"Q":
                break
            else:
                writer.write(CONT)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    writer.close()


async def main(port):
    srv = await asyncio.start_server(serve, "127.0.0.1", port, backlog=256)
    async with srv:
        await srv.serve_forever()


asyncio.run(main(int(sys.argv[1])))
