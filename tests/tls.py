"""Certificates made by trustme for the TLS tests: a CA, a server certificate for
localhost and 127.0.0.1, and a client certificate, in a directory the image's user reads."""

import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme

MOUNT = "/tls"


@dataclass(frozen=True)
class Certificates:
    directory: Path
    ca: trustme.CA
    client: trustme.LeafCert

    @classmethod
    def make(cls, directory: Path) -> "Certificates":
        ca = trustme.CA()
        server = ca.issue_cert("localhost", "127.0.0.1")
        client = ca.issue_cert("client@example.com")
        ca.cert_pem.write_to_path(str(directory / "ca.pem"))
        server.private_key_pem.write_to_path(str(directory / "key.pem"))
        (directory / "cert.pem").write_bytes(b"".join(blob.bytes() for blob in server.cert_chain_pems))
        # a directory bind-mounted as itself: its own mode is what the container sees
        directory.chmod(0o755)
        for path in directory.iterdir():
            path.chmod(0o644)
        return cls(directory, ca, client)

    def docker_options(self, *, client_ca: bool = False) -> list[str]:
        """`docker run` options that mount the files and turn TLS on through the contract."""
        options = [
            f"--volume={self.directory}:{MOUNT}:ro",
            f"--env=TLS_CERTFILE={MOUNT}/cert.pem",
            f"--env=TLS_KEYFILE={MOUNT}/key.pem",
        ]
        return [*options, f"--env=TLS_CLIENT_CA={MOUNT}/ca.pem"] if client_ca else options

    def client_context(self, *, with_certificate: bool = False) -> ssl.SSLContext:
        """A client that trusts only the test CA, presenting the client certificate if told."""
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        if with_certificate:
            self.client.configure_cert(context)
        return context

    @property
    def ca_file(self) -> Path:
        return self.directory / "ca.pem"
