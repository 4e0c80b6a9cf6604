"""Running the web board: uvicorn in a thread of the calling process (mc web, mc up, tests)."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def allowed_hosts(host: str, port: int, extra: tuple[str, ...] = ()) -> set[str]:
    """The Host headers this server answers to: its own address and the loopback names."""
    loopback = {"localhost", "127.0.0.1", "[::1]"}
    if host in ("127.0.0.1", "localhost", "::1"):
        names = loopback
    elif host in ("0.0.0.0", "::"):  # every interface: loopback and the machine's name
        names = loopback | {socket.gethostname()}
    else:
        names = {f"[{host}]" if ":" in host else host}
    hosts = {f"{n}:{port}" for n in names}
    if port == 80:
        hosts |= names
    return hosts | set(extra)


class WebServer:
    """The app served by uvicorn on a thread; ``stop`` ends open event streams first."""

    def __init__(
        self,
        board_path: Path,
        url: str,
        *,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        extra_hosts: tuple[str, ...] = (),
    ) -> None:
        import uvicorn

        from mc.web.app import create_app

        if port == 0:  # pick a free port now, so the allowed Host names are known
            with socket.socket() as s:
                s.bind((host, 0))
                port = s.getsockname()[1]
        self.host, self.port = host, port
        self.app = create_app(board_path, url, hosts=allowed_hosts(host, port, extra_hosts))
        self.web = self.app.state.web
        config = uvicorn.Config(
            self.app,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=2,
            lifespan="on",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="mc-web", daemon=True)

    @property
    def origin(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}"

    def start(self, timeout: float = 15) -> WebServer:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the web server did not start on {self.origin}")
            time.sleep(0.02)
        return self

    def login_url(self, name: str = "you") -> str:
        from mc.mirror import db
        from mc.mirror.auth import create_login_link

        with db.connect(self.web.url) as conn:
            secret = create_login_link(conn, name)
        return f"{self.origin}/login?token={secret}"

    def stop(self) -> None:
        self.web.hub.close()  # open streams end now, so shutdown does not wait on them
        self.server.should_exit = True
        self.thread.join(10)
